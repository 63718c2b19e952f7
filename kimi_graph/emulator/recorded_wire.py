"""Moonshot's wire as real recorded responses show it (WIRE.md §8.3).

The recordings under tests/fixtures/recordings (live responses of `api.moonshot.ai`
kept in public repositories) differ from what the documentation suggested; the
emulator's Moonshot dialect follows them:

- tool-call ids are `NAME_IDX` (`get_weather_0`), not the template's `functions.NAME:IDX`;
- a stream opens with `{"role": "assistant", "content": ""}` alone, and an empty
  `reasoning_content: ""` delta ends the reasoning;
- usage reports `completion_tokens_details.reasoning_tokens` when the model reasoned,
  and a prefix-cache hit both as a top-level `cached_tokens` and in
  `prompt_tokens_details` (older models only top-level); without a hit neither appears;
- usage sits on the last choice of every stream and again in a trailing `choices: []`
  chunk when `stream_options.include_usage` is sent (see `render.stream_chunks`);
- K2.5 and older models put a `system_fingerprint` (`fpv0_…`) on every stream chunk but
  the usage-only one; K2.6 and K3 send none.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from kimi_graph.emulator.brain import ToolCall, Turn

__all__ = [
    "OPENING_DELTA",
    "call_id",
    "fingerprint",
    "opening_deltas",
    "turn_ids",
    "usage_fields",
]

OPENING_DELTA: dict[str, Any] = {"role": "assistant", "content": ""}
"""The first delta of every recorded Moonshot stream, alone in its chunk."""


def call_id(kimi_id: str) -> str:
    """Return Moonshot's id for a call the template names `functions.NAME:IDX`.

    Args:
        kimi_id: The template's id, e.g. `functions.get_weather:0`.

    Returns:
        `NAME_IDX`, e.g. `get_weather_0` (any other id unchanged).
    """
    head, sep, index = kimi_id.rpartition(":")
    if not sep or not head.startswith("functions.") or not index.isdigit():
        return kimi_id
    return f"{head.removeprefix('functions.')}_{index}"


def turn_ids(turn: Turn) -> Turn:
    """Return `turn` with its tool calls under Moonshot's ids."""
    calls: list[ToolCall] = [replace(c, id=call_id(c.id)) for c in turn.tool_calls]
    return replace(turn, tool_calls=calls)


def opening_deltas(reasoning: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deltas before any content: the opening delta, the reasoning, its empty end.

    Args:
        reasoning: The reasoning deltas (empty when the answer shows no reasoning).
    """
    closing = [{key: "" for key in reasoning[0]}] if reasoning else []
    return [dict(OPENING_DELTA), *reasoning, *closing]


def usage_fields(
    *, cached_tokens: int, legacy: bool, reasoning_tokens: int | None
) -> dict[str, Any]:
    """The usage fields Moonshot adds to `prompt/completion/total_tokens`, in its order.

    Args:
        cached_tokens: Prompt tokens served from the prefix cache (0: no hit).
        legacy: An older model, which reports the hit only top-level.
        reasoning_tokens: Completion tokens spent reasoning; None when it did not reason.
    """
    fields: dict[str, Any] = {}
    if cached_tokens:
        fields["cached_tokens"] = cached_tokens
    if reasoning_tokens is not None:
        fields["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    if cached_tokens and not legacy:
        fields["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return fields


_FINGERPRINTED = ("kimi-k2.5", "kimi-k2-", "moonshot-v1")


def fingerprint(model: str) -> str | None:
    """The `system_fingerprint` of `model`'s stream chunks (None: the model sends none)."""
    if not model.startswith(_FINGERPRINTED):
        return None
    return "fpv0_" + hashlib.sha256(model.encode()).hexdigest()[:8]
