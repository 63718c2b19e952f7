"""An agent run in a process of its own that holds a thread, for the cross-process test.

Usage: python thread_child.py BASE_URL STORE THREAD_ID SECONDS

STORE is a SQLite file path or a ``postgresql://`` URL. The run calls a tool that
prints ``holding`` and sleeps SECONDS, so the parent knows the thread is busy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.tools import tool

from kimi_graph import ChatKimi, create_agent_graph


@contextmanager
def open_saver(store: str) -> Iterator[Any]:
    """The checkpointer of ``store``: PostgresSaver for a URL, else SqliteSaver."""
    if store.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(store) as saver:
            saver.setup()
            yield saver
    else:
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(store, check_same_thread=False)
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()


def main() -> None:
    base_url, store, thread, seconds = sys.argv[1:5]

    @tool
    def hold(x: str) -> str:
        """Hold the thread for a while."""
        print("holding", flush=True)
        time.sleep(float(seconds))
        return f"held {x}"

    model = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    with open_saver(store) as saver:
        graph = create_agent_graph(model, [hold], checkpointer=saver)
        config = {"configurable": {"thread_id": thread}}
        graph.invoke({"messages": [("user", '[[call hold {"x": "child"}]]')]}, config)
    print("done", flush=True)


if __name__ == "__main__":
    main()
