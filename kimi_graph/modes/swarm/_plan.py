"""The orchestrator's plan: which `assign_task` calls run, which are refused.

`plan_round` is a pure function of the state and the orchestrator's response, so
it can be tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.types import Overwrite
from pydantic import BaseModel, Field, ValidationError

from kimi_graph._turns import sum_usage, total_usage
from kimi_graph.modes.swarm._context import (
    MAX_SEPARATE_REFUSALS,
    refusal_summary,
    result_chars,
)
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK
from kimi_graph.modes.swarm._settings import SwarmSettings
from kimi_graph.modes.swarm._summary import swarm_summary
from kimi_graph.state import SubagentResult, SubagentTask, SwarmState


class AssignTask(BaseModel):
    """Start a sub-agent on one self-contained sub-task; it runs in parallel with the others."""

    role: str = Field(description="A short role for the sub-agent, e.g. 'market researcher'.")
    task: str = Field(description="The self-contained sub-task; the sub-agent sees only this.")
    instructions: str | None = Field(
        default=None, description="Optional extra instructions: format, scope, sources."
    )


ASSIGN_TASK_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": ASSIGN_TASK,
        "description": AssignTask.__doc__,
        "parameters": {
            k: v
            for k, v in AssignTask.model_json_schema().items()
            if k not in ("title", "description")
        },
    },
}


def error_record(call_id: str, role: str, task: str, error: str, round_: int) -> SubagentResult:
    """A record for a sub-agent that never ran or failed before producing anything."""
    return SubagentResult(
        id=call_id,
        role=role,
        task=task,
        status="error",
        output="",
        error=error,
        steps=0,
        tool_calls=0,
        elapsed_s=0.0,
        round=round_,
        worker="",
        usage={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    )


def error_reply(call_id: str, name: str, reason: str) -> ToolMessage:
    """The tool message answering a call that did not run."""
    return ToolMessage(content=f"Error: {reason}", tool_call_id=call_id, name=name, status="error")


def continues_request(messages: Sequence[AnyMessage]) -> bool:
    """True when the orchestrator runs again after a round of the same request."""
    last = messages[-1] if messages else None
    return isinstance(last, ToolMessage) and last.name == ASSIGN_TASK


def split_budget(left: int, parts: int) -> list[int]:
    """Share `left` tool calls among `parts` sub-agents, never more than `left` in all.

    Equal shares, the remainder to the first ones (so some may get none).
    """
    if parts <= 0:
        return []
    base, extra = divmod(left, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def plan_round(
    state: SwarmState, response: AIMessage, settings: SwarmSettings, workers: int
) -> dict[str, Any]:
    """The state update for the orchestrator's `response`.

    Accepted calls become `pending` tasks, spread over `workers` round-robin, each
    with a share of what is left of the tool-call budget (`split_budget`); the others
    (unknown tool, bad arguments, over `max_subagents`, unparsable) get an error
    record and an error tool message at once. The orchestrator's token usage of the
    request is kept in `orchestrator_usage`.
    """
    continuing = continues_request(state["messages"])
    round_before = state.get("round", 0) if continuing else 0
    launched = state.get("launched", 0) if continuing else 0
    earlier: list[SubagentResult] = list(state.get("subagent_results") or []) if continuing else []
    calls = [*response.tool_calls, *response.invalid_tool_calls]
    round_ = round_before + 1 if calls else round_before
    replies: list[ToolMessage] = []
    records: list[SubagentResult] = []
    accepted: list[tuple[str, AssignTask]] = []
    refused: list[tuple[int, str]] = []  # (position among all calls, reason)
    for position, call in enumerate(response.tool_calls):
        call_id = call["id"] or ""
        raw = call["args"] if isinstance(call["args"], dict) else {}
        role, task = str(raw.get("role", "")), str(raw.get("task", ""))
        reason = None
        if call["name"] != ASSIGN_TASK:
            reason = f"unknown tool {call['name']!r}; the orchestrator can only call {ASSIGN_TASK}"
        else:
            try:
                args = AssignTask.model_validate(call["args"])
            except ValidationError as err:
                reason = f"the arguments do not fit {ASSIGN_TASK}: {err.errors()[0]['msg']}"
            else:
                if launched + len(accepted) >= settings.max_subagents:
                    reason = (
                        f"refused: the swarm allows at most {settings.max_subagents} "
                        "sub-agents per request"
                    )
                else:
                    accepted.append((call_id, args))
        if reason is not None:
            refused.append((position, reason))
            records.append(error_record(call_id, role, task, reason, round_))
            replies.append(error_reply(call_id, call["name"], reason))
    for offset, bad in enumerate(response.invalid_tool_calls):
        reason = f"the orchestrator's plan did not parse: {bad.get('error') or 'invalid JSON'}"
        call_id = bad.get("id") or ""
        refused.append((len(response.tool_calls) + offset, reason))
        records.append(error_record(call_id, "", str(bad.get("args")), reason, round_))
        replies.append(error_reply(call_id, bad.get("name") or ASSIGN_TASK, reason))
    if len(refused) > MAX_SEPARATE_REFUSALS:
        response, records, replies = _collapse_refusals(response, refused, round_)

    used = sum(r["tool_calls"] for r in earlier)
    shares = split_budget(max(0, settings.tool_call_budget - used), len(accepted))
    group = f"{response.id or id(response)}:{round_}"
    pending = [
        SubagentTask(
            id=call_id,
            role=args.role,
            task=args.task,
            instructions=args.instructions,
            round=round_,
            worker_index=(launched + i) % max(1, workers),
            max_tool_calls=shares[i],
            group=group,
            result_chars=result_chars(settings.max_result_chars, len(accepted)),
        )
        for i, (call_id, args) in enumerate(accepted)
    ]
    spent = sum_usage([response])
    earlier_usage = state.get("orchestrator_usage") if continuing else None
    if earlier_usage:
        spent = total_usage(earlier_usage, spent)
    if not calls and not round_before:
        # answered alone: the final answer carries the summary a synthesis would give
        summary = swarm_summary([], [], spent, sum_usage([]))
        metadata = {**response.response_metadata, "swarm": summary}
        response = response.model_copy(update={"response_metadata": metadata})
    update: dict[str, Any] = {
        "messages": [response, *replies],
        "orchestrator_usage": spent,
        "round": round_,
        "launched": launched + len(accepted),
        "pending": pending,
        "subagent_results": records if continuing else Overwrite(records),
    }
    if not continuing:
        update["critical_steps"] = [1] if not calls else []
    return update


def _collapse_refusals(
    response: AIMessage, refused: list[tuple[int, str]], round_: int
) -> tuple[AIMessage, list[SubagentResult], list[ToolMessage]]:
    """Answer many refused calls with one message; keep only the first of them stored.

    The stored assistant message keeps the calls that run and the first refused one
    (answered by the one message), so the history stays valid and small.
    """
    first, _ = refused[0]
    dropped = {position for position, _ in refused[1:]}
    calls = response.tool_calls
    kept_calls = [c for i, c in enumerate(calls) if i not in dropped]
    kept_invalid = [
        c for i, c in enumerate(response.invalid_tool_calls, len(calls)) if i not in dropped
    ]
    text = refusal_summary([reason for _, reason in refused])
    if first < len(calls):
        call_id, name = calls[first]["id"] or "", calls[first]["name"]
    else:
        bad = response.invalid_tool_calls[first - len(calls)]
        call_id, name = bad.get("id") or "", bad.get("name") or ASSIGN_TASK
    trimmed = response.model_copy(
        update={"tool_calls": kept_calls, "invalid_tool_calls": kept_invalid}
    )
    record = error_record(call_id, "", f"({len(refused)} calls not run)", text, round_)
    return trimmed, [record], [error_reply(call_id, name, text)]
