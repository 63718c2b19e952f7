"""A swarm whose sub-agents pay through a ledger, in a process of its own (kill-and-resume).

Usage: python subagent_child.py BASE_URL STORE THREAD_ID LEDGER (start SCRIPT | resume)

STORE is a SQLite file path or a ``postgresql://`` URL.
Env HOLD=<item>: the `pay` call for that item blocks (so the process can be killed
while its sub-agent is between steps).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from langchain_core.tools import tool

from kimi_graph import ChatKimi, create_swarm_graph
from tests.integration_tests.modes.swarm.swarm_child import open_saver


def main() -> None:
    base_url, store, thread_id, ledger, mode = sys.argv[1:6]

    @tool
    def pay(item: str) -> str:
        """Pay for one item (a side effect that must happen once)."""
        if os.environ.get("HOLD") == item:
            Path(ledger + ".held").write_text(item)
            time.sleep(600)
        with open(ledger, "a") as out:
            out.write(item + "\n")
        return f"paid {item}"

    llm = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    config = {"configurable": {"thread_id": thread_id}}
    with open_saver(store) as checkpointer:
        graph = create_swarm_graph(llm, [pay], checkpointer=checkpointer)
        inputs = {"messages": [("user", sys.argv[6])]} if mode == "start" else None
        out = graph.invoke(inputs, config, durability="sync")
    print(json.dumps({"results": out["subagent_results"]}))


if __name__ == "__main__":
    main()
