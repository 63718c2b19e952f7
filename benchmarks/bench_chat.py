#!/usr/bin/env python
"""Benchmark: what ChatKimi costs over ChatOpenAI and the raw openai client, per call.

One run starts the K2.5 emulator (``kimi_graph.emulator``) in a child process at zero
latency and zero token delay, so nearly all the time measured is client-side work (the
HTTP round trip over loopback included). Three clients send the same request, the same
body byte for byte (checked against the emulator's request log before timing), in the
same dialect and thinking mode:

* ``raw``: ``openai.OpenAI`` / ``openai.AsyncOpenAI`` ``chat.completions.create``;
* ``ChatOpenAI``: ``langchain_openai.ChatOpenAI`` with the dialect's thinking switch in
  ``extra_body`` and ``stream_usage=True`` (ChatKimi asks for usage when streaming);
* ``ChatKimi``: ``kimi_graph.ChatKimi(backend=...)``.

Modes: ``invoke`` (``--n`` sequential calls), ``stream`` (``--n`` sequential streams, every
chunk consumed), ``ainvoke xC`` and ``astream xC`` (``--concurrency`` calls at once with
``asyncio.gather``). Each client is warmed up first. Within every repeat the clients are
interleaved (sequential modes: taking turns every ``--block`` calls, in a rotating order;
concurrent modes: one batch each per repeat), and the median over ``--repeats`` repeats is
reported, as wall milliseconds per call (``time.perf_counter``; for concurrent modes, the
batch's wall time divided by its size) and as this process's CPU milliseconds per call
(``time.process_time``: the client's own cost, whatever the server does). On a machine
with two or more CPUs the emulator is pinned to one CPU and this process to the others.
Ratios are medians of per-repeat ratios (the clients of one repeat ran side by side).

Goal: ChatKimi costs at most 5% more than ChatOpenAI for the same calls (ratio <= 1.05).
The script exits 0 whatever the ratios (it is a benchmark), but not when the three clients
disagree on the request or the answer.

Run from the repository root::

    .venv/bin/python benchmarks/bench_chat.py
    .venv/bin/python benchmarks/bench_chat.py --n 100 --concurrency 100 --repeats 3
    .venv/bin/python benchmarks/bench_chat.py --dialects vllm,moonshot
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from _bench import (  # also puts the repository root on sys.path, for kimi_graph
    GOAL,
    EmulatorProcess,
    Samples,
    Timer,
    environment,
    load,
    paired_ratio,
    ratio_range,
    rotate,
    table,
)
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from kimi_graph import ChatKimi

CLIENTS = ("raw", "ChatOpenAI", "ChatKimi")
MODEL = "kimi-k2.5"
QUESTION = "Explain in one sentence why the sky is blue."

SyncCall = Callable[[], Any]
AsyncCall = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Dialect:
    """How one server dialect is asked for thinking mode, as ChatKimi asks for it.

    Attributes:
        name: Emulator dialect and ChatKimi backend.
        extra_body: The thinking switch, sent as ``extra_body`` by ChatOpenAI and raw.
        sampling: Fixed sampling ChatKimi sends on this server (Moonshot).
    """

    name: str
    extra_body: dict[str, Any]
    sampling: dict[str, float]


DIALECTS: dict[str, Dialect] = {
    "vllm": Dialect("vllm", {"chat_template_kwargs": {"thinking": True}}, {}),
    "moonshot": Dialect(
        "moonshot", {"thinking": {"type": "enabled"}}, {"temperature": 1.0, "top_p": 0.95}
    ),
}


@dataclass
class Client:
    """One client's four kinds of call, each making one request."""

    invoke: SyncCall
    stream: SyncCall
    ainvoke: AsyncCall
    astream: AsyncCall


def _drain(iterator: Any) -> int:
    count = 0
    for _ in iterator:
        count += 1
    return count


async def _adrain(iterator: Any) -> int:
    count = 0
    async for _ in iterator:
        count += 1
    return count


