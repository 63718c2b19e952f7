"""A loopback HTTP server that answers every chat completion with one recorded response.

The recording is served verbatim: a non-streamed body byte for byte, a stream as its
recorded `data:` events followed by `data: [DONE]` (the fixtures leave `[DONE]` out;
their own test harness appends it, see the recordings' README). Each request body is
kept, so a test can check what ChatKimi sent (the reasoning it gives back on the next
turn). A request whose `stream` flag does not match the recording gets a 409, so a test
cannot pass by reading something other than the recording. `GET /v1/models` answers
`models` (status `models_status`) and counts its requests, for capability discovery.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration_tests.replay.recordings import Recording


class ReplayServer(ThreadingHTTPServer):
    """Serves `recording` on `POST /v1/chat/completions` at 127.0.0.1 (a free port)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.recording: Recording | None = None
        self.queue: list[Recording] = []
        self.requests: list[dict[str, Any]] = []
        self.models: Any = {"object": "list", "data": []}
        self.models_status = 200
        self.models_requests = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (`.../v1`)."""
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def serve(self, recording: Recording, *then: Recording) -> None:
        """Answer with `recording`, then each of `then` in turn (the last one repeats).

        Earlier requests are forgotten.
        """
        self.recording = recording
        self.queue = list(then)
        self.requests.clear()

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != "/v1/models":
            self._send(404, b'{"error": {"message": "no such route"}}', "application/json")
            return
        self.server.models_requests += 1
        body = json.dumps(self.server.models).encode()
        self._send(self.server.models_status, body, "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(request)
        recording = self.server.recording
        if self.server.queue:
            self.server.recording = self.server.queue.pop(0)
        if self.path != "/v1/chat/completions" or recording is None:
            self._send(404, b'{"error": {"message": "no recording here"}}', "application/json")
            return
        if bool(request.get("stream")) != recording.stream:
            message = f"replay: {recording.name} is {'' if recording.stream else 'not '}streamed"
            body = json.dumps({"error": {"message": message, "type": "replay_mismatch"}})
            self._send(409, body.encode(), "application/json")
            return
        if not recording.stream:
            self._send(recording.status, recording.body, "application/json")
            return
        self.send_response(recording.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in recording.events:
            self.wfile.write(f"data: {event}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True
