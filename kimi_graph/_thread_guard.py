"""One run at a time per thread: a second run on a busy thread is refused or queued.

Two concurrent runs on one thread read the same checkpoint and both write after it:
a user turn is lost, or a resumed swarm runs every sub-agent twice. LangGraph itself
does not prevent it (LangGraph Server does, with its multitask strategies), so the
mode graphs do it here, for root runs with a checkpointer and a ``thread_id``:

- ``"reject"`` (default): the second run raises `ThreadBusyError` before it reads
  anything;
- ``"enqueue"``: it waits until the thread is free, then runs.

The strategy is chosen per run with ``config["configurable"]["multitask_strategy"]``
(the name LangGraph Server uses). Nested runs (a sub-agent graph called inside a
node) are part of their parent's run and are not locked.

Where the lock holds:

- in this process, for every checkpointer (keyed by the database for SQLite and
  PostgreSQL, by the saver object otherwise);
- across processes sharing a SQLite file (`SqliteSaver`, `AsyncSqliteSaver`): a
  POSIX byte-range lock on ``<database>.kimi-threads.lock`` next to it, one byte
  per thread (a hash of its id), released by the kernel when the holder exits, even
  when it is killed;
- across processes sharing a PostgreSQL database (`PostgresSaver`,
  `AsyncPostgresSaver`): a session advisory lock (``pg_try_advisory_lock``) on a hash
  of the thread id, released when the run ends or its connection closes.

Other checkpointers (in-memory, custom ones) are locked in this process only.

A run of a LangGraph server (Aegra, LangGraph Server: its config carries the server's
``langgraph_auth_user``) is not locked here: the server owns its threads and runs, and
the advisory lock would hold one connection of the server's checkpointer pool for the
whole run, so that more concurrent runs than the pool has connections starve each
other's checkpoint writes (every run waits, then fails with a pool time-out).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, TypeVar

from langchain_core.runnables import RunnableConfig, ensure_config

__all__ = [
    "MULTITASK_KEY",
    "SERVER_RUN_KEY",
    "MultitaskStrategy",
    "ThreadBusyError",
    "athread_lock",
    "guard_threads",
    "thread_lock",
]

MultitaskStrategy = Literal["reject", "enqueue"]
"""What a run on a busy thread does: raise `ThreadBusyError`, or wait its turn."""
MULTITASK_KEY = "multitask_strategy"
"""The ``configurable`` key choosing the strategy of one run."""

SERVER_RUN_KEY = "langgraph_auth_user"
"""The ``configurable`` key Aegra and LangGraph Server set on every run they execute."""

_POLL = 0.05


class ThreadBusyError(RuntimeError):
    """Another run is in progress on this thread (``multitask_strategy="reject"``)."""


class _Held:
    """In-process locks by key, usable from threads and event loops alike."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[tuple[str, str]] = set()

    def try_take(self, key: tuple[str, str]) -> bool:
        with self._lock:
            if key in self._busy:
                return False
            self._busy.add(key)
            return True

    def give_back(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._busy.discard(key)


_held = _Held()
_lock_files: dict[str, int] = {}
_lock_files_guard = threading.Lock()


def _thread_id(config: RunnableConfig) -> str | None:
    """The thread of a root run, or None (no thread, or a run nested in a node)."""
    configurable = config.get("configurable") or {}
    if any(str(k).startswith("__pregel_") for k in configurable):
        return None  # inside a running graph: the parent run holds the thread
    if SERVER_RUN_KEY in configurable:
        return None  # a run of a LangGraph server: the server holds the thread
    thread = configurable.get("thread_id")
    return None if thread is None else str(thread)


def _strategy(config: RunnableConfig) -> MultitaskStrategy:
    value = (config.get("configurable") or {}).get(MULTITASK_KEY, "reject")
    if value not in ("reject", "enqueue"):
        msg = f"{MULTITASK_KEY} must be 'reject' or 'enqueue', not {value!r}"
        raise ValueError(msg)
    return "enqueue" if value == "enqueue" else "reject"


def _sqlite_path(saver: Any) -> str | None:
    """The database file of a `SqliteSaver` (None for in-memory or another saver)."""
    conn = getattr(saver, "conn", None)
    if type(saver).__name__ != "SqliteSaver" or conn is None:
        return None
    try:
        with saver.lock:
            rows = conn.execute("PRAGMA database_list").fetchall()
    except Exception:  # a closed or odd connection: in-process only
        return None
    path = next((row[2] for row in rows if row[1] == "main"), "")
    return os.path.realpath(path) if path else None


def _store_key(saver: Any) -> str:
    path = _sqlite_path(saver)
    if path is not None:
        return f"sqlite:{path}"
    conn = getattr(saver, "conn", None)
    info = getattr(getattr(conn, "info", None), "dsn", None) or getattr(conn, "conninfo", None)
    if type(saver).__name__ in ("PostgresSaver", "AsyncPostgresSaver") and info:
        return f"postgres:{info}"
    return f"object:{id(saver)}"


def _hash(thread: str, bits: int) -> int:
    return int.from_bytes(hashlib.sha256(thread.encode()).digest()[:8], "big") >> (64 - bits)


class _CrossProcess:
    """The part of the lock other processes see (SQLite file lock, Postgres advisory)."""

    def __init__(self, saver: Any, thread: str) -> None:
        self.saver = saver
        self.thread = thread
        self.release: Any = None

    def try_take(self) -> bool:
        path = _sqlite_path(self.saver)
        if path is not None:
            return self._take_file(path)
        if type(self.saver).__name__ == "PostgresSaver":
            return self._take_advisory()
        return True

    def _take_file(self, path: str) -> bool:
        lock_path = f"{path}.kimi-threads.lock"
        with _lock_files_guard:
            fd = _lock_files.get(lock_path)
            if fd is None:
                # Kept open for the life of the process: closing any descriptor of the
                # file would drop every POSIX lock this process holds on it.
                fd = _lock_files[lock_path] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        offset = _hash(self.thread, 62)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            return False
        self.release = lambda: fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
        return True

    def _take_advisory(self) -> bool:
        key = _hash(self.thread, 63)
        conn = self.saver.conn
        pool = conn if hasattr(conn, "getconn") else None
        held = pool.getconn() if pool is not None else conn
        try:
            with self.saver.lock:
                row = held.execute("SELECT pg_try_advisory_lock(%s) AS locked", (key,)).fetchone()
        except BaseException:
            if pool is not None:
                pool.putconn(held)
            raise
        locked = row["locked"] if isinstance(row, dict) else (row[0] if row else False)
        if not locked:
            if pool is not None:
                pool.putconn(held)
            return False

        def release() -> None:
            try:
                with self.saver.lock:
                    held.execute("SELECT pg_advisory_unlock(%s)", (key,))
            finally:
                if pool is not None:
                    pool.putconn(held)

        self.release = release
        return True

    def give_back(self) -> None:
        if self.release is not None:
            release, self.release = self.release, None
            with contextlib.suppress(Exception):
                release()


class _AsyncCrossProcess:
    """`_CrossProcess` for the async savers (`AsyncSqliteSaver`, `AsyncPostgresSaver`)."""

    def __init__(self, saver: Any, thread: str) -> None:
        self.saver = saver
        self.thread = thread
        self.sync = _CrossProcess(saver, thread)
        self.release: Any = None

    async def try_take(self) -> bool:
        kind = type(self.saver).__name__
        if kind == "AsyncSqliteSaver":
            path = await self._sqlite_path()
            return True if path is None else self.sync._take_file(path)
        if kind == "AsyncPostgresSaver":
            return await self._take_advisory()
        return self.sync.try_take()

    async def _sqlite_path(self) -> str | None:
        try:
            async with self.saver.lock, self.saver.conn.execute("PRAGMA database_list") as cur:
                rows = await cur.fetchall()
        except Exception:  # a closed or odd connection: in-process only
            return None
        path = next((row[2] for row in rows if row[1] == "main"), "")
        return os.path.realpath(path) if path else None

    async def _take_advisory(self) -> bool:
        key = _hash(self.thread, 63)
        conn = self.saver.conn
        pool = conn if hasattr(conn, "getconn") else None
        held = await pool.getconn() if pool is not None else conn
        try:
            async with self.saver.lock:
                cur = await held.execute("SELECT pg_try_advisory_lock(%s) AS locked", (key,))
                row = await cur.fetchone()
        except BaseException:
            if pool is not None:
                await pool.putconn(held)
            raise
        locked = row["locked"] if isinstance(row, dict) else (row[0] if row else False)
        if not locked:
            if pool is not None:
                await pool.putconn(held)
            return False

        async def release() -> None:
            try:
                async with self.saver.lock:
                    await held.execute("SELECT pg_advisory_unlock(%s)", (key,))
            finally:
                if pool is not None:
                    await pool.putconn(held)

        self.release = release
        return True

    async def give_back(self) -> None:
        if self.release is not None:
            release, self.release = self.release, None
            with contextlib.suppress(Exception):
                await release()
        self.sync.give_back()


def _busy(thread: str) -> ThreadBusyError:
    return ThreadBusyError(
        f"thread {thread!r} is busy: another run is in progress on it. Wait for it to "
        f"finish, or pass configurable {MULTITASK_KEY}='enqueue' to queue this run."
    )


@contextlib.contextmanager
def thread_lock(saver: Any, config: RunnableConfig | None) -> Iterator[None]:
    """Hold the run's thread for the body (sync); see the module docstring.

    Args:
        saver: The graph's checkpointer (None: nothing to lock).
        config: The run's config.

    Raises:
        ThreadBusyError: The thread is busy and the strategy is ``"reject"``.
    """
    config = ensure_config(config)
    thread = _thread_id(config)
    if saver is None or saver is False or thread is None:
        yield
        return
    strategy = _strategy(config)
    key = (_store_key(saver), thread)
    outside = _CrossProcess(saver, thread)
    while True:
        if _held.try_take(key):
            if outside.try_take():
                break
            _held.give_back(key)
        if strategy == "reject":
            raise _busy(thread)
        time.sleep(_POLL)
    try:
        yield
    finally:
        outside.give_back()
        _held.give_back(key)


@contextlib.asynccontextmanager
async def athread_lock(saver: Any, config: RunnableConfig | None) -> AsyncIterator[None]:
    """Hold the run's thread for the body (async); see `thread_lock`."""
    config = ensure_config(config)
    thread = _thread_id(config)
    if saver is None or saver is False or thread is None:
        yield
        return
    strategy = _strategy(config)
    key = (_store_key(saver), thread)
    outside = _AsyncCrossProcess(saver, thread)
    while True:
        if _held.try_take(key):
            if await outside.try_take():
                break
            _held.give_back(key)
        if strategy == "reject":
            raise _busy(thread)
        await asyncio.sleep(_POLL)
    try:
        yield
    finally:
        await outside.give_back()
        _held.give_back(key)


_GUARDED: dict[type, type] = {}
G = TypeVar("G")


def guard_threads(graph: G) -> G:
    """Make ``graph`` (a compiled LangGraph graph) take its thread's lock on every run.

    `invoke` and `ainvoke` run through `stream` and `astream`, which are wrapped, so
    every way of running the graph is covered. The graph keeps its class's
    behaviour otherwise (its class becomes a subclass that adds only this).

    Args:
        graph: A compiled graph (`CompiledStateGraph`).

    Returns:
        The same graph object.
    """
    base = type(graph)
    guarded = _GUARDED.get(base)
    if guarded is None:
        guarded = _GUARDED[base] = _make_guarded(base)
    graph.__class__ = guarded
    return graph


def _make_guarded(base: type) -> type:
    def locked_stream(self: Any, input: Any, config: Any, **kwargs: Any) -> Any:
        with thread_lock(self.checkpointer, _merged(self, config)):
            yield from base.stream(self, input, config, **kwargs)  # type: ignore[attr-defined]

    async def locked_astream(self: Any, input: Any, config: Any, **kwargs: Any) -> Any:
        async with athread_lock(self.checkpointer, _merged(self, config)):
            async for part in base.astream(self, input, config, **kwargs):  # type: ignore[attr-defined]
                yield part

    # A graph without a checkpointer of its own has no thread to lock (a nested run
    # that inherits its parent's is part of the parent's run): its stream is the base
    # class's own, with no wrapper to pass every chunk through.
    def stream(self: Any, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.checkpointer is None or self.checkpointer is False:
            return base.stream(self, input, config, **kwargs)  # type: ignore[attr-defined]
        return locked_stream(self, input, config, **kwargs)

    def astream(
        self: Any,
        input: Any,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Any:
        if self.checkpointer is None or self.checkpointer is False:
            return base.astream(self, input, config, **kwargs)  # type: ignore[attr-defined]
        return locked_astream(self, input, config, **kwargs)

    return type(
        base.__name__,
        (base,),
        {"stream": stream, "astream": astream, "__module__": base.__module__},
    )


def _merged(graph: Any, config: RunnableConfig | None) -> RunnableConfig:
    """The run's config with the graph's own (`with_config`) under it."""
    own = getattr(graph, "config", None) or {}
    merged = ensure_config(config)
    configurable = {**(own.get("configurable") or {}), **(merged.get("configurable") or {})}
    return {**merged, "configurable": configurable}
