"""`kimi-graph run --checkpoint PATH --thread ID`: durable runs, and resuming them.

A run with `--checkpoint` saves every step of its graph (swarm sub-agents included) in
the SQLite file (or the PostgreSQL database of a ``postgresql://`` URL) under the thread
`--thread` (a new id when not given). When the process
dies, the same command without a task resumes the thread where it stopped: LangGraph
re-runs only the unfinished steps (`graph.invoke(None, config)`).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

from kimi_graph._transport.endpoint import url_secrets
from kimi_graph._transport.urls import redact_url

__all__ = ["MODE_KEY", "ResumeError", "new_thread_id", "open_checkpointer", "run_input", "shown"]

#: Key of the run's mode in the checkpoint metadata (a resume uses the same mode).
MODE_KEY = "kimi_graph_mode"


class ResumeError(Exception):
    """The thread cannot take this run (nothing to resume, or an unfinished run)."""


def new_thread_id() -> str:
    """A fresh thread id."""
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def open_checkpointer(path: str) -> Iterator[Any]:
    """A checkpointer on `path`, closed on exit.

    `path` is a SQLite file, or a ``postgresql://`` (``postgres://``) URL, opened with
    LangGraph's `PostgresSaver` (its tables are made on first use). No message shows
    the URL's password.

    Raises:
        ResumeError: If the needed package is not installed, `path` is a URL of
            another database, or the file or database cannot be opened.
    """
    scheme = _url_scheme(path)
    if scheme in {"postgres", "postgresql"}:
        with _open_postgres(path) as saver:
            yield saver
        return
    if scheme is not None:
        msg = (
            f"--checkpoint takes a SQLite file path or a postgresql:// URL, and "
            f"{shown(path)!r} is a {scheme}:// URL"
        )
        raise ResumeError(msg)
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        msg = "--checkpoint needs langgraph-checkpoint-sqlite: pip install 'kimi-graph[sqlite]'"
        raise ResumeError(msg) from None
    try:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        msg = f"cannot open the checkpoint file {path}: {err}"
        raise ResumeError(msg) from None
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def _open_postgres(url: str) -> Iterator[Any]:
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError:
        msg = (
            "--checkpoint postgresql://... needs langgraph-checkpoint-postgres: "
            "pip install 'kimi-graph[postgres]'"
        )
        raise ResumeError(msg) from None
    try:
        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver
    except psycopg.Error as err:
        text = str(err)
        for secret in url_secrets(url):
            text = text.replace(secret, "***")
        msg = f"PostgreSQL checkpoint {shown(url)}: {type(err).__name__}: {text.strip()}"
        raise ResumeError(msg) from None


def shown(path: str) -> str:
    """`path` as it may be printed: a URL without its user, password and query."""
    return redact_url(path) if _url_scheme(path) is not None else path


def _url_scheme(path: str) -> str | None:
    """The scheme of ``path`` when it is a URL (``postgresql://...``), else None."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", path.strip())
    return match.group(1).lower() if match else None


def stored_mode(checkpoint: Any) -> str | None:
    """The mode a thread's runs used, from its latest checkpoint's metadata.

    Args:
        checkpoint: `saver.get_tuple(config)` (a `CheckpointTuple` or None) or a
            `StateSnapshot`: anything with `metadata`.
    """
    metadata = getattr(checkpoint, "metadata", None) or {}
    mode = metadata.get(MODE_KEY)
    return mode if isinstance(mode, str) else None


def run_input(graph_state: Any, task: str, thread_id: str, path: str) -> dict[str, Any] | None:
    """What to stream on a thread: the task as a new message, or None to resume.

    Args:
        graph_state: `graph.get_state(config)` of the thread.
        task: The task ("" when none was given).
        thread_id: The thread's id (for the messages).
        path: The checkpoint file (for the messages).

    Returns:
        `{"messages": [("user", task)]}`, or None to resume the unfinished run.

    Raises:
        ResumeError: A task for a thread with an unfinished run, or no task and
            nothing to resume.
    """
    unfinished = bool(getattr(graph_state, "next", ()))
    if task and unfinished:
        msg = (
            f"thread {thread_id} in {path} has an unfinished run: resume it by running the "
            "same command without a task, or pick another --thread"
        )
        raise ResumeError(msg)
    if task:
        return {"messages": [("user", task)]}
    if not unfinished:
        msg = f"nothing to resume on thread {thread_id} in {path}: give a task to start a run"
        raise ResumeError(msg)
    return None
