"""Running one request's graph: under a deadline, cancelled when the client hangs up.

The graph runs in a task of its own while the request's ASGI `receive` is watched: an
`http.disconnect` cancels the task, and the cancellation reaches every model call in
flight (sub-agents included, so their HTTP requests are closed and no synthesis call
follows). The caller returns only after the task has finished unwinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp
from starlette.responses import Response
from starlette.types import Receive, Send

from kimi_graph.serve.errors import ApiError, from_exception
from kimi_graph.serve.graphs import Graph
from kimi_graph.serve.streaming import StreamTranslator

__all__ = [
    "ClientGone",
    "EventStream",
    "RunTracker",
    "guarded",
    "invoke",
]

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected; its run was cancelled."""


@dataclass
class RunTracker:
    """Counts the runs in progress (for health checks, tests and graceful shutdown)."""

    active: int = 0
    cancelled: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def enter(self) -> None:
        """A run starts."""
        self.active += 1
        self._idle.clear()

    def leave(self) -> None:
        """A run has finished (or finished unwinding its cancellation)."""
        self.active -= 1
        if self.active == 0:
            self._idle.set()


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def guarded(
    work: Awaitable[T],
    receive: Receive,
    *,
    timeout: float,
    endpoint: str,
    tracker: RunTracker,
    on_cut: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Await `work`, cancelling it on client disconnect or after `timeout` seconds.

    `on_cut` runs once the work has unwound, when it did not finish (disconnect,
    timeout, failure): e.g. to leave the run's thread valid.

    Raises:
        ClientGone: The client disconnected (the work was cancelled and has unwound).
        ApiError: 504 on timeout; the work's own failure, translated.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    tracker.enter()
    try:
        done, _ = await asyncio.wait(
            {task, watcher}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if on_cut is not None and (task.cancelled() or task.exception() is not None):
            await asyncio.shield(on_cut())
        tracker.leave()
    if task in done:
        try:
            return task.result()
        except GraphBubbleUp:
            raise
        except (ApiError, ClientGone):
            raise
        except Exception as err:
            raise from_exception(err, endpoint) from err
    if watcher in done:
        tracker.cancelled += 1
        raise ClientGone
    msg = f"{endpoint}: the run took longer than the server's timeout ({timeout:g}s)"
    raise ApiError(504, msg, "timeout")


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


class EventStream(Response):
    """An ASGI response that streams one graph run as server-sent events.

    The status line waits for the first chunk, so a failure before it (an upstream
    429, a timeout) is answered with its own status and an OpenAI error body. A failure
    after it is sent as `data: {"error": {...}}` (openai-python raises `APIError`),
    then `data: [DONE]`.
    """

    def __init__(
        self,
        graph: Graph,
        inputs: dict[str, Any],
        config: RunnableConfig,
        translator: StreamTranslator,
        *,
        timeout: float,
        endpoint: str,
        tracker: RunTracker,
        headers: dict[str, str],
        lock: contextlib.AbstractAsyncContextManager[Any] | None = None,
        on_cut: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.graph = graph
        self.inputs = inputs
        self.config = config
        self.translator = translator
        self.timeout = timeout
        self.endpoint = endpoint
        self.tracker = tracker
        self.extra_headers = headers
        self.lock = lock or contextlib.nullcontext()
        self.on_cut = on_cut
        self.started = False

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        events: AsyncGenerator[Any, None] = self.graph.astream(  # type: ignore[assignment]
            self.inputs, self.config, stream_mode=["messages", "custom", "values"]
        )
        async with aclosing(events) as stream:
            async for mode, data in stream:
                for chunk in self.translator.handle(mode, data):
                    yield chunk
        for chunk in self.translator.finish():
            yield chunk

    async def _pump(self, send: Send) -> None:
        async for chunk in self._chunks():
            if not self.started:
                await self._start(send)
            await send({"type": "http.response.body", "body": _sse(chunk), "more_body": True})

    async def _start(self, send: Send) -> None:
        self.started = True
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *[(k.encode(), v.encode()) for k, v in self.extra_headers.items()],
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        """Run the graph and stream it; see the class docstring for failures."""
        try:
            async with self.lock:
                await guarded(
                    self._pump(send),
                    receive,
                    timeout=self.timeout,
                    endpoint=self.endpoint,
                    tracker=self.tracker,
                    on_cut=self.on_cut,
                )
        except ClientGone:
            return
        except ApiError as err:
            if not self.started:
                response = err.response()
                response.headers.update(self.extra_headers)
                await response(scope, receive, send)
                return
            await send({"type": "http.response.body", "body": _sse(err.body()), "more_body": True})
        await send({"type": "http.response.body", "body": _sse("[DONE]"), "more_body": False})


async def invoke(graph: Graph, inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
    """Run the graph to its end (non-streamed requests)."""
    result: dict[str, Any] = await graph.ainvoke(inputs, config)
    return result
