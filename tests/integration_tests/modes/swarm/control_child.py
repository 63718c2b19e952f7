"""A controllable swarm in a process of its own (steer, kill, resume).

Usage: python control_child.py BASE_URL DB THREAD_ID (start PROMPT | resume)

DB is a SQLite file: the checkpoints go there, the store (commands, statuses) to
DB + ".store". Env HOLD=<tag>: the `block` call for that tag blocks (so the process
can be killed while its sub-agent is mid-step) after writing DB + ".held".
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.sqlite import SqliteStore

from kimi_graph import ChatKimi, create_swarm_graph


def main() -> None:
    base_url, db, thread_id, mode = sys.argv[1:5]

    @tool
    def tick(tag: str) -> str:
        """One step of work on `tag`."""
        time.sleep(0.1)
        return f"ticked {tag}"

    @tool
    def block(tag: str) -> str:
        """A step that may block (the test kills the process meanwhile)."""
        if os.environ.get("HOLD") == tag:
            Path(db + ".held").write_text(tag)
            time.sleep(600)
        return f"unblocked {tag}"

    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    config = {"configurable": {"thread_id": thread_id}}
    with (
        SqliteSaver.from_conn_string(db) as checkpointer,
        SqliteStore.from_conn_string(db + ".store") as store,
    ):
        store.setup()
        Path(db + ".ready").write_text("set up")  # the test may open the store now
        graph = create_swarm_graph(
            llm, [tick, block], checkpointer=checkpointer, store=store, subagent_max_steps=80
        )
        inputs = {"messages": [("user", sys.argv[5])]} if mode == "start" else None
        out = graph.invoke(inputs, config, durability="sync")
    print(json.dumps({"results": out["subagent_results"]}))


if __name__ == "__main__":
    main()
