"""Connection limits of the server: no connection is held by a client that sends nothing.

uvicorn drops idle keep-alive connections (`timeout_keep_alive`) and caps connections
(`limit_concurrency`, 503 above), but it waits forever for the headers of a request
that was started and never finished. `HeaderDeadlineProtocol` (uvicorn's h11 protocol)
closes a connection whose request headers are not complete `header_timeout` seconds
after the connection opened or the last response ended. A slow body is the app's to
bound (`ServeConfig.body_timeout`, 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "HeaderDeadlineProtocol",
    "uvicorn_limits",
]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a request's headers."""


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose headers do not arrive in time."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Feed h11; stop the clock once a request's headers are complete."""
        if self._waiting_for_headers():
            self._arm()  # a new request begins (the keep-alive timer is cancelled below)
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm()

    def on_response_complete(self) -> None:
        """The next request's headers are awaited; uvicorn's keep-alive timer runs too."""
        super().on_response_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)


def uvicorn_limits(
    *,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int = 1024,
    keep_alive: float = 5.0,
) -> dict[str, Any]:
    """`uvicorn.Config` options that bound connections.

    Args:
        header_timeout: Seconds to send a request's headers.
        max_connections: Open connections at most (uvicorn answers 503 above).
        keep_alive: Seconds an idle keep-alive connection is kept.
    """
    protocol = type(
        "BoundedH11Protocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout}
    )
    return {
        "http": protocol,
        "limit_concurrency": max_connections,
        "timeout_keep_alive": keep_alive,
        "h11_max_incomplete_event_size": 64 * 1024,
    }
