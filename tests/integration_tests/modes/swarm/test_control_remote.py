"""Steer, cancel and stop of remote sub-agents: a local swarm whose sub-agents are runs
of a real `langgraph dev` serving the project's agent graph (`graphs/agent.py`), on
invoke and ainvoke. The commands reach the sub-agents through the server's store; the
sub-agents' model calls go to the server's emulator, whose request log is checked."""

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

from kimi_graph import KimiContext, SwarmControl, create_swarm_graph
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

HOW = pytest.mark.parametrize("how", ["invoke", "ainvoke"])


@pytest.fixture(scope="module")
def server_emulator() -> Iterator[Emulator]:
    """The model endpoint of the LangGraph server (the sub-agents' model)."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture(scope="module")
def server_url(
    server_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "KIMI_BASE_URL": server_emulator.base_url("moonshot"),
        "KIMI_BACKEND": "moonshot",
        "MOONSHOT_API_KEY": "control-remote-key",
    }
    graphs = {mode: f"{ROOT / 'graphs' / mode}.py:graph" for mode in ("swarm", "agent")}
    workdir: Path = tmp_path_factory.mktemp("control-remote")
    with langgraph_dev(workdir, graphs, env) as url:
        yield url


def _swarm(kimi: Any, url: str, store: InMemoryStore, **kwargs: Any) -> Any:
    remote = RemoteGraph("agent", url=url, name="remote-agent")
    return create_swarm_graph(
        kimi(), subagent_graph=remote, store=store, checkpointer=InMemorySaver(), **kwargs
    )


def _calls(emulator: Emulator, marker: str) -> list[Any]:
    """The server's model calls of the sub-agent whose task names `marker`.

    (Sub-agents run instant; a swarm's orchestrator and synthesis think.)
    """
    return [
        r for r in emulator.requests if not r.thinking and marker in str(r.body.get("messages"))
    ]


def _tool_results(request: Any) -> list[str]:
    return [str(m["content"]) for m in request.body["messages"] if m["role"] == "tool"]


def _event(run: BackgroundRun, name: str, sub_id: str) -> dict[str, Any]:
    found = [e for e in run.events if e.get("event") == name and e.get("subagent_id") == sub_id]
    assert len(found) == 1, run.events
    return found[0]


def _loop_task(tag: str, latency: float) -> str:
    return f'[[latency {latency}]] {tag} [[loop run_python {{"code": "print(7 * 6)"}}]]'


@HOW
def test_steer_reaches_a_remote_subagent_once(server_url, server_emulator, kimi, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    loop_tag, sib_tag = f"L-{nonce}", f"S-{nonce}"
    prompt = assign("looper", _loop_task(loop_tag, 0.2)) + assign(
        "sibling",
        f'{sib_tag} [[call run_python {{"code": "print(1)"}}]] [[then]] '
        f"[[answer sibling-done-{nonce}]]",
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, server_url, store), prompt, how).start()
    # the steps of a remote sub-agent show in list(): read from its streamed state
    looper = wait_for(control, run.thread_id, running("looper", steps=2), run=run)["looper"]
    steer = f"[[answer steered-{nonce}]] Stop looping and report."
    control.steer(run.thread_id, looper["id"], steer)
    records = run.records()

    record = records["looper"]
    assert record["status"] == "ok"
    assert record["output"] == f"steered-{nonce}"
    assert record["steps"] >= 3  # the remote run went on through the steer
    assert records["sibling"]["status"] == "ok"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    # the steer reached the remote model once, as the last user message, transcript kept
    with_steer = [r for r in _calls(server_emulator, loop_tag) if steer in str(r.body["messages"])]
    assert len(with_steer) == 1
    messages = with_steer[0].body["messages"]
    assert with_steer[0].last_user == steer
    assert sum(1 for m in messages if m.get("content") == steer) == 1
    assert any(m["role"] == "tool" and "42" in str(m["content"]) for m in messages)
    assert not any(steer in str(r.body) for r in _calls(server_emulator, sib_tag))
    event = _event(run, "steered", looper["id"])
    assert event["namespace"] == record["namespace"] == looper["namespace"]
    assert event["text"] == steer
    # the command went to the sub-agent's own remote thread on the server
    remote_thread = subagent_thread_id(run.thread_id, record["namespace"], record["id"])
    items = get_sync_client(url=server_url, api_key=None).store.search_items(
        ["kimi_graph", "control", remote_thread]
    )["items"]
    assert [i["value"] for i in items] == [
        {"action": "steer", "subagent": looper["id"], "text": steer}
    ]


def _recent_call_in_flight(emulator: Emulator, marker: str, within: float) -> bool:
    now = time.monotonic()
    return any(r.finished is None and now - r.started < within for r in _calls(emulator, marker))


@HOW
def test_cancel_wraps_up_a_remote_subagent(server_url, server_emulator, kimi, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    loop_tag, sib_tag = f"L-{nonce}", f"S-{nonce}"
    prompt = assign("looper", _loop_task(loop_tag, 1.5)) + assign(
        "sibling",
        f'[[latency 1]] {sib_tag} [[call run_python {{"code": "print(1)"}}]] [[then]] '
        f"[[answer sibling-done-{nonce}]]",
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, server_url, store), prompt, how).start()
    looper = wait_for(control, run.thread_id, running("looper", steps=1), run=run)["looper"]
    # send the cancel early in a model call, so it is in the server's store by its end
    deadline = time.monotonic() + 20
    while not _recent_call_in_flight(server_emulator, loop_tag, 0.3):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    calls_at_cancel = len(_calls(server_emulator, loop_tag))
    control.cancel(run.thread_id, looper["id"], reason=f"enough-{nonce}")
    records = run.records()

    record = records["looper"]
    assert record["status"] == "cancelled"
    assert record["error"] == f"enough-{nonce}"
    assert record["output"]  # the wrap-up call's summary
    calls = _calls(server_emulator, loop_tag)
    assert len(calls) == calls_at_cancel + 1  # the call in flight, then the wrap-up only
    last = calls[-1]
    assert "tools" not in last.body  # the wrap-up call has no tools
    assert f"enough-{nonce}" in last.last_user
    results = _tool_results(last)
    ran = [t for t in results if not t.startswith("Cancelled:")]
    # no tool ran after the command: only those of the calls answered before it
    assert len(ran) == calls_at_cancel - 1
    assert results[-1].startswith("Cancelled:") and f"enough-{nonce}" in results[-1]
    sent = last.body["messages"]
    asked = {c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []}
    assert asked == {m["tool_call_id"] for m in sent if m["role"] == "tool"}
    assert records["sibling"]["status"] == "ok"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    event = _event(run, "cancelled", looper["id"])
    assert event["status"] == "cancelled" and event["namespace"] == record["namespace"]
    assert [s["status"] for s in control.list(run.thread_id)] == ["cancelled", "ok"]


@HOW
def test_stop_wraps_up_running_remote_subagents(server_url, server_emulator, kimi, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tags = [f"A-{nonce}", f"B-{nonce}", f"C-{nonce}"]
    prompt = "".join(assign(f"worker-{i}", _loop_task(t, 0.2)) for i, t in enumerate(tags))
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, server_url, store, max_concurrency=2), prompt, how).start()
    wait_for(
        control,
        run.thread_id,
        lambda by: sum(s["status"] == "running" and s["steps"] >= 1 for s in by.values()) == 2,
        run=run,
    )
    control.stop(run.thread_id, reason=f"out of time {nonce}")
    out = run.result()
    records = {r["role"]: r for r in out["subagent_results"]}

    assert all(r["status"] == "cancelled" for r in records.values()), records
    assert all(r["error"].startswith("the swarm was stopped") for r in records.values())
    ran = [r for r in records.values() if r["steps"]]
    assert len(ran) == 2 and all(r["output"] for r in ran)  # both wrapped up
    (queued,) = [r for r in records.values() if not r["steps"]]
    assert not _calls(server_emulator, tags[int(queued["role"][-1])])  # never started
    for record in ran:
        last = _calls(server_emulator, tags[int(record["role"][-1])])[-1]
        assert "tools" not in last.body
        assert f"out of time {nonce}" in last.last_user
    final = out["messages"][-1]
    assert final.response_metadata["swarm"]["partial"] == 3


def test_cancel_reaches_the_deployments_own_subagents(server_url, server_emulator) -> None:
    """The swarm as a run of the server, its sub-agents runs of the same deployment
    (`KimiContext.subagent_urls`, issue 21), controlled through the server's store."""
    nonce = uuid.uuid4().hex[:8]
    loop_tag = f"D-{nonce}"
    prompt = assign("looper", _loop_task(loop_tag, 0.3)) + assign(
        "sibling", f"[[answer sibling-done-{nonce}]]"
    )
    client = get_sync_client(url=server_url, api_key=None)
    thread = client.threads.create()["thread_id"]
    context = KimiContext(subagent_urls=(server_url,))
    run = client.runs.create(
        thread,
        "swarm",
        input={"messages": [{"role": "user", "content": prompt}]},
        context={"subagent_urls": list(context.subagent_urls or ())},
    )
    control = SwarmControl.for_server(server_url)
    deadline = time.monotonic() + 60
    while True:
        by_role = {s["role"]: s for s in control.list(thread)}
        if running("looper", steps=2)(by_role):
            break
        assert time.monotonic() < deadline, by_role
        time.sleep(0.05)
    steer = f'[[latency 0.3]] steered-{nonce} [[loop run_python {{"code": "print(2)"}}]]'
    control.steer(thread, by_role["looper"]["id"], steer)
    deadline = time.monotonic() + 20
    while not any(steer in str(r.body["messages"]) for r in _calls(server_emulator, loop_tag)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    control.cancel(thread, by_role["looper"]["id"], reason=f"enough-{nonce}")
    client.runs.join(thread, run["run_id"])
    values: dict[str, Any] = client.threads.get_state(thread)["values"]
    records = {r["role"]: r for r in values["subagent_results"]}

    assert records["looper"]["status"] == "cancelled"
    assert records["looper"]["error"] == f"enough-{nonce}"
    assert records["looper"]["output"]
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    calls = _calls(server_emulator, loop_tag)
    assert "tools" not in calls[-1].body and f"enough-{nonce}" in calls[-1].last_user
    assert sum(steer == r.last_user for r in calls) == 1
