"""The HTTP/1.1 protocols of `serve`: httptools and h11 bound headers in time and size alike."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServeConfig, create_app
from kimi_graph.serve.connections import (
    MAX_HEADER_BYTES,
    HeaderDeadlineProtocol,
    default_protocol,
    uvicorn_limits,
)
from kimi_graph.serve.runtime import ServerThread
from kimi_graph.tools.calculator import calculator
from tests.integration_tests.serve_helpers import UPSTREAM_KEY

PROTOCOLS = {"h11": HeaderDeadlineProtocol, "default": default_protocol()}


@pytest.fixture(params=list(PROTOCOLS))
def server(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[ServerThread]:
    """A server speaking one of the protocols, with a 1 s header deadline."""
    config = ServeConfig(
        base_url=emulator.base_url("moonshot"),
        backend="moonshot",
        upstream_api_key=UPSTREAM_KEY,
        max_retries=0,
        header_timeout=1.0,
    )
    limits = uvicorn_limits(header_timeout=1.0, protocol=PROTOCOLS[request.param])
    with ServerThread(create_app(config, tools=[calculator]), **limits) as srv:
        yield srv


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and the seconds that took."""
    start = time.monotonic()
    sock.settimeout(deadline)
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the connection was still open after {deadline}s") from None
        except ConnectionResetError:
            part = b""
        if not part:
            return data, time.monotonic() - start
        data += part


def test_the_default_protocol_is_httptools_when_installed() -> None:
    """httptools is installed here (uvicorn[standard]): the C parser serves."""
    pytest.importorskip("httptools")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(default_protocol(), HttpToolsProtocol)
    assert issubclass(uvicorn_limits()["http"], HttpToolsProtocol)


def test_headers_larger_than_the_bound_are_refused(server: ServerThread) -> None:
    """Header lines past MAX_HEADER_BYTES, never completed: 400 and the connection closed."""
    sock = _connect(server.url)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    try:
        for _ in range(MAX_HEADER_BYTES // len(line) + 2):
            sock.sendall(line)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused while sending
    data, _ = _read_until_closed(sock, 8.0)
    sock.close()
    assert data.startswith(b"HTTP/1.1 400"), data[:100]
    assert httpx.get(f"{server.base_url}/models").is_success  # the server goes on


def test_a_large_body_is_not_taken_for_large_headers(server: ServerThread) -> None:
    """Headers and a 200 KB body in one write: the bound counts the headers only."""
    body = b'{"model": "kimi-instant", "messages": [{"role": "user", "content": "'
    body += b"x" * 200_000 + b'"}], "max_tokens": -1}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    sock = _connect(server.url)
    sock.sendall(head + body)
    data, _ = _read_until_closed(sock, 8.0)
    sock.close()
    # The app read the body and refused the value itself (its own 400, a JSON error).
    assert data.startswith(b"HTTP/1.1 400"), data[:100]
    assert b'"param":"max_tokens"' in data.replace(b" ", b""), data[-300:]


def test_half_sent_headers_are_dropped_after_the_deadline(server: ServerThread) -> None:
    """The clock runs for the first request and again after each response (keep-alive)."""
    sock = _connect(server.url)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    _, waited = _read_until_closed(sock, 8.0)
    sock.close()
    assert waited < 8.0
    sock = _connect(server.url)
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(8.0)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    _, waited = _read_until_closed(sock, 8.0)
    sock.close()
    assert waited < 8.0


def test_keep_alive_requests_are_not_cut(server: ServerThread) -> None:
    """Many requests on one connection, each answered (the clock stops for each)."""
    with httpx.Client(base_url=server.base_url) as client:
        for _ in range(20):
            assert client.get("/models").is_success
