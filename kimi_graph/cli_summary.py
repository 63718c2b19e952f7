"""What a finished run produced, for the CLI's summary line and its `--json` output."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

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


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        )
    return ""


def _this_turn(messages: list[Any]) -> list[Any]:
    """The messages after the last human message (a thread may hold earlier turns)."""
    for i in range(len(messages) - 1, -1, -1):
        if getattr(messages[i], "type", None) == "human":
            return messages[i + 1 :]
    return messages


def _usage_of(messages: list[Any]) -> TokenUsage:
    usage = TokenUsage(input=0, output=0, cached=0, total=0)
    for message in messages:
        meta = getattr(message, "usage_metadata", None) if message.type == "ai" else None
        if not meta:
            continue
        usage["input"] += int(meta.get("input_tokens") or 0)
        usage["output"] += int(meta.get("output_tokens") or 0)
        usage["total"] += int(meta.get("total_tokens") or 0)
        usage["cached"] += int((meta.get("input_token_details") or {}).get("cache_read") or 0)
    return usage


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
    turn = _this_turn(messages)
    final = next((m for m in reversed(turn) if getattr(m, "type", None) == "ai"), None)
    records = [dict(r) for r in values.get("subagent_results") or []]
    usage = _usage_of(turn)
    critical: int | None = None
    swarm = (final.response_metadata or {}).get("swarm") if final is not None else None
    if isinstance(swarm, dict):
        critical = swarm.get("critical_steps")
        total = swarm.get("usage")
        if isinstance(total, dict):
            usage = TokenUsage(
                input=int(total.get("input_tokens", 0)),
                output=int(total.get("output_tokens", 0)),
                cached=int(total.get("cache_read", 0)),
                total=int(total.get("total_tokens", 0)),
            )
    reasoning = ""
    if final is not None:
        value = final.additional_kwargs.get("reasoning_content")
        reasoning = value if isinstance(value, str) else ""
    return RunSummary(
        answer=_text(final.content) if final is not None else "",
        reasoning=reasoning,
        records=records,
        usage=usage,
        critical_steps=critical,
    )


def usage_text(usage: TokenUsage) -> str:
    """`tokens 1,234 in (1,000 cached), 56 out` for the summary line."""
    return f"tokens {usage['input']:,} in ({usage['cached']:,} cached), {usage['output']:,} out"
