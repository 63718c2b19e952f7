#!/usr/bin/env python
"""Benchmark: a swarm's sub-agents in-process vs as runs of one or two Aegra instances.

Starts the K2.5 emulator (a child process, a fixed latency L per model call) and the
cluster of deploy/ (PostgreSQL, Redis, two Aegra instances, HAProxy; see
`make cluster`), then prints, measured in this one run:

* wall time of a swarm of N tool-using sub-agents (default 300, L = 0.5 s) with the
  sub-agents in-process, on one Aegra instance, on two through a URL list and on two
  through the balancer; wall / critical path (orchestrator + a sub-agent's two model
  calls + synthesis = 4·L) and wall / in-process. Goal: two instances add <= 25% wall
  over in-process. Each sub-agent runs the agent graph with the calculator
  (benchmarks/scaleout/, the cluster serves it as `agent`): a model call asking for the
  calculator, the tool, a model call answering, as `bench_swarm.py --tools`.
* CPU per sub-agent run, in each setup: this (client) process, and the engine (the
  Aegra processes, PostgreSQL with its backends, Redis and HAProxy, read from /proc),
  over the N-sub-agent swarm; then the arithmetic of the goal on this box.
* engine overhead per sub-agent run: K sub-agent runs one after another through the
  deployment minus the same in-process, per run (ms), both at latency L.
* failover: a swarm of 8 sub-agents of ~3 s each over a URL list; when all run, one
  instance gets `kill -9`; seconds from the kill to the swarm's end (median of
  --repeats) next to the same swarm's remaining time without a kill.

Needs what `make cluster` needs (Debian postgresql, redis-server and haproxy, the Aegra
venv of `make aegra-venv`). Run from the repository root (about 3 minutes)::

    .venv/bin/python benchmarks/bench_scaleout.py
    .venv/bin/python benchmarks/bench_scaleout.py --n 100 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from _bench import ROOT, EmulatorProcess, cpu_seconds, table  # also puts the repo root on sys.path
from langchain_core.messages import HumanMessage
from langgraph.pregel.remote import RemoteGraph

from kimi_graph import ChatKimi, create_agent_graph, create_swarm_graph
from kimi_graph.modes.swarm._remote import remote_workers
from kimi_graph.tools.calculator import calculator

GOAL_EXTRA_WALL = 0.25
BENCH_GRAPHS = ROOT / "benchmarks" / "scaleout" / "langgraph.json"
ENGINE = ("aegra1", "aegra2", "redis", "haproxy")


def _cluster_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_cluster", ROOT / "deploy" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def _swarm(emu: EmulatorProcess, n: int, subagent_graph: Any) -> Any:
    local = ChatKimi(base_url=emu.base_url("moonshot"), backend="moonshot", api_key="k")
    # the time-out bounds a sub-agent whose run an overloaded engine never finishes
    kwargs: dict[str, Any] = {"max_subagents": n, "max_concurrency": n, "subagent_timeout": 120}
    if subagent_graph is None:
        worker = ChatKimi(base_url=emu.base_url("vllm"), backend="vllm", api_key="k")
        return create_swarm_graph(local, [calculator], worker_model=worker, **kwargs)
    return create_swarm_graph(local, subagent_graph=subagent_graph, **kwargs)


def _script(n: int, extra: str = "") -> str:
    nonce = uuid.uuid4().hex[:8]
    return "".join(_assign(f"r{i}", f"say hello {i}-{nonce}{extra}") for i in range(n))


def _tool_script(n: int) -> str:
    """N sub-tasks; each sub-agent calls the calculator once, then answers."""
    nonce = uuid.uuid4().hex[:8]
    call = '[[call calculator {{"expression": "{i} * 3"}}]]'
    return "".join(
        _assign(f"r{i}", f"Compute {i} * 3 ({nonce}). " + call.format(i=i)) for i in range(n)
    )


async def _run(graph: Any, script: str) -> tuple[float, dict[str, Any]]:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": 50}
    start = time.perf_counter()
    out = await graph.ainvoke({"messages": [("user", script)]}, config)
    wall = time.perf_counter() - start
    return wall, out


def _ok(out: dict[str, Any], tools: int | None = None) -> str:
    records = out["subagent_results"]
    ok = sum(r["status"] == "ok" and tools in (None, r["tool_calls"]) for r in records)
    errors = [str(r["error"]) for r in records if r["error"]]
    return f"{ok}/{len(records)}" + (
        f" ({len(errors)} failed: {errors[0][:160]})" if errors else ""
    )


@contextlib.contextmanager
def _cluster(module: ModuleType, emu: EmulatorProcess, settings: dict[str, str]) -> Iterator[Any]:
    """deploy/'s cluster with `settings`, the emulator as its model; stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="kimi-bench-cluster-") as tmp:
        cluster = module.Cluster(
            state=Path(tmp) / "cluster", instances=2, settings=settings, venv=module.AEGRA_VENV
        )
        cluster.config = BENCH_GRAPHS
        cluster.model_env = {
            "KIMI_BASE_URL": emu.base_url("vllm"),
            "KIMI_BACKEND": "vllm",
            "KIMI_API_KEY": "k",
        }
        cluster.up()
        try:
            yield cluster
        finally:
            cluster.down()


