"""Studio entry: K2.5 in instant mode (thinking off), one model call.

`langgraph dev` loads `graph` from here (see `langgraph.json`); the model comes from
the environment (`.env`: KIMI_BASE_URL, MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND).
"""

from kimi_graph import create_instant_graph
from kimi_graph.cli import model_from_env

graph = create_instant_graph(model_from_env(), name="kimi-instant")
