"""SwarmControl against the emulator: steer, cancel, abort and stop running sub-agents
of a real swarm, on invoke and ainvoke, while their siblings go on."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from kimi_graph import SwarmControl, create_swarm_graph
from kimi_graph.emulator import Emulator
from tests.integration_tests.modes.swarm._control_run import (
    BackgroundRun,
    assign,
    running,
    wait_for,
)

CALLS: Counter[str] = Counter()


@tool
def slow_step(tag: str) -> str:
    """Do one slow step of work on `tag`."""
    CALLS[tag] += 1
    time.sleep(0.2)
    return f"step {CALLS[tag]} of {tag} done"


@tool
def sleepy(tag: str, seconds: float) -> str:
    """Work on `tag` for `seconds` (a long tool call)."""
    CALLS[tag] += 1
    time.sleep(seconds)
    CALLS[tag + ":done"] += 1
    return f"{tag} slept"


@tool
async def asleepy(tag: str, seconds: float) -> str:
    """Work on `tag` for `seconds` (a long async tool call)."""
    CALLS[tag] += 1
    await asyncio.sleep(seconds)
    CALLS[tag + ":done"] += 1
    return f"{tag} slept"


HOW = pytest.mark.parametrize("how", ["invoke", "ainvoke"])


def _swarm(kimi: Any, store: InMemoryStore, **kwargs: Any) -> Any:
    kwargs.setdefault("subagent_max_steps", 60)
    return create_swarm_graph(
        kimi(),
        [slow_step, sleepy, asleepy],
        store=store,
        checkpointer=InMemorySaver(),
        **kwargs,
    )


def _requests_with(emulator: Emulator, marker: str) -> list[Any]:
    """The sub-agents' requests (instant; the orchestrator and synthesis think) naming `marker`."""
    return [
        r for r in emulator.requests if not r.thinking and marker in str(r.body.get("messages"))
    ]


def _event(run: BackgroundRun, name: str, sub_id: str) -> dict[str, Any]:
    found = [e for e in run.events if e.get("event") == name and e.get("subagent_id") == sub_id]
    assert len(found) == 1, run.events
    return found[0]


