"""Reasoning in and out: read from whatever field a server used, written back as read.

The field each backend reads back is in `kimi_graph.backends` (docs/wire.md §0, §1.5).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from kimi_graph.backends import REASONING_FIELDS, Backend

__all__ = ["reasoning_from_fields", "reasoning_of", "write_reasoning_back"]


def reasoning_from_fields(fields: dict[str, Any]) -> str | None:
    """Read reasoning from a response message or delta, whatever field carries it."""
    for name in REASONING_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            return value
    details = fields.get("reasoning_details")
    if isinstance(details, list):
        texts = [
            d.get("text") or d.get("summary") or ""
            for d in details
            if isinstance(d, dict) and d.get("type") in ("reasoning.text", "reasoning.summary")
        ]
        if texts:
            return "".join(texts)
    return None


def reasoning_of(message: AIMessage) -> str | None:
    """Return the reasoning an earlier assistant message carried, if any."""
    value = message.additional_kwargs.get("reasoning_content")
    if isinstance(value, str):
        return value
    if isinstance(message.content, list):
        parts = [
            block.get("reasoning") or block.get("thinking") or ""
            for block in message.content
            if isinstance(block, dict) and block.get("type") in ("reasoning", "thinking")
        ]
        if parts:
            return "".join(parts)
    return None


def write_reasoning_back(
    message: AIMessage,
    out: dict[str, Any],
    backend: Backend,
    *,
    empty_on_tool_calls: bool,
    every_message: bool = False,
) -> None:
    """Give `out` (the wire dict of `message`) the reasoning `backend` reads back.

    Args:
        message: An earlier assistant message.
        out: Its wire dict (changed in place).
        backend: The server dialect (which fields it reads back).
        empty_on_tool_calls: A tool-call turn without reasoning gets `""` (Moonshot's
            validator refuses such a turn while thinking, HTTP 400).
        every_message: Preserved Thinking: every assistant message carries the field,
            `""` when it has no reasoning (from instant mode or another model).
    """
    if isinstance(out.get("content"), list):
        texts = [
            b.get("text", "")
            for b in out["content"]
            if isinstance(b, dict) and b.get("type") == "text"
        ]
        out["content"] = "".join(texts) or (None if out.get("tool_calls") else "")
    reasoning = reasoning_of(message)
    if reasoning is None and (every_message or (empty_on_tool_calls and out.get("tool_calls"))):
        # History from instant mode or another model has no reasoning to give
        # back; an empty one keeps Moonshot's validator from refusing the turn.
        reasoning = ""
    if reasoning is not None:
        for name in backend.reasoning_back:
            out[name] = reasoning
    details = message.additional_kwargs.get("reasoning_details")
    if details and backend.reasoning_details_back:
        out["reasoning_details"] = details
