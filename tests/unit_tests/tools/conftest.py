"""Fixtures for the tools tests: a local HTTP server and a socket-connect spy."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from _tools_test_server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def connect_log(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record the destination of every socket connect (then let it proceed)."""
    seen: list[object] = []
    original = socket.socket.connect
    original_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        seen.append(address)
        return original(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        seen.append(address)
        return original_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return seen
