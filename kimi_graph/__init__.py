"""kimi-graph: Moonshot's Kimi K2.5 in its four modes as LangGraph graphs.

The names below are imported on first use (PEP 562), so `import kimi_graph` and the
`kimi-graph` command start without loading LangChain and LangGraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kimi_graph._lazy import lazy_exports
from kimi_graph._version import __version__

if TYPE_CHECKING:
    from kimi_graph.chat_models import ChatKimi
    from kimi_graph.context import KimiContext
    from kimi_graph.modes import (
        Mode,
        create_agent_graph,
        create_graph,
        create_instant_graph,
        create_swarm_graph,
        create_thinking_graph,
    )
    from kimi_graph.modes.swarm import SwarmControl

__all__ = [
    "ChatKimi",
    "KimiContext",
    "Mode",
    "SwarmControl",
    "__version__",
    "create_agent_graph",
    "create_graph",
    "create_instant_graph",
    "create_swarm_graph",
    "create_thinking_graph",
]

_HOMES = {
    "ChatKimi": "kimi_graph.chat_models",
    "KimiContext": "kimi_graph.context",
    "Mode": "kimi_graph.modes",
    "SwarmControl": "kimi_graph.modes.swarm",
    "create_agent_graph": "kimi_graph.modes",
    "create_graph": "kimi_graph.modes",
    "create_instant_graph": "kimi_graph.modes",
    "create_swarm_graph": "kimi_graph.modes",
    "create_thinking_graph": "kimi_graph.modes",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
