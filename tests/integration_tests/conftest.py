"""Fixtures of the integration tests: ChatKimi pointed at the emulator per dialect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kimi_graph import ChatKimi
from kimi_graph.emulator import BACKEND_OF_DIALECT, Emulator
from tests.integration_tests._postgres import PostgresServer, postgres_bindir


@pytest.fixture
def kimi(emulator: Emulator) -> Callable[..., ChatKimi]:
    """Factory of ChatKimi models on the emulator: `kimi("vllm", thinking=False)`."""

    def make(dialect: str = "moonshot", **kwargs: Any) -> ChatKimi:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("max_retries", 0)
        return ChatKimi(
            base_url=emulator.base_url(dialect), backend=BACKEND_OF_DIALECT[dialect], **kwargs
        )

    return make


def requests_since(emulator: Emulator, mark: int) -> list[Any]:
    """The emulator's request records after `mark` (a length of `emulator.requests`)."""
    return emulator.requests[mark:]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server of its own for the session (temp dir, free port)."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed: no initdb/pg_ctl on PATH or in /usr/lib/postgresql"
        )
    try:
        server = PostgresServer(bindir)
    except KeyError:
        pytest.skip("running as root, and there is no unprivileged 'nobody' user to run PostgreSQL")
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def peak_concurrency(records: list[Any]) -> int:
    """The most requests the emulator had in flight at once, from its request log."""
    events = sorted([(r.started, 1) for r in records] + [(r.finished, -1) for r in records])
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak
