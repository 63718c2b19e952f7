"""Runs of a LangGraph server (Aegra, LangGraph Server) are the server's to serialise: the
thread guard takes no lock for them. Its advisory lock holds one connection of the
checkpointer's pool for a whole run, so inside a server more concurrent runs than the
pool has connections would starve each other's checkpoint writes (issue 21)."""

from __future__ import annotations

import asyncio
import uuid

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from kimi_graph import create_agent_graph
from kimi_graph._thread_guard import SERVER_RUN_KEY


async def test_server_runs_do_not_hold_a_pool_connection_each(kimi, postgres_url: str) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(
        postgres_url, min_size=1, max_size=2, timeout=5, kwargs=kwargs, open=False
    ) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = create_agent_graph(kimi("moonshot"), [], checkpointer=saver)

        async def run(i: int) -> str:
            configurable = {"thread_id": f"server-{uuid.uuid4().hex}", SERVER_RUN_KEY: "user"}
            out = await graph.ainvoke(
                {"messages": [("user", f"say hello {i} [[latency 0.5]]")]},
                {"configurable": configurable},
            )
            return str(out["messages"][-1].text)

        # four runs at once on a pool of two connections: every one checkpoints and ends
        answers = await asyncio.wait_for(asyncio.gather(*(run(i) for i in range(4))), 60)
    assert all(answers), answers
