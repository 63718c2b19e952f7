"""Durable threads: a checkpointer opened from `--checkpoint`, one lock per thread.

`--checkpoint` takes a SQLite file path (needs `kimi-graph[sqlite]`) or a
`postgres://` / `postgresql://` URL (needs `kimi-graph[postgres]`). A request names its
thread with the `X-Thread-Id` header or the body field `thread_id`; its `messages` are
then the *new* turn(s), appended to what the thread holds. Requests on one thread run
one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from kimi_graph.serve.errors import ApiError

__all__ = [
    "ThreadStore",
    "is_postgres",
    "open_checkpointer",
    "redact",
    "scrub",
]


def is_postgres(target: str) -> bool:
    """Whether `--checkpoint` names a Postgres database rather than a SQLite file."""
    return target.startswith(("postgres://", "postgresql://"))


def redact(target: str) -> str:
    """`target` without the password of a URL, for messages and logs."""
    if not is_postgres(target):
        return target
    parts = urlsplit(target)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def scrub(text: str, target: str) -> str:
    """`text` with the password of `target` (a Postgres URL) masked."""
    password = urlsplit(target).password if is_postgres(target) else None
    return text.replace(password, "***") if password else text


@contextlib.asynccontextmanager
async def open_checkpointer(target: str) -> AsyncIterator[Any]:
    """Open an async LangGraph checkpointer for `target` (SQLite path or Postgres URL).

    Raises:
        RuntimeError: The extra the target needs is not installed.
    """
    if is_postgres(target):
        try:
            from langgraph.checkpoint.postgres.aio import (  # type: ignore[import-not-found,unused-ignore]
                AsyncPostgresSaver,
            )
        except ImportError:
            msg = "a Postgres checkpoint needs `pip install 'kimi-graph[postgres]'`"
            raise RuntimeError(msg) from None
        async with AsyncPostgresSaver.from_conn_string(target) as saver:
            await saver.setup()
            yield saver
        return
    try:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError:
        msg = "a SQLite checkpoint needs `pip install 'kimi-graph[sqlite]'`"
        raise RuntimeError(msg) from None
    async with AsyncSqliteSaver.from_conn_string(target) as saver:
        yield saver


class ThreadStore:
    """The checkpointer (opened on first use, closed by `aclose`) and per-thread locks."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._stack: contextlib.AsyncExitStack | None = None
        self._saver: Any = None
        self._opening = asyncio.Lock()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def saver(self, endpoint: str) -> Any:
        """The open checkpointer.

        Raises:
            ApiError: 400 when the server has no `--checkpoint`; 500 when it cannot open.
        """
        if self.target is None:
            msg = (
                f"{endpoint}: threads need a server started with --checkpoint "
                "(a SQLite path or a Postgres URL)"
            )
            raise ApiError(400, msg, "threads_disabled", param="thread_id")
        async with self._opening:
            if self._saver is None:
                stack = contextlib.AsyncExitStack()
                try:
                    self._saver = await stack.enter_async_context(open_checkpointer(self.target))
                except Exception as err:
                    await stack.aclose()
                    reason = scrub(str(err), self.target)
                    msg = f"{endpoint}: cannot open the checkpoint {redact(self.target)}: {reason}"
                    raise ApiError(500, msg, "checkpoint_unavailable") from None
                self._stack = stack
        return self._saver

    def lock(self, thread_id: str) -> asyncio.Lock:
        """The lock that serializes the requests of one thread."""
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[thread_id] = lock
        return lock

    async def aclose(self) -> None:
        """Close the checkpointer, if it was opened."""
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._saver = None
