"""The four modes of K2.5 as LangGraph graphs, and `create_graph` to pick one.

The graph factories are imported on first use (PEP 562), so the swarm's tool name
(`kimi_graph.modes.swarm._prompts`) can be read without loading LangGraph.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kimi_graph._lazy import lazy_exports

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from kimi_graph.context import KimiContext
    from kimi_graph.modes._model import ModelLike
    from kimi_graph.modes.agent import create_agent_graph
    from kimi_graph.modes.chat import create_instant_graph, create_thinking_graph
    from kimi_graph.modes.swarm import create_swarm_graph
    from kimi_graph.state import InputState

__all__ = [
    "Mode",
    "create_agent_graph",
    "create_graph",
    "create_instant_graph",
    "create_swarm_graph",
    "create_thinking_graph",
]

_HOMES = {
    "create_agent_graph": "kimi_graph.modes.agent",
    "create_instant_graph": "kimi_graph.modes.chat",
    "create_thinking_graph": "kimi_graph.modes.chat",
    "create_swarm_graph": "kimi_graph.modes.swarm",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


class Mode(StrEnum):
    """K2.5's four modes."""

    INSTANT = "instant"
    THINKING = "thinking"
    AGENT = "agent"
    SWARM = "swarm"


def create_graph(
    mode: Mode | str,
    *,
    model: ModelLike | None = None,
    tools: list[Any] | None = None,
    **options: Any,
) -> CompiledStateGraph[Any, KimiContext, InputState, Any]:
    """Create the graph of one mode.

    Args:
        mode: `"instant" | "thinking" | "agent" | "swarm"` or a `Mode`.
        model: The chat model; None means `ChatKimi()` from the environment.
        tools: Tools for agent and swarm mode (ignored by instant and thinking).
        **options: Passed to the mode's `create_*_graph` (e.g. `checkpointer=`,
            `system_prompt=`, `max_steps=`, `max_subagents=`).

    Raises:
        ValueError: If `mode` is not one of the four modes.
    """
    try:
        chosen = Mode(mode.lower() if isinstance(mode, str) else mode)
    except ValueError:
        known = ", ".join(m.value for m in Mode)
        msg = f"Unknown mode {mode!r}; expected one of: {known}."
        raise ValueError(msg) from None
    if chosen is Mode.INSTANT:
        from kimi_graph.modes.chat import create_instant_graph

        return create_instant_graph(model, **options)
    if chosen is Mode.THINKING:
        from kimi_graph.modes.chat import create_thinking_graph

        return create_thinking_graph(model, **options)
    if chosen is Mode.AGENT:
        from kimi_graph.modes.agent import create_agent_graph

        return create_agent_graph(model, tools, **options)
    from kimi_graph.modes.swarm import create_swarm_graph

    return create_swarm_graph(model, tools, **options)
