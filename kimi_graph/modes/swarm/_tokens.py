"""Token usage of a swarm: summed over messages, added across parts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from kimi_graph.state import Usage

__all__ = ["add_usage", "sum_usage"]


def sum_usage(messages: Sequence[Any]) -> Usage:
    """Token usage of the AI messages among `messages`, summed."""
    total = Usage(input_tokens=0, output_tokens=0, total_tokens=0)
    cached = 0
    for message in messages:
        meta = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
        if not meta:
            continue
        total["input_tokens"] += int(meta.get("input_tokens") or 0)
        total["output_tokens"] += int(meta.get("output_tokens") or 0)
        total["total_tokens"] += int(meta.get("total_tokens") or 0)
        cached += int((meta.get("input_token_details") or {}).get("cache_read") or 0)
    if cached:
        total["cache_read"] = cached
    return total


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
