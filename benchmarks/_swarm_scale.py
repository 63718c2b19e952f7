"""The swarm at product scale (issue 18): tool-using sub-agents, a checkpointer, CPU.

Each sub-agent makes one tool call and two model calls (the emulator's ``[[call ...]]``
directive asks for the calculator, then the sub-agent answers), so the critical path is
orchestrator + 2 sub-agent calls per round + synthesis = (2 + 2·rounds)·L. Per row:
wall / critical path on invoke and ainvoke, the client's CPU per sub-agent (process CPU
time of this process, the emulator runs in its own), and the raw-client floor: the same
1 + 2N + 1 calls made by the raw ``openai`` async client, each sub-agent's two calls in
sequence and at most ``max_concurrency`` sub-agents at once; and the peak growth of this
process's resident memory over the row's two timed runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
from langchain_core.messages import HumanMessage

import kimi_graph.heap as heap
from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.tools.calculator import calculator

__all__ = ["CHECKPOINTERS", "census_tables", "scale_rows", "throwaway_postgres"]

CHECKPOINTERS = ("none", "sqlite", "postgres")


def tool_job(n: int) -> dict[str, Any]:
    """N independent sub-tasks; each sub-agent calls the calculator once, then answers."""
    tasks = (
        {
            "role": "worker",
            "task": f'Compute {i} * 3. [[call calculator {{"expression": "{i} * 3"}}]]',
        }
        for i in range(n)
    )
    calls = "".join(f"[[call assign_task {json.dumps(t)}]]" for t in tasks)
    return {"messages": [HumanMessage(f"Work on each part independently. {calls}")]}


@contextlib.contextmanager
def open_checkpointer(kind: str, *, sync: bool) -> Iterator[Any]:
    """A real checkpointer of `kind` (None for "none"), sync or async flavour."""
    if kind == "none":
        yield None
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "bench.db")
            if sync:
                from langgraph.checkpoint.sqlite import SqliteSaver

                with SqliteSaver.from_conn_string(path) as saver:
                    yield saver
            else:
                yield ("aiosqlite", path)
        return
    with throwaway_postgres() as url:
        if sync:
            from langgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(url) as saver:
                saver.setup()
                yield saver
        else:
            yield ("postgres", url)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of its own for one benchmark (its URL), stopped on exit."""
    from tests.integration_tests._postgres import PostgresServer, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        msg = "PostgreSQL is not installed (no initdb/pg_ctl)"
        raise SystemExit(msg)
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


async def _arun(graph_factory: Any, spec: Any, n: int) -> tuple[float, float, int]:
    """Ainvoke one job, with an async checkpointer opened on this loop when asked for."""
    if spec is None:
        graph = graph_factory(None)
        return await _atimed_job(graph, n, None)
    kind, where = spec
    if kind == "aiosqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(where) as saver:
            return await _atimed_job(graph_factory(saver), n, "a")
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(where) as saver:
        await saver.setup()
        return await _atimed_job(graph_factory(saver), n, "a")


def _config(saver_tag: Any) -> dict[str, Any] | None:
    if saver_tag is None:
        return None
    return {"configurable": {"thread_id": f"bench-{time.perf_counter_ns()}"}}


async def _atimed_job(graph: Any, n: int, saver_tag: Any) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = await graph.ainvoke(tool_job(n), _config(saver_tag))
    return time.perf_counter() - wall, time.process_time() - cpu, _ok(out)


def _timed_job(graph: Any, n: int, saver: Any) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = graph.invoke(tool_job(n), _config(saver))
    return time.perf_counter() - wall, time.process_time() - cpu, _ok(out)


def _rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ok(out: dict[str, Any]) -> int:
    records = out.get("subagent_results") or []
    return sum(1 for r in records if r["status"] == "ok" and r["tool_calls"] == 1)


