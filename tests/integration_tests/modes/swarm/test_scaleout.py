"""Scale-out on a real engine: two Aegra instances over one PostgreSQL and one Redis
(deploy/cluster.py), sub-agents as runs of the deployment, one instance `kill -9`ed
mid-swarm. Every sub-agent ends ok, none is lost, and only runs in flight on the dead
instance execute a second time, none a third (counted as model calls at the emulator)."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_sync_client

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.deploy._cluster import ROOT
from tests.integration_tests.modes.swarm._aegra import AegraCluster, assign, start_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aegra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AegraCluster]:
    with Emulator(EmulatorConfig()) as emu:
        yield from start_cluster(emu, tmp_path_factory.mktemp("aegra") / "cluster")


@pytest.fixture
def both_up(aegra: AegraCluster) -> Iterator[AegraCluster]:
    """Both instances up before and after the test."""
    aegra.restart(0)
    aegra.restart(1)
    yield aegra
    aegra.restart(0)
    aegra.restart(1)


def _swarm(emulator: Emulator, subagent_graph: Any) -> Any:
    local = ChatKimi(base_url=emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    return create_swarm_graph(
        local, subagent_graph=subagent_graph, checkpointer=InMemorySaver(), max_concurrency=50
    )


def _script(nonce: str, n: int, latency: float) -> tuple[str, list[str]]:
    tasks = [f"say hello {i}-{nonce} [[latency {latency}]]" for i in range(n)]
    return "".join(assign(f"r{i}", t) for i, t in enumerate(tasks)), tasks


def _executions(aegra: AegraCluster, nonce: str) -> collections.Counter[str]:
    """Model calls per sub-agent task (one per execution of its run)."""
    return collections.Counter(
        r.last_user.split(" [[")[0]
        for r in aegra.emulator.requests
        if r.last_user.startswith("say hello") and nonce in r.last_user
    )


def _run_with_kill(
    graph: Any, script: str, kill: Any, after: float
) -> tuple[dict[str, Any], float]:
    """Run the swarm; `kill()` after `after` s; return its output and seconds from kill to end."""
    killed_at: list[float] = []

    def killer() -> None:
        time.sleep(after)
        kill()
        killed_at.append(time.monotonic())

    thread = threading.Thread(target=killer)
    thread.start()
    out = graph.invoke(
        {"messages": [("user", script)]}, {"configurable": {"thread_id": uuid.uuid4().hex}}
    )
    end = time.monotonic()
    thread.join()
    return out, end - killed_at[0]


def _check(out: dict[str, Any], tasks: list[str], runs: collections.Counter[str]) -> None:
    records = out["subagent_results"]
    assert [r["status"] for r in records] == ["ok"] * len(tasks), [r["error"] for r in records]
    for record, task in zip(sorted(records, key=lambda r: r["role"]), tasks, strict=False):
        assert task.split(" [[")[0].split()[-1] in record["output"], record
        assert record["usage"]["total_tokens"] > 0
    assert set(runs) == {t.split(" [[")[0] for t in tasks}  # none lost
    assert max(runs.values()) <= 2, runs  # re-run at most once (the dead instance's)


def test_url_list_survives_kill_9_of_an_instance(both_up: AegraCluster) -> None:
    aegra = both_up
    nonce = uuid.uuid4().hex[:8]
    script, tasks = _script(nonce, 8, 3.0)
    remotes = [RemoteGraph("agent", url=u, name=f"aegra{i}") for i, u in enumerate(aegra.urls)]
    on_victim: set[str] = set()

    def kill() -> None:
        deadline = time.monotonic() + 30
        while len(claims := _running_tasks(aegra, nonce)) < len(tasks):
            assert time.monotonic() < deadline, claims
            time.sleep(0.1)
        on_victim.update(t for t, w in claims.items() if _worker_of(aegra, 1) in w)
        aegra.kill9(1)

    out, after_kill = _run_with_kill(_swarm(aegra.emulator, remotes), script, kill, 0.0)
    runs = _executions(aegra, nonce)
    assert {t for t, n in runs.items() if n == 2} <= on_victim, (runs, on_victim)
    print(f"kill -9 of one of two instances: swarm ended {after_kill:.1f}s after; runs {runs}")
    _check(out, tasks, runs)
    assert after_kill < 45, after_kill
    assert {r["worker"] for r in out["subagent_results"]} == {"aegra0", "aegra1"}

    # B is down now: new sub-agents sent to it skip it at once (no SSE retry exhaustion)
    nonce = uuid.uuid4().hex[:8]
    script, tasks = _script(nonce, 6, 0.5)
    start = time.monotonic()
    out = _swarm(aegra.emulator, remotes).invoke(
        {"messages": [("user", script)]}, {"configurable": {"thread_id": nonce}}
    )
    _check(out, tasks, _executions(aegra, nonce))
    assert max(_executions(aegra, nonce).values()) == 1
    assert time.monotonic() - start < 20


def test_balancer_url_survives_kill_9_of_an_instance(both_up: AegraCluster) -> None:
    aegra = both_up
    nonce = uuid.uuid4().hex[:8]
    script, tasks = _script(nonce, 8, 3.0)
    remote = RemoteGraph("agent", url=aegra.balancer, name="balancer")
    out, after_kill = _run_with_kill(
        _swarm(aegra.emulator, remote), script, lambda: aegra.kill9(0), 1.5
    )
    _check(out, tasks, _executions(aegra, nonce))
    assert after_kill < 45, after_kill


def _orchestrator_calls(aegra: AegraCluster, nonce: str) -> int:
    """Orchestrator planning calls of a swarm whose request holds `nonce`."""
    return sum(
        1
        for r in aegra.emulator.requests
        if nonce in r.last_user
        and not r.last_user.startswith("say hello")
        and any(t.get("function", {}).get("name") == "assign_task" for t in r.body.get("tools", []))
        and (r.body.get("messages") or [{}])[-1].get("role") == "user"
    )


def test_swarm_as_a_server_run_spreads_its_subagents_over_the_deployment(
    both_up: AegraCluster,
) -> None:
    """The swarm graph of langgraph.json, run on the cluster, sends its sub-agents to every
    instance (KIMI_SUBAGENT_URLS); the client of the swarm run gets their progress events,
    their steps under the branch namespaces and their usage."""
    aegra = both_up
    nonce = uuid.uuid4().hex[:8]
    script, tasks = _script(nonce, 6, 0.2)
    client = get_sync_client(url=aegra.balancer, api_key=None)
    thread = client.threads.create()
    progress, nested, final = [], [], None
    for chunk in client.runs.stream(
        thread["thread_id"],
        "swarm",
        input={"messages": [{"role": "user", "content": script}]},
        stream_mode=["custom", "values"],
        stream_subgraphs=True,
    ):
        if chunk.event.startswith("custom") and chunk.data.get("type") == "subagent":
            progress.append(chunk.data)
        elif chunk.event.startswith("values|subagent:"):
            nested.append(chunk.event)
        elif chunk.event == "values":
            final = chunk.data
    assert final is not None
    records = final["subagent_results"]
    _check(final, tasks, _executions(aegra, nonce))
    assert max(_executions(aegra, nonce).values()) == 1
    assert {r["worker"] for r in records} == set(aegra.urls)  # both instances
    finished = [e for e in progress if e["event"] == "finish"]
    assert len(finished) == 6 and all(e["usage"]["total_tokens"] > 0 for e in finished)
    assert {e.split("|")[1] for e in nested} == {r["namespace"] for r in records}
    usage = final["messages"][-1]["response_metadata"]["swarm"]["usage"]
    assert usage["total_tokens"] > sum(r["usage"]["total_tokens"] for r in records)


def _claimed_by(aegra: AegraCluster, run_id: str) -> str | None:
    with psycopg.connect(aegra.cluster.database_url) as conn:
        row = conn.execute("select claimed_by from runs where run_id = %s", (run_id,)).fetchone()
    return None if row is None else row[0]


def _running_tasks(aegra: AegraCluster, nonce: str) -> dict[str, str]:
    """The sub-agent runs of `nonce` running now: task -> the worker that claimed it."""
    with psycopg.connect(aegra.cluster.database_url) as conn:
        rows = conn.execute(
            "select claimed_by, input::text from runs where status = 'running'"
        ).fetchall()
    found = {}
    for claimed_by, text in rows:
        match = re.search(rf"say hello \d+-{nonce}", text or "")
        if match and claimed_by:
            found[match.group(0)] = claimed_by
    return found


def _worker_of(aegra: AegraCluster, index: int) -> str:
    """How Aegra names the workers of instance `index` in runs.claimed_by."""
    pid = int((aegra.cluster.state / f"aegra{index + 1}.pid").read_text())
    return f"-{pid}-worker-"


def test_swarm_server_run_survives_kill_9_of_its_host(both_up: AegraCluster) -> None:
    """The instance executing the swarm run dies mid-swarm: the engine re-runs the swarm
    from its checkpoint on the survivor (the orchestrator is not called again), its
    branches join the sub-agent runs that exist instead of starting new ones, and only
    the sub-agents that were running on the dead instance execute a second time."""
    aegra = both_up
    nonce = uuid.uuid4().hex[:8]
    script, tasks = _script(nonce, 8, 4.0)
    client = get_sync_client(url=aegra.balancer, api_key=None)
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], "swarm", input={"messages": [{"role": "user", "content": script}]}
    )
    deadline = time.monotonic() + 60
    host, claims = None, {}
    while time.monotonic() < deadline:
        host, claims = _claimed_by(aegra, run["run_id"]), _running_tasks(aegra, nonce)
        if host and len(claims) == len(tasks):
            break
        time.sleep(0.1)
    assert host and len(claims) == len(tasks), (host, claims)
    victim = next(i for i in (0, 1) if _worker_of(aegra, i) in host)
    on_victim = {t for t, w in claims.items() if _worker_of(aegra, victim) in w}
    aegra.kill9(victim)
    killed = time.monotonic()
    survivor = get_sync_client(url=aegra.urls[1 - victim], api_key=None)
    final = survivor.runs.join(thread["thread_id"], run["run_id"])
    after_kill = time.monotonic() - killed
    runs = _executions(aegra, nonce)
    print(f"swarm host killed: the run ended {after_kill:.1f}s after; runs {runs}")
    assert survivor.runs.get(thread["thread_id"], run["run_id"])["status"] == "success"
    _check(final, tasks, runs)
    # only what ran on the dead instance ran again
    assert {t for t, n in runs.items() if n == 2} <= on_victim, (runs, on_victim)
    assert _orchestrator_calls(aegra, nonce) == 1
    assert after_kill < 45, after_kill


class _StreamCutter:
    """A loopback TCP proxy that cuts every event stream right after its first bytes,
    as a balancer or a network that drops long responses would (`cut=False`: it only
    passes the bytes on). `requests` lists the HTTP requests it saw ("POST /path").
    With `fail_creates=n` it answers 500 instead of the first n event streams of
    `POST .../runs/stream`, after the engine got the request (the run exists)."""

    def __init__(self, upstream: str, *, cut: bool = True, fail_creates: int = 0) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.cut = cut
        self.fail_creates = fail_creates
        self.failed = 0
        self.cuts = 0
        self.requests: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        last: list[str] = [""]

        async def pump_up() -> None:
            while data := await reader.read(65536):
                for found in _REQUEST_LINE.finditer(data):
                    last[0] = f"{found[1].decode()} {found[2].decode()}"
                    self.requests.append(last[0])
                up_writer.write(data)
                await up_writer.drain()

        async def pump_down() -> None:
            while data := await up_reader.read(65536):
                create = last[0].startswith("POST ") and last[0].endswith("/runs/stream")
                if create and b"text/event-stream" in data and self.failed < self.fail_creates:
                    self.failed += 1
                    writer.write(_ERROR_500)
                    await writer.drain()
                    return
                writer.write(data)
                await writer.drain()
                if self.cut and b"text/event-stream" in data:
                    self.cuts += 1
                    return

        up = asyncio.ensure_future(pump_up())
        try:
            await pump_down()
        except OSError:
            pass
        finally:
            up.cancel()
            writer.close()
            up_writer.close()

    def close(self) -> None:
        async def shut() -> None:
            assert self.server is not None
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


_REQUEST_LINE = re.compile(rb"(GET|POST|PATCH|DELETE) (/\S*) HTTP/1\.1\r\n")
_ERROR_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


def test_a_fresh_subagent_costs_the_engine_one_request(both_up: AegraCluster) -> None:
    """A sub-agent of a fresh swarm step cannot have a run yet: it creates its thread and
    run and streams it in one request (no thread creation, no runs lookup, no state read
    once the stream ended with the answer). A resumed one looks first (the kill tests)."""
    aegra = both_up
    counter = _StreamCutter(aegra.urls[0], cut=False)
    try:
        nonce = uuid.uuid4().hex[:8]
        script, tasks = _script(nonce, 3, 0.2)
        remote = RemoteGraph("agent", url=counter.url, name="counted")
        out = _swarm(aegra.emulator, remote).invoke(
            {"messages": [("user", script)]}, {"configurable": {"thread_id": nonce}}
        )
    finally:
        counter.close()
    runs = _executions(aegra, nonce)
    _check(out, tasks, runs)
    assert max(runs.values()) == 1
    assert len(counter.requests) == len(tasks), counter.requests
    assert all(re.fullmatch(r"POST /threads/[0-9a-f-]+/runs/stream", r) for r in counter.requests)


def test_a_500_after_the_run_was_created_joins_that_run(both_up: AegraCluster) -> None:
    """An overloaded instance answers 500 to a run it created (Aegra out of Redis
    connections for the stream): the sub-agent finds that run and joins it; it executes
    once and no second run is made."""
    aegra = both_up
    proxy = _StreamCutter(aegra.urls[0], cut=False, fail_creates=3)
    try:
        nonce = uuid.uuid4().hex[:8]
        script, tasks = _script(nonce, 3, 1.0)
        remote = RemoteGraph("agent", url=proxy.url, name="flaky")
        out = _swarm(aegra.emulator, remote).invoke(
            {"messages": [("user", script)]}, {"configurable": {"thread_id": nonce}}
        )
    finally:
        proxy.close()
    runs = _executions(aegra, nonce)
    _check(out, tasks, runs)
    assert proxy.failed == 3
    assert max(runs.values()) == 1
    assert _runs_of(aegra, nonce) == {"success": 3}  # one run per sub-agent


def test_a_stream_cut_before_its_end_still_gets_the_result(both_up: AegraCluster) -> None:
    """No event stream of a sub-agent run ever reaches its end: the result comes from
    the run's status and the remote thread's final state, and the run executes once."""
    aegra = both_up
    cutter = _StreamCutter(aegra.urls[0])
    try:
        nonce = uuid.uuid4().hex[:8]
        script, tasks = _script(nonce, 3, 1.0)
        remote = RemoteGraph("agent", url=cutter.url, name="cut")
        out = _swarm(aegra.emulator, remote).invoke(
            {"messages": [("user", script)]}, {"configurable": {"thread_id": nonce}}
        )
    finally:
        cutter.close()
    runs = _executions(aegra, nonce)
    _check(out, tasks, runs)
    assert max(runs.values()) == 1
    assert cutter.cuts >= 3


CHILD = Path(__file__).with_name("scaleout_child.py")


def _runs_of(aegra: AegraCluster, nonce: str) -> dict[str, int]:
    """Remote runs of `nonce`'s sub-agents per status."""
    with psycopg.connect(aegra.cluster.database_url) as conn:
        rows = conn.execute(
            "select status, count(*) from runs where input::text like %s group by status",
            (f"%{nonce}%",),
        ).fetchall()
    return {status: int(n) for status, n in rows}


