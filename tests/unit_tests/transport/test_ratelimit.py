"""The shared limiter's rules, without HTTP: window, queue order, Retry-After parsing."""

from __future__ import annotations

import threading

import pytest

from kimi_graph._transport.ratelimit import (
    MIN_DELAY,
    EndpointLimiter,
    RateLimitSettings,
    retry_delay,
)

SETTINGS = RateLimitSettings(max_delay=30.0, base_delay=1.0)


@pytest.mark.parametrize(
    ("headers", "attempt", "expected"),
    [
        ({"retry-after": "2"}, 0, 2.0),
        ({"retry-after-ms": "250", "retry-after": "1"}, 0, 0.25),
        ({"retry-after": "3600"}, 0, 30.0),  # capped
        ({}, 0, 1.0),
        ({}, 2, 4.0),  # doubling backoff without a header
        ({"retry-after": "soon"}, 1, 2.0),
        ({"retry-after": "0"}, 0, MIN_DELAY),  # "now" still pauses a little
        ({"retry-after": "0"}, 3, MIN_DELAY * 8),
        ({"retry-after": "-5"}, 0, MIN_DELAY),
        ({"retry-after": "nan"}, 0, 1.0),
    ],
)
def test_retry_delay(headers, attempt, expected) -> None:
    assert retry_delay(headers, attempt, SETTINGS) == pytest.approx(expected)


def test_window_shrinks_to_what_the_server_holds_and_grows_back_slowly() -> None:
    limiter = EndpointLimiter()
    for _ in range(10):
        limiter.acquire(None)
    assert limiter.window is None  # unlimited until the first 429
    for _ in range(5):
        limiter.release("throttled", 0.0)  # five refused while five are served
    assert limiter.window == 5
    for _ in range(5):
        limiter.release("ok")
    assert 5 < limiter.window < 6  # half a slot per window of successes
    assert limiter.stats.throttled == 5


def test_full_window_queues_and_retries_go_first() -> None:
    limiter = EndpointLimiter()
    limiter.acquire(1)
    order: list[str] = []

    def wait(name: str, front: bool) -> None:
        limiter.acquire(1, front=front)
        order.append(name)
        limiter.release("ok")

    first = threading.Thread(target=wait, args=("fresh", False))
    first.start()
    while limiter.stats.queued < 1:
        pass
    retry = threading.Thread(target=wait, args=("retry", True))
    retry.start()
    while limiter.stats.queued < 2:
        pass
    limiter.release("ok")
    first.join(10)
    retry.join(10)
    assert order == ["retry", "fresh"]
    assert limiter.in_flight == 0


def test_a_lone_429_pauses_everyone() -> None:
    limiter = EndpointLimiter()
    limiter.acquire(None)
    limiter.release("throttled", 0.2)
    assert limiter.window == 1
    assert limiter._pause_left() > 0
