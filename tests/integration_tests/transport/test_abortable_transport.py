"""The sync client's transport closes a request in flight when its abort signal fires.

The witness is a loopback server (`tests.integration_tests.loopback`) that records
each request and the moment its client went away.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kimi_graph._transport.abort import AbortableTransport
from kimi_graph._transport.abort_signal import ABORT_SIGNAL, RequestAbortedError
from kimi_graph._transport.limited_client import (
    CONNECTION_LIMITS,
    RateLimitedClient,
    build_sync_client,
)
from kimi_graph._transport.openai_compat import httpx
from kimi_graph._transport.ratelimit import RateLimitSettings
from tests.integration_tests.loopback import LoopbackServer, loopback_server


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as srv:
        yield srv


class Signal:
    """An abort signal as the swarm's control is one: callbacks, called once."""

    def __init__(self) -> None:
        self.fired = False
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            if not self.fired:
                self._callbacks[id(callback)] = callback
                return lambda: self._callbacks.pop(id(callback), None)
        callback()
        return lambda: None

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        for callback in callbacks:
            callback()

    @property
    def registered(self) -> int:
        return len(self._callbacks)


KEEPALIVE = ((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),)


def _client(server: LoopbackServer) -> RateLimitedClient:
    """The sync client as ChatKimi builds it (with socket options, as by default)."""
    return build_sync_client(server.url(""), server.url(""), 30.0, KEEPALIVE, RateLimitSettings())


@contextlib.contextmanager
def _under(signal: Signal) -> Iterator[None]:
    token = ABORT_SIGNAL.set(signal)
    try:
        yield
    finally:
        ABORT_SIGNAL.reset(token)


def _fire_in(signal: Signal, seconds: float) -> float:
    """Fire `signal` from another thread after `seconds`; returns when that will be."""
    timer = threading.Timer(seconds, signal.fire)
    timer.daemon = True
    timer.start()
    return time.monotonic() + seconds


def test_an_abort_closes_a_request_waiting_for_its_answer(server) -> None:
    client = _client(server)
    signal = Signal()
    fired = _fire_in(signal, 0.3)
    with _under(signal), pytest.raises(httpx.TransportError):
        client.get(server.url("/stall"))
    returned = time.monotonic()
    assert returned - fired < 0.5
    (seen,) = server.seen
    assert seen.wait_gone() - fired < 0.5
    assert signal.registered == 0  # the scope let go of the signal
    # the pool holds no broken connection: the next requests are answered
    assert [client.get(server.url("/ok")).text for _ in range(3)] == ["ok"] * 3


def test_an_abort_closes_a_streamed_body_mid_way(server) -> None:
    client = _client(server)
    signal = Signal()
    with _under(signal), client.stream("GET", server.url("/trickle/0.1")) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        assert next(chunks)
        fired = _fire_in(signal, 0.3)
        with pytest.raises(httpx.TransportError):
            for _ in chunks:
                pass
    assert time.monotonic() - fired < 0.5
    assert server.seen[0].wait_gone() - fired < 0.5
    assert client.get(server.url("/ok")).text == "ok"


def test_a_request_after_the_abort_is_not_sent(server) -> None:
    client = _client(server)
    signal = Signal()
    signal.fire()
    with _under(signal), pytest.raises(RequestAbortedError, match="127.0.0.1"):
        client.get(server.url("/ok"))
    time.sleep(0.2)
    assert server.seen == []
    assert client.get(server.url("/ok")).text == "ok"  # outside the signal: sent


def test_a_request_after_the_abort_waits_for_no_slot(server) -> None:
    """An aborted sub-agent's retry is refused before the limiter: it takes no live slot."""
    client = build_sync_client(
        server.url(""), server.url(""), 30.0, KEEPALIVE, RateLimitSettings(max_concurrent=1)
    )
    held = Signal()

    def hold() -> None:
        with _under(held), contextlib.suppress(httpx.TransportError):
            client.get(server.url("/stall"))

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()  # the only slot is held by a request that never ends on its own
    while not server.seen:
        time.sleep(0.01)
    signal = Signal()
    signal.fire()
    started = time.monotonic()
    with _under(signal), pytest.raises(RequestAbortedError, match="127.0.0.1"):
        client.get(server.url("/ok"))
    assert time.monotonic() - started < 0.5  # refused at once, not after the slot frees
    assert [seen.path for seen in server.seen] == ["/stall"]
    held.fire()  # the holder's request is closed; its thread ends
    holder.join(timeout=5)
    assert not holder.is_alive()


def test_an_abort_leaves_a_sibling_request_on_the_same_pool_alone(server) -> None:
    client = _client(server)
    # warm the pool: the sibling and the aborted request may reuse these connections
    assert [client.get(server.url("/ok")).text for _ in range(2)] == ["ok", "ok"]
    mine, theirs = Signal(), Signal()
    sibling: list[str] = []

    def sibling_run() -> None:
        try:
            with _under(theirs), client.stream("GET", server.url("/trickle/0.1")) as response:
                sibling.append(b"".join(response.iter_raw()).decode()[:5])
        except httpx.TransportError:
            sibling.append("aborted")

    thread = threading.Thread(target=sibling_run, daemon=True)
    thread.start()
    fired = _fire_in(mine, 0.3)
    with _under(mine), pytest.raises(httpx.TransportError):
        client.get(server.url("/stall"))
    assert time.monotonic() - fired < 0.5
    stalled = next(s for s in server.seen if s.path == "/stall")
    trickled = next(s for s in server.seen if s.path.startswith("/trickle"))
    assert stalled.wait_gone() - fired < 0.5
    time.sleep(0.5)
    assert trickled.gone is None  # the sibling still reads its body
    assert thread.is_alive()
    assert stalled.peer != trickled.peer
    theirs.fire()  # and the sibling's own abort ends it
    thread.join(1)
    assert not thread.is_alive()
    assert sibling == ["aborted"]
    assert trickled.wait_gone() - fired < 2


def test_timeouts_are_httpx_timeouts_without_a_signal(server, monkeypatch) -> None:
    """Errors keep httpx's types, so the OpenAI SDK tells time-outs from the rest.

    Without socket options (and no proxy in the environment) the transport is the same.
    """
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    client = build_sync_client(
        server.url(""), server.url(""), httpx.Timeout(0.3), (), RateLimitSettings()
    )
    with pytest.raises(httpx.ReadTimeout):
        client.get(server.url("/stall"))
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    with pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client trusting it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make a certificate")
def test_an_abort_closes_an_https_request(tmp_path: Path) -> None:
    """Over TLS the transport shuts the TLS socket down, the same way."""
    server_tls, client_tls = _self_signed(tmp_path)
    transport = AbortableTransport(limits=CONNECTION_LIMITS, verify=client_tls)
    with loopback_server(server_tls) as server, httpx.Client(transport=transport) as client:
        assert client.get(server.url("/ok")).text == "ok"
        signal = Signal()
        fired = _fire_in(signal, 0.3)
        with _under(signal), pytest.raises(httpx.TransportError):
            client.get(server.url("/stall"))
        assert time.monotonic() - fired < 0.5
        stalled = next(s for s in server.seen if s.path == "/stall")
        assert stalled.wait_gone() - fired < 0.5
        assert client.get(server.url("/ok")).text == "ok"
