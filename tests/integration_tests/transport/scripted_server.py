"""A loopback chat-completions server that records each POST and answers from a script."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "ScriptedServer", "scripted_server"]


class Reply:
    """One scripted answer: status, JSON body (None: the server's answer), delay, headers."""

    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        gzip_body: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.delay = delay
        self.headers = headers or {}
        self.gzip_body = gzip_body


class ScriptedServer:
    """Records each POST as (path, headers, body, time) and answers from `script`.

    The last scripted reply repeats; a reply without a body answers `answer`.
    """

    def __init__(self, answer: Any, headers: dict[str, str] | None = None) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str], Any, float]] = []
        self.script: list[Reply] = [Reply(headers=headers)]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers, json.loads(raw), time.monotonic()))
                reply = server.script[min(len(server.requests), len(server.script)) - 1]
                time.sleep(reply.delay)
                data = json.dumps(server.answer if reply.body is None else reply.body).encode()
                if reply.gzip_body:
                    data = gzip.compress(data)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if reply.gzip_body:
                        self.send_header("Content-Encoding", "gzip")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base_url = f"{self.origin}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def scripted_server(answer: Any, headers: dict[str, str] | None = None) -> Iterator[ScriptedServer]:
    """A `ScriptedServer` for the length of the block."""
    server = ScriptedServer(answer, headers)
    try:
        yield server
    finally:
        server.close()
