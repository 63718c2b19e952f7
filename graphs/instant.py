"""Studio entry: K2.5 in instant mode (thinking off), one model call.

`langgraph dev` loads `graph` from here (see `langgraph.json`). It loads with nothing set:
the model is made on the first run, from the environment (`.env`: KIMI_BASE_URL,
MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND) or from the run's context (`KimiContext`).
"""

from kimi_graph import create_instant_graph

graph = create_instant_graph(name="kimi-instant")
