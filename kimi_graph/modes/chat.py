"""One model node: the graph behind instant and thinking mode."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from kimi_graph.context import KimiContext
from kimi_graph.modes._model import ModelLike, make_model_node
from kimi_graph.state import InputState, MessagesState


def build_chat_graph(
    model: ModelLike | None,
    *,
    thinking: bool,
    system_prompt: str | None,
    checkpointer: Any,
    store: Any,
    name: str,
) -> CompiledStateGraph:
    """Compile `START -> model -> END`; the run's `KimiContext` may change any setting."""
    builder = StateGraph(
        MessagesState,
        context_schema=KimiContext,
        input_schema=InputState,
        output_schema=MessagesState,
    )
    node = make_model_node(model, thinking=thinking, system_prompt=system_prompt)
    builder.add_node("model", node)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
