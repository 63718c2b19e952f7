"""What a finished run produced, for the CLI's summary line and its `--json` output."""

from __future__ import annotations

from typing import Any, cast

from langchain_core.messages.ai import UsageMetadata
from typing_extensions import TypedDict

from kimi_graph._turns import after_last_user, sum_usage

__all__ = ["RunSummary", "TokenUsage", "summarize", "usage_text"]


class TokenUsage(TypedDict):
    """Tokens of a run's model calls: `cached` input tokens came from the prefix cache."""

    input: int
    output: int
    cached: int
    total: int


class RunSummary(TypedDict):
    """A finished run: answer, reasoning, sub-agent records, token usage, critical steps."""

    answer: str
    reasoning: str
    records: list[dict[str, Any]]
    usage: TokenUsage
    critical_steps: int | None


def _token_usage(usage: UsageMetadata) -> TokenUsage:
    return TokenUsage(
        input=usage.get("input_tokens", 0),
        output=usage.get("output_tokens", 0),
        cached=(usage.get("input_token_details") or {}).get("cache_read", 0),
        total=usage.get("total_tokens", 0),
    )


def summarize(values: dict[str, Any] | None) -> RunSummary:
    """Summarize a mode graph's final state.

    Args:
        values: The graph's final state (`messages`, and for a swarm `subagent_results`).

    Returns:
        The final answer and its reasoning, the sub-agent records, the token usage of
        this turn (for a swarm: the whole swarm's, from its final message's
        `response_metadata["swarm"]`) and the swarm's critical steps (else None).
    """
    values = values or {}
    messages = list(values.get("messages") or [])
    turn = after_last_user(messages)
    final = next((m for m in reversed(turn) if getattr(m, "type", None) == "ai"), None)
    records = [dict(r) for r in values.get("subagent_results") or []]
    usage = _token_usage(sum_usage(turn))
    critical: int | None = None
    swarm = (final.response_metadata or {}).get("swarm") if final is not None else None
    if isinstance(swarm, dict):
        critical = swarm.get("critical_steps")
        total = swarm.get("usage")
        if isinstance(total, dict):
            usage = _token_usage(cast(UsageMetadata, total))
    reasoning = ""
    if final is not None:
        value = final.additional_kwargs.get("reasoning_content")
        reasoning = value if isinstance(value, str) else ""
    return RunSummary(
        answer=final.text if final is not None else "",
        reasoning=reasoning,
        records=records,
        usage=usage,
        critical_steps=critical,
    )


def usage_text(usage: TokenUsage) -> str:
    """`tokens 1,234 in (1,000 cached), 56 out` for the summary line."""
    return f"tokens {usage['input']:,} in ({usage['cached']:,} cached), {usage['output']:,} out"
