"""Steer and cancel of remote sub-agents on Aegra: a local swarm whose sub-agents are runs
of a two-instance Aegra cluster (PostgreSQL store, Redis), controlled with SwarmControl."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph
from langgraph.store.memory import InMemoryStore

from kimi_graph import ChatKimi, SwarmControl, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.modes.swarm._aegra import AegraCluster, assign, start_cluster
from tests.integration_tests.modes.swarm._control_run import BackgroundRun, running, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aegra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AegraCluster]:
    with Emulator(EmulatorConfig()) as emu:
        yield from start_cluster(emu, tmp_path_factory.mktemp("aegra-control") / "cluster")


def _calls(emulator: Emulator, marker: str) -> list[Any]:
    return [
        r for r in emulator.requests if not r.thinking and marker in str(r.body.get("messages"))
    ]


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_steer_and_cancel_reach_subagents_on_aegra(aegra: AegraCluster, how: str) -> None:
    nonce = uuid.uuid4().hex[:8]
    loop = '[[loop run_python {"code": "print(7 * 6)"}]]'
    s_tag, c_tag = f"S-{nonce}", f"C-{nonce}"
    prompt = (
        assign("steered", f"[[latency 0.3]] {s_tag} {loop}")
        + assign("cancelled", f"[[latency 0.3]] {c_tag} {loop}")
        + assign("sibling", f"[[answer sibling-done-{nonce}]]")
    )
    local = ChatKimi(base_url=aegra.emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    remotes = [RemoteGraph("agent", url=u, name=f"aegra{i}") for i, u in enumerate(aegra.urls)]
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(
        local, subagent_graph=remotes, store=store, checkpointer=InMemorySaver()
    )
    run = BackgroundRun(graph, prompt, how).start()
    by_role = wait_for(
        control,
        run.thread_id,
        lambda by: running("steered", 2)(by) and running("cancelled", 2)(by),
        timeout=60,
        run=run,
    )
    steer = f"[[answer steered-{nonce}]]"
    control.steer(run.thread_id, by_role["steered"]["id"], steer)
    control.cancel(run.thread_id, by_role["cancelled"]["id"], reason=f"enough-{nonce}")
    records = run.records(timeout=90)

    assert records["steered"]["status"] == "ok"
    assert records["steered"]["output"] == f"steered-{nonce}"
    assert sum(steer in str(r.body["messages"]) for r in _calls(aegra.emulator, s_tag)) == 1
    assert records["cancelled"]["status"] == "cancelled"
    assert records["cancelled"]["error"] == f"enough-{nonce}"
    assert records["cancelled"]["output"]
    last = _calls(aegra.emulator, c_tag)[-1]
    assert "tools" not in last.body and f"enough-{nonce}" in last.last_user
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
