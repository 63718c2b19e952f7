"""kimi-graph: Moonshot's Kimi K2.5 in its four modes as LangGraph graphs.

The names below are imported on first use (PEP 562), so `import kimi_graph` and the
`kimi-graph` command start without loading LangChain and LangGraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

__all__ = [
    "ChatKimi",
    "KimiContext",
    "Mode",
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
    "create_agent_graph": "kimi_graph.modes",
    "create_graph": "kimi_graph.modes",
    "create_instant_graph": "kimi_graph.modes",
    "create_swarm_graph": "kimi_graph.modes",
    "create_thinking_graph": "kimi_graph.modes",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module 'kimi_graph' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
