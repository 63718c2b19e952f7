#!/usr/bin/env python
"""Benchmark: one swarm in one process vs its sub-agents spread over two `langgraph dev` servers.

Starts, all on 127.0.0.1 and each in its own process: the K2.5 emulator (a fixed latency
L per model call) and two `langgraph dev` servers (in-memory runtime, `--no-browser`,
`--no-reload`) serving the sub-agent graph of benchmarks/scaleout/ (the agent graph
with the calculator) with the emulator as their model. Then runs the same tool-using
swarm job (N sub-agents; each makes a model call asking for the calculator, the tool
call and a model call answering, as `bench_swarm.py --tools`) with `ainvoke`:

* one process: `create_swarm_graph` with local sub-agents, in this process;
* two servers: the orchestrator in this process, `subagent_graph` a list of two
  `RemoteGraph`s, one per server, so the sub-agents alternate between them.

Per run it prints the wall time, wall / critical path (orchestrator + a sub-agent's two
model calls + synthesis = 4·L), the CPU of each process per sub-agent (this client
process, each server, the emulator; read from /proc from just before the run until
`--settle` seconds after it, so that work a server finishes after the answer counts),
how many records are ok with exactly one tool call, and two-servers / one-process for
wall time and for the CPU of all processes. The servers and the emulator are stopped
when the benchmark ends, also on an error, Ctrl-C or SIGTERM.

Linux only (/proc). Run from the repository root (about 2 minutes for the defaults)::

    .venv/bin/python benchmarks/bench_dev_scaleout.py
    .venv/bin/python benchmarks/bench_dev_scaleout.py --n 100 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _bench import ROOT, EmulatorProcess, cpu_seconds, load, table  # puts ROOT on sys.path
from _dev_server import DevServer
from _swarm_scale import tool_job
from langgraph.pregel.remote import RemoteGraph

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.tools.calculator import calculator

SUBAGENT_GRAPH = f"{ROOT / 'benchmarks' / 'scaleout' / 'agent.py'}:graph"
SETUPS = ("one process", "two dev servers")


@dataclass
class Run:
    """One timed swarm run: wall seconds, CPU ms per sub-agent by process, ok records."""

    setup: str
    n: int
    wall: float
    cpu: dict[str, float]
    ok: int
    failed: str

    @property
    def total_cpu(self) -> float:
        """CPU ms per sub-agent of all processes together."""
        return sum(self.cpu.values())


def _swarm(emu: EmulatorProcess, n: int, servers: list[DevServer] | None) -> Any:
    boss = ChatKimi(base_url=emu.base_url("moonshot"), backend="moonshot", api_key="k")
    # the time-out bounds a sub-agent whose run an overloaded server never finishes
    kwargs: dict[str, Any] = {"max_subagents": n, "max_concurrency": n, "subagent_timeout": 120}
    if servers is None:
        worker = ChatKimi(base_url=emu.base_url("vllm"), backend="vllm", api_key="k")
        return create_swarm_graph(boss, [calculator], worker_model=worker, **kwargs)
    remotes = [RemoteGraph("agent", url=s.url, name=f"dev{i}") for i, s in enumerate(servers)]
    return create_swarm_graph(boss, subagent_graph=remotes, **kwargs)


async def _ainvoke(graph: Any, n: int) -> dict[str, Any]:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": 50}
    out: dict[str, Any] = await graph.ainvoke(tool_job(n), config)
    return out


def _cpu(emu: EmulatorProcess, servers: list[DevServer]) -> dict[str, float]:
    """CPU seconds so far of this process, each server and the emulator."""
    now = {"client": time.process_time()}
    for i, server in enumerate(servers):
        now[f"server {i + 1}"] = cpu_seconds(server.pid)
    now["emulator"] = cpu_seconds(emu.pid)
    return now


def _verdict(out: dict[str, Any]) -> tuple[int, str]:
    records = out.get("subagent_results") or []
    ok = sum(r["status"] == "ok" and r["tool_calls"] == 1 for r in records)
    errors = [str(r["error"]) for r in records if r["error"]]
    failed = f"{len(errors)} failed, first: {errors[0][:200]}" if errors else ""
    return ok, failed


def _timed(
    args: argparse.Namespace,
    emu: EmulatorProcess,
    servers: list[DevServer],
    setup: str,
    graph: Any,
    n: int,
) -> Run:
    emu.clear_requests()  # its log grows with every call
    before = _cpu(emu, servers)
    start = time.perf_counter()
    out = asyncio.run(_ainvoke(graph, n))
    wall = time.perf_counter() - start
    time.sleep(args.settle)  # what a server does after its runs answered counts too
    after = _cpu(emu, servers)
    cpu = {k: (after[k] - before[k]) * 1000 / n for k in before}
    ok, failed = _verdict(out)
    return Run(setup, n, wall, cpu, ok, failed)


def _row(run: Run, critical: float) -> list[str]:
    return [
        run.setup,
        str(run.n),
        f"{run.wall:.2f}",
        f"{run.wall / critical:.2f}",
        *(f"{v:.1f}" for v in run.cpu.values()),
        f"{run.total_cpu:.1f}",
        f"{run.ok}/{run.n}" + (f" ({run.failed})" if run.failed else ""),
    ]


def _span(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def measure(args: argparse.Namespace, emu: EmulatorProcess, servers: list[DevServer]) -> None:
    """Run every size and setup `--repeats` times (alternating the order); print the tables."""
    critical = 4 * args.latency
    runs: list[Run] = []
    for n in args.n:
        graphs = dict(zip(SETUPS, (_swarm(emu, n, None), _swarm(emu, n, servers)), strict=True))
        for graph in graphs.values():
            asyncio.run(_ainvoke(graph, 4))  # warm-up: imports, connections, each server
        time.sleep(args.settle)
        for repeat in range(args.repeats):
            order = SETUPS if repeat % 2 == 0 else SETUPS[::-1]
            for setup in order:
                run = _timed(args, emu, servers, setup, graphs[setup], n)
                runs.append(run)
                print(f"  [{load()}] " + "  ".join(_row(run, critical)), flush=True)
    names = list(runs[0].cpu)
    headers = ["setup", "N", "wall s", "wall / critical"]
    headers += [f"{name} CPU ms/sub-agent" for name in names]
    headers += ["all CPU ms/sub-agent", "ok (1 tool call)"]
    print(
        f"\nN sub-agents, L = {args.latency} s per model call, critical path {critical:.1f} s, "
        f"ainvoke; CPU from /proc until {args.settle:g} s after each run; "
        f"{os.cpu_count()} CPUs shared by all processes\n"
    )
    print(table(headers, [_row(r, critical) for r in runs]))
    print("\ntwo dev servers / one process, per repeat (median, min-max):")
    for n in args.n:
        one = [r for r in runs if r.n == n and r.setup == SETUPS[0]]
        two = [r for r in runs if r.n == n and r.setup == SETUPS[1]]
        walls = [b.wall / a.wall for a, b in zip(one, two, strict=True)]
        cpus = [b.total_cpu / a.total_cpu for a, b in zip(one, two, strict=True)]
        clients = [b.cpu["client"] / a.cpu["client"] for a, b in zip(one, two, strict=True)]
        print(
            f"  N = {n}: wall {_span(walls)}, CPU of all processes {_span(cpus)}, "
            f"client CPU {_span(clients)}"
        )


def main() -> None:
    """Start the emulator and two `langgraph dev` servers, measure, stop them all."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, nargs="+", default=[100, 300], help="sub-agents per swarm (100 300)"
    )
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setup per N")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="--n-jobs-per-worker of each server (default: half the largest N, rounded up, "
        "so that no run waits in a server's queue)",
    )
    parser.add_argument(
        "--server-log-level", default=None, help="the servers' log level (default: the CLI's)"
    )
    parser.add_argument(
        "--allow-blocking", action="store_true", help="run the servers without blockbuster"
    )
    parser.add_argument(
        "--no-file-persistence",
        action="store_true",
        help="LANGGRAPH_DISABLE_FILE_PERSISTENCE=true: the in-memory runtime does not pickle "
        "its state to disk every 10 s",
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds after a run still counted for CPU"
    )
    args = parser.parse_args()
    if min(args.n) < 1 or args.repeats < 1:
        parser.error("--n and --repeats must be at least 1")
    jobs = args.jobs or math.ceil(max(args.n) / 2)
    # a SIGTERM unwinds the `with` blocks below like Ctrl-C: the servers and the emulator stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with (
        EmulatorProcess(pin=False, latency=args.latency) as emu,
        tempfile.TemporaryDirectory(prefix="kimi-bench-dev-") as tmp,
    ):
        env = {"KIMI_BASE_URL": emu.base_url("vllm"), "KIMI_BACKEND": "vllm", "KIMI_API_KEY": "k"}
        if args.no_file_persistence:
            env["LANGGRAPH_DISABLE_FILE_PERSISTENCE"] = "true"
        options = {
            "jobs": jobs,
            "log_level": args.server_log_level,
            "allow_blocking": args.allow_blocking,
        }
        graphs = {"agent": SUBAGENT_GRAPH}
        with (
            DevServer(Path(tmp) / "a", graphs, env, **options) as a,
            DevServer(Path(tmp) / "b", graphs, env, **options) as b,
        ):
            print(
                f"emulator {emu.url}, langgraph dev at {a.url} and {b.url} "
                f"(--n-jobs-per-worker {jobs}); {load()}",
                flush=True,
            )
            measure(args, emu, [a, b])


if __name__ == "__main__":
    main()
