"""kimi-graph: Moonshot's Kimi K2.5 in its four modes as LangGraph graphs."""

from kimi_graph._version import __version__
from kimi_graph.chat_models import ChatKimi
from kimi_graph.modes import (
    Mode,
    create_agent_graph,
    create_graph,
    create_instant_graph,
    create_swarm_graph,
    create_thinking_graph,
)

__all__ = [
    "ChatKimi",
    "Mode",
    "__version__",
    "create_agent_graph",
    "create_graph",
    "create_instant_graph",
    "create_swarm_graph",
    "create_thinking_graph",
]