def make_clients(base_url: str, dialect: Dialect) -> dict[str, Client]:
    """Build the three clients for one dialect, all aimed at the same request."""
    sync = openai.OpenAI(base_url=base_url, api_key="x")
    aio = openai.AsyncOpenAI(base_url=base_url, api_key="x")
    raw_messages = [{"role": "user", "content": QUESTION}]
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": raw_messages,
        "extra_body": dialect.extra_body,
        **dialect.sampling,
    }
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    plain = {**body, "stream": False}

    lc_openai = ChatOpenAI(
        model=MODEL,
        base_url=base_url,
        api_key="x",
        extra_body=dialect.extra_body,
        stream_usage=True,
        **dialect.sampling,
    )
    kimi = ChatKimi(base_url=base_url, backend=dialect.name, api_key="x", model=MODEL)
    messages = [HumanMessage(QUESTION)]

    def lc_client(model: Any) -> Client:
        async def ainvoke() -> Any:
            return await model.ainvoke(messages)

        async def astream() -> int:
            return await _adrain(model.astream(messages))

        return Client(
            invoke=lambda: model.invoke(messages),
            stream=lambda: _drain(model.stream(messages)),
            ainvoke=ainvoke,
            astream=astream,
        )

    async def raw_ainvoke() -> Any:
        return await aio.chat.completions.create(**plain)

    async def raw_astream() -> int:
        return await _adrain(await aio.chat.completions.create(**streamed))

    return {
        "raw": Client(
            invoke=lambda: sync.chat.completions.create(**plain),
            stream=lambda: _drain(sync.chat.completions.create(**streamed)),
            ainvoke=raw_ainvoke,
            astream=raw_astream,
        ),
        "ChatOpenAI": lc_client(lc_openai),
        "ChatKimi": lc_client(kimi),
    }


def _request_log(emu: EmulatorProcess) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{emu.url}/_emulator/requests", timeout=10) as resp:
        return json.loads(resp.read())


def _answer_text(result: Any) -> str:
    if isinstance(result, openai.BaseModel):
        return result.choices[0].message.content or ""  # type: ignore[attr-defined]
    return str(result.content)


def check_same_request(
    emu: EmulatorProcess, clients: dict[str, Client], loop: asyncio.AbstractEventLoop
) -> None:
    """Warm every client up and fail loudly unless all sent the same bodies and answers.

    Raises:
        SystemExit: When two clients sent different bodies or got different answers.
    """
    for _ in range(20):  # warm-up: imports, pools, caches
        for client in clients.values():
            client.invoke()
            client.stream()
            loop.run_until_complete(client.ainvoke())
            loop.run_until_complete(client.astream())
    emu.clear_requests()
    answers = {name: _answer_text(client.invoke()) for name, client in clients.items()}
    for client in clients.values():
        client.stream()
    log = _request_log(emu)
    bodies = {name: log[i]["body"] for i, name in enumerate(clients)}
    streamed = {name: log[len(clients) + i]["body"] for i, name in enumerate(clients)}
    problems = []
    for kind, seen in (("non-streamed", bodies), ("streamed", streamed)):
        if any(body != seen["raw"] for body in seen.values()):
            problems.append(f"{kind} bodies differ: {json.dumps(seen, indent=1)}")
    if len(set(answers.values())) != 1:
        problems.append(f"answers differ: {answers}")
    if any(record["status"] != 200 for record in log):
        problems.append(f"statuses: {[r['status'] for r in log]}")
    if problems:
        raise SystemExit("bench_chat: the clients are not comparable:\n" + "\n".join(problems))
    emu.clear_requests()


def run_dialect(
    emu: EmulatorProcess, dialect: Dialect, args: argparse.Namespace
) -> dict[str, dict[str, Samples]]:
    """Time every mode and client in one dialect; return samples by mode, then client."""
    loop = asyncio.new_event_loop()
    clients = make_clients(emu.base_url(dialect.name), dialect)
    check_same_request(emu, clients, loop)
    n, conc = args.n, args.concurrency
    modes = ("invoke", "stream", f"ainvoke x{conc}", f"astream x{conc}")
    samples = {mode: {name: Samples() for name in CLIENTS} for mode in modes}

    def sequential(call: SyncCall, calls: int) -> None:
        for _ in range(calls):
            call()

    async def concurrent(call: AsyncCall) -> None:
        await asyncio.gather(*(call() for _ in range(conc)))

    def timed(run: Callable[[], None], total: list[float]) -> None:
        with Timer() as timer:
            run()
        total[0] += timer.wall
        total[1] += timer.cpu

    block = max(1, min(args.block, n))
    try:
        for repeat in range(args.repeats):
            for mode in modes:
                totals = {name: [0.0, 0.0] for name in CLIENTS}
                gc.collect()
                if mode in ("invoke", "stream"):
                    # Sequential calls in blocks, the clients taking turns block by block:
                    # all three see the same drift of the machine's speed.
                    for i, start in enumerate(range(0, n, block)):
                        calls = min(block, n - start)
                        for name in rotate(CLIENTS, repeat + i):
                            call = getattr(clients[name], mode)
                            timed(lambda c=call, k=calls: sequential(c, k), totals[name])
                else:
                    kind = "ainvoke" if mode.startswith("ainvoke") else "astream"
                    for name in rotate(CLIENTS, repeat):
                        call = getattr(clients[name], kind)
                        timed(lambda c=call: loop.run_until_complete(concurrent(c)), totals[name])
                calls = n if mode in ("invoke", "stream") else conc
                for name, (wall, cpu) in totals.items():
                    samples[mode][name].add(wall, cpu, calls)
                emu.clear_requests()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return samples


