"""Configuration and request-log records of the K2.5 emulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BACKEND_OF_DIALECT",
    "DIALECTS",
    "EmulatorConfig",
    "RequestRecord",
]

DIALECTS: tuple[str, ...] = (
    "moonshot",
    "vllm",
    "vllm-legacy",
    "sglang",
    "llamacpp",
    "openrouter",
    "raw",
)
"""Every server dialect the emulator speaks, in documentation order."""

#: Which `ChatKimi(backend=...)` speaks each emulator dialect.
BACKEND_OF_DIALECT: dict[str, str] = {
    "moonshot": "moonshot",
    "vllm": "vllm",
    "vllm-legacy": "vllm",
    "sglang": "sglang",
    "llamacpp": "llamacpp",
    "openrouter": "openrouter",
    "raw": "vllm",
}


@dataclass(frozen=True)
class EmulatorConfig:
    """Knobs of one emulator instance.

    Attributes:
        host: Interface to bind (loopback only in tests).
        port: TCP port; ``0`` picks a free one.
        default_dialect: Dialect served under the bare ``/v1`` prefix.
        latency: Seconds to wait before the first byte of every response.
        token_delay: Seconds to wait between two streamed chunks.
        chunk_words: Words per streamed text chunk.
        error_rate: Probability in ``[0, 1]`` that a request fails with a random 429 or 500.
        seed: Seed of the random generator behind ``error_rate``.
        backlog: Listen backlog of the server socket (bursts of connections).
        max_in_flight: Serve at most this many chat completions at once and answer
            429 + ``Retry-After`` beyond, as Moonshot's per-account concurrency limit
            does (``0``: no limit).
        retry_after: Seconds the 429 of ``max_in_flight`` asks the client to wait.
        hosted_catalogue: The Moonshot dialect serves only today's hosted models (see
            ``catalogue``): a retired id answers the real 404, and ``GET /v1/models``
            lists each model with its capability fields.
    """

    host: str = "127.0.0.1"
    port: int = 0
    default_dialect: str = "moonshot"
    latency: float = 0.0
    token_delay: float = 0.0
    chunk_words: int = 3
    error_rate: float = 0.0
    seed: int = 0
    backlog: int = 2048
    max_in_flight: int = 0
    retry_after: float = 1.0
    hosted_catalogue: bool = False

    def __post_init__(self) -> None:
        if self.default_dialect not in DIALECTS:
            raise ValueError(
                f"unknown dialect {self.default_dialect!r}; expected one of {DIALECTS}"
            )
        if self.chunk_words < 1:
            raise ValueError("chunk_words must be >= 1")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be within [0, 1]")
        if self.max_in_flight < 0 or self.retry_after < 0:
            raise ValueError("max_in_flight and retry_after must be >= 0")


@dataclass
class RequestRecord:
    """One chat-completion request as the emulator saw and answered it.

    Attributes:
        dialect: Dialect of the route that received the request.
        path: Request path.
        body: Parsed JSON body (``{}`` when it was not a JSON object).
        status: HTTP status answered; ``0`` while in flight or when the connection was
            dropped before a status line was sent.
        thinking: Whether the server understood thinking to be on.
        stream: Whether a streamed answer was requested.
        history_reasoning: For each assistant message of the current tool chain, the
            reasoning text the server read from it under the dialect's input rule.
        last_user: Text of the last user message.
        started: ``time.monotonic()`` at arrival.
        finished: ``time.monotonic()`` when the answer was complete (``None`` in flight).
    """

    dialect: str
    path: str
    body: dict[str, Any]
    status: int = 0
    thinking: bool = False
    stream: bool = False
    history_reasoning: list[str] = field(default_factory=list)
    last_user: str = ""
    started: float = 0.0
    finished: float | None = None
