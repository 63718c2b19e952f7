#!/usr/bin/env python
"""Benchmark: what `kimi-graph serve` adds to kimi-instant over calling the emulator directly.

One run starts the K2.5 emulator in a child process (zero latency, zero token delay) and
`kimi-graph serve` in another, pointed at it. The same question is then sent two ways:

* ``direct``: ``POST {emulator}/moonshot/v1/chat/completions`` with the body ChatKimi sends
  for instant mode (``thinking`` disabled, temperature 0.6, top_p 0.95);
* ``served``: ``POST {server}/v1/chat/completions`` with ``model="kimi-instant"``: the
  server parses the request, runs the instant graph (ChatKimi -> the same emulator), and
  answers in OpenAI's shape with summed usage.

Phases, each over ``--repeats`` repeats with the two paths interleaved in every repeat:

* latency: ``--n`` sequential requests per path; the median wall milliseconds per request,
  and the added latency (served minus direct);
* throughput: ``--total`` requests per path, ``--concurrency`` in flight at once
  (``httpx.AsyncClient``); requests per second.

On Linux the serve process's own CPU time per request (user + system, from ``/proc``)
is printed for both phases: it is steadier under load than wall-clock latency.

The ratio reported is direct / served requests per second (how many times more the bare
emulator answers than the server in front of it) and served / direct latency. With
``--stream`` both paths stream (every chunk is read). The script exits 0 whatever the
numbers (it is a benchmark), but not when an answer is wrong.

Run from the repository root::

    .venv/bin/python benchmarks/bench_serve.py
    .venv/bin/python benchmarks/bench_serve.py --n 200 --total 1000 --concurrency 50 --stream
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

QUESTION = "What is 17 * 23?"
ANSWER = "391"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Requests/s and added latency of kimi-instant through `kimi-graph serve` "
        "versus the emulator directly (both in their own processes)."
    )
    parser.add_argument("--n", type=int, default=100, help="sequential requests per path")
    parser.add_argument("--total", type=int, default=400, help="requests per throughput batch")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each phase")
    parser.add_argument("--stream", action="store_true", help="stream both paths")
    return parser.parse_args(argv)


class ServeProcess:
    """`kimi-graph serve` in a child process, pointed at `base_url`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The serve process's id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> ServeProcess:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "kimi_graph.cli", "serve", "--port", "0"]
        command += ["--base-url", self.base_url, "--backend", "moonshot", "--tools", "none"]
        command += ["--max-retries", "0"]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path, "MOONSHOT_API_KEY": "bench"},
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()
        if not line or not line[-1].startswith("http://"):
            self.__exit__()
            raise RuntimeError("kimi-graph serve did not start")
        self.url = line[-1]
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def bodies(stream: bool) -> dict[str, dict]:
    """The request body of each path."""
    messages = [{"role": "user", "content": QUESTION}]
    extra = {"stream": True} if stream else {}
    return {
        "direct": {
            "model": "kimi-k2.5",
            "messages": messages,
            "thinking": {"type": "disabled"},
            "temperature": 0.6,
            "top_p": 0.95,
            **extra,
        },
        "served": {"model": "kimi-instant", "messages": messages, **extra},
    }


def _answer(text: str, stream: bool) -> str:
    import json

    if not stream:
        return json.loads(text)["choices"][0]["message"]["content"]
    out = ""
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            choices = json.loads(line[6:])["choices"]
            if choices:
                out += choices[0]["delta"].get("content") or ""
    return out


async def one(client: object, url: str, body: dict, stream: bool) -> None:
    """One request; exit when the answer is wrong."""
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    response = await client.post(url, json=body)
    if response.status_code != 200 or _answer(response.text, stream) != ANSWER:
        raise SystemExit(f"wrong answer from {url}: {response.status_code} {response.text[:200]}")


