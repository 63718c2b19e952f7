"""Studio entry: K2.5 agent swarm, an orchestrator fanning out sub-agents with `Send`.

The sub-agents get web search, a Python sandbox and a URL reader. `langgraph dev`
loads `graph` from here (see `langgraph.json`); the model comes from the environment
(`.env`: KIMI_BASE_URL, MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND, TAVILY_API_KEY).
"""

from kimi_graph import create_swarm_graph
from kimi_graph.cli import model_from_env
from kimi_graph.tools import default_tools

graph = create_swarm_graph(model_from_env(), default_tools(), name="kimi-swarm")
