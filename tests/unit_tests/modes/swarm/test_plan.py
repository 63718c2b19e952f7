"""The swarm's plan, review, routing and summary as functions: no model, no server."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Overwrite, Send

from kimi_graph import KimiContext
from kimi_graph.modes.swarm._graph import dispatch
from kimi_graph.modes.swarm._plan import error_record, plan_round
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK
from kimi_graph.modes.swarm._review import _edited_tasks
from kimi_graph.modes.swarm._settings import SwarmSettings
from kimi_graph.modes.swarm._synthesis import finish


def call(i: int, role: str = "r", task: str = "t", name: str = ASSIGN_TASK) -> dict:
    return {"name": name, "args": {"role": role, "task": task}, "id": f"c{i}", "type": "tool_call"}


def plan(state: dict, *calls: dict, invalid: list | None = None, **settings) -> dict:
    response = AIMessage("", id="ai-1", tool_calls=list(calls), invalid_tool_calls=invalid or [])
    return plan_round(state, response, SwarmSettings(**settings), workers=2)


def test_first_round_resets_records_and_spreads_workers() -> None:
    update = plan({"messages": [HumanMessage("go")]}, call(0), call(1), call(2))
    assert isinstance(update["subagent_results"], Overwrite)
    assert update["round"] == 1 and update["launched"] == 3
    assert [t["worker_index"] for t in update["pending"]] == [0, 1, 0]
    assert {t["max_tool_calls"] for t in update["pending"]} == {500}
    assert len({t["group"] for t in update["pending"]}) == 1


def test_refusals_and_bad_calls_are_answered_at_once() -> None:
    update = plan(
        {"messages": [HumanMessage("go")]},
        call(0),
        call(1),
        call(2, name="other"),
        {"name": ASSIGN_TASK, "args": {"role": "x"}, "id": "c3", "type": "tool_call"},
        invalid=[
            {
                "name": ASSIGN_TASK,
                "args": "{oops",
                "id": "c4",
                "error": "bad",
                "type": "invalid_tool_call",
            }
        ],
        max_subagents=1,
    )
    assert [t["id"] for t in update["pending"]] == ["c0"]
    errors = {r["id"]: r["error"] for r in update["subagent_results"].value}
    assert "at most 1" in errors["c1"] and "unknown tool" in errors["c2"]
    assert "do not fit" in errors["c3"] and "did not parse" in errors["c4"]
    replies = [m for m in update["messages"] if isinstance(m, ToolMessage)]
    assert sorted(m.tool_call_id for m in replies) == ["c1", "c2", "c3", "c4"]


def test_later_round_continues_counters_and_budget() -> None:
    earlier = [{**error_record("c0", "r", "t", "x", 1), "status": "ok", "tool_calls": 90}]
    state = {
        "messages": [HumanMessage("go"), ToolMessage("done", tool_call_id="c0", name=ASSIGN_TASK)],
        "round": 1,
        "launched": 1,
        "subagent_results": earlier,
    }
    update = plan(state, call(5), call(6), tool_call_budget=100, max_subagents=2)
    assert update["round"] == 2 and update["launched"] == 2
    assert not isinstance(update["subagent_results"], Overwrite)
    assert [t["max_tool_calls"] for t in update["pending"]] == [10]  # one accepted, 10 left
    assert "at most 2" in update["subagent_results"][0]["error"]


def test_dispatch_routes() -> None:
    task = plan({"messages": [HumanMessage("go")]}, call(0))["pending"][0]
    sends = dispatch({"pending": [task], "round": 1})
    assert isinstance(sends, list) and isinstance(sends[0], Send) and sends[0].arg == task
    assert dispatch({"pending": [], "round": 0}) == "__end__"
    assert dispatch({"pending": [], "round": 1}) == "synthesis"


def test_finish_names_failures_and_totals_usage() -> None:
    ok = {**error_record("c0", "writer", "t", "", 1), "status": "ok", "error": None, "steps": 3}
    ok["usage"] = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    bad = error_record("c1", "reader", "t", "boom", 1)
    orchestrator = AIMessage(
        "",
        tool_calls=[call(0)],
        usage_metadata={"input_tokens": 7, "output_tokens": 1, "total_tokens": 8},
    )
    # The orchestrator's usage comes from the state (plan_round keeps it), not from
    # every AI message of the conversation (a parent graph's own turns would count).
    planned = plan_round({"messages": [HumanMessage("go")]}, orchestrator, SwarmSettings(), 1)
    earlier_turn = AIMessage(
        "parent", usage_metadata={"input_tokens": 99, "output_tokens": 9, "total_tokens": 108}
    )
    state = {
        "messages": [HumanMessage("go"), earlier_turn, orchestrator],
        "subagent_results": [ok, bad],
        "round": 1,
        "orchestrator_usage": planned["orchestrator_usage"],
    }
    answer = AIMessage(
        "All done.", usage_metadata={"input_tokens": 2, "output_tokens": 2, "total_tokens": 4}
    )
    out = finish(state, answer)
    final = out["messages"][0]
    assert "c1 (reader)" in final.text
    summary = final.response_metadata["swarm"]
    assert summary["usage"]["total_tokens"] == 15 + 8 + 4
    assert summary["critical_steps_per_round"] == [4] and summary["critical_steps"] == 5
    assert out["critical_steps"] == [4]


def test_plan_review_answers() -> None:
    tasks = plan({"messages": [HumanMessage("go")]}, call(0), call(1))["pending"]
    assert _edited_tasks(True, tasks) == tasks
    assert _edited_tasks("reject", tasks) == []
    edited = _edited_tasks([{"id": "c1", "task": "new"}], tasks)
    assert [(t["id"], t["task"]) for t in edited] == [("c1", "new")]
    with pytest.raises(ValueError, match="unknown task id"):
        _edited_tasks([{"id": "nope"}], tasks)


def test_settings_follow_the_run_context() -> None:
    base = SwarmSettings(max_subagents=10)
    run = base.for_run(KimiContext(max_subagents=3, max_steps=7, thinking=False))
    assert (run.max_subagents, run.subagent_max_steps, run.thinking) == (3, 7, False)
    assert base.for_run(KimiContext()) is base
    with pytest.raises(ValueError):
        SwarmSettings(max_concurrency=0)


def test_many_refusals_get_one_answer_and_leave_the_stored_turn() -> None:
    calls = [call(i) for i in range(10)] + [call(10, name="other")]
    bad = {"name": ASSIGN_TASK, "args": "{", "id": "b0", "error": "x", "type": "invalid_tool_call"}
    update = plan({"messages": [HumanMessage("go")]}, *calls, invalid=[bad], max_subagents=3)
    assert [t["id"] for t in update["pending"]] == ["c0", "c1", "c2"]
    stored, *replies = update["messages"]
    # the calls that run, and the first refused one (answered by the single message)
    assert [c["id"] for c in stored.tool_calls] == ["c0", "c1", "c2", "c3"]
    assert stored.invalid_tool_calls == []
    [reply] = replies
    assert reply.tool_call_id == "c3" and reply.status == "error"
    assert reply.content.startswith("Error: 9 calls were not run")
    assert "7 x refused: the swarm allows at most 3 sub-agents" in reply.content
    assert (
        "1 x unknown tool 'other'" in reply.content
        and "1 x the orchestrator's plan" in reply.content
    )
    [record] = update["subagent_results"].value
    assert record["id"] == "c3" and record["status"] == "error"


def test_results_share_the_round_budget() -> None:
    from kimi_graph.modes.swarm._context import ROUND_RESULT_CHARS

    few = plan({"messages": [HumanMessage("go")]}, call(0), call(1))
    assert {t["result_chars"] for t in few["pending"]} == {4000}
    many = plan(
        {"messages": [HumanMessage("go")]}, *[call(i) for i in range(200)], max_subagents=200
    )
    assert {t["result_chars"] for t in many["pending"]} == {ROUND_RESULT_CHARS // 200}