async def raw_tool_floor(base_url: str, n: int, concurrency: int | None = None) -> float:
    """The same 1 + 2N + 1 calls with the raw async openai client (two in a row per sub-agent).

    With `concurrency`, at most that many sub-agents' pairs run at once, as in the swarm.
    """
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    slots = asyncio.Semaphore(concurrency or n)
    instant = {"thinking": {"type": "disabled"}}

    async def call(text: str) -> Any:
        return await client.chat.completions.create(
            model="kimi-k2.5", messages=[{"role": "user", "content": text}], extra_body=instant
        )

    async def subagent(i: int) -> None:
        async with slots:
            await call(f"question {i}")
            await call(f"answer {i}")

    await call("warm up")
    start = time.perf_counter()
    await call("plan")
    await asyncio.gather(*(subagent(i) for i in range(n)))
    await call("synthesize")
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def scale_rows(
    base_url: str,
    sizes: list[tuple[int, int]],
    latency: float,
    checkpointer: str,
    *,
    freeze_heap: bool = False,
) -> list[list[str]]:
    """One table row per (N, max_concurrency): ratios, CPU per sub-agent, the floor.

    With `freeze_heap`, `kimi_graph.heap.freeze_heap()` runs after the first warm-up.
    """
    boss = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    rows = []
    for n, conc in sizes:
        rounds = math.ceil(n / conc)
        critical = (2 + 2 * rounds) * latency

        def factory(saver: Any, n: int = n, conc: int = conc) -> Any:
            return create_swarm_graph(
                boss, [calculator], max_subagents=n, max_concurrency=conc, checkpointer=saver
            )

        with open_checkpointer(checkpointer, sync=True) as saver:
            graph = factory(saver)
            _timed_job(graph, 2, saver)  # warm up: pools, imports, tables
            if freeze_heap:
                heap.freeze_heap()
            rss_before = _rss_mib()
            wall_i, cpu_i, ok_i = _timed_job(graph, n, saver)
        with open_checkpointer(checkpointer, sync=False) as spec:
            asyncio.run(_arun(factory, spec, 2))
            wall_a, cpu_a, ok_a = asyncio.run(_arun(factory, spec, n))
        peak_growth = _peak_rss_mib() - rss_before
        floor = asyncio.run(raw_tool_floor(base_url, n, conc))
        rows.append(
            [
                f"{n}" + (f" (c={conc})" if conc < n else ""),
                checkpointer,
                f"{critical:.2f}",
                f"{wall_i / critical:.2f}",
                f"{wall_a / critical:.2f}",
                f"{cpu_i / n * 1000:.1f} / {cpu_a / n * 1000:.1f}",
                f"{floor / critical:.2f}",
                f"{peak_growth:.0f}",
                f"{ok_i}/{n} {ok_a}/{n}",
            ]
        )
    return rows


def census_tables(base_url: str, n: int, checkpointer: str) -> str:
    """What one invoke of the N-sub-agent job stores in `checkpointer`, per sub-agent."""
    from _bench import table
    from _checkpoint_census import OPS_HEADERS, SIZE_HEADERS, SaverCensus, census_rows

    boss = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    with open_checkpointer(checkpointer, sync=True) as saver:
        graph = create_swarm_graph(
            boss, [calculator], max_subagents=n, max_concurrency=n, checkpointer=saver
        )
        _timed_job(graph, 2, saver)  # warm up: pools, imports, tables
        census = SaverCensus(saver)
        _, _, ok = _timed_job(graph, n, saver)
    ops, sizes = census_rows(census, n)
    head = f"{checkpointer}: N = {n} ({ok}/{n} ok with 1 tool call), invoke, per sub-agent"
    return f"{head}\n{table(OPS_HEADERS, ops)}\n\n{table(SIZE_HEADERS, sizes)}"


HEADERS = [
    "N",
    "checkpointer",
    "critical s",
    "invoke wall/critical",
    "ainvoke wall/critical",
    "client CPU ms per sub-agent inv / ainv",
    "raw floor",
    "peak RSS growth MiB",
    "ok with 1 tool call",
]
