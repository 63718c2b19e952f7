"""A controllable swarm in a process of its own (steer, kill, resume).

Usage: python control_child.py BASE_URL DB THREAD_ID (start PROMPT | resume)

DB is a SQLite file (the checkpoints go there, the store, with the commands and
statuses, to DB + ".store") or a PostgreSQL URL (both in that database: `PostgresSaver`
and `PostgresStore`, or with env ASYNC=1 `AsyncPostgresSaver`/`AsyncPostgresStore`
under `ainvoke`). The marker files go next to env MARKS (default: DB): MARKS +
".ready" once the store is set up. Env HOLD=<tag>: the `block` call for that tag
blocks (so the process can be killed while its sub-agent is mid-step) after writing
MARKS + ".held".
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langchain_core.tools import tool

from kimi_graph import ChatKimi, create_swarm_graph


@contextmanager
def _persistence(db: str) -> Iterator[tuple[Any, Any]]:
    """The checkpointer and the store of `db`, set up."""
    if db.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.store.postgres import PostgresStore

        with (
            PostgresSaver.from_conn_string(db) as checkpointer,
            PostgresStore.from_conn_string(db) as store,
        ):
            checkpointer.setup()
            store.setup()
            yield checkpointer, store
        return
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.store.sqlite import SqliteStore

    with (
        SqliteSaver.from_conn_string(db) as checkpointer,
        SqliteStore.from_conn_string(db + ".store") as store,
    ):
        store.setup()
        yield checkpointer, store


@asynccontextmanager
async def _apersistence(db: str) -> AsyncIterator[tuple[Any, Any]]:
    """The async PostgreSQL checkpointer and store of `db`, set up."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres import AsyncPostgresStore

    async with (
        AsyncPostgresSaver.from_conn_string(db) as checkpointer,
        AsyncPostgresStore.from_conn_string(db) as store,
    ):
        await checkpointer.setup()
        await store.setup()
        yield checkpointer, store


def main() -> None:
    base_url, db, thread_id, mode = sys.argv[1:5]
    marks = os.environ.get("MARKS") or db

    @tool
    def tick(tag: str) -> str:
        """One step of work on `tag`."""
        time.sleep(0.1)
        return f"ticked {tag}"

    @tool
    def block(tag: str) -> str:
        """A step that may block (the test kills the process meanwhile)."""
        if os.environ.get("HOLD") == tag:
            Path(marks + ".held").write_text(tag)
            time.sleep(600)
        return f"unblocked {tag}"

    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    config = {"configurable": {"thread_id": thread_id}}
    inputs = {"messages": [("user", sys.argv[5])]} if mode == "start" else None

    def build(checkpointer: Any, store: Any) -> Any:
        Path(marks + ".ready").write_text("set up")  # the test may open the store now
        return create_swarm_graph(
            llm, [tick, block], checkpointer=checkpointer, store=store, subagent_max_steps=80
        )

    if os.environ.get("ASYNC") == "1":

        async def arun() -> Any:
            async with _apersistence(db) as (checkpointer, store):
                graph = build(checkpointer, store)
                return await graph.ainvoke(inputs, config, durability="sync")

        out = asyncio.run(arun())
    else:
        with _persistence(db) as (checkpointer, store):
            out = build(checkpointer, store).invoke(inputs, config, durability="sync")
    print(json.dumps({"results": out["subagent_results"]}))


if __name__ == "__main__":
    main()
