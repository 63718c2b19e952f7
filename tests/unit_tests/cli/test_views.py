"""The CLI's swarm board, JSON lines, run summary and resume rules, fed recorded events."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from kimi_graph.cli._checkpoint import ResumeError, run_input, stored_mode
from kimi_graph.cli._json_lines import JsonRenderer
from kimi_graph.cli._render import StreamRenderer, _pack
from kimi_graph.cli._summary import summarize, usage_text
from kimi_graph.cli._swarm_view import SwarmBoard, fit

NS_A, NS_B = "subagent:aaa", "subagent:bbb"


def plan_message() -> AIMessage:
    return AIMessage(
        content="",
        id="o",
        tool_calls=[
            {"name": "assign_task", "args": {"role": r, "task": "t"}, "id": i, "type": "tool_call"}
            for r, i in (("alpha", "A"), ("beta", "B"))
        ],
    )


def start(task_id: str, role: str, ns: str) -> dict:
    return {"type": "subagent", "event": "start", "id": task_id, "role": role, "namespace": ns}


def step_with_call(name: str, args: dict) -> dict:
    call = {"name": name, "args": args, "id": "c1", "type": "tool_call"}
    return {"agent": {"messages": [AIMessage(content="", tool_calls=[call])]}}


def test_board_follows_each_sub_agent() -> None:
    board = SwarmBoard()
    board.plan(plan_message().tool_calls)  # type: ignore[arg-type]
    board.on_progress(start("B", "beta", NS_B))
    board.on_progress(start("A", "alpha", NS_A))
    chunk = AIMessageChunk(content="", additional_kwargs={"reasoning_content": "hm"})
    assert board.on_nested((NS_B,), "messages", (chunk, {})) is not None
    assert board.on_nested((NS_B,), "messages", (chunk, {})) is None  # no change, no redraw
    line = board.on_nested((NS_A,), "updates", step_with_call("calc", {"x": "1+1"}))
    assert line is not None and (line.step, line.state) == (1, "calling")
    lines = board.live_lines(None)
    assert lines[0] == '  ..   alpha  step 1  calling calc({"x": "1+1"})'  # plan order
    assert lines[1] == "  ..   beta   step 0  thinking"
    board.on_progress(
        {**start("A", "alpha", NS_A), "event": "finish", "status": "ok", "steps": 2,
         "tool_calls": 1, "elapsed_s": 0.5, "usage": {"total_tokens": 1234}}
    )  # fmt: skip
    assert (
        board.live_lines(None)[0]
        == "  ok   alpha  step 2  ok (2 steps, 1 tool call, 0.50s, 1,234 tokens)"
    )
    assert all(len(text) <= 30 for text in board.live_lines(30))
    # results come out in plan order, whatever order they arrived in
    board.on_result("B", "beta's answer", failed=True)
    board.on_result("A", "alpha's answer", failed=False)
    assert [text for text, _ in board.result_lines(None)] == [
        "   <- [alpha] result: alpha's answer",
        "   <- [beta] failed: beta's answer",
    ]


def test_fit_and_pack() -> None:
    assert fit("abcdef", 5) == "ab..."
    assert fit("abc", None) == "abc"
    assert _pack(["aaaa", "bbbb", "cc"], "; ", 10) == ["aaaa; bbbb", "cc"]
    assert _pack(["aaaa", "bbbb"], "; ", None) == ["aaaa; bbbb"]


def test_text_renderer_wraps_streamed_prose_to_the_width() -> None:
    out = io.StringIO()
    renderer = StreamRenderer(out, color=False, width=20)
    text = "The quick brown fox jumps over the lazy dog and keeps running far away"
    for word in text.split(" "):
        renderer.handle(((), "messages", (AIMessageChunk(content=word + " ", id="m"), {})))
    renderer.finish()
    rows = out.getvalue().splitlines()
    assert all(len(row) <= 20 for row in rows)
    assert " ".join(" ".join(rows[:-1]).split()) == text


def test_json_renderer_writes_one_object_per_line() -> None:
    out = io.StringIO()
    renderer = JsonRenderer(out, thread_id="t1")
    renderer.user("task")
    renderer.handle(((), "updates", {"orchestrator": {"messages": [plan_message()]}}))
    renderer.handle(((), "custom", start("A", "alpha", NS_A)))
    renderer.handle(((NS_A,), "updates", step_with_call("calc", {"x": "2"})))
    renderer.handle(((NS_A,), "messages", (AIMessageChunk(content="NESTED"), {})))
    final = AIMessage(
        content="done",
        additional_kwargs={"reasoning_content": "why"},
        response_metadata={"swarm": {"critical_steps": 4, "usage": {"input_tokens": 10}}},
    )
    state = {"messages": [HumanMessage("task"), final], "subagent_results": [{"id": "A"}]}
    renderer.handle(((), "values", state))
    assert renderer.finish() == "done"
    events = [json.loads(row) for row in out.getvalue().splitlines()]
    assert [e["type"] for e in events] == [
        "task", "tool_call", "tool_call", "subagent", "subagent_step", "final"
    ]  # fmt: skip
    assert events[4] == {
        "type": "subagent_step",
        "namespace": NS_A,
        "role": "alpha",
        "step": 1,
        "tool_calls": [{"name": "calc", "args": {"x": "2"}}],
    }
    assert "NESTED" not in out.getvalue()
    last = events[-1]
    assert (last["answer"], last["reasoning"], last["critical_steps"]) == ("done", "why", 4)
    assert last["usage"] == {"input": 10, "output": 0, "cached": 0, "total": 0}
    assert last["records"] == [{"id": "A"}] and last["thread_id"] == "t1"


def test_summary_sums_this_turn_only() -> None:
    def ai(text: str, tokens: int, cached: int) -> AIMessage:
        usage = {
            "input_tokens": tokens,
            "output_tokens": 1,
            "total_tokens": tokens + 1,
            "input_token_details": {"cache_read": cached},
        }
        return AIMessage(content=text, usage_metadata=usage)  # type: ignore[arg-type]

    messages = [
        HumanMessage("old"),
        ai("old", 1000, 0),
        HumanMessage("new"),
        ai("", 10, 4),
        ToolMessage(content="r", tool_call_id="x"),
        ai("answer", 20, 8),
    ]
    summary = summarize({"messages": messages})
    assert summary["answer"] == "answer"
    assert summary["usage"] == {"input": 30, "output": 2, "cached": 12, "total": 32}
    assert summary["critical_steps"] is None
    assert usage_text(summary["usage"]) == "tokens 30 in (12 cached), 2 out"
    assert summarize(None)["answer"] == ""


def test_resume_rules() -> None:
    unfinished = SimpleNamespace(next=("subagent",), metadata={"kimi_graph_mode": "swarm"})
    finished = SimpleNamespace(next=(), metadata={})
    assert run_input(unfinished, "", "t", "db") is None
    assert run_input(finished, "go", "t", "db") == {"messages": [("user", "go")]}
    with pytest.raises(ResumeError, match="has an unfinished run"):
        run_input(unfinished, "go", "t", "db")
    with pytest.raises(ResumeError, match="nothing to resume on thread t in db"):
        run_input(finished, "", "t", "db")
    assert stored_mode(unfinished) == "swarm"
    assert stored_mode(None) is None
