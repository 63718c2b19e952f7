"""The command parser, the current-run filter and the record's ending, without a swarm."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.store.memory import InMemoryStore

from kimi_graph import SwarmControl
from kimi_graph._turns import after_last_user
from kimi_graph.modes._control_hook import CONTROL_KEY, control_message
from kimi_graph.modes.swarm._commands import (
    STOPPED,
    ControlCommand,
    parse_command,
    settle,
    swarm_stopped,
)
from kimi_graph.modes.swarm._control import current_run


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["not", "an", "object"], "not an object: list"),
        ({"action": "explode"}, "unknown action 'explode'"),
        ({}, "unknown action None"),
        ({"action": "steer", "subagent": "r1/a", "text": 5}, "'text' must be a string"),
        ({"action": "steer", "subagent": "r1/a", "text": " "}, "needs a non-empty 'text'"),
        ({"action": "cancel", "subagent": ""}, "needs a non-empty 'subagent'"),
        ({"action": "abort"}, "needs a non-empty 'subagent'"),
    ],
)
def test_malformed_commands_say_why(value: object, reason: str) -> None:
    parsed = parse_command("k", value, 1.0)
    assert isinstance(parsed, str)
    assert reason in parsed


def test_well_formed_commands() -> None:
    steer = parse_command("k1", {"action": "steer", "subagent": "r1/a", "text": "hi"}, 2.0)
    assert steer == ControlCommand("k1", "steer", "r1/a", "hi", 2.0)
    stop = parse_command("k2", {"action": "stop", "subagent": "ignored", "text": None}, 3.0)
    assert stop == ControlCommand("k2", "stop", None, "", 3.0)


def test_current_run_keeps_the_latest_request() -> None:
    old = [
        {"id": "r1/a", "round": 1, "group": "g-old:1", "since": 10.0, "status": "ok"},
        {"id": "r1/c", "round": 1, "group": "g-old:1", "since": 10.1, "status": "ok"},
    ]
    new = [
        {"id": "r1/a", "round": 1, "group": "g-new:1", "since": 50.0, "status": "ok"},
        {"id": "r1/b", "round": 1, "group": "g-new:1", "since": 50.2, "status": "running"},
        {"id": "r2/a", "round": 2, "group": "g-next:2", "since": 60.0, "status": "queued"},
    ]
    assert [v["id"] for v in current_run([old[1], *new])] == ["r1/a", "r1/b", "r2/a"]
    assert current_run([]) == []


def test_settle_reads_the_ending() -> None:
    summary = AIMessage("found x", response_metadata={CONTROL_KEY: "cancelled", "reason": "why"})
    assert settle(None, [summary], "ok", None) == ("cancelled", "why")
    assert settle(None, [AIMessage("done")], "ok", None) == ("ok", None)


def test_control_messages_do_not_start_a_turn() -> None:
    task = HumanMessage("the task")
    steps = [AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "1"}])]
    steps.append(ToolMessage("r", tool_call_id="1"))
    steer = control_message("go on", "steer", "kimi-steer-k")
    answer = AIMessage("done")
    assert after_last_user([task, *steps, steer, answer]) == [*steps, steer, answer]


def test_swarm_stopped() -> None:
    stopped = {"status": "cancelled", "error": f"{STOPPED}: late"}
    assert swarm_stopped([{"status": "ok", "error": None}, stopped])
    assert not swarm_stopped([{"status": "cancelled", "error": "enough"}])


def test_swarm_control_rejects_bad_arguments_before_the_store() -> None:
    control = SwarmControl(InMemoryStore())
    with pytest.raises(ValueError, match="thread_id must be a non-empty string"):
        control.list("")
    with pytest.raises(ValueError, match="reason must be a string"):
        control.cancel("t", "r1/a", reason=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Thread 't' has no running swarm"):
        control.abort("t", "r1/a")
    with pytest.raises(TypeError, match="needs a LangGraph BaseStore"):
        SwarmControl({})  # type: ignore[arg-type]
