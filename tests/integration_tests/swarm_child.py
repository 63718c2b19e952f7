"""A swarm run in a process of its own, for the kill-and-resume test.

Usage: python swarm_child.py BASE_URL DB_PATH THREAD_ID (start SCRIPT | resume)
"""

from __future__ import annotations

import json
import sys

from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver

from kimi_graph import ChatKimi, create_swarm_graph


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


def main() -> None:
    base_url, db_path, thread_id, mode = sys.argv[1:5]
    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as checkpointer:
        graph = create_swarm_graph(llm, [get_weather], checkpointer=checkpointer)
        inputs = {"messages": [("user", sys.argv[5])]} if mode == "start" else None
        out = graph.invoke(inputs, config)
    print(json.dumps({"results": out["subagent_results"], "final": out["messages"][-1].content}))


if __name__ == "__main__":
    main()
