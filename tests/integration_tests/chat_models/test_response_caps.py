"""Endless, huge and non-stream answers, and text that cannot be sent (issue 16, item 10).

A loopback `http.server` plays the hostile server; every case is checked on invoke,
ainvoke, stream and astream where it applies.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.caps import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RESPONSE_SECONDS,
    NotAnEventStreamError,
    ResponseCapError,
)

MODES = ["invoke", "ainvoke", "stream", "astream"]


def _chunk(text: str) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "kimi-k2.5",
        "choices": [{"index": 0, "delta": {"reasoning_content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Hostile(BaseHTTPRequestHandler):
    """Answers by path: /endless, /huge, /json200, /html200, /trickle."""

    stop = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.path.split("/")[1]
        try:
            getattr(self, f"_{kind}")()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _sse_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

    def _endless(self) -> None:  # a few bytes every 20 ms, forever
        self._sse_headers()
        while not self.stop.is_set():
            self.wfile.write(_chunk("x"))
            self.wfile.flush()
            time.sleep(0.02)

    def _huge(self) -> None:  # reasoning as fast as the socket takes it
        self._sse_headers()
        piece = _chunk("y" * 60_000)
        while not self.stop.is_set():
            self.wfile.write(piece)

    def _trickle(self) -> None:  # a JSON body that never ends (one space at a time)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "c", ')
        while not self.stop.is_set():
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.02)

    def _send(self, kind: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json200(self) -> None:
        error = {"error": {"message": "quota exceeded for org-42", "type": "billing"}}
        self._send("application/json", json.dumps(error).encode())

    def _html200(self) -> None:
        page = b"<html><head><style>p{}</style></head><body><h1>Captive portal</h1>"
        self._send("text/html; charset=utf-8", page + b"<p>Log in to continue</p></body></html>")


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    Hostile.stop.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Hostile.stop.set()
    server.shutdown()
    server.server_close()


def _call(model: ChatKimi, mode: str) -> Any:
    if mode == "invoke":
        return model.invoke("hi")
    if mode == "stream":
        return list(model.stream("hi"))

    async def run() -> Any:
        if mode == "ainvoke":
            return await model.ainvoke("hi")
        return [c async for c in model.astream("hi")]

    return asyncio.run(run())


def _model(base: str, path: str, *, streaming: bool = False, **kwargs: Any) -> ChatKimi:
    if streaming:  # invoke streams; set only then (streaming=False would turn stream() off)
        kwargs["streaming"] = True
    return ChatKimi(base_url=f"{base}/{path}/v1", api_key="k", max_retries=0, **kwargs)


def test_defaults_are_set() -> None:
    model = ChatKimi(base_url="http://127.0.0.1:1/v1", api_key="k")
    assert model.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024
    assert model.max_response_seconds == DEFAULT_MAX_RESPONSE_SECONDS == 3600.0


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_stream_stops_at_the_duration_cap(hostile: str, mode: str) -> None:
    model = _model(hostile, "endless", max_response_seconds=1.0, streaming=mode == "invoke")
    started = time.monotonic()
    with pytest.raises(ResponseCapError) as info:
        _call(model, mode)
    took = time.monotonic() - started
    assert 0.9 < took < 5, took
    assert "max_response_seconds=1" in str(info.value)
    assert f"{hostile}/endless/v1" in str(info.value)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_a_never_ending_json_body_stops_at_the_duration_cap(hostile: str, mode: str) -> None:
    model = _model(hostile, "trickle", max_response_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(
        ResponseCapError, match=r"trickle/v1: the response passed max_response_seconds=1 "
    ):
        _call(model, mode)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("mode", MODES)
def test_a_huge_response_stops_at_the_size_cap(hostile: str, mode: str) -> None:
    model = _model(hostile, "huge", max_response_bytes=2_000_000, streaming=mode == "invoke")
    started = time.monotonic()
    with pytest.raises(ResponseCapError) as info:
        _call(model, mode)
    assert time.monotonic() - started < 10
    assert "max_response_bytes=2000000" in str(info.value)
    assert f"{hostile}/huge/v1" in str(info.value)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_json_error_answered_200_to_a_stream_is_surfaced(hostile: str, mode: str) -> None:
    with pytest.raises(NotAnEventStreamError) as info:
        _call(_model(hostile, "json200"), mode)
    text = str(info.value)
    assert "quota exceeded for org-42" in text
    assert "a streamed request was answered HTTP 200 with application/json, not an event" in text
    assert text.startswith(f"Malformed response from {hostile}/json200/v1: ")
    assert "No generation chunks" not in text


@pytest.mark.parametrize("mode", ["stream", "astream", "invoke"])
def test_an_html_page_answered_200_to_a_stream_is_surfaced(hostile: str, mode: str) -> None:
    with pytest.raises(NotAnEventStreamError) as info:
        _call(_model(hostile, "html200", streaming=mode == "invoke"), mode)
    text = str(info.value)
    assert "Captive portal Log in to continue" in text and "<h1>" not in text


LONE = "ok \ud800 broken"
Sender = Callable[[ChatKimi], Any]


@pytest.mark.parametrize("mode", MODES)
def test_a_lone_surrogate_is_a_clear_error_before_any_request(mode: str) -> None:
    model = ChatKimi(base_url="http://127.0.0.1:1/v1", api_key="k", max_retries=0)

    async def run() -> Any:
        if mode == "ainvoke":
            return await model.ainvoke([("user", "fine"), ("user", LONE)])
        return [c async for c in model.astream([("user", "fine"), ("user", LONE)])]

    with pytest.raises(ValueError, match="lone surrogate") as info:
        if mode == "invoke":
            model.invoke([("user", "fine"), ("user", LONE)])
        elif mode == "stream":
            list(model.stream([("user", "fine"), ("user", LONE)]))
        else:
            asyncio.run(run())
    text = str(info.value)
    assert "messages[1].content" in text and "character 3" in text
    assert "http://127.0.0.1:1/v1" in text and "kimi-k2.5" in text
