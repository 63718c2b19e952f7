"""A swarm whose sub-agents run on a deployment, in a process of its own (to be killed).

Usage: python scaleout_child.py BASE_URL SQLITE THREAD_ID URLS SCRIPT
"""

from __future__ import annotations

import sys

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.pregel.remote import RemoteGraph

from kimi_graph import ChatKimi, create_swarm_graph


def main() -> None:
    base_url, store, thread_id, urls, script = sys.argv[1:6]
    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    remotes = [RemoteGraph("agent", url=u, name=f"aegra{i}") for i, u in enumerate(urls.split(","))]
    with SqliteSaver.from_conn_string(store) as saver:
        graph = create_swarm_graph(llm, subagent_graph=remotes, checkpointer=saver)
        graph.invoke({"messages": [("user", script)]}, {"configurable": {"thread_id": thread_id}})


if __name__ == "__main__":
    main()
