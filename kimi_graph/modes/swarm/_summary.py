"""`response_metadata["swarm"]`: what a swarm's final answer says about the request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages.ai import UsageMetadata

from kimi_graph._turns import total_usage
from kimi_graph.state import SubagentResult

__all__ = ["swarm_summary"]


def swarm_summary(
    results: Sequence[SubagentResult],
    per_round: list[int],
    orchestrator: UsageMetadata,
    synthesis: UsageMetadata,
) -> dict[str, Any]:
    """`response_metadata["swarm"]` of the final answer: counts, steps and usage by part.

    Args:
        results: The request's sub-agent records.
        per_round: The critical steps of each round (empty when no round ran).
        orchestrator: The orchestrator's usage over the request.
        synthesis: The synthesis call's usage (zero when the orchestrator answered alone).
    """
    subagents = total_usage(*(r["usage"] for r in results if "usage" in r))
    return {
        "subagents": len(results),
        "failed": sum(1 for r in results if r["status"] == "error"),
        "partial": sum(1 for r in results if r["status"] in ("cancelled", "aborted")),
        "critical_steps": sum(per_round) + 1,  # the synthesis, or the answer given alone
        "critical_steps_per_round": per_round,
        "usage": total_usage(orchestrator, subagents, synthesis),
        "usage_by_part": {
            "orchestrator": orchestrator,
            "subagents": subagents,
            "synthesis": synthesis,
        },
    }
