"""Unanswered tool calls of a cut run get an "interrupted" answer before the next model call."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from kimi_graph.modes._repair import INTERRUPTED, answer_dangling_calls, dangling_calls


def _calls(*ids: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": i} for i in ids])


def test_unanswered_calls_followed_by_a_new_turn_are_answered_in_place() -> None:
    history = [
        HumanMessage("q1"),
        _calls("a", "b"),
        ToolMessage("ok", tool_call_id="a"),
        HumanMessage("q2"),
    ]
    repaired = answer_dangling_calls(history)
    assert [type(m).__name__ for m in repaired] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "HumanMessage",
    ]
    added = repaired[3]
    assert isinstance(added, ToolMessage)
    assert (added.tool_call_id, added.content, added.status) == ("b", INTERRUPTED, "error")
    assert history[3].content == "q2" and len(history) == 4  # the input is not changed


def test_a_valid_history_and_a_trailing_call_are_left_alone() -> None:
    valid = [HumanMessage("q"), _calls("a"), ToolMessage("1", tool_call_id="a"), AIMessage("done")]
    assert answer_dangling_calls(valid) == valid
    trailing = [HumanMessage("q"), _calls("a")]  # the client may still send the result
    assert answer_dangling_calls(trailing) == trailing


def test_dangling_calls_answers_the_last_turns_missing_calls() -> None:
    history = [HumanMessage("q"), _calls("a", "b"), ToolMessage("1", tool_call_id="b")]
    (answer,) = dangling_calls(history)
    assert answer.tool_call_id == "a" and answer.content == INTERRUPTED
    assert dangling_calls([*history, ToolMessage("2", tool_call_id="a")]) == []
    assert dangling_calls([HumanMessage("q")]) == []
