"""The sub-agent graph the scale-out benchmark serves: the agent graph with the calculator.

`bench_scaleout.py` serves it as the `agent` of its own `langgraph.json` (this folder),
so that the sub-agents on the deployment and in-process run the same graph and tool:
one calculator call and two model calls each, no network beyond the emulator.
"""

from kimi_graph import create_agent_graph
from kimi_graph.tools.calculator import calculator

graph = create_agent_graph(tools=[calculator], name="kimi-agent")
