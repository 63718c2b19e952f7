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
        allowed_hosts: Names the `Host` header may carry (`*`: any); the CLI adds the
            bound address.
        max_runs: Runs at once; a request beyond is answered 503.
        body_timeout: Seconds a client has to send a request body (408 after).
        header_timeout: Seconds a client has to send a request's headers (the
            connection is closed after).
        max_connections: Open connections at most (uvicorn answers 503 above).
        keep_alive: Seconds an idle keep-alive connection is kept.
        always_include_usage: End every stream with a usage chunk, as if the client had
            sent `stream_options.include_usage` (vLLM's `--enable-force-include-usage`).
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
    allowed_hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1")
    max_runs: int = 256
    body_timeout: float = 30.0
    header_timeout: float = 10.0
    max_connections: int = 1024
    keep_alive: float = 5.0
    always_include_usage: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """More `create_*_graph` options, e.g. `{"max_rounds": 2}` (swarm only)."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.timeout <= 0:
            msg = "max_body_bytes and timeout must be positive."
            raise ValueError(msg)
        if (
            min(self.max_runs, self.max_connections) < 1
            or min(self.body_timeout, self.header_timeout, self.keep_alive) <= 0
        ):
            msg = "max_runs, max_connections and the timeouts must be positive."
            raise ValueError(msg)
        for name in ("api_key", "upstream_api_key"):
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if name == "api_key" and isinstance(value, str) and not value.strip():
                value = None  # an empty key is no key: it must not let an empty bearer in
            object.__setattr__(self, name, SecretStr(value) if isinstance(value, str) else value)

    def __repr__(self) -> str:  # keys stay out of logs even if someone prints this
        shown = {k: v for k, v in self.__dict__.items() if k not in ("api_key", "upstream_api_key")}
        return f"ServeConfig({shown!r})"
