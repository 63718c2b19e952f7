"""Async HTTP pools shared per event loop.

An httpx pool belongs to the event loop that opened its connections. langchain-openai
keeps one process-wide pool, so a second `asyncio.run(...)` (or a test framework's
fresh loop) fails with "Event loop is closed". A pool per model instance would fix
that but leaves pools to the garbage collector, whose finalizers close sockets without
unregistering them from the loop: a new socket that reuses the number can then lose
its reader. So ChatKimi models share one pool per (loop, endpoint settings), kept for
as long as the loop is open.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_openai.chat_models._client_utils import (
    _build_async_httpx_client,
    _resolve_socket_options,
)

_lock = threading.Lock()
_pools: dict[int, tuple[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Any]]] = {}


def pool_for_running_loop(base_url: str | None, timeout: Any, socket_options: Any) -> Any:
    """Return the shared async HTTP pool of the running loop for these settings."""
    loop = asyncio.get_running_loop()
    options = _resolve_socket_options(socket_options)
    key = (base_url, repr(timeout), options)
    with _lock:
        for loop_id, (other, _) in list(_pools.items()):
            if other.is_closed():
                del _pools[loop_id]  # its sockets are gone with the loop's selector
        entry = _pools.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = _pools[id(loop)] = (loop, {})
        pool = entry[1].get(key)
        if pool is None or pool.is_closed:
            pool = entry[1][key] = _build_async_httpx_client(base_url, timeout, options)
        return pool
