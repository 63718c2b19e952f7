"""Injected failures: scripted ``[[fault ...]]`` directives and the random ``error_rate``."""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
from typing import Any

from kimi_graph.emulator.directives import Directives
from kimi_graph.emulator.validation import ApiError

__all__ = [
    "FaultInjector",
    "concurrency_error",
    "conversation_key",
    "fault_error",
]

_MESSAGES = {
    429: ("The engine is currently overloaded, please try again later", "engine_overloaded_error"),
    500: ("The server had an error while processing your request (emulated)", "server_error"),
}


def conversation_key(messages: list[dict[str, Any]], last_user: int) -> str:
    """Hash of the messages up to and including the last user message, system ones aside.

    System prompts are left out, so the calls a graph makes for one user turn with
    different instructions (a swarm's orchestrator and synthesis) count as one
    conversation.

    Args:
        messages: The request's messages.
        last_user: Index of the last user message (-1: none).

    Returns:
        A hex digest identifying the conversation at that user turn.
    """
    head = [m for m in messages[: last_user + 1] if m.get("role") != "system"]
    blob = json.dumps(head, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def fault_error(status: int) -> ApiError:
    """The error answered for an injected status (429 carries ``retry-after: 0``).

    Args:
        status: HTTP status to fail with.

    Returns:
        The error.
    """
    message, kind = _MESSAGES.get(status, (f"emulated error {status}", "server_error"))
    headers = {"retry-after": "0"} if status == 429 else {}
    return ApiError(status, message, kind, headers)


def concurrency_error(limit: int, retry_after: float) -> ApiError:
    """Moonshot's 429 for a request beyond the account's concurrency limit.

    Args:
        limit: The number of requests served at once.
        retry_after: Seconds the client is asked to wait.

    Returns:
        The error, with ``retry-after`` (whole seconds, rounded up) and
        ``retry-after-ms`` headers.
    """
    seconds = math.ceil(retry_after)
    message = (
        f"Your account reached organization max concurrency: {limit}, "
        f"please try again after {seconds} seconds"
    )
    headers = {"retry-after": str(seconds), "retry-after-ms": str(round(retry_after * 1000))}
    return ApiError(429, message, "rate_limit_reached_error", headers)


class FaultInjector:
    """Decides which requests fail; thread-safe, deterministic for a given seed."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._counts: dict[str, int] = {}

    def reseed(self, seed: int) -> None:
        """Restart the random generator from a seed.

        Args:
            seed: The new seed.
        """
        with self._lock:
            self._rng = random.Random(seed)

    def reset(self) -> None:
        """Forget every per-conversation counter."""
        with self._lock:
            self._counts.clear()

    def hang_for(self, d: Directives, key: str) -> float:
        """Seconds this request must hang (``[[fault hang N xM]]`` counts per conversation).

        Args:
            d: Directives of the last user message.
            key: The conversation key (see ``conversation_key``).

        Returns:
            The delay in seconds (0 once the first M requests have hung).
        """
        if not d.hang or d.hang_times is None:
            return d.hang
        with self._lock:
            seen = self._counts.get(key + "#hang", 0) + 1
            self._counts[key + "#hang"] = seen
        return d.hang if seen <= d.hang_times else 0.0

    def check(self, d: Directives, key: str, error_rate: float) -> ApiError | None:
        """The error this request must fail with, if any.

        Args:
            d: Directives of the last user message.
            key: The conversation key (see ``conversation_key``).
            error_rate: Probability of a random 429 or 500.

        Returns:
            The error to answer, or ``None`` to answer normally.
        """
        with self._lock:
            if d.fault_status is not None:
                if d.fault_times is None and d.fault_after is None:
                    return fault_error(d.fault_status)
                seen = self._counts.get(key, 0) + 1
                self._counts[key] = seen
                if d.fault_times is not None and seen <= d.fault_times:
                    return fault_error(d.fault_status)
                if d.fault_after is not None and seen > d.fault_after:
                    return fault_error(d.fault_status)
            if error_rate > 0 and self._rng.random() < error_rate:
                return fault_error(self._rng.choice((429, 500)))
        return None
