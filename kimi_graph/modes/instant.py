"""Instant mode: K2.5 with reasoning off."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from kimi_graph.modes._model import ModelLike
from kimi_graph.modes.chat import build_chat_graph


def create_instant_graph(
    model: ModelLike | None = None,
    *,
    system_prompt: str | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str = "kimi-instant",
) -> CompiledStateGraph:
    """Create the instant-mode graph: one model call with thinking off.

    Args:
        model: A `ChatKimi` (or any chat model); None means `ChatKimi()` from the env.
        system_prompt: Prepended when the conversation has no system message.
        checkpointer: A LangGraph checkpointer, for threads that continue.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking and returning `{"messages": [...]}`.
    """
    return build_chat_graph(
        model,
        thinking=False,
        system_prompt=system_prompt,
        checkpointer=checkpointer,
        store=store,
        name=name,
    )
