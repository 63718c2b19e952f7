"""Fixtures of the integration tests: ChatKimi pointed at the emulator per dialect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kimi_graph import ChatKimi
from kimi_graph.emulator import BACKEND_OF_DIALECT, Emulator


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