def _engine_cpu(cluster: Any) -> float:
    """CPU seconds the engine has used so far: Aegra, PostgreSQL, Redis, HAProxy."""
    pids = [int(f.read_text()) for f in (cluster.state / f"{n}.pid" for n in ENGINE) if f.exists()]
    pg = Path((cluster.state / "postgres.dir").read_text()) / "data" / "postmaster.pid"
    pids.append(int(pg.read_text().split()[0]))
    return sum(cpu_seconds(pid) for pid in pids)


def _wall(
    args: argparse.Namespace, emu: EmulatorProcess, cluster: Any
) -> tuple[list[list[str]], list[tuple[float, float]]]:
    """The rows of the table, and (client, engine) CPU ms per sub-agent of each setup."""
    a, b = cluster.instance_urls
    setups = {
        "in-process": None,
        "1 Aegra instance": RemoteGraph("agent", url=a, name="a"),
        "2 instances, URL list": [
            RemoteGraph("agent", url=a, name="a"),
            RemoteGraph("agent", url=b, name="b"),
        ],
        "2 instances, balancer": RemoteGraph("agent", url=cluster.url, name="lb"),
    }
    critical = 4 * args.latency
    rows, cpus, base = [], [], 0.0
    for label, sub in setups.items():
        graph = _swarm(emu, args.n, sub)
        asyncio.run(_run(graph, _tool_script(2)))  # warm-up: connections, imports
        time.sleep(2)  # the warm-up's runs end on the engine
        engine, client = _engine_cpu(cluster), time.process_time()
        wall, out = asyncio.run(_run(graph, _tool_script(args.n)))
        client = (time.process_time() - client) * 1000 / args.n
        engine = (_engine_cpu(cluster) - engine) * 1000 / args.n
        base = base or wall
        row = [
            label,
            f"{wall:.2f}",
            f"{wall / critical:.2f}",
            f"{wall / base - 1:+.0%}",
            f"{client:.1f}",
            f"{engine:.1f}",
            _ok(out, tools=1),
        ]
        print("  " + "  ".join(row), flush=True)
        rows.append(row)
        cpus.append((client, engine))
    return rows, cpus


def _overhead(args: argparse.Namespace, emu: EmulatorProcess, cluster: Any) -> tuple[float, float]:
    """Mean ms of one sub-agent run, one after another: in-process, and as a remote run.

    Both call the same emulator (latency L); the difference is the engine's cost.
    """
    worker = ChatKimi(base_url=emu.base_url("vllm"), backend="vllm", api_key="k")
    local = create_agent_graph(worker, [calculator])
    remote = remote_workers([RemoteGraph("agent", url=cluster.instance_urls[0], name="a")])[0]

    async def timed(one: Any) -> float:
        await one(-1)  # warm-up
        start = time.perf_counter()
        for i in range(args.k):
            await one(i)
        return (time.perf_counter() - start) / args.k * 1000

    def task(i: int) -> str:
        return f'Compute {i} * 3. [[call calculator {{"expression": "{i} * 3"}}]]'

    async def local_run(i: int) -> None:
        await local.ainvoke({"messages": [("user", task(i))]})

    async def remote_run(i: int) -> None:
        inputs = {"messages": [HumanMessage(task(i))]}
        async for _ in remote.astream(inputs, {"configurable": {"thread_id": uuid.uuid4().hex}}):
            pass

    return asyncio.run(timed(local_run)), asyncio.run(timed(remote_run))


def _failover(
    args: argparse.Namespace, emu: EmulatorProcess, cluster: Any
) -> tuple[list[float], list[float]]:
    a, b = cluster.instance_urls
    remotes = [RemoteGraph("agent", url=a, name="a"), RemoteGraph("agent", url=b, name="b")]
    graph = _swarm(emu, 8, remotes)
    killed_to_end, undisturbed = [], []
    for repeat in range(args.repeats + 1):
        kill = repeat < args.repeats
        mark: list[float] = []

        def killer(kill: bool = kill, mark: list[float] = mark) -> None:
            time.sleep(1.5)  # the orchestrator's call, then every sub-agent running
            mark.append(time.perf_counter())
            if kill:
                cluster.kill("aegra2", signal.SIGKILL)

        thread = threading.Thread(target=killer)
        thread.start()
        _, out = asyncio.run(_run(graph, _script(8, " [[latency 3]]")))
        end = time.perf_counter()
        thread.join()
        print(
            f"  failover {'kill' if kill else 'calm'}: {end - mark[0]:.1f} s, {_ok(out)}",
            flush=True,
        )
        (killed_to_end if kill else undisturbed).append(end - mark[0])
        if kill:
            cluster.start_aegra(1)
    return killed_to_end, undisturbed


