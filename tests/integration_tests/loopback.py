"""A loopback HTTP/1.1 server that records each request and when its client went away.

Paths (a query is ignored): `/ok` answers at once (keep-alive); `/stall` never
answers; `/trickle/<s>` sends a 1000-byte text body one byte every `<s>` seconds. A
stalled or trickling request is held until the client closes the connection, whose
moment is `Seen.gone`. With an `ssl.SSLContext` it speaks HTTPS.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["LoopbackServer", "Seen", "loopback_server"]


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    peer: tuple[str, int]
    arrived: float
    gone: float | None = None

    def wait_gone(self, timeout: float = 5) -> float:
        """When the client closed the connection (waits up to `timeout` for it)."""
        deadline = time.monotonic() + timeout
        while self.gone is None:
            assert time.monotonic() < deadline, f"the server never saw the client of {self.path} go"
            time.sleep(0.01)
        return self.gone


class _Handler(socketserver.StreamRequestHandler):
    server: LoopbackServer

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            path = line.split()[1].decode().split("?", 1)[0]
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            seen = Seen(path, self.client_address, time.monotonic())
            self.server.seen.append(seen)
            if path == "/ok":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                continue
            every = None
            if path.startswith("/trickle/"):
                every = float(path.rsplit("/", 1)[1])
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
                )
            self._until_gone(seen, every)
            return

    def _until_gone(self, seen: Seen, every: float | None) -> None:
        """Trickle (every `every` seconds) until the client closes the connection."""
        self.connection.settimeout(0.02)
        deadline = time.monotonic() + 60
        next_byte = time.monotonic()
        while time.monotonic() < deadline:
            try:
                if every is not None and time.monotonic() >= next_byte:
                    self.wfile.write(b"x")
                    next_byte += every
                if self.connection.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        seen.gone = time.monotonic()


class LoopbackServer(socketserver.ThreadingTCPServer):
    """The server on 127.0.0.1 (a free port); `seen` lists the requests in order."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection (and, with `tls`, complete its TLS handshake)."""
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        return self.tls.wrap_socket(sock, server_side=True), address

    def url(self, path: str) -> str:
        """The URL of `path` on this server."""
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}{path}"

    def first(self, prefix: str, timeout: float = 20) -> Seen:
        """The first request whose path starts with `prefix` (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [s for s in self.seen if s.path.startswith(prefix)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no request for {prefix}: {self.seen}"
            time.sleep(0.01)


@contextmanager
def loopback_server(tls: ssl.SSLContext | None = None) -> Iterator[LoopbackServer]:
    """Run a `LoopbackServer` on a thread for the block; shut it down after."""
    server = LoopbackServer(tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
