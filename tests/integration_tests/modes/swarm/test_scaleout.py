"""Scale-out on a real engine: two Aegra instances over one PostgreSQL and one Redis
(deploy/cluster.py), sub-agents as runs of the deployment, one instance `kill -9`ed
mid-swarm. Every sub-agent ends ok, none is lost, and only runs in flight on the dead
instance execute a second time, none a third (counted as model calls at the emulator)."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
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
    out, after_kill = _run_with_kill(
        _swarm(aegra.emulator, remotes), script, lambda: aegra.kill9(1), 1.5
    )
    runs = _executions(aegra, nonce)
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