def report(dialect: str, samples: dict[str, dict[str, Samples]]) -> list[tuple[float, float, str]]:
    """Print one dialect's table; return ChatKimi/ChatOpenAI (wall, CPU) ratios per mode."""
    headers = [
        f"{dialect}: mode",
        "raw ms",
        "ChatOpenAI ms",
        "ChatKimi ms",
        "Kimi/OpenAI",
        "(range)",
        "Kimi/raw",
        "CPU ms raw",
        "CPU ms OpenAI",
        "CPU ms Kimi",
        "CPU Kimi/OpenAI",
    ]
    rows = []
    ratios = []
    for mode, cells in samples.items():
        raw, lco, kimi = (cells[name] for name in CLIENTS)
        ratio = paired_ratio(kimi.wall, lco.wall)
        cpu_ratio = paired_ratio(kimi.cpu, lco.cpu)
        ratios.append((ratio, cpu_ratio, f"{dialect} {mode}"))
        rows.append(
            [
                mode,
                f"{raw.wall_ms:.3f}",
                f"{lco.wall_ms:.3f}",
                f"{kimi.wall_ms:.3f}",
                f"{ratio:.3f}",
                ratio_range(kimi.wall, lco.wall),
                f"{paired_ratio(kimi.wall, raw.wall):.3f}",
                f"{raw.cpu_ms:.3f}",
                f"{lco.cpu_ms:.3f}",
                f"{kimi.cpu_ms:.3f}",
                f"{cpu_ratio:.3f}",
            ]
        )
    print(table(headers, rows))
    print()
    return ratios


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="sequential calls per cell")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent calls per cell")
    parser.add_argument(
        "--block", type=int, default=5, help="sequential calls per turn of one client"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median is reported)")
    parser.add_argument(
        "--dialects", default="vllm", help=f"comma-separated, from {sorted(DIALECTS)}"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    args = parser.parse_args(argv)
    # Loopback only: never trace to LangSmith, whatever the environment says.
    os.environ["LANGSMITH_TRACING"] = "false"
    os.environ["LANGCHAIN_TRACING_V2"] = "false"
    dialects = [DIALECTS[name.strip()] for name in args.dialects.split(",") if name.strip()]

    started = time.perf_counter()
    all_ratios: list[tuple[float, float, str]] = []
    with EmulatorProcess(pin=not args.no_pin) as emu:
        print(f"bench_chat: emulator {emu.url} in a child process; {environment(emu.pinned)}")
        print(
            f"n={args.n} sequential, concurrency={args.concurrency}, repeats={args.repeats} "
            f"(median), sequential clients alternating every {args.block} calls"
        )
        print(
            "ms = wall milliseconds per call, CPU ms = this process's CPU per call; "
            "ratios = median over repeats of the same repeat's ratio, (range) = lowest-highest"
        )
        print()
        for dialect in dialects:
            all_ratios += report(dialect.name, run_dialect(emu, dialect, args))
    worst, _, where = max(all_ratios)
    worst_cpu, where_cpu = max((cpu, label) for _, cpu, label in all_ratios)
    verdict = "MET" if worst <= GOAL else "NOT MET"
    print(
        f"worst ChatKimi/ChatOpenAI wall ratio: {worst:.3f} ({where}); "
        f"goal <= {GOAL:.2f}: {verdict}"
    )
    print(
        f"(worst client-CPU ratio: {worst_cpu:.3f} ({where_cpu}); "
        f"{time.perf_counter() - started:.0f} s, {load()} at the end)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
