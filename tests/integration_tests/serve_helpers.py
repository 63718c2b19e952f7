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
