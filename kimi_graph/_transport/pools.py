"""HTTP pools of ChatKimi: one async pool per event loop, released with the loop.

An httpx pool belongs to the event loop that opened its connections. langchain-openai
keeps one process-wide pool, so a second `asyncio.run(...)` (or a test framework's
fresh loop) fails with "Event loop is closed". A pool per model instance would fix
that but leaves pools to the garbage collector, whose finalizers close sockets without
unregistering them from the loop: a new socket that reuses the number can then lose
its reader. So ChatKimi models share one pool per (loop, endpoint settings).

A loop's pools are closed while the loop still runs its shutdown: each loop gets one
parked async generator, and `asyncio.run` (like any runner calling
`loop.shutdown_asyncgens()`) closes it, which closes the pools. A loop closed without
that shutdown has its pools dropped at the next lookup (left to the garbage collector).
Loops are held weakly, so nothing here keeps a finished loop alive.

The sync client is shared per endpoint settings for the whole process.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit

from kimi_graph._transport.caps import ResponseCaps
from kimi_graph._transport.limited_client import (
    AsyncTransport,
    RateLimitedAioHttpClient,
    RateLimitedAsyncClient,
    RateLimitedClient,
    build_async_client,
    build_sync_client,
)
from kimi_graph._transport.openai_compat import resolve_socket_options
from kimi_graph._transport.ratelimit import RateLimitSettings


class _LoopPools:
    """The pools of one event loop and the generator that closes them at shutdown."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = weakref.ref(loop)
        self.pools: dict[tuple[Any, ...], RateLimitedAsyncClient | RateLimitedAioHttpClient] = {}
        self.keeper: AsyncGenerator[None, None] | None = None

    async def close(self) -> None:
        pools, self.pools = list(self.pools.values()), {}
        for pool in pools:
            await pool.aclose()

    def drop(self) -> None:
        """Forget the pools of a loop already closed (nothing can be awaited there)."""
        self.pools = {}


async def _keeper(entry: _LoopPools) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await entry.close()


_lock = threading.Lock()
_loops: dict[int, _LoopPools] = {}
_sync_clients: dict[tuple[Any, ...], RateLimitedClient] = {}
_park_tasks: set[asyncio.Task[None]] = set()


def _entry_for(loop: asyncio.AbstractEventLoop) -> tuple[_LoopPools, bool]:
    """Under the lock: the loop's entry, and whether it is new."""
    for loop_id, other in list(_loops.items()):
        alive = other.loop()
        if alive is None or alive.is_closed():
            del _loops[loop_id]
            other.drop()
    entry = _loops.get(id(loop))
    if entry is not None and entry.loop() is loop:
        return entry, False
    entry = _loops[id(loop)] = _LoopPools(loop)
    return entry, True


async def _park(entry: _LoopPools) -> None:
    """Start the loop's keeper generator so the loop's shutdown closes it."""
    keeper = _keeper(entry)
    await keeper.__anext__()
    entry.keeper = keeper


def pool_for_running_loop(
    base_url: str | None,
    timeout: Any,
    socket_options: Any,
    *,
    endpoint: str | None = None,
    rate_limit: RateLimitSettings | None = None,
    transport: AsyncTransport = "aiohttp",
    caps: ResponseCaps | None = None,
) -> Any:
    """Return the shared async HTTP pool of the running loop for these settings.

    Args:
        base_url: The API base URL.
        timeout: The request timeout.
        socket_options: langchain-openai's `http_socket_options`.
        endpoint: The base URL without credentials (the rate limiter's key).
        rate_limit: The rate-limit settings (None: the defaults).
        transport: The async HTTP stack: "aiohttp" (default) or "httpx"; socket
            options set by the user select httpx.
        caps: The bounds on one response (None: the defaults).
    """
    loop = asyncio.get_running_loop()
    options = resolve_socket_options(socket_options)
    settings = rate_limit or RateLimitSettings()
    if transport == "aiohttp" and (socket_options is not None or _has_userinfo(base_url)):
        transport = "httpx"  # aiohttp takes neither socket options nor URL credentials
    elif transport == "aiohttp":
        options = ()  # langchain-openai's default keepalive options need httpx's transport
    caps = caps or ResponseCaps()
    key = (base_url, endpoint, repr(timeout), options, settings, transport, caps)
    with _lock:
        entry, new = _entry_for(loop)
        pool = entry.pools.get(key)
        if pool is None or pool.is_closed:
            pool = entry.pools[key] = build_async_client(
                base_url, endpoint or base_url or "", timeout, options, settings, transport, caps
            )
    if new:
        # Parked by a task of this loop: runs the generator up to its `yield` now.
        task = loop.create_task(_park(entry))
        _park_tasks.add(task)
        task.add_done_callback(_park_tasks.discard)
    return pool


def _has_userinfo(url: str | None) -> bool:
    try:
        return bool(url) and urlsplit(str(url)).username is not None
    except ValueError:
        return False


def open_pools() -> int:
    """How many async pools are open, over all live loops (for tests and reports)."""
    with _lock:
        return sum(len(e.pools) for e in _loops.values())


def sync_client(
    base_url: str | None,
    timeout: Any,
    socket_options: Any,
    *,
    endpoint: str,
    rate_limit: RateLimitSettings,
    caps: ResponseCaps | None = None,
) -> RateLimitedClient:
    """Return the process-wide sync client for these settings.

    Args:
        base_url: The API base URL.
        timeout: The request timeout.
        socket_options: langchain-openai's `http_socket_options`.
        endpoint: The base URL without credentials (the rate limiter's key).
        rate_limit: The rate-limit settings.
        caps: The bounds on one response (None: the defaults).
    """
    options = resolve_socket_options(socket_options)
    caps = caps or ResponseCaps()
    key = (base_url, endpoint, repr(timeout), options, rate_limit, caps)
    with _lock:
        client = _sync_clients.get(key)
        if client is None or client.is_closed:
            client = _sync_clients[key] = build_sync_client(
                base_url, endpoint, timeout, options, rate_limit, caps
            )
        return client
