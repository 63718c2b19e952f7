"""One run at a time per thread, in a process and across processes (issue 16, item 7).

Every run here talks to the bundled emulator; the cross-process cases share a SQLite
file or a real PostgreSQL database with a child process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from kimi_graph import create_agent_graph, create_swarm_graph
from kimi_graph._thread_guard import ThreadBusyError

ROOT = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("thread_child.py")


def _config(thread: str, strategy: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread}
    if strategy:
        configurable["multitask_strategy"] = strategy
    return {"configurable": configurable}


class Gate:
    """A tool that blocks until released, so a run is known to be in progress."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

        @tool
        def hold(x: str) -> str:
            """Hold the thread."""
            self.calls += 1
            self.entered.set()
            assert self.release.wait(30)
            return f"held {x}"

        self.tool = hold


@pytest.fixture
def sqlite_saver(tmp_path: Path) -> Iterator[SqliteSaver]:
    conn = sqlite3.connect(tmp_path / "threads.db", check_same_thread=False)
    yield SqliteSaver(conn)
    conn.close()


def _users(graph: Any, config: dict[str, Any]) -> list[str]:
    state = graph.get_state(config)
    return [m.text for m in state.values["messages"] if isinstance(m, HumanMessage)]


def test_a_second_run_on_a_busy_thread_is_refused(kimi, sqlite_saver: SqliteSaver) -> None:
    gate = Gate()
    graph = create_agent_graph(kimi("moonshot"), [gate.tool], checkpointer=sqlite_saver)
    first_out: list[Any] = []
    first = threading.Thread(
        target=lambda: first_out.append(
            graph.invoke({"messages": [("user", '[[call hold {"x": "1"}]]')]}, _config("t1"))
        )
    )
    first.start()
    assert gate.entered.wait(30)
    with pytest.raises(ThreadBusyError, match="thread 't1' is busy"):
        graph.invoke({"messages": [("user", "second turn")]}, _config("t1"))
    with pytest.raises(ThreadBusyError):
        list(graph.stream({"messages": [("user", "second turn")]}, _config("t1")))
    # another thread is not blocked
    other = graph.invoke({"messages": [("user", "hello")]}, _config("t2"))
    assert other["messages"][-1].text
    gate.release.set()
    first.join(30)
    assert first_out
    assert _users(graph, _config("t1")) == ['[[call hold {"x": "1"}]]']  # nothing half-written
    # free again: the next turn runs
    graph.invoke({"messages": [("user", "next")]}, _config("t1"))
    assert _users(graph, _config("t1"))[-1] == "next"


async def test_enqueue_runs_both_turns_one_after_the_other(kimi) -> None:
    gate = Gate()
    graph = create_agent_graph(kimi("moonshot"), [gate.tool], checkpointer=InMemorySaver())

    async def later() -> Any:
        await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 30)
        second = asyncio.ensure_future(
            graph.ainvoke({"messages": [("user", "second")]}, _config("q", "enqueue"))
        )
        await asyncio.sleep(0.3)
        assert not second.done()  # queued behind the first run
        with pytest.raises(ThreadBusyError):
            await graph.ainvoke({"messages": [("user", "third")]}, _config("q"))
        gate.release.set()
        return await second

    first = graph.ainvoke({"messages": [("user", '[[call hold {"x": "1"}]]')]}, _config("q"))
    await asyncio.gather(first, later())
    assert _users(graph, _config("q")) == ['[[call hold {"x": "1"}]]', "second"]


