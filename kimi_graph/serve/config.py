"""Settings of `kimi-graph serve` and the models it offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TIMEOUT",
    "SERVED_MODELS",
    "ServeConfig",
    "THREAD_HEADER",
]

SERVED_MODELS: dict[str, str] = {
    "kimi-instant": "instant",
    "kimi-thinking": "thinking",
    "kimi-agent": "agent",
    "kimi-swarm": "swarm",
}
"""Served model name -> mode of `kimi_graph.create_graph`."""

THREAD_HEADER = "x-thread-id"
"""Request header naming a durable thread (the body field `thread_id` does the same)."""

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class ServeConfig:
    """What `create_app` serves and how.

    Attributes:
        base_url: The dispatcher's K2.5 endpoint (orchestrator, synthesis, instant,
            thinking, agent); None = `KIMI_BASE_URL`, else Moonshot's API.
        upstream_api_key: Key for the upstream servers; None = `MOONSHOT_API_KEY` /
            `KIMI_API_KEY`.
        backend: The upstream dialect (`ChatKimi(backend=...)`); None = detect.
        model: The upstream model id; None = ChatKimi's default (`KIMI_MODEL`, else
            `kimi-k2.6` on Moonshot's platform and `kimi-k2.5` on other servers).
        worker_base_urls: The swarm's worker pool (one base URL per server); empty = the
            dispatcher runs the sub-agents too.
        worker_backend: Dialect of the workers; None = `backend`.
        tools: Tools of agent and swarm; None = `kimi_graph.tools.default_tools()`.
        api_key: The bearer key clients must send; None = no authentication.
        max_body_bytes: Largest request body accepted (413 above).
        timeout: Seconds a request may run (504 after).
        checkpoint: A SQLite path or a `postgres://` URL for durable threads; None = none.
        max_retries: Retries of each upstream call (5xx; 429s are waited out, below).
        rate_limit_max_wait: Seconds one upstream call may wait out 429s (shared
            back-off across the server's requests) before the 429 is passed on.
        max_subagents: Sub-agents per swarm request.
        max_concurrency: Sub-agents running at once per swarm request.
    """

    base_url: str | None = None
    upstream_api_key: SecretStr | str | None = None
    backend: str | None = None
    model: str | None = None
    worker_base_urls: Sequence[str] = ()
    worker_backend: str | None = None
    tools: Sequence[Any] | None = None
    api_key: SecretStr | str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout: float = DEFAULT_TIMEOUT
    checkpoint: str | None = None
    max_retries: int = 2
    rate_limit_max_wait: float = 30.0
    max_subagents: int = 100
    max_concurrency: int = 100
    extra: dict[str, Any] = field(default_factory=dict)
    """More `create_*_graph` options, e.g. `{"max_rounds": 2}` (swarm only)."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.timeout <= 0:
            msg = "max_body_bytes and timeout must be positive."
            raise ValueError(msg)
        for name in ("api_key", "upstream_api_key"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, SecretStr(value))

    def __repr__(self) -> str:  # keys stay out of logs even if someone prints this
        shown = {k: v for k, v in self.__dict__.items() if k not in ("api_key", "upstream_api_key")}
        return f"ServeConfig({shown!r})"