async def sequential(client: object, url: str, body: dict, n: int, stream: bool) -> float:
    """Median milliseconds of `n` requests one after the other."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await one(client, url, body, stream)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


async def concurrent(
    client: object, url: str, body: dict, total: int, width: int, stream: bool
) -> float:
    """Requests per second of `total` requests, `width` in flight."""
    gate = asyncio.Semaphore(width)

    async def limited() -> None:
        async with gate:
            await one(client, url, body, stream)

    start = time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(total)))
    return total / (time.perf_counter() - start)


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) process `pid` has used so far; None without ``/proc``."""
    from _bench import cpu_seconds

    if pid is None or not Path(f"/proc/{pid}/stat").exists():
        return None
    return cpu_seconds(pid)


async def measure(
    urls: dict[str, str], args: argparse.Namespace, serve_pid: int | None = None
) -> dict[str, dict[str, list]]:
    """Both phases, both paths, interleaved in every repeat.

    With `serve_pid`, the served path also records the serve process's CPU milliseconds
    per request of each phase (`cpu_seq`, `cpu_conc`).
    """
    import httpx

    results: dict[str, dict[str, list]] = {
        k: {"ms": [], "rps": [], "cpu_seq": [], "cpu_conc": []} for k in urls
    }
    body = bodies(args.stream)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for path in urls:  # warm up both paths (graph compiled, pools open)
            await concurrent(
                client, urls[path], body[path], args.concurrency, args.concurrency, args.stream
            )
        for repeat in range(args.repeats):
            order = list(urls) if repeat % 2 == 0 else list(reversed(urls))
            for path in order:
                cpu = process_cpu(serve_pid) if path == "served" else None
                ms = await sequential(client, urls[path], body[path], args.n, args.stream)
                results[path]["ms"].append(ms)
                _add_cpu(results[path]["cpu_seq"], cpu, serve_pid, args.n)
            for path in order:
                cpu = process_cpu(serve_pid) if path == "served" else None
                rps = await concurrent(
                    client, urls[path], body[path], args.total, args.concurrency, args.stream
                )
                results[path]["rps"].append(rps)
                _add_cpu(results[path]["cpu_conc"], cpu, serve_pid, args.total)
    return results


def _add_cpu(out: list, before: float | None, pid: int | None, requests: int) -> None:
    after = process_cpu(pid)
    if before is not None and after is not None:
        out.append(1000 * (after - before) / requests)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    from _bench import EmulatorProcess, environment

    with EmulatorProcess(pin=False) as emu, ServeProcess(emu.base_url("moonshot")) as server:
        urls = {
            "direct": f"{emu.base_url('moonshot')}/chat/completions",
            "served": f"{server.url}/chat/completions",
        }
        results = asyncio.run(measure(urls, args, server.pid))
        emu.clear_requests()
    direct, served = results["direct"], results["served"]
    ms_d, ms_s = statistics.median(direct["ms"]), statistics.median(served["ms"])
    rps_d, rps_s = statistics.median(direct["rps"]), statistics.median(served["rps"])
    kind = "streamed" if args.stream else "non-streamed"
    print(f"kimi-instant through kimi-graph serve vs the emulator directly ({kind})")
    print(environment(pinned=False))
    print(
        f"repeats {args.repeats}; latency: {args.n} sequential requests; throughput: "
        f"{args.total} requests, {args.concurrency} in flight"
    )
    print(f"{'path':<8} {'median ms/request':>18} {'requests/s':>12}")
    print(f"{'direct':<8} {ms_d:>18.2f} {rps_d:>12.0f}")
    print(f"{'served':<8} {ms_s:>18.2f} {rps_s:>12.0f}")
    print(f"added latency: {ms_s - ms_d:.2f} ms per request (served/direct {ms_s / ms_d:.2f}x)")
    print(
        f"throughput ratio direct/served: {rps_d / rps_s:.2f}x "
        f"(the server answers {rps_s / rps_d:.0%} of the emulator's requests/s)"
    )
    if served["cpu_seq"] and served["cpu_conc"]:
        seq, conc = served["cpu_seq"], served["cpu_conc"]
        print(
            f"serve process CPU per request: {statistics.median(seq):.2f} ms sequential "
            f"({min(seq):.2f}-{max(seq):.2f}), {statistics.median(conc):.2f} ms at "
            f"{args.concurrency} in flight ({min(conc):.2f}-{max(conc):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