def test_a_killed_swarm_resumes_into_its_subagents_runs(
    both_up: AegraCluster, tmp_path: Path
) -> None:
    """The swarm's own process is killed while its sub-agents run on the deployment; the
    runs go on there. The swarm resumed from its checkpoint (another process) joins the
    runs still going and takes the results of the finished ones: every sub-agent executes
    once and no run is created. (The async branch resumes in the server-run test above.)"""
    aegra = both_up
    nonce = uuid.uuid4().hex[:8]
    fast = [f"say hello {i}-{nonce} [[latency 0.5]]" for i in range(3)]
    slow = [f"say hello {i}-{nonce} [[latency 8]]" for i in range(3, 6)]
    script = "".join(assign(f"r{i}", t) for i, t in enumerate(fast + slow))
    store, thread_id = str(tmp_path / "swarm.sqlite"), f"killed-{nonce}"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), aegra.emulator.base_url("moonshot"), store, thread_id,
         ",".join(aegra.urls), script],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _runs_of(aegra, nonce).get("success", 0) < len(fast):
            assert time.monotonic() < deadline and child.poll() is None, _runs_of(aegra, nonce)
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait(10)
    assert _runs_of(aegra, nonce).get("running", 0) + _runs_of(aegra, nonce).get("pending", 0)

    local = ChatKimi(base_url=aegra.emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    remotes = [RemoteGraph("agent", url=u, name=f"aegra{i}") for i, u in enumerate(aegra.urls)]
    with SqliteSaver.from_conn_string(store) as saver:
        graph = create_swarm_graph(local, subagent_graph=remotes, checkpointer=saver)
        config = {"configurable": {"thread_id": thread_id}}
        out = graph.invoke(None, config)
    runs = _executions(aegra, nonce)
    _check(out, fast + slow, runs)
    assert max(runs.values()) == 1  # none ran again
    assert _runs_of(aegra, nonce) == {"success": 6}  # one run per sub-agent, ever
