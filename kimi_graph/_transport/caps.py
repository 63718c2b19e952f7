"""Bounds on one response: its size, its duration, and what a stream must look like.

A server (or anything in between) can answer forever: a stream that never ends, or
one of 100 MiB of reasoning, holds the caller and its memory until someone stops
it. Every response the limited clients return (`kimi_graph._transport.limited_client`,
sync and async, streamed or not) is read through `CappedStream` or
`AsyncCappedStream`, which raise `ResponseCapError` as soon as the bytes read pass
`ResponseCaps.max_bytes` or the time since the request was sent passes
`ResponseCaps.max_seconds`. The errors of this module are `openai.APIError` (the
OpenAI SDK passes them on as they are, without retrying) and `MalformedResponseError`
(an unusable answer, whose message starts with the endpoint, like every other).

A streamed request answered 200 with something other than an event stream (a JSON
error, an HTML page from a proxy) would give no chunks at all and LangChain's "No
generation chunks were returned"; `NotAnEventStreamError` carries the server's own
message instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import openai

from kimi_graph._transport.endpoint import MalformedResponseError
from kimi_graph._transport.openai_compat import httpx

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RESPONSE_SECONDS",
    "AsyncCappedStream",
    "CappedStream",
    "NotAnEventStreamError",
    "ResponseCapError",
    "ResponseCaps",
    "not_an_event_stream",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""64 MiB: a streamed answer of K2.5's whole 256K-token context is about 46 MB of SSE."""
DEFAULT_MAX_RESPONSE_SECONDS = 3600.0
"""One hour from sending the request to the end of its answer."""

_PREVIEW_CHARS = 300


@dataclass(frozen=True)
class ResponseCaps:
    """The most one response may take; None: no bound of that kind."""

    max_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES
    """Bytes of the body (as received) before the response is abandoned."""
    max_seconds: float | None = DEFAULT_MAX_RESPONSE_SECONDS
    """Seconds from sending the request until the whole body is read."""


class ResponseCapError(MalformedResponseError, openai.APIError):
    """A response went past `ResponseCaps`; the message names the cap and the endpoint.

    Both a `MalformedResponseError` (the server's answer is unusable) and an
    `openai.APIError` (so the OpenAI SDK passes it on without retrying).
    """

    def __init__(self, message: str, request: Any) -> None:
        """Make the error (the OpenAI SDK's `APIError` signature, without a body)."""
        openai.APIError.__init__(self, message, request, body=None)
        self.args = (message,)


class NotAnEventStreamError(MalformedResponseError, openai.APIError):
    """A streamed request got a 200 that is not an event stream (the server's text kept).

    Both a `MalformedResponseError` (an unusable 200, as for a non-streamed call) and an
    `openai.APIError` (so the OpenAI SDK passes it on without retrying).
    """

    def __init__(self, message: str, request: Any) -> None:
        """Make the error (the OpenAI SDK's `APIError` signature, without a body)."""
        openai.APIError.__init__(self, message, request, body=None)
        self.args = (message,)


class _Meter:
    """Counts one response's bytes and time against its caps."""

    def __init__(self, caps: ResponseCaps, endpoint: str, request: Any, started: float) -> None:
        self.caps = caps
        self.endpoint = endpoint
        self.request = request
        self.started = started
        self.read = 0

    def add(self, part: bytes) -> None:
        self.read += len(part)
        limit = self.caps.max_bytes
        if limit is not None and self.read > limit:
            msg = (
                f"Malformed response from {self.endpoint}: the response passed "
                f"max_response_bytes={limit} "
                f"(over {limit} bytes read); it was abandoned. Raise ChatKimi("
                "max_response_bytes=...) if such answers are expected."
            )
            raise ResponseCapError(msg, self._request())
        self.check_time()

    def check_time(self) -> None:
        limit = self.caps.max_seconds
        elapsed = time.monotonic() - self.started
        if limit is not None and elapsed > limit:
            msg = (
                f"Malformed response from {self.endpoint}: the response passed "
                f"max_response_seconds={limit:g} "
                f"({elapsed:.1f}s, {self.read} bytes read); it was abandoned. Raise "
                "ChatKimi(max_response_seconds=...) if such answers are expected."
            )
            raise ResponseCapError(msg, self._request())

    def _request(self) -> Any:
        """The request the errors carry (made now if it was given as a factory)."""
        request = self.request
        return request() if callable(request) else request


class CappedStream(httpx.SyncByteStream):
    """A response body that raises `ResponseCapError` once past its caps."""

    def __init__(self, inner: Any, meter: _Meter) -> None:
        """Wrap ``inner`` (a response's byte stream)."""
        self._inner = inner
        self._meter = meter

    def __iter__(self) -> Iterator[bytes]:
        """Yield the body's parts, counted."""
        self._meter.check_time()
        for part in self._inner:
            self._meter.add(part)
            yield part

    def close(self) -> None:
        """Close the wrapped stream."""
        self._inner.close()


class AsyncCappedStream(httpx.AsyncByteStream):
    """An async response body that raises `ResponseCapError` once past its caps."""

    def __init__(self, inner: Any, meter: _Meter) -> None:
        """Wrap ``inner`` (a response's async byte stream)."""
        self._inner = inner
        self._meter = meter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body's parts, counted."""
        self._meter.check_time()
        async for part in self._inner:
            self._meter.add(part)
            yield part

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self._inner.aclose()


def meter(caps: ResponseCaps, endpoint: str, request: Any, started: float) -> _Meter:
    """The counter the capped streams of one response share.

    Args:
        caps: The bounds.
        endpoint: The endpoint, without credentials (for messages).
        request: The request (carried by the errors), or a function that makes it
            (called only when an error is raised).
        started: ``time.monotonic()`` when the request was sent.
    """
    return _Meter(caps, endpoint, request, started)


def is_event_stream(response: Any) -> bool:
    """Whether a response says it is an event stream (``text/event-stream``)."""
    kind = str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return kind == "text/event-stream"


def not_an_event_stream(endpoint: str, response: Any, body: bytes) -> NotAnEventStreamError:
    """The error for a streamed request answered 200 with ``body`` instead of events.

    Args:
        endpoint: The endpoint, without credentials.
        response: The response (its content type is named).
        body: The body read (within the caps).
    """
    kind = response.headers.get("content-type") or "no content type"
    text = body.decode("utf-8", "replace")
    detail = _server_message(text)
    msg = (
        f"Malformed response from {endpoint}: a streamed request was answered HTTP 200 "
        f"with {kind}, not an event stream: {detail}"
    )
    return NotAnEventStreamError(msg, response.request)


def _server_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _preview(error["message"])
        for key in ("message", "detail", "error"):
            if isinstance(data.get(key), str):
                return _preview(data[key])
    plain = re.sub(r"(?is)<(script|style)\b.*?</\1>|<[^>]+>", " ", text)
    return _preview(plain) or "(empty body)"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 3] + "..."
