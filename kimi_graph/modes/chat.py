"""Instant and thinking mode: one model node, `START -> model -> END`.

K2.5's two chat modes are the same graph; they differ only in the thinking switch.
Instant mode turns reasoning off; thinking mode turns it on, and the answer carries the
chain of thought in `additional_kwargs["reasoning_content"]` and as a `reasoning`
content block. The run's `KimiContext` may change any setting.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer

from kimi_graph._thread_guard import guard_threads
from kimi_graph.context import KimiContext
from kimi_graph.modes._model import ModelLike, make_model_node
from kimi_graph.state import ConversationState, InputState

ChatGraph = CompiledStateGraph[ConversationState, KimiContext, InputState, ConversationState]
"""The compiled graph of instant and thinking mode."""

__all__ = ["ChatGraph", "create_instant_graph", "create_thinking_graph"]


def create_instant_graph(
    model: ModelLike | None = None,
    *,
    system_prompt: str | None = None,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    name: str = "kimi-instant",
) -> ChatGraph:
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
    return _chat_graph(model, False, system_prompt, checkpointer, store, name)


def create_thinking_graph(
    model: ModelLike | None = None,
    *,
    system_prompt: str | None = None,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    name: str = "kimi-thinking",
) -> ChatGraph:
    """Create the thinking-mode graph: one model call with thinking on.

    The final `AIMessage` carries the chain of thought in
    `additional_kwargs["reasoning_content"]` and as a `reasoning` content block.

    Args:
        model: A `ChatKimi` (or any chat model); None means `ChatKimi()` from the env.
        system_prompt: Prepended when the conversation has no system message.
        checkpointer: A LangGraph checkpointer, for threads that continue.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking and returning `{"messages": [...]}`.
    """
    return _chat_graph(model, True, system_prompt, checkpointer, store, name)


def _chat_graph(
    model: ModelLike | None,
    thinking: bool,
    system_prompt: str | None,
    checkpointer: Checkpointer,
    store: BaseStore | None,
    name: str,
) -> ChatGraph:
    builder = StateGraph(
        ConversationState,
        context_schema=KimiContext,
        input_schema=InputState,
        output_schema=ConversationState,
    )
    node = make_model_node(model, thinking=thinking, system_prompt=system_prompt)
    builder.add_node("model", node)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    # one run at a time per thread (kimi_graph._thread_guard)
    return guard_threads(builder.compile(checkpointer=checkpointer, store=store, name=name))
