"""Studio entry: K2.5 in thinking mode; the answer carries its reasoning.

`langgraph dev` loads `graph` from here (see `langgraph.json`); the model comes from
the environment (`.env`: KIMI_BASE_URL, MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND).
"""

from kimi_graph import create_thinking_graph
from kimi_graph.cli import model_from_env

graph = create_thinking_graph(model_from_env(), name="kimi-thinking")
