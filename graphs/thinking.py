"""Studio entry: K2.5 in thinking mode; the answer carries its reasoning.

`langgraph dev` loads `graph` from here (see `langgraph.json`). It loads with nothing set:
the model is made on the first run, from the environment (`.env`: KIMI_BASE_URL,
MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND) or from the run's context (`KimiContext`).
"""

from kimi_graph import create_thinking_graph

graph = create_thinking_graph(name="kimi-thinking")
