"""Helpers the mode graphs share: the default model, the thinking switch, model nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from kimi_graph.chat_models import ChatKimi

ModelLike = BaseChatModel | Runnable[LanguageModelInput, Any]


def default_model(model: ModelLike | None) -> ModelLike:
    """Return `model`, or `ChatKimi()` configured from the environment."""
    return ChatKimi() if model is None else model


def _is_kimi(model: Any) -> bool:
    while model is not None:
        if isinstance(model, ChatKimi):
            return True
        model = getattr(model, "bound", None)
    return False


def with_thinking(model: ModelLike, thinking: bool | None) -> ModelLike:
    """Bind the thinking switch when the model is a `ChatKimi`; leave others alone."""
    if thinking is None or not _is_kimi(model):
        return model
    return model.bind(thinking=thinking)


def with_system(messages: Sequence[AnyMessage], system_prompt: str | None) -> list[AnyMessage]:
    """Prepend the system prompt unless the conversation already starts with one."""
    out = list(messages)
    if system_prompt and not (out and isinstance(out[0], SystemMessage)):
        out.insert(0, SystemMessage(system_prompt))
    return out


def make_model_node(
    model: ModelLike | None = None,
    *,
    thinking: bool | None = None,
    system_prompt: str | None = None,
    name: str = "model",
) -> Runnable[dict[str, Any], dict[str, list[AIMessage]]]:
    """Return a node that answers the conversation in `state["messages"]`.

    The node works in any `StateGraph` whose state has a `messages` key (with the
    `add_messages` reducer) and runs under both `invoke` and `ainvoke`.

    Args:
        model: The chat model; None means `ChatKimi()` from the environment.
        thinking: Force thinking (True) or instant (False); None keeps the model's.
        system_prompt: Prepended to the conversation when it has none.
        name: The node's run name in traces.
    """
    llm = with_thinking(default_model(model), thinking)

    def call(state: dict[str, Any], config: RunnableConfig) -> dict[str, list[AIMessage]]:
        return {"messages": [llm.invoke(with_system(state["messages"], system_prompt), config)]}

    async def acall(state: dict[str, Any], config: RunnableConfig) -> dict[str, list[AIMessage]]:
        messages = with_system(state["messages"], system_prompt)
        return {"messages": [await llm.ainvoke(messages, config)]}

    return RunnableLambda(call, afunc=acall, name=name)
