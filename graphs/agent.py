"""Studio entry: K2.5 as a ReAct agent with web search, a Python sandbox and a URL reader.

`langgraph dev` loads `graph` from here (see `langgraph.json`). It loads with nothing set:
the model is made on the first run, from the environment (`.env`: KIMI_BASE_URL,
MOONSHOT_API_KEY / KIMI_API_KEY, KIMI_BACKEND; TAVILY_API_KEY switches web search from
DuckDuckGo to Tavily) or from the run's context (`KimiContext`).
"""

from kimi_graph import create_agent_graph
from kimi_graph.tools import default_tools

graph = create_agent_graph(tools=default_tools(), name="kimi-agent")
