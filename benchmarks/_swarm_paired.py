"""Paired checkpointer ratios for the tool-using swarm (issue 18, item 2).

One process, one throwaway PostgreSQL (or SQLite file), one emulator: for each repeat
the same N-sub-agent job runs without a checkpointer and with one, interleaved
(invoke none, invoke saver, ainvoke none, ainvoke saver; every other repeat the saver
first), so that both sides of each ratio see the same machine load. Per row: the wall
time with the saver ÷ without it, min–max over the repeats, for ``invoke``
(`PostgresSaver` / `SqliteSaver`) and ``ainvoke`` (`AsyncPostgresSaver` /
`AsyncSqliteSaver`), plus the client CPU per sub-agent on each side
(process CPU time, median over the repeats).

How the PostgreSQL saver is opened is the variant under test (``--pg-conn``):

* ``single``: ``from_conn_string`` (one connection; LangGraph's default);
* ``pipeline``: ``from_conn_string(..., pipeline=True)`` (one connection in pipeline
  mode);
* ``pool:K``: a `psycopg_pool` pool of K connections (with the kwargs the saver
  needs: ``autocommit=True, prepare_threshold=0, row_factory=dict_row``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from _swarm_scale import _ok, throwaway_postgres, tool_job
from langgraph.checkpoint.memory import InMemorySaver

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.tools.calculator import calculator

__all__ = ["PAIRED_CHECKPOINTERS", "PAIRED_HEADERS", "paired_rows"]

PAIRED_CHECKPOINTERS = ("sqlite", "postgres", "memory")


def _pool_kwargs() -> dict[str, Any]:
    from psycopg.rows import dict_row

    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


@contextlib.contextmanager
def _database(kind: str) -> Iterator[str]:
    """A throwaway database: a PostgreSQL URL or a SQLite file path; removed on exit."""
    if kind == "memory":
        yield ""
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield str(Path(tmp) / "bench.db")
        return
    with throwaway_postgres() as url:
        yield url


@contextlib.contextmanager
def sync_saver(kind: str, where: str, conn: str) -> Iterator[Any]:
    """The sync saver on `where`, opened as `conn` says (PostgreSQL only)."""
    if kind == "memory":
        yield InMemorySaver()
        return
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(where) as saver:
            yield saver
        return
    from langgraph.checkpoint.postgres import PostgresSaver

    if conn.startswith("pool:"):
        from psycopg_pool import ConnectionPool

        size = int(conn.split(":")[1])
        with ConnectionPool(
            where, min_size=size, max_size=size, kwargs=_pool_kwargs(), open=True
        ) as pool:
            saver = PostgresSaver(pool)  # type: ignore[arg-type]
            saver.setup()
            yield saver
        return
    if conn == "pipeline":
        # setup() cannot run in pipeline mode (CREATE INDEX CONCURRENTLY): a plain
        # connection makes the tables first.
        with PostgresSaver.from_conn_string(where) as plain:
            plain.setup()
    with PostgresSaver.from_conn_string(where, pipeline=conn == "pipeline") as saver:
        if conn != "pipeline":
            saver.setup()
        yield saver


@contextlib.asynccontextmanager
async def async_saver(kind: str, where: str, conn: str) -> AsyncIterator[Any]:
    """The async saver on `where`, opened as `conn` says (PostgreSQL only)."""
    if kind == "memory":
        yield InMemorySaver()
        return
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(where) as saver:
            yield saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    if conn.startswith("pool:"):
        from psycopg_pool import AsyncConnectionPool

        size = int(conn.split(":")[1])
        async with AsyncConnectionPool(
            where, min_size=size, max_size=size, kwargs=_pool_kwargs(), open=False
        ) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            await saver.setup()
            yield saver
        return
    if conn == "pipeline":
        async with AsyncPostgresSaver.from_conn_string(where) as plain:
            await plain.setup()
    async with AsyncPostgresSaver.from_conn_string(where, pipeline=conn == "pipeline") as saver:
        if conn != "pipeline":
            await saver.setup()
        yield saver


def _config(checkpointed: bool) -> dict[str, Any] | None:
    if not checkpointed:
        return None
    return {"configurable": {"thread_id": f"bench-{time.perf_counter_ns()}"}}


def _run(graph: Any, n: int, checkpointed: bool) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = graph.invoke(tool_job(n), _config(checkpointed))
    return time.perf_counter() - wall, time.process_time() - cpu, _ok(out)


async def _arun(graph: Any, n: int, checkpointed: bool) -> tuple[float, float, int]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = await graph.ainvoke(tool_job(n), _config(checkpointed))
    return time.perf_counter() - wall, time.process_time() - cpu, _ok(out)


def _cpu(cpu: dict[tuple[str, bool], list[float]], mode: str) -> str:
    without, with_saver = cpu[mode, False], cpu[mode, True]
    return f"{statistics.median(without):.1f} / {statistics.median(with_saver):.1f}"


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def paired_rows(
    base_url: str,
    sizes: list[tuple[int, int]],
    kind: str,
    conn: str,
    repeats: int,
) -> list[list[str]]:
    """One row per (N, max_concurrency): with-saver ÷ without, invoke and ainvoke.

    Args:
        base_url: The emulator's Moonshot base URL.
        sizes: (N, max_concurrency) pairs.
        kind: ``"postgres"``, ``"sqlite"`` or ``"memory"`` (LangGraph's `InMemorySaver`:
            the checkpointing machinery without a database).
        conn: How PostgreSQL savers connect: ``single``, ``pipeline`` or ``pool:K``.
        repeats: Interleaved pairs per mode (at least 1).

    Returns:
        Table rows matching `PAIRED_HEADERS`.
    """
    boss = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    rows = []
    with _database(kind) as where, asyncio.Runner() as runner:
        for n, conc in sizes:

            def factory(saver: Any, n: int = n, conc: int = conc) -> Any:
                return create_swarm_graph(
                    boss, [calculator], max_subagents=n, max_concurrency=conc, checkpointer=saver
                )

            plain = factory(None)
            ratios: dict[str, list[float]] = {"invoke": [], "ainvoke": []}
            cpu: dict[tuple[str, bool], list[float]] = collections.defaultdict(list)
            ok: list[int] = []
            astack = contextlib.AsyncExitStack()
            with sync_saver(kind, where, conn) as saver:
                asaver = runner.run(astack.enter_async_context(async_saver(kind, where, conn)))
                try:
                    sync_graph, async_graph = factory(saver), factory(asaver)
                    for graph, checkpointed in ((plain, False), (sync_graph, True)):
                        _run(graph, 2, checkpointed)  # warm up: pools, imports, tables
                    for graph, checkpointed in ((plain, False), (async_graph, True)):
                        runner.run(_arun(graph, 2, checkpointed))
                    for i in range(repeats):
                        # Alternate which side runs first, so that neither always
                        # follows the other (GC debt, executor threads, load bursts).
                        first = i % 2 == 1
                        pair = [(plain, False), (sync_graph, True)][:: -1 if first else 1]
                        runs = {c: _run(g, n, c) for g, c in pair}
                        apair = [(plain, False), (async_graph, True)][:: -1 if first else 1]
                        aruns = {c: runner.run(_arun(g, n, c)) for g, c in apair}
                        for mode, got in (("invoke", runs), ("ainvoke", aruns)):
                            ratios[mode].append(got[True][0] / got[False][0])
                            cpu[mode, False].append(got[False][1] / n * 1000)
                            cpu[mode, True].append(got[True][1] / n * 1000)
                            ok += [got[False][2], got[True][2]]
                finally:
                    runner.run(astack.aclose())
            rows.append(
                [
                    f"{n}" + (f" (c={conc})" if conc < n else ""),
                    kind + (f" {conn}" if kind == "postgres" else ""),
                    str(repeats),
                    _span(ratios["invoke"]),
                    _span(ratios["ainvoke"]),
                    _cpu(cpu, "invoke"),
                    _cpu(cpu, "ainvoke"),
                    f"{min(ok)}/{n}",
                ]
            )
    return rows


PAIRED_HEADERS = [
    "N",
    "checkpointer",
    "pairs",
    "invoke with/without (min–max)",
    "ainvoke with/without (min–max)",
    "invoke CPU ms/sub-agent without / with",
    "ainvoke CPU ms/sub-agent without / with",
    "fewest ok with 1 tool call",
]
