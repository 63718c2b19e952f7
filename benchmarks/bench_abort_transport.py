#!/usr/bin/env python
"""Benchmark: what the sync client's abortable transport costs a request.

ChatKimi's sync client sends through `AbortableTransport`
(`kimi_graph._transport.abort`), whose network streams attach each request's socket
to an abort scope. This measures the client's CPU per request, on the same emulator
(a child process, zero latency, pinned to its own CPU when there are two) and the
same OpenAI SDK call, with three sync clients built by `build_sync_client`:

* ``httpx``: the transport it replaced (`httpx.HTTPTransport`, same limits and
  socket options);
* ``abortable``: `AbortableTransport`, no abort signal (every request but a
  controlled swarm sub-agent's);
* ``abortable+signal``: the same under an `ABORT_SIGNAL` (a controlled sub-agent's
  request: a scope registered and let go per request).

The clients take turns every ``--block`` calls, in a rotating order, over
``--repeats`` repeats; reported is the median CPU (``time.thread_time``, this thread
only) and wall time per call, and the median of the per-repeat CPU ratios to
``httpx``. Goal: ``abortable`` within 1.02x of ``httpx`` (nothing on the hot path).

Run from the repository root::

    .venv/bin/python benchmarks/bench_abort_transport.py
    .venv/bin/python benchmarks/bench_abort_transport.py --n 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import openai
from _bench import EmulatorProcess, environment, paired_ratio, ratio_range, rotate, table

from kimi_graph._transport.abort_signal import ABORT_SIGNAL
from kimi_graph._transport.limited_client import CONNECTION_LIMITS, build_sync_client
from kimi_graph._transport.openai_compat import httpx, resolve_socket_options
from kimi_graph._transport.ratelimit import RateLimitSettings

CLIENTS = ("httpx", "abortable", "abortable+signal")


class _Signal:
    """An abort signal that never fires (what a running sub-agent's control is)."""

    def __init__(self) -> None:
        self._callbacks: dict[int, Callable[[], None]] = {}

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        key = id(callback)
        self._callbacks[key] = callback
        return lambda: self._callbacks.pop(key, None)


def _client(kind: str, base_url: str) -> openai.OpenAI:
    options = resolve_socket_options(None)
    http = build_sync_client(base_url, base_url, 30.0, options, RateLimitSettings())
    if kind == "httpx":
        http = type(http)(
            endpoint=base_url,
            settings=RateLimitSettings(),
            base_url=base_url,
            timeout=30.0,
            transport=httpx.HTTPTransport(socket_options=list(options), limits=CONNECTION_LIMITS),
        )
    return openai.OpenAI(base_url=base_url, api_key="bench", http_client=http, max_retries=0)


def _call(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(
        model="kimi-k2.5",
        messages=[{"role": "user", "content": "[[answer ok]]"}],
        extra_body={"thinking": {"type": "disabled"}},
    )


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--n", type=int, default=1500, help="calls per client per repeat")
    parser.add_argument("--block", type=int, default=50, help="calls per turn")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with EmulatorProcess() as emu:
        base_url = emu.base_url("moonshot")
        clients = {kind: _client(kind, base_url) for kind in CLIENTS}
        signal = _Signal()
        for client in clients.values():  # warm-up (connections, imports)
            for _ in range(20):
                assert _call(client).choices[0].message.content == "ok"
        cpu: dict[str, list[float]] = {k: [] for k in CLIENTS}
        wall: dict[str, list[float]] = {k: [] for k in CLIENTS}
        for repeat in range(args.repeats):
            spent = dict.fromkeys(CLIENTS, 0.0)
            waited = dict.fromkeys(CLIENTS, 0.0)
            for turn in range(args.n // args.block):
                for kind in rotate(CLIENTS, repeat + turn):
                    token = ABORT_SIGNAL.set(signal if kind == "abortable+signal" else None)
                    started, started_wall = time.thread_time(), time.perf_counter()
                    for _ in range(args.block):
                        _call(clients[kind])
                    spent[kind] += time.thread_time() - started
                    waited[kind] += time.perf_counter() - started_wall
                    ABORT_SIGNAL.reset(token)
            emu.clear_requests()
            calls = (args.n // args.block) * args.block
            for kind in CLIENTS:
                cpu[kind].append(spent[kind] / calls * 1000)
                wall[kind].append(waited[kind] / calls * 1000)
        assert not signal._callbacks, "a scope was not let go"
        print(environment(emu.pinned))
        rows = [
            [
                kind,
                f"{statistics.median(cpu[kind]):.3f}",
                f"{statistics.median(wall[kind]):.3f}",
                f"{paired_ratio(cpu[kind], cpu['httpx']):.3f}",
                ratio_range(cpu[kind], cpu["httpx"]),
            ]
            for kind in CLIENTS
        ]
        print(table(["client", "CPU ms/call", "wall ms/call", "CPU ratio", "ratio range"], rows))


if __name__ == "__main__":
    main()
