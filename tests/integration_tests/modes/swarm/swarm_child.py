"""A swarm run in a process of its own, for the kill-and-resume test.

Usage: python swarm_child.py BASE_URL STORE THREAD_ID (start SCRIPT | resume)

STORE is a SQLite file path or a ``postgresql://`` URL.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver

from kimi_graph import ChatKimi, create_swarm_graph


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@contextmanager
def open_saver(store: str, *, setup: bool = True) -> Iterator[BaseCheckpointSaver]:
    """The checkpointer of ``store``: PostgresSaver for a URL, else SqliteSaver.

    ``setup=False`` only reads (the test process polls while the child writes).
    """
    if store.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(store) as saver:
            if setup:
                saver.setup()
            yield saver
    else:
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(store) as saver:
            yield saver


def main() -> None:
    base_url, store, thread_id, mode = sys.argv[1:5]
    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    config = {"configurable": {"thread_id": thread_id}}
    with open_saver(store) as checkpointer:
        graph = create_swarm_graph(llm, [get_weather], checkpointer=checkpointer)
        inputs = {"messages": [("user", sys.argv[5])]} if mode == "start" else None
        out = graph.invoke(inputs, config)
    print(json.dumps({"results": out["subagent_results"], "final": out["messages"][-1].content}))


if __name__ == "__main__":
    main()
