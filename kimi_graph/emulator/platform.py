"""Moonshot platform features of the emulator (docs/wire.md §1.7).

Newer models, the context length, the prefix cache, partial mode and the builtin
``$web_search``.

Wording of errors the sources do not quote (``$web_search`` with thinking, K3's effort
values) is the emulator's own, marked in place.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from kimi_graph.emulator.validation import ApiError

__all__ = [
    "CONTEXT_TOKENS",
    "EFFORTS",
    "ALWAYS_REASONING_MODELS",
    "EFFORT_MODELS",
    "THINKING_ONLY_MESSAGE",
    "LEGACY_USAGE_MODELS",
    "WEB_SEARCH",
    "PrefixCache",
    "builtin_names",
    "continuation",
    "partial_prefix",
    "search_results",
    "search_tokens",
    "validate_platform",
    "web_search_arguments",
]

CONTEXT_TOKENS = 262_144
"""K2.5's context (256K); Moonshot's 400 names it (MoonshotAI/kimi-cli #2011)."""

WEB_SEARCH = "$web_search"
THINKING_ONLY_MESSAGE = "invalid thinking: only type=enabled is allowed for this model"
"""Moonshot's 400 for ``thinking: {"type": "disabled"}`` on a model that always reasons
(recorded for kimi-k2.7-code: tests/fixtures/recordings)."""
EFFORT_MODELS = frozenset({"kimi-k3", "kimi-k3.1", "kimi-k3.1-pro", "kimi-k3.1-pro-highspeed"})
EFFORTS = ("low", "high", "max")
#: Models with no instant mode: `thinking: {"type": "disabled"}` is a 400 (WIRE.md §8.2).
ALWAYS_REASONING_MODELS = EFFORT_MODELS | {"kimi-k2.7-code", "kimi-k2.7-code-highspeed"}
#: Models that report cache hits in a top-level ``usage.cached_tokens`` (older ones);
#: the K2.5 generation uses ``prompt_tokens_details.cached_tokens``.
LEGACY_USAGE_MODELS = frozenset({"kimi-k2-0905-preview", "kimi-k2-turbo-preview"})


def builtin_names(tools: Any) -> list[str]:
    """Names of the ``builtin_function`` tools a request declares."""
    out = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and tool.get("type") == "builtin_function":
            name = (tool.get("function") or {}).get("name")
            if isinstance(name, str):
                out.append(name)
    return out


def web_search_arguments(query: str) -> dict[str, Any]:
    """The arguments of the model's ``$web_search`` call for a query (deterministic)."""
    digest = hashlib.sha1(query.encode()).hexdigest()[:16]
    tokens = 100 + 10 * len(query.split())
    return {"search_result": {"search_id": f"ws-{digest}"}, "usage": {"total_tokens": tokens}}


def _search_echo(message: dict[str, Any]) -> dict[str, Any] | None:
    """The echoed arguments of a ``$web_search`` tool message, or None if malformed."""
    try:
        value = json.loads(message.get("content") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    result = value.get("search_result")
    if not isinstance(result, dict) or not isinstance(result.get("search_id"), str):
        return None
    return value


def search_results(messages: list[dict[str, Any]]) -> dict[int, str]:
    """Text the server puts in place of each ``$web_search`` tool message (by index)."""
    out = {}
    for i, m in enumerate(messages):
        if m.get("role") == "tool" and m.get("name") == WEB_SEARCH:
            echo = _search_echo(m) or {}
            search_id = (echo.get("search_result") or {}).get("search_id", "?")
            out[i] = f"web results for search {search_id}: three pages agree on the facts"
    return out


def search_tokens(messages: list[dict[str, Any]]) -> int:
    """Tokens of the search results the server inserted (counted as prompt tokens)."""
    total = 0
    for m in messages:
        if m.get("role") == "tool" and m.get("name") == WEB_SEARCH:
            usage = (_search_echo(m) or {}).get("usage") or {}
            value = usage.get("total_tokens")
            total += value if isinstance(value, int) else 0
    return total


def validate_platform(body: dict[str, Any], model: str, thinking: bool, prompt_tokens: int) -> None:
    """Moonshot's rules for newer models, builtin search and the context length.

    Args:
        body: The request body.
        model: The model id.
        thinking: Whether thinking is on.
        prompt_tokens: The prompt's token count.

    Raises:
        ApiError: 400 for the first rule broken.
    """
    switch = body.get("thinking")
    if model in ALWAYS_REASONING_MODELS:
        if isinstance(switch, dict) and switch.get("type") == "disabled":
            raise ApiError(400, THINKING_ONLY_MESSAGE)  # [V] recorded for k2.7-code
    if switch is not None and body.get("reasoning_effort") is not None:
        # A 400 on K2.5/K2.6 [S] (HKUDS/nanobot #3939); K3 reads only the effort
        # (WIRE.md §8.2). The wording is the emulator's.
        raise ApiError(400, "thinking and reasoning_effort cannot be set together")
    if model in EFFORT_MODELS:
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in EFFORTS:
            raise ApiError(  # wording: the emulator's
                400, f"invalid reasoning_effort {effort!r}: expected one of {', '.join(EFFORTS)}"
            )
    if thinking and WEB_SEARCH in builtin_names(body.get("tools")):
        # Needs thinking disabled (docs/wire.md §1.7); the wording is the emulator's.
        raise ApiError(400, f"builtin function {WEB_SEARCH} is incompatible with thinking enabled")
    for i, m in enumerate(body["messages"]):
        if m.get("role") == "tool" and m.get("name") == WEB_SEARCH and _search_echo(m) is None:
            raise ApiError(
                400,
                f"invalid {WEB_SEARCH} result at index {i}: send the tool call's arguments "
                "back unchanged as the tool message content",
            )
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else 0
    requested = prompt_tokens + budget
    if requested > CONTEXT_TOKENS:
        raise ApiError(
            400,
            "Invalid request: Your request exceeded model token limit: "
            f"{CONTEXT_TOKENS} (requested: {requested})",
        )


def partial_prefix(messages: list[dict[str, Any]]) -> str | None:
    """The text to continue when the last message is an assistant ``partial: true`` one."""
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant" and last.get("partial") is True:
        content = last.get("content")
        return content if isinstance(content, str) else ""
    return None


def continuation(answer: str, prefix: str) -> str:
    """The rest of ``answer`` after ``prefix`` (partial mode); the whole answer otherwise."""
    return answer[len(prefix) :] if prefix and answer.startswith(prefix) else answer


class PrefixCache:
    """Moonshot's automatic prefix cache, per model and ``prompt_cache_key``.

    A request's prefix is its tools, then its messages one by one; the longest prefix
    an earlier request of the same model and key had is a cache hit.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def hit(self, body: dict[str, Any], segment_tokens: list[tuple[Any, int]]) -> int:
        """Record a request's prefixes and return how many prompt tokens were cached.

        Args:
            body: The request body (``model``, ``prompt_cache_key``).
            segment_tokens: The prompt's segments in order, each with its token count.

        Returns:
            Tokens of the longest prefix seen before.
        """
        namespace = json.dumps([body.get("model"), body.get("prompt_cache_key")])
        digest = hashlib.sha256(namespace.encode())
        keys, total, cumulative = [], 0, []
        for segment, tokens in segment_tokens:
            digest.update(json.dumps(segment, sort_keys=True, ensure_ascii=False).encode())
            keys.append(digest.copy().hexdigest())
            total += tokens
            cumulative.append(total)
        cached = 0
        with self._lock:
            for key, tokens in zip(keys, cumulative, strict=True):
                if key in self._seen:
                    cached = tokens
            for key in keys:
                self._seen[key] = None
                self._seen.move_to_end(key)
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
        return cached
