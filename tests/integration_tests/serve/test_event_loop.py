"""The event loop `serve` runs on: uvloop when installed (the `serve` extra installs it)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from kimi_graph.serve.runtime import ServerThread


async def _loop_module(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering the module of the loop it runs on."""
    if scope["type"] != "http":
        return
    body = type(asyncio.get_running_loop()).__module__.encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_serve_runs_on_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    with ServerThread(_loop_module) as server:
        answer = httpx.get(f"{server.url}/", timeout=10)
    assert answer.status_code == 200
    assert answer.text.startswith("uvloop"), answer.text
