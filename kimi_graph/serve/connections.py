"""Connection limits of the server: no connection is held by a client that sends nothing.

uvicorn drops idle keep-alive connections (`timeout_keep_alive`) and caps connections
(`limit_concurrency`, 503 above), but it waits forever for the headers of a request
that was started and never finished. The protocols here close a connection whose
request headers are not complete `header_timeout` seconds after the connection opened
or the last response ended, and answer 400 and close one that sends more than
`MAX_HEADER_BYTES` without completing its headers. A slow body is the app's to bound
(`ServeConfig.body_timeout`, 408).

Two HTTP/1.1 parsers, the same limits: uvicorn's httptools protocol (llhttp, in C) when
`httptools` is installed (uvicorn's own default then; the server runs about 5 % fewer
instructions per kimi-instant request than with h11), else uvicorn's pure-Python h11.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "MAX_HEADER_BYTES",
    "HeaderDeadlineProtocol",
    "default_protocol",
    "uvicorn_limits",
]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a request's headers."""

MAX_HEADER_BYTES = 64 * 1024
"""Bytes a client may send before its request's headers are complete."""

_TOO_LARGE = f"Request headers larger than {MAX_HEADER_BYTES} bytes."


class _HeaderDeadline:
    """The header clock and size bound, mixed into a uvicorn HTTP/1.1 protocol class."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    send_400_response: Callable[[str], None]

    def _start_clock(self) -> None:
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._arm()

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        self._header_bytes = 0
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def _feed(self, data: bytes, parse: Callable[[bytes], None]) -> None:
        """Parse `data`; stop the clock once a request's headers are complete."""
        if self._waiting_for_headers():
            self._arm()  # a new request begins (the keep-alive timer is cancelled below)
            self._header_bytes += len(data)
        parse(data)
        if not self._waiting_for_headers():
            self._disarm()
        elif self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.send_400_response(_TOO_LARGE)  # closes the connection


class HeaderDeadlineProtocol(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline and size bound."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._start_clock()

    def data_received(self, data: bytes) -> None:
        """Feed h11; stop the clock once a request's headers are complete."""
        self._feed(data, super().data_received)

    def on_response_complete(self) -> None:
        """The next request's headers are awaited; uvicorn's keep-alive timer runs too."""
        super().on_response_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)


@functools.cache
def _httptools_protocol() -> type | None:
    """The httptools protocol of uvicorn with the same limits; None without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class HttpToolsDeadlineProtocol(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header deadline and size bound."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_clock()

        def data_received(self, data: bytes) -> None:
            self._feed(data, super().data_received)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HttpToolsDeadlineProtocol


def default_protocol() -> type:
    """The bounded protocol class the server uses: httptools when installed, else h11."""
    return _httptools_protocol() or HeaderDeadlineProtocol


def uvicorn_limits(
    *,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int = 1024,
    keep_alive: float = 5.0,
    protocol: type | None = None,
) -> dict[str, Any]:
    """`uvicorn.Config` options that bound connections.

    Args:
        header_timeout: Seconds to send a request's headers.
        max_connections: Open connections at most (uvicorn answers 503 above).
        keep_alive: Seconds an idle keep-alive connection is kept.
        protocol: A bounded protocol class (`HeaderDeadlineProtocol` or the one
            `default_protocol()` returns); None = `default_protocol()`.
    """
    base = protocol or default_protocol()
    bounded = type(f"Bounded{base.__name__}", (base,), {"header_timeout": header_timeout})
    return {
        "http": bounded,
        "limit_concurrency": max_connections,
        "timeout_keep_alive": keep_alive,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
