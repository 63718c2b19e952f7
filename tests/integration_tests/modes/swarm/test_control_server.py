"""SwarmControl on a LangGraph Server: a real `langgraph dev` serving the project's swarm
graph (`graphs/swarm.py`), commands sent through the SDK's store API
(`SwarmControl.for_server`), the model calls going to the emulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import get_sync_client

from kimi_graph import SwarmControl, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from kimi_graph.modes.swarm._remote import subagent_thread_id
from tests.integration_tests.langgraph_dev import ROOT, langgraph_dev
from tests.integration_tests.modes.swarm._control_run import (
    BackgroundRun,
    assign,
    running,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture(scope="module")
def server_url(
    server_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "KIMI_BASE_URL": server_emulator.base_url("moonshot"),
        "KIMI_BACKEND": "moonshot",
        "MOONSHOT_API_KEY": "control-test-key",
    }
    graphs = {mode: f"{ROOT / 'graphs' / mode}.py:graph" for mode in ("swarm", "agent")}
    workdir: Path = tmp_path_factory.mktemp("control-server")
    with langgraph_dev(workdir, graphs, env) as url:
        yield url


def _in_flight(emulator: Emulator, marker: str) -> bool:
    return any(marker in r.last_user and r.finished is None for r in emulator.requests)


def test_steer_cancel_and_abort_through_the_server_store(server_url, server_emulator) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = (
        assign("steered", f"[[latency 3]] S-{nonce} [[answer original-{nonce}]]")
        + assign(
            "cancelled",
            f'[[latency 3]] C-{nonce} [[call run_python {{"code": "print(1)"}}]] [[then]] '
            "[[answer not-cancelled]]",
        )
        + assign("aborted", f"[[latency 30]] A-{nonce} [[answer never]]")
        + assign("sibling", f"[[answer sibling-done-{nonce}]]")
    )
    client = get_sync_client(url=server_url)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(
        thread, "swarm", input={"messages": [{"role": "user", "content": prompt}]}
    )
    control = SwarmControl.for_server(server_url)
    deadline = time.monotonic() + 60
    while True:
        by_role = {s["role"]: s for s in control.list(thread)}
        live = all(
            by_role.get(r, {}).get("status") == "running"
            for r in ("steered", "cancelled", "aborted")
        )
        if live and all(_in_flight(server_emulator, f"{m}-{nonce}") for m in "SCA"):
            break
        assert time.monotonic() < deadline, by_role
        time.sleep(0.05)
    control.steer(thread, by_role["steered"]["id"], f"[[answer steered-{nonce}]]")
    control.cancel(thread, by_role["cancelled"]["id"], reason=f"enough-{nonce}")
    sent = time.monotonic()
    control.abort(thread, by_role["aborted"]["id"], reason="now")
    while not any(s["status"] == "aborted" for s in control.list(thread)):
        assert time.monotonic() - sent < 5
        time.sleep(0.05)
    client.runs.join(thread, run["run_id"])
    values: dict[str, Any] = client.threads.get_state(thread)["values"]
    records = {r["role"]: r for r in values["subagent_results"]}

    assert records["steered"]["status"] == "ok"
    assert records["steered"]["output"] == f"steered-{nonce}"
    assert records["cancelled"]["status"] == "cancelled"
    assert records["cancelled"]["error"] == f"enough-{nonce}"
    assert records["aborted"]["status"] == "aborted"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    sub_requests = [r for r in server_emulator.requests if not r.thinking]
    assert len([r for r in sub_requests if f"A-{nonce}" in r.last_user]) == 1  # no further one
    aborted_call = next(r for r in sub_requests if f"A-{nonce}" in r.last_user)
    assert aborted_call.finished is not None  # the request was closed, not left hanging
    assert aborted_call.finished - aborted_call.started < 20
    listed = {s["role"]: s["status"] for s in control.list(thread)}
    assert listed == {
        "steered": "ok",
        "cancelled": "cancelled",
        "aborted": "aborted",
        "sibling": "ok",
    }
    with pytest.raises(ValueError, match="no running swarm"):
        control.stop(thread)


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_abort_cancels_a_remote_subagents_run(server_url, server_emulator, kimi, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    remote = RemoteGraph("agent", url=server_url, name="remote-agent")
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(
        kimi(), subagent_graph=remote, store=store, checkpointer=InMemorySaver()
    )
    prompt = assign("stuck", f"[[latency 30]] R-{nonce} [[answer never]]") + assign(
        "quick", f"[[answer quick-{nonce}]]"
    )
    run = BackgroundRun(graph, prompt, how).start()
    stuck = wait_for(control, run.thread_id, running("stuck", steps=0), run=run)["stuck"]
    deadline = time.monotonic() + 30
    while not _in_flight(server_emulator, f"R-{nonce}"):  # the server's model call runs
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sent = time.monotonic()
    control.abort(run.thread_id, stuck["id"], reason="now")
    records = run.records()

    assert (run.ended_at or 0) - sent < 3  # the synthesis included
    assert records["stuck"]["status"] == "aborted"
    assert records["quick"]["output"] == f"quick-{nonce}"
    # the server's run was cancelled, which closed its model call long before 30 s
    remote_thread = subagent_thread_id(
        run.thread_id, records["stuck"]["namespace"], records["stuck"]["id"]
    )
    client = get_sync_client(url=server_url)
    while True:
        statuses = [r["status"] for r in client.runs.list(remote_thread)]
        calls = [r for r in server_emulator.requests if f"R-{nonce}" in r.last_user]
        if statuses and "running" not in statuses and all(r.finished for r in calls):
            break
        assert time.monotonic() - sent < 10, (statuses, calls)
        time.sleep(0.1)
    assert statuses == ["interrupted"]
    assert len(calls) == 1
