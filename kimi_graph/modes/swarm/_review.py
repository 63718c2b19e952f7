"""`approve_plan=True`: a person sees the round's plan through `interrupt()` first.

The interrupt's value is `{"type": "plan_review", "round": n, "tasks": [...]}` (each
task: `id`, `role`, `task`, `instructions`). Resume with:

- `True`, `None` or `"accept"`: run the plan as it is;
- `False` or `"reject"`: run none of it;
- a list of tasks, or `{"tasks": [...]}`: the edited plan. Tasks are matched by `id`;
  `role`, `task` and `instructions` given replace the orchestrator's; a task left out
  is dropped.

Dropped tasks get an error record and tool message ("dropped at plan review"), and
their share of the tool-call budget goes to the kept ones; edits are written into the
orchestrator's message too, so the transcript shows what ran. An answer that does not
fit is answered with a new interrupt carrying `"error"`, so the person can try again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.types import interrupt

from kimi_graph.modes.swarm._plan import error_record, error_reply, split_budget
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK
from kimi_graph.state import SubagentResult, SubagentTask, SwarmState

DROPPED = "dropped at plan review"


def _edited_tasks(answer: Any, tasks: Sequence[SubagentTask]) -> list[SubagentTask]:
    if answer is None or answer is True or answer == "accept":
        return list(tasks)
    if answer is False or answer == "reject":
        return []
    chosen = answer.get("tasks") if isinstance(answer, dict) else answer
    if not isinstance(chosen, list):
        msg = (
            "A plan review is answered with True/'accept', False/'reject', or a list of "
            f"tasks (dicts with an 'id'); got {type(answer).__name__}."
        )
        raise ValueError(msg)
    by_id = {t["id"]: t for t in tasks}
    out: list[SubagentTask] = []
    for item in chosen:
        task_id = item.get("id") if isinstance(item, dict) else item
        if task_id not in by_id:
            msg = f"The reviewed plan names an unknown task id {task_id!r}."
            raise ValueError(msg)
        edits = {
            k: item[k]
            for k in ("role", "task", "instructions")
            if isinstance(item, dict) and k in item
        }
        out.append(SubagentTask(**{**by_id[task_id], **edits}))  # type: ignore[typeddict-item]
    return out


def _rewrite_calls(message: AIMessage, kept: Sequence[SubagentTask]) -> AIMessage:
    by_id = {t["id"]: t for t in kept}
    calls = []
    for call in message.tool_calls:
        task = by_id.get(call["id"] or "")
        if task is not None and call["name"] == ASSIGN_TASK:
            args = {"role": task["role"], "task": task["task"]}
            if task["instructions"]:
                args["instructions"] = task["instructions"]
            call = {**call, "args": args}
        calls.append(call)
    return message.model_copy(update={"tool_calls": calls})


def review_plan(state: SwarmState) -> dict[str, Any]:
    """Show the pending tasks to a person and apply the answer."""
    tasks: list[SubagentTask] = list(state.get("pending") or [])
    if not tasks:
        return {}
    question: dict[str, Any] = {
        "type": "plan_review",
        "round": tasks[0]["round"],
        "tasks": [dict(t) for t in tasks],
    }
    while True:
        try:
            kept = _edited_tasks(interrupt(question), tasks)
            break
        except ValueError as err:
            # Ask again (a new interrupt): the stored bad answer must not block resumes.
            question = {**question, "error": str(err)}
    # What the dropped tasks would have spent goes to the kept ones.
    shares = split_budget(sum(t["max_tool_calls"] for t in tasks), len(kept))
    kept = [SubagentTask(**{**t, "max_tool_calls": n}) for t, n in zip(kept, shares, strict=True)]
    kept_ids = {t["id"] for t in kept}
    dropped = [t for t in tasks if t["id"] not in kept_ids]
    records: list[SubagentResult] = [
        error_record(t["id"], t["role"], t["task"], DROPPED, t["round"]) for t in dropped
    ]
    replies = [error_reply(t["id"], ASSIGN_TASK, DROPPED) for t in dropped]
    orchestrator = next(
        m for m in reversed(state["messages"]) if isinstance(m, AIMessage) and m.tool_calls
    )
    return {
        "messages": [_rewrite_calls(orchestrator, kept), *replies],
        "pending": kept,
        "subagent_results": records,
    }