def test_concurrent_resumes_of_a_plan_review_run_the_subagents_once(kimi) -> None:
    gate = Gate()
    script = "".join(
        f'[[call assign_task {{"role": "{r}", "task": "[[call hold {{\\"x\\": \\"{r}\\"}}]]"}}]]'
        for r in ("a", "b")
    )
    graph = create_swarm_graph(
        kimi("moonshot"), [gate.tool], approve_plan=True, checkpointer=InMemorySaver()
    )
    config = _config(f"review-{uuid.uuid4().hex[:6]}")
    paused = graph.invoke({"messages": [("user", script)]}, config)
    assert paused["__interrupt__"]
    outcomes: list[Any] = []

    def resume() -> None:
        try:
            outcomes.append(graph.invoke(Command(resume=True), config))
        except ThreadBusyError as err:
            outcomes.append(err)

    runs = [threading.Thread(target=resume) for _ in range(2)]
    for run in runs:
        run.start()
    assert gate.entered.wait(30)
    runs_done = [r for r in runs if not r.is_alive()]
    gate.release.set()
    for run in runs:
        run.join(30)
    assert len(runs_done) <= 1
    errors = [o for o in outcomes if isinstance(o, ThreadBusyError)]
    results = [o for o in outcomes if not isinstance(o, ThreadBusyError)]
    assert len(errors) == 1 and len(results) == 1
    assert gate.calls == 2  # each sub-agent ran once, not twice
    records = results[0]["subagent_results"]
    assert sorted(r["role"] for r in records) == ["a", "b"]


def _hold_in_child(base_url: str, store: str, thread: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), base_url, store, thread, str(seconds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.strip() == "holding", (line, proc.stderr.read() if proc.poll() else "")  # type: ignore[union-attr]
    return proc


def _cross_process(kimi, emulator, store: str, saver: Any) -> None:
    graph = create_agent_graph(kimi("moonshot"), [], checkpointer=saver)
    thread = f"shared-{uuid.uuid4().hex[:6]}"
    child = _hold_in_child(emulator.base_url("moonshot"), store, thread, 30)
    try:
        with pytest.raises(ThreadBusyError, match="is busy"):
            graph.invoke({"messages": [("user", "from the parent")]}, _config(thread))
        other = graph.invoke({"messages": [("user", "hi")]}, _config(f"{thread}-other"))
        assert other["messages"][-1].text
    finally:
        child.send_signal(signal.SIGKILL)  # killed mid-run: the lock must not outlive it
        child.wait(30)
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    out = graph.invoke({"messages": [("user", "after the child")]}, _config(thread))
    assert out["messages"][-1].text
    assert not any(isinstance(m, ToolMessage) and m.text == "held child" for m in out["messages"])


def test_across_processes_on_one_sqlite_file(kimi, emulator, tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        _cross_process(kimi, emulator, str(db), saver)
    finally:
        conn.close()


def test_across_processes_on_one_postgres_database(kimi, emulator, postgres_url: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(postgres_url) as saver:
        saver.setup()
        _cross_process(kimi, emulator, postgres_url, saver)


def test_a_bad_strategy_is_refused(kimi) -> None:
    graph = create_agent_graph(kimi("moonshot"), [], checkpointer=InMemorySaver())
    with pytest.raises(ValueError, match="multitask_strategy must be 'reject' or 'enqueue'"):
        graph.invoke({"messages": [("user", "hi")]}, _config("x", "interrupt"))


async def _cross_process_async(kimi, emulator, store: str, saver: Any) -> None:
    graph = create_agent_graph(kimi("moonshot"), [], checkpointer=saver)
    thread = f"shared-async-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    child = await loop.run_in_executor(
        None, _hold_in_child, emulator.base_url("moonshot"), store, thread, 30
    )
    try:
        with pytest.raises(ThreadBusyError, match="is busy"):
            await graph.ainvoke({"messages": [("user", "from the parent")]}, _config(thread))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    out = await graph.ainvoke({"messages": [("user", "after the child")]}, _config(thread))
    assert out["messages"][-1].text


async def test_async_savers_hold_the_thread_across_processes_sqlite(
    kimi, emulator, tmp_path: Path
) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    db = tmp_path / "shared-async.db"
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        await saver.setup()
        await _cross_process_async(kimi, emulator, str(db), saver)


async def test_async_savers_hold_the_thread_across_processes_postgres(
    kimi, emulator, postgres_url: str
) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
        await saver.setup()
        await _cross_process_async(kimi, emulator, postgres_url, saver)