@HOW
def test_steer_reaches_the_subagent_once_and_it_goes_on(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    loop_tag, sib_tag = f"L-{nonce}", f"S-{nonce}"
    prompt = assign("looper", f'[[loop slow_step {{"tag": "{loop_tag}"}}]]') + assign(
        "sibling",
        f'[[call slow_step {{"tag": "{sib_tag}"}}]] [[then]] [[call slow_step '
        f'{{"tag": "{sib_tag}"}}]] [[then]] [[answer sibling-done-{nonce}]]',
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    looper = wait_for(control, run.thread_id, running("looper", steps=2))["looper"]
    steer = f"[[answer steered-{nonce}]] Stop looping and report."
    control.steer(run.thread_id, looper["id"], steer)
    records = run.records()

    assert records["looper"]["status"] == "ok"
    assert records["looper"]["output"] == f"steered-{nonce}"
    assert records["looper"]["steps"] >= 3  # the turn went on through the steer
    assert records["sibling"]["status"] == "ok"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    # the steer reached the model once, as the last user message, with the transcript kept
    steered = [r for r in emulator.requests if r.last_user == steer]
    assert len(steered) == 1
    messages = steered[0].body["messages"]
    assert sum(1 for m in messages if m.get("content") == steer) == 1
    assert any(m["role"] == "tool" and loop_tag in str(m["content"]) for m in messages)
    event = _event(run, "steered", looper["id"])
    assert event["namespace"] == records["looper"]["namespace"] == looper["namespace"]
    assert event["text"] == steer


@HOW
def test_cancel_stops_new_tools_and_the_summary_is_the_output(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    loop_tag, sib_tag = f"L-{nonce}", f"S-{nonce}"
    prompt = assign("looper", f'[[loop slow_step {{"tag": "{loop_tag}"}}]]') + assign(
        "sibling",
        f'[[call slow_step {{"tag": "{sib_tag}"}}]] [[then]] [[answer sibling-done-{nonce}]]',
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    looper = wait_for(control, run.thread_id, running("looper", steps=2))["looper"]
    control.cancel(run.thread_id, looper["id"], reason=f"enough-{nonce}")
    at_cancel = CALLS[loop_tag]
    records = run.records()

    record = records["looper"]
    assert record["status"] == "cancelled"
    assert record["error"] == f"enough-{nonce}"
    assert record["output"]  # the wrap-up call's summary
    assert CALLS[loop_tag] <= at_cancel + 1  # at most the tool already running
    last = _requests_with(emulator, loop_tag)[-1]
    assert "tools" not in last.body  # the wrap-up call has no tools
    assert f"enough-{nonce}" in last.last_user
    # every tool call the model asked for is answered (cancelled ones included)
    sent = last.body["messages"]
    asked = {c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []}
    answered = {m["tool_call_id"] for m in sent if m["role"] == "tool"}
    assert asked == answered
    assert records["sibling"]["status"] == "ok"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    event = _event(run, "cancelled", looper["id"])
    assert event["status"] == "cancelled"
    assert event["namespace"] == record["namespace"]
    endings = [e["event"] for e in run.events if e.get("subagent_id") == looper["id"]]
    assert endings[-1] == "cancelled" and "finish" not in endings and "error" not in endings
    # the synthesis is told which result is partial
    synthesis = [r for r in emulator.requests if r.thinking and loop_tag in str(r.body)][-1]
    assert "partial" in str(synthesis.body["messages"][0]["content"])
    assert "cancelled" in str(synthesis.body["messages"][0]["content"])


@HOW
def test_abort_mid_model_call_returns_within_a_second(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    slow, sib_tag = f"SLOW-{nonce}", f"S-{nonce}"
    prompt = assign("stuck", f"[[latency 8]] {slow} [[answer never]]") + assign(
        "sibling",
        f'[[call slow_step {{"tag": "{sib_tag}"}}]] [[then]] [[answer sibling-done-{nonce}]]',
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    stuck = wait_for(control, run.thread_id, running("stuck", steps=0))["stuck"]
    deadline = time.monotonic() + 10
    while not _requests_with(emulator, slow):  # its model call is in flight
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sent = time.monotonic()
    control.abort(run.thread_id, stuck["id"], reason=f"now-{nonce}")
    while not [e for e in run.events if e.get("event") == "aborted"]:
        assert time.monotonic() - sent < 5, run.events
        time.sleep(0.01)
    latency = time.monotonic() - sent
    records = run.records()

    assert latency < 1.0
    assert records["stuck"]["status"] == "aborted"
    assert records["stuck"]["error"] == f"now-{nonce}"
    assert records["sibling"]["status"] == "ok"
    assert len(_requests_with(emulator, slow)) == 1  # no further request
    _event(run, "aborted", stuck["id"])
    # the request was closed (on invoke too: see test_control_abort.py): the server saw
    # the client go
    request = _requests_with(emulator, slow)[0]
    assert request.finished is not None
    assert request.finished - request.started < 4


@HOW
def test_abort_mid_tool_returns_within_a_second(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tag, tool_name = f"T-{nonce}", "sleepy" if how == "invoke" else "asleepy"
    prompt = assign(
        "sleeper", f'[[call {tool_name} {{"tag": "{tag}", "seconds": 6}}]] [[then]] [[answer x]]'
    ) + assign("sibling", f"[[answer sibling-done-{nonce}]]")
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    sleeper = wait_for(control, run.thread_id, running("sleeper", steps=1))["sleeper"]
    deadline = time.monotonic() + 10
    while not CALLS[tag]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sent = time.monotonic()
    control.abort(run.thread_id, sleeper["id"])
    records = run.records()
    latency = (run.ended_at or 0) - sent

    assert latency < 1.5  # the synthesis included
    assert records["sleeper"]["status"] == "aborted"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    assert len(_requests_with(emulator, tag)) == 1  # the model was not called again
    if how == "ainvoke":  # the async tool was cancelled
        time.sleep(0.2)
        assert CALLS[tag + ":done"] == 0


@HOW
def test_stop_cancels_the_queue_and_wraps_up_the_running(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tags = [f"A-{nonce}", f"B-{nonce}", f"C-{nonce}"]
    prompt = "".join(
        assign(f"worker-{i}", f'[[loop slow_step {{"tag": "{t}"}}]]') for i, t in enumerate(tags)
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = _swarm(kimi, store, max_concurrency=1, max_rounds=2)
    run = BackgroundRun(graph, prompt, how).start()
    first = wait_for(
        control,
        run.thread_id,
        lambda by: any(s["status"] == "running" and s["steps"] >= 1 for s in by.values()),
    )
    assert sorted(s["status"] for s in first.values()) == ["queued", "queued", "running"]
    control.stop(run.thread_id, reason=f"out of time {nonce}")
    out = run.result()
    records = {r["role"]: r for r in out["subagent_results"]}

    assert all(r["status"] == "cancelled" for r in records.values()), records
    assert all(r["error"].startswith("the swarm was stopped") for r in records.values())
    ran = [r for r in records.values() if r["steps"]]
    assert len(ran) == 1 and ran[0]["output"]  # it wrapped up with a summary
    queued = [r for r in records.values() if not r["steps"]]
    assert len(queued) == 2
    for tag, record in zip(tags, [records[f"worker-{i}"] for i in range(3)], strict=True):
        if not record["steps"]:
            assert not _requests_with(emulator, tag)  # never reached the server
    # no second round; the synthesis answers and says what is partial
    orchestrations = [r for r in emulator.requests if r.thinking and tags[0] in str(r.body)]
    assert len(orchestrations) == 2  # the first round's plan and the synthesis
    assert "partial" in orchestrations[-1].body["messages"][0]["content"]
    final = out["messages"][-1]
    assert final.response_metadata["swarm"]["partial"] == 3
    assert all(f"worker-{i}" in final.text for i in range(3))  # each partial part named


@HOW
def test_list_and_bad_commands(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = assign("looper", f'[[loop slow_step {{"tag": "L-{nonce}"}}]]') + assign(
        "quick", f"[[answer quick-{nonce}]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    with pytest.raises(ValueError, match="'nobody' has no running swarm"):
        control.steer("nobody", "r1/x", "hi")
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    by_role = wait_for(
        control,
        run.thread_id,
        lambda by: running("looper", 1)(by) and by.get("quick", {}).get("status") == "ok",
    )
    looper, quick = by_role["looper"], by_role["quick"]
    assert set(looper) == {"id", "role", "status", "steps", "round", "namespace"}
    assert looper["round"] == 1 and looper["namespace"].startswith("subagent:")
    assert looper["id"].startswith("r1/")
    with pytest.raises(ValueError, match=r"no sub-agent 'r1/missing'"):
        control.cancel(run.thread_id, "r1/missing")
    with pytest.raises(ValueError, match="already finished"):
        control.abort(run.thread_id, quick["id"])
    with pytest.raises(ValueError, match="message must be a string"):
        control.steer(run.thread_id, looper["id"], 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="message must not be empty"):
        control.steer(run.thread_id, looper["id"], "  ")
    with pytest.raises(ValueError, match="subagent_id must be a non-empty string"):
        control.cancel(run.thread_id, "")
    # hand-written garbage is ignored with an event, never a crash
    ns = ("kimi_graph", "control", run.thread_id)
    store.put(ns, "bad-action", {"action": "explode", "subagent": looper["id"]})
    store.put(ns, "bad-text", {"action": "steer", "subagent": looper["id"], "text": 5})
    store.put(ns, "no-id", {"action": "cancel", "subagent": ""})
    store.put(ns, "no-action", {"value": ["not", "a", "command"]})
    deadline = time.monotonic() + 10
    while len([e for e in run.events if e.get("type") == "control"]) < 4:
        assert time.monotonic() < deadline, run.events
        time.sleep(0.05)
    control.cancel(run.thread_id, looper["id"], reason="done")
    records = run.records()
    assert records["looper"]["status"] == "cancelled"
    assert records["quick"]["output"] == f"quick-{nonce}"
    ignored = {e["key"]: e["reason"] for e in run.events if e.get("type") == "control"}
    assert ignored.keys() == {"bad-action", "bad-text", "no-id", "no-action"}
    assert "unknown action 'explode'" in ignored["bad-action"]
    assert "'text' must be a string" in ignored["bad-text"]
    assert all(e["event"] == "ignored" for e in run.events if e.get("type") == "control")
    assert [s["status"] for s in control.list(run.thread_id)] == ["cancelled", "ok"]
    with pytest.raises(ValueError, match="no running swarm"):
        control.stop(run.thread_id)


async def test_async_twins_on_a_native_ainvoke(kimi, emulator) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = (
        assign("a", f'[[loop slow_step {{"tag": "A-{nonce}"}}]]')
        + assign("b", f'[[loop slow_step {{"tag": "B-{nonce}"}}]]')
        + assign("c", f"[[latency 8]] C-{nonce} [[answer never]]")
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    thread = f"async-{nonce}"
    graph = _swarm(kimi, store)
    task = asyncio.ensure_future(
        graph.ainvoke({"messages": [("user", prompt)]}, {"configurable": {"thread_id": thread}})
    )
    deadline = time.monotonic() + 30
    while True:
        by_role = {s["role"]: s for s in await control.alist(thread)}
        if running("a", 2)(by_role) and running("b", 2)(by_role) and running("c", 0)(by_role):
            break
        assert time.monotonic() < deadline, by_role
        await asyncio.sleep(0.05)
    await control.asteer(thread, by_role["a"]["id"], f"[[answer a-steered-{nonce}]]")
    await control.acancel(thread, by_role["b"]["id"], "b is enough")
    await control.aabort(thread, by_role["c"]["id"])
    out = await asyncio.wait_for(task, 30)
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["a"]["output"] == f"a-steered-{nonce}"
    assert records["b"]["status"] == "cancelled"
    assert records["c"]["status"] == "aborted"
    usage = out["messages"][-1].response_metadata["swarm"]["usage_by_part"]["subagents"]
    assert usage["total_tokens"] == sum(r["usage"]["total_tokens"] for r in records.values())
    assert records["a"]["usage"]["total_tokens"] > 0 and records["b"]["usage"]["total_tokens"] > 0
    with pytest.raises(ValueError, match="no running swarm"):
        await control.astop(thread)


@HOW
def test_a_steer_during_the_final_call_gets_one_more_call(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = assign("slow", f"[[latency 2]] F-{nonce} [[answer original-{nonce}]]") + assign(
        "sibling", f"[[answer sibling-done-{nonce}]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    slow = wait_for(control, run.thread_id, running("slow", steps=0))["slow"]
    deadline = time.monotonic() + 10
    while not _requests_with(emulator, f"F-{nonce}"):  # its only call is in flight
        assert time.monotonic() < deadline
        time.sleep(0.02)
    control.steer(run.thread_id, slow["id"], f"[[answer steered-{nonce}]]")
    records = run.records()

    assert records["slow"]["status"] == "ok"
    assert records["slow"]["output"] == f"steered-{nonce}"
    assert records["slow"]["steps"] == 2
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"


@HOW
def test_cancel_during_a_long_tool_wraps_up_when_it_returns(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tag = f"T-{nonce}"
    prompt = assign(
        "sleeper",
        f'[[call sleepy {{"tag": "{tag}", "seconds": 1.5}}]] [[then]] '
        f'[[call sleepy {{"tag": "{tag}", "seconds": 1.5}}]] [[then]] [[answer not-cancelled]]',
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store), prompt, how).start()
    sleeper = wait_for(control, run.thread_id, running("sleeper", steps=1))["sleeper"]
    deadline = time.monotonic() + 10
    while not CALLS[tag]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    control.cancel(run.thread_id, sleeper["id"], reason="long enough")
    records = run.records()

    record = records["sleeper"]
    assert record["status"] == "cancelled"
    assert CALLS[tag] == 1 and CALLS[tag + ":done"] == 1  # the running call finished
    last = _requests_with(emulator, tag)[-1]
    assert "tools" not in last.body
    sent = last.body["messages"]
    assert any(m["role"] == "tool" and f"{tag} slept" in m["content"] for m in sent)


@HOW
def test_the_next_round_sees_a_cancelled_record_as_partial(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = assign("looper", f'[[loop slow_step {{"tag": "L-{nonce}"}}]]') + assign(
        "quick", f"[[answer quick-{nonce}]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store, max_rounds=2), prompt, how).start()
    looper = wait_for(control, run.thread_id, running("looper", steps=1))["looper"]
    control.cancel(run.thread_id, looper["id"], reason=f"enough-{nonce}")
    records = run.records()

    assert records["looper"]["status"] == "cancelled"
    second = [r for r in emulator.requests if r.thinking and f"L-{nonce}" in str(r.body)][1]
    replies = [m["content"] for m in second.body["messages"] if m["role"] == "tool"]
    assert any(
        f"Partial: sub-agent 'looper' was cancelled (enough-{nonce})" in str(text)
        for text in replies
    )


@HOW
def test_commands_of_an_earlier_run_do_not_reach_the_next(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    looping = assign("looper", f'[[loop slow_step {{"tag": "L-{nonce}"}}]]')
    prompt = assign("looper", f'[[call slow_step {{"tag": "L-{nonce}"}}]] [[then]] [[answer a]]')
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = _swarm(kimi, store)
    first = BackgroundRun(graph, looping, how).start()
    looper = wait_for(control, first.thread_id, running("looper", steps=1))["looper"]
    control.cancel(first.thread_id, looper["id"], reason="first run only")
    assert first.records()["looper"]["status"] == "cancelled"
    # hand-written commands left behind (no running swarm, so SwarmControl refuses them)
    ns = ("kimi_graph", "control", first.thread_id)
    store.put(ns, "stale-stop", {"action": "stop", "text": "stale"})
    store.put(ns, "stale-abort", {"action": "abort", "subagent": "r1/functions.assign_task:1"})
    time.sleep(0.05)
    second = BackgroundRun(graph, prompt, how, thread_id=first.thread_id).start()
    record = second.records()["looper"]
    assert record["status"] == "ok"
    assert [s["status"] for s in control.list(first.thread_id)] == ["ok"]


@tool
def ask_person(question: str) -> str:
    """Ask a person and wait for the answer."""
    from langgraph.types import interrupt

    return str(interrupt(question))


@HOW
def test_a_steer_sent_while_paused_on_an_interrupt_arrives_after_resume(
    kimi, emulator, how
) -> None:
    from langgraph.types import Command

    nonce = uuid.uuid4().hex[:8]
    prompt = assign(
        "asker", f'[[call ask_person {{"question": "go on {nonce}?"}}]] [[then]] [[answer plain]]'
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(kimi(), [ask_person], store=store, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"paused-{nonce}"}}

    def call(value: Any) -> dict[str, Any]:
        if how == "invoke":
            return graph.invoke(value, config)
        return asyncio.run(graph.ainvoke(value, config))

    paused = call({"messages": [("user", prompt)]})
    assert paused["__interrupt__"][0].value == f"go on {nonce}?"
    (asker,) = control.list(config["configurable"]["thread_id"])
    assert asker["status"] == "running"
    steer = f"[[answer steered-{nonce}]]"
    control.steer(config["configurable"]["thread_id"], asker["id"], steer)
    out = call(Command(resume="yes"))

    (record,) = out["subagent_results"]
    assert record["status"] == "ok"
    assert record["output"] == f"steered-{nonce}"
    assert len([r for r in emulator.requests if r.last_user == steer]) == 1


@HOW
def test_an_abort_frees_the_concurrency_slot_at_once(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    prompt = assign("a", f"[[latency 8]] QA-{nonce} [[answer never]]") + assign(
        "b", f"[[latency 8]] QB-{nonce} [[answer never]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    run = BackgroundRun(_swarm(kimi, store, max_concurrency=1), prompt, how).start()
    by_role = wait_for(
        control,
        run.thread_id,
        lambda by: sorted(s["status"] for s in by.values()) == ["queued", "running"],
        run=run,
    )
    first = next(s for s in by_role.values() if s["status"] == "running")
    second = next(s for s in by_role.values() if s["status"] == "queued")
    marker = {"a": f"QA-{nonce}", "b": f"QB-{nonce}"}
    deadline = time.monotonic() + 10
    while not _requests_with(emulator, marker[first["role"]]):  # its call is in flight
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sent = time.monotonic()
    control.abort(run.thread_id, first["id"])
    while not _requests_with(emulator, marker[second["role"]]):  # the freed slot is taken
        assert time.monotonic() - sent < 2, "the queued sub-agent waited for the abandoned call"
        time.sleep(0.02)
    control.abort(run.thread_id, second["id"])
    records = run.records()

    assert records["a"]["status"] == records["b"]["status"] == "aborted"
    assert (run.ended_at or 0) - sent < 4  # not after the abandoned 8 s calls
