"""The synthesis step: the final answer from the sub-agents' results, and its summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, RemoveMessage, SystemMessage

from kimi_graph._turns import sum_usage
from kimi_graph.modes.swarm import _prompts as prompts
from kimi_graph.modes.swarm._context import compact_for_synthesis
from kimi_graph.modes.swarm._subagent import describe
from kimi_graph.modes.swarm._summary import swarm_summary
from kimi_graph.state import SubagentResult, SwarmState


def critical_steps(results: Sequence[SubagentResult], rounds: int) -> list[int]:
    """Per round: one orchestrator step plus the longest sub-agent's steps."""
    per_round = [1] * rounds
    for record in results:
        index = record["round"] - 1
        if 0 <= index < rounds:
            per_round[index] = max(per_round[index], 1 + record["steps"])
    return per_round


def synthesis_input(state: SwarmState) -> list[AnyMessage]:
    """The synthesis prompt (naming failed sub-agents) and the conversation."""
    results: list[SubagentResult] = list(state.get("subagent_results") or [])
    failed = [r for r in results if r["status"] == "error"]
    failures = ""
    if failed:
        lines = "\n".join(f"- {r['id']} ({r['role'] or 'no role'}): {r['error']}" for r in failed)
        failures = prompts.FAILURES_NOTE.format(lines=lines)
    partial = [r for r in results if r["status"] in ("cancelled", "aborted")]
    if partial:
        lines = "\n".join(
            f"- {r['id']} ({r['role'] or 'no role'}): {r['status']} ({r['error']})" for r in partial
        )
        failures += prompts.PARTIAL_NOTE.format(lines=lines)
    messages = [m for m in state["messages"] if not isinstance(m, SystemMessage)]
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and not last.tool_calls and state.get("round", 0):
        messages = messages[:-1]  # the orchestrator's closing remark after a round
    prompt = SystemMessage(prompts.SYNTHESIS_PROMPT.format(failures=failures))
    return [prompt, *compact_for_synthesis(messages)]  # earlier requests' results shortened


def results_digest(results: Sequence[SubagentResult], err: Exception) -> AIMessage:
    """The final message when the synthesis call fails: every result, verbatim."""
    lines = [f"The synthesis step failed ({describe(err)}); the sub-agents' results follow."]
    for record in results:
        body = record["output"]
        if record["status"] != "ok":
            body = f"{record['status']}: {record['error']}"
        lines.append(f"\n## {record['id']} ({record['role'] or 'no role'}): {record['task']}")
        lines.append(body)
    return AIMessage(
        content="\n".join(lines),
        response_metadata={"finish_reason": "error", "error": describe(err)},
    )


def finish(state: SwarmState, response: AIMessage) -> dict[str, Any]:
    """The final message: failures named, `response_metadata["swarm"]` summary."""
    results: list[SubagentResult] = list(state.get("subagent_results") or [])
    failed = [r for r in results if r["status"] == "error"]
    partial = [r for r in results if r["status"] in ("cancelled", "aborted")]
    per_round = critical_steps(results, state.get("round", 0))
    text: str = response.text
    roles = [r["role"] for r in results]
    for label, group in (("Sub-agents that failed", failed), ("Partial results of", partial)):
        missing = [
            r
            for r in group
            if r["id"] not in text
            and (not r["role"] or roles.count(r["role"]) > 1 or r["role"] not in text)
        ]
        if missing:
            names = ", ".join(f"{r['id']} ({r['role'] or 'no role'})" for r in missing)
            text = f"{text}\n\n{label}: {names}."
    orchestrator = state.get("orchestrator_usage") or sum_usage([])
    summary = swarm_summary(results, per_round, orchestrator, sum_usage([response]))
    metadata = {**response.response_metadata, "swarm": summary}
    final = response.model_copy(update={"content": text, "response_metadata": metadata})
    out: list[Any] = [final]
    remark = _closing_remark(state)
    if remark is not None and remark.id:
        # The orchestrator's "results are complete" turn is replaced by the answer, so
        # a continuing thread does not carry two assistant turns in a row.
        out.insert(0, RemoveMessage(id=remark.id))
    return {"messages": out, "critical_steps": per_round}


def _closing_remark(state: SwarmState) -> AIMessage | None:
    """The orchestrator's last turn when it ended the rounds without calling a tool.

    A note that a round's plan failed (`finish_reason == "error"`) is kept.
    """
    last = state["messages"][-1] if state["messages"] else None
    if not (isinstance(last, AIMessage) and not last.tool_calls and state.get("round", 0)):
        return None
    return None if last.response_metadata.get("finish_reason") == "error" else last
