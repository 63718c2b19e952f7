"""Helpers of the serve tests: a kimi-graph server in a thread on the session emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kimi_graph.emulator import BACKEND_OF_DIALECT, Emulator
from kimi_graph.serve import ServeConfig, ServerThread, create_app
from kimi_graph.tools.calculator import calculator

UPSTREAM_KEY = "sk-upstream-secret-4242"


@contextmanager
def served(emulator: Emulator, dialect: str = "moonshot", **options: Any) -> Iterator[ServerThread]:
    """A kimi-graph server on 127.0.0.1 (free port) over `emulator` in `dialect`."""
    options.setdefault("max_retries", 0)
    options.setdefault("rate_limit_max_wait", 0.5)  # pass an upstream 429 on quickly
    config = ServeConfig(
        base_url=emulator.base_url(dialect),
        backend=BACKEND_OF_DIALECT[dialect],
        upstream_api_key=UPSTREAM_KEY,
        **options,
    )
    with ServerThread(create_app(config, tools=[calculator])) as server:
        yield server


def sse_events(response: httpx.Response) -> list[str]:
    """The `data:` payloads of a server-sent event stream, in order."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def wait_for(predicate: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Poll `predicate` until it holds; fail after `deadline` seconds (a bound, not a timing)."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def replayed_usage(emulator: Emulator, records: list[Any]) -> dict[str, int]:
    """Sum the usage the (deterministic) emulator reports for each recorded request."""
    total = {"prompt_tokens": 0, "completion_tokens": 0}
    with httpx.Client(timeout=30) as client:
        for record in records:
            body = {**record.body, "stream": False}
            body.pop("stream_options", None)
            reply = client.post(f"{emulator.url}{record.path}", json=body)
            reply.raise_for_status()
            usage = reply.json()["usage"]
            total["prompt_tokens"] += usage["prompt_tokens"]
            total["completion_tokens"] += usage["completion_tokens"]
    return total


def dumps(value: Any) -> str:
    return json.dumps(value)


class CannedUpstream:
    """A loopback HTTP server answering every POST with one canned status and JSON body.

    For upstream behaviour the emulator does not script (a 200 carrying an error,
    prose where JSON was asked).
    """

    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        import http.server
        import threading

        canned = json.dumps(body).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(canned)))
                self.end_headers()
                self.wfile.write(canned)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> CannedUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def served_on(base_url: str, backend: str = "vllm", **options: Any) -> Iterator[ServerThread]:
    """A kimi-graph server over any upstream base URL."""
    options.setdefault("max_retries", 0)
    config = ServeConfig(base_url=base_url, backend=backend, upstream_api_key="k", **options)
    with ServerThread(create_app(config, tools=[calculator])) as server:
        yield server


def completion(content: str, reasoning: str | None = None) -> dict[str, Any]:
    """A chat completion body as an upstream sends it."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "kimi-k2.5",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
