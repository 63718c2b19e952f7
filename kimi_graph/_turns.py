"""The messages of the current turn and their token usage.

Dependency-free (no LangChain import), so the CLI's summary can use it without
slowing `kimi-graph --help`; messages are read by their `type` and `usage_metadata`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import NotRequired, TypedDict

__all__ = ["Usage", "add_usage", "after_last_user", "sum_usage"]

_AI_TYPES = frozenset({"ai", "AIMessageChunk"})


class Usage(TypedDict):
    """Token usage summed over model calls (LangChain's `usage_metadata` keys)."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read: NotRequired[int]
    """Input tokens served from the server's prefix cache, where reported."""


def after_last_user(messages: Sequence[Any]) -> list[Any]:
    """The messages after the latest user message (all of them if there is none)."""
    for i in range(len(messages) - 1, -1, -1):
        if getattr(messages[i], "type", None) == "human":
            return list(messages[i + 1 :])
    return list(messages)


def sum_usage(messages: Sequence[Any]) -> Usage:
    """Token usage of the AI messages among `messages`, summed."""
    return add_usage(
        *(
            _as_usage(message.usage_metadata)
            for message in messages
            if getattr(message, "type", None) in _AI_TYPES
            and getattr(message, "usage_metadata", None)
        )
    )


def add_usage(*parts: Usage) -> Usage:
    """The sum of several usage records."""
    total = Usage(input_tokens=0, output_tokens=0, total_tokens=0)
    cached = 0
    for part in parts:
        total["input_tokens"] += part.get("input_tokens", 0)
        total["output_tokens"] += part.get("output_tokens", 0)
        total["total_tokens"] += part.get("total_tokens", 0)
        cached += part.get("cache_read", 0)
    if cached:
        total["cache_read"] = cached
    return total


def _as_usage(meta: Any) -> Usage:
    usage = Usage(
        input_tokens=int(meta.get("input_tokens") or 0),
        output_tokens=int(meta.get("output_tokens") or 0),
        total_tokens=int(meta.get("total_tokens") or 0),
    )
    cached = int((meta.get("input_token_details") or {}).get("cache_read") or 0)
    if cached:
        usage["cache_read"] = cached
    return usage
