"""Rate limits shared by every request to one endpoint in the process.

A swarm's sub-agents are separate `ChatKimi` calls (threads under `invoke`, tasks under
`ainvoke`, possibly several event loops). Retrying each 429 on its own makes them
fail one by one. Here all requests to one endpoint (base URL + API key) share an
`EndpointLimiter`:

- an adaptive window of requests in flight (AIMD): unlimited until the server first
  answers 429; each 429 shrinks it to at most the number of requests still in flight
  (what the server evidently holds) and by one; every success grows it back by
  `1 / (2 * window)` (one more slot per two windows of successes);
- a request that got a 429 waits the server's `Retry-After` (capped; else a doubling
  backoff), then goes first in the queue: it is retried, not failed, and the 429 is
  never seen by the OpenAI SDK (so it counts against no `max_retries`);
- a 429 answered while nothing else was in flight pauses every request to the endpoint
  for that delay (the server refuses even one: a quota or rate, not a concurrency cap);
- an optional hard ceiling (`max_concurrent_requests`).

The limiter is thread-safe and serves threads and any number of event loops at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["ok", "throttled", "other"]

MIN_DELAY = 0.05
"""Least wait after a first 429 (doubling per further 429 of the same request)."""


@dataclass(frozen=True)
class RateLimitSettings:
    """How requests of one `ChatKimi` wait on the endpoint's shared limiter.

    Attributes:
        max_concurrent: Hard ceiling on requests in flight to the endpoint (None: none).
        max_wait: Seconds one request may spend in 429 back-off before the 429 is
            raised; 0 turns the shared back-off off (429s go to the OpenAI SDK).
        max_delay: Cap on one wait (a server's `Retry-After` or the backoff).
        base_delay: First backoff when a 429 carries no `Retry-After`; doubles.
    """

    max_concurrent: int | None = None
    max_wait: float = 300.0
    max_delay: float = 30.0
    base_delay: float = 1.0

    @property
    def enabled(self) -> bool:
        """Whether requests go through the shared limiter at all."""
        return self.max_wait > 0 or self.max_concurrent is not None


def retry_delay(headers: Mapping[str, str], attempt: int, settings: RateLimitSettings) -> float:
    """Seconds to wait before retrying a 429.

    Args:
        headers: The 429 response's headers (`retry-after-ms`, `retry-after`).
        attempt: How many 429s this request already got (0 for the first).
        settings: The caps.

    Returns:
        The server's delay when it gave one, else `base_delay * 2**attempt`; at least
        `MIN_DELAY * 2**attempt`, at most `max_delay`.
    """
    delay: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    try:
        if raw_ms is not None:
            delay = float(raw_ms) / 1000.0
        elif raw is not None:
            delay = float(raw)
    except ValueError:
        delay = None
    if delay is None and raw:
        try:
            delay = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            delay = None
    if delay is None or not math.isfinite(delay):
        delay = settings.base_delay * (2.0**attempt)
    # A server that keeps saying "retry now" still gets a growing pause.
    floor = MIN_DELAY * (2.0 ** min(attempt, 30))
    return max(0.0, min(max(delay, floor), settings.max_delay))


class _Waiter:
    """One request queued for a slot, from a thread or from an event loop."""

    def __init__(self, cap: int | None, loop: asyncio.AbstractEventLoop | None) -> None:
        self.cap = cap
        self.loop = loop
        self.event = threading.Event() if loop is None else None
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.granted = False

    def grant(self) -> bool:
        """Hand the slot over; False if the waiter can no longer take it."""
        if self.event is not None:
            self.granted = True
            self.event.set()
            return True
        future, loop = self.future, self.loop
        if future is None or loop is None or future.done() or loop.is_closed():
            return False
        self.granted = True
        try:
            loop.call_soon_threadsafe(_resolve, future)
        except RuntimeError:  # the loop closed in between
            self.granted = False
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass
class LimiterStats:
    """Counters of one endpoint's limiter (for benchmarks and tests).

    Attributes:
        requests: Requests sent (retries included).
        throttled: 429 answers absorbed by the limiter.
        queued: Times a request had to wait for a slot.
        peak_in_flight: Most requests in flight at once.
    """

    requests: int = 0
    throttled: int = 0
    queued: int = 0
    peak_in_flight: int = 0


class EndpointLimiter:
    """The shared window, queue and pause of one endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._window: float | None = None
        self._queue: deque[_Waiter] = deque()
        self._paused_until = 0.0
        self.stats = LimiterStats()

    @property
    def window(self) -> float | None:
        """The learned concurrency window (None until the first 429)."""
        return self._window

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self._in_flight

    def _limit(self, cap: int | None) -> float:
        limit = math.inf if self._window is None else max(1.0, math.floor(self._window))
        return limit if cap is None else min(limit, max(1, cap))

    def _take(self) -> None:
        self._in_flight += 1
        self.stats.requests += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)

    def _try_now(self, waiter: _Waiter, front: bool) -> bool:
        """Under the lock: take a slot at once, or queue `waiter`."""
        if not self._queue and self._in_flight < self._limit(waiter.cap):
            self._take()
            return True
        self.stats.queued += 1
        if front:
            self._queue.appendleft(waiter)
        else:
            self._queue.append(waiter)
        return False

    def _dispatch(self) -> None:
        """Under the lock: grant slots to queued waiters while the window allows."""
        while self._queue and self._in_flight < self._limit(self._queue[0].cap):
            waiter = self._queue.popleft()
            if waiter.grant():
                self._take()

    def _pause_left(self) -> float:
        return self._paused_until - time.monotonic()

    def acquire(self, cap: int | None, *, front: bool = False) -> None:
        """Block the calling thread until a slot is free, then take it.

        Args:
            cap: The caller's ceiling on requests in flight (None: none).
            front: Queue ahead of others (a retry after a 429).
        """
        while (left := self._pause_left()) > 0:
            time.sleep(left)
        waiter = _Waiter(cap, None)
        with self._lock:
            if self._try_now(waiter, front):
                return
        assert waiter.event is not None
        waiter.event.wait()

    async def aacquire(self, cap: int | None, *, front: bool = False) -> None:
        """Wait in the running event loop until a slot is free, then take it.

        Args:
            cap: The caller's ceiling on requests in flight (None: none).
            front: Queue ahead of others (a retry after a 429).
        """
        while (left := self._pause_left()) > 0:
            await asyncio.sleep(left)
        waiter = _Waiter(cap, asyncio.get_running_loop())
        with self._lock:
            if self._try_now(waiter, front):
                return
        assert waiter.future is not None
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter in self._queue:
                    self._queue.remove(waiter)
                    waiter.granted = False
            if waiter.granted:
                self.release("other")
            raise

    def release(self, outcome: Outcome, delay: float = 0.0) -> None:
        """Give a slot back and learn from how the request ended.

        Args:
            outcome: `"ok"` (an answer), `"throttled"` (a 429) or `"other"` (an error
                that says nothing about the rate).
            delay: For a 429, the delay the server asked for.
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if outcome == "throttled":
                self.stats.throttled += 1
                others = self._in_flight
                current = math.inf if self._window is None else self._window
                self._window = float(max(1, min(current - 1, others)))
                if others == 0:
                    until = time.monotonic() + delay
                    self._paused_until = max(self._paused_until, until)
            elif outcome == "ok" and self._window is not None:
                self._window += 0.5 / max(1.0, self._window)
            self._dispatch()


_registry_lock = threading.Lock()
_registry: dict[tuple[str, str], EndpointLimiter] = {}


def limiter_for(endpoint: str, authorization: str | None) -> EndpointLimiter:
    """Return the process-wide limiter of an endpoint and key.

    Args:
        endpoint: The base URL (without credentials).
        authorization: The request's `Authorization` header; only a hash is kept.

    Returns:
        The shared limiter.
    """
    digest = hashlib.sha256((authorization or "").encode()).hexdigest()[:24]
    key = (endpoint.rstrip("/"), digest)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = EndpointLimiter()
        return limiter


def limiters() -> dict[str, EndpointLimiter]:
    """The limiters created so far, by endpoint (keys hashed away); for reports."""
    with _registry_lock:
        return {f"{endpoint} [{digest[:8]}]": lim for (endpoint, digest), lim in _registry.items()}
