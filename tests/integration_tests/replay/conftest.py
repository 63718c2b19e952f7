"""Fixtures of the replay tier: one loopback server for the module's recordings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration_tests.replay.server import ReplayServer


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    """A loopback server answering with whatever recording the test chose."""
    server = ReplayServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