def main() -> None:
    """Start the emulator and the cluster, measure, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="sub-agents per swarm (default 300)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    parser.add_argument("--k", type=int, default=30, help="runs for the overhead (default 30)")
    parser.add_argument("--repeats", type=int, default=5, help="kills for the failover median")
    parser.add_argument("--failover-only", action="store_true", help="skip the throughput phases")
    args = parser.parse_args()

    module = _cluster_module()
    settings = module.read_settings()
    problems = module.check_versions(settings)
    if problems or not module.aegra_ready(settings):
        sys.exit(f"cluster pieces missing: {problems or 'the Aegra venv (make aegra-venv)'}")
    with EmulatorProcess(pin=False, latency=args.latency) as emu:
        # Under a load this box cannot carry, heartbeats come late and a 9 s lease is
        # lost by live workers (Aegra then leaves some runs "running" forever), so the
        # throughput phases run with Aegra's default lease and the failover phase with
        # cluster.env's.
        calm = {"LEASE_DURATION_SECONDS": "30", "HEARTBEAT_INTERVAL_SECONDS": "10"}
        rows: list[list[str]] = []
        cpus: list[tuple[float, float]] = []
        local_ms = remote_ms = 0.0
        if not args.failover_only:
            overrides = {**settings, **calm, "REAPER_INTERVAL_SECONDS": "15"}
            with _cluster(module, emu, overrides) as c:
                rows, cpus = _wall(args, emu, c)
                local_ms, remote_ms = _overhead(args, emu, c)
        with _cluster(module, emu, settings) as c:
            killed, undisturbed = _failover(args, emu, c)
    if rows:
        _print_throughput(args, rows, local_ms, remote_ms)
        _print_budget(args, rows, cpus)
    print(
        f"\nfailover: kill -9 of one of two instances with 8 sub-agents of ~3 s running: the "
        f"swarm ended {statistics.median(killed):.1f} s after the kill (median of "
        f"{len(killed)}: {', '.join(f'{x:.1f}' for x in killed)}); without a kill "
        f"{statistics.median(undisturbed):.1f} s after the same moment "
        f"(lease {settings['LEASE_DURATION_SECONDS']} s)"
    )


def _print_throughput(
    args: argparse.Namespace, rows: list[list[str]], local_ms: float, remote_ms: float
) -> None:
    print(
        f"N = {args.n} sub-agents, L = {args.latency} s per model call, one box "
        f"(throughput with Aegra's default 30 s lease)\n"
    )
    headers = ["sub-agents run", "wall s", "wall / critical", "vs in-process"]
    headers += ["client CPU ms/sub-agent", "engine CPU ms/sub-agent", "ok (1 tool call)"]
    print(table(headers, rows))
    two = min(float(r[1]) for r in rows[2:])
    extra = two / float(rows[0][1]) - 1
    verdict = "met" if extra <= GOAL_EXTRA_WALL else "missed"
    print(f"\ntwo instances add {extra:+.0%} wall over in-process (goal <= +25%: {verdict})")
    print(
        f"\nengine overhead per sub-agent run: {remote_ms - local_ms:.0f} ms "
        f"({remote_ms:.0f} ms as a run of one Aegra instance, {local_ms:.0f} ms in-process, "
        f"one after another, {args.k} runs at L = {args.latency} s)"
    )


def _print_budget(
    args: argparse.Namespace, rows: list[list[str]], cpus: list[tuple[float, float]]
) -> None:
    """The goal's arithmetic: the CPU two instances need against what the budget holds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    budget = float(rows[0][1]) * (1 + GOAL_EXTRA_WALL)
    client, engine = cpus[2]  # two instances, URL list
    need = args.n * (client + engine) / 1000 / cores
    fits = cores * budget * 1000 / args.n
    print(
        f"\nbudget: two instances within {budget:.2f} s (in-process {rows[0][1]} s + 25%); "
        f"they need {client:.1f} ms client + {engine:.1f} ms engine CPU per sub-agent, "
        f"{args.n} x {client + engine:.1f} ms / {cores} cores = {need:.1f} s of CPU-bound "
        f"wall on this box, before any model latency; {cores} cores x {budget:.2f} s / "
        f"{args.n} = {fits:.1f} ms of CPU per sub-agent would fit (the emulator's and the "
        f"in-process swarm's own CPU included)"
    )


if __name__ == "__main__":
    main()
