"""Request fields of Moonshot's platform that LangChain's message dicts do not carry.

Applied to the request payload ChatKimi builds: builtin tools (`$web_search`), partial
mode and `prompt_cache_key`. Values the server would reject raise `ValueError` before any request;
thinking, effort and `thinking.keep` are decided by `_call_plan`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from kimi_graph.backends import Backend
from kimi_graph.chat_models._thinking_conflicts import BUILTIN_PREFIX, as_builtin, builtin_names

# Moonshot may type a builtin's tool call "builtin_function" (docs/wire.md §1.7), which the
# OpenAI SDK's response model does not expect: it parses, but dumping it warns.
warnings.filterwarnings(
    "ignore",
    message=r"Pydantic serializer warnings:[\s\S]*builtin_function",
    category=UserWarning,
)

PARTIAL_KEY = "partial"
"""`AIMessage(prefix, additional_kwargs={"partial": True})` as the last message asks
Moonshot to continue that text (partial mode)."""


@dataclass(frozen=True)
class PlatformOptions:
    """Per-model settings of a `ChatKimi` that end up in the request body.

    Attributes:
        prompt_cache_key: Sent as `prompt_cache_key` unless the call sets one.
    """

    prompt_cache_key: str | None = None


def apply_platform_fields(
    payload: dict[str, Any],
    messages: Sequence[BaseMessage],
    backend: Backend,
    options: PlatformOptions,
) -> None:
    """Add and check the platform fields of one request payload (in place).

    Args:
        payload: The chat-completions payload (`messages` still as dicts in it).
        messages: The LangChain messages the payload's message dicts came from.
        backend: The server dialect.
        options: The model instance's settings.

    Raises:
        ValueError: For a builtin tool off Moonshot's platform or a misplaced partial
            message.
    """
    _builtin_tools(payload, messages, backend)
    _partial(payload, messages)
    if options.prompt_cache_key and not payload.get("prompt_cache_key"):
        payload["prompt_cache_key"] = options.prompt_cache_key


def _builtin_tools(
    payload: dict[str, Any], messages: Sequence[BaseMessage], backend: Backend
) -> None:
    names = builtin_names(payload.get("tools"))
    if names:
        if not backend.platform:
            msg = (
                f"{', '.join(names)} is a builtin of Moonshot's platform; backend "
                f"{backend.name!r} has none. Use kimi_graph.tools.web_search instead."
            )
            raise ValueError(msg)
        payload["tools"] = as_builtin(payload["tools"])
    for message, out in zip(messages, payload["messages"], strict=True):
        # Moonshot's builtin answers are tool messages named after the builtin.
        if isinstance(message, ToolMessage) and (message.name or "").startswith(BUILTIN_PREFIX):
            out["name"] = message.name


def _partial(payload: dict[str, Any], messages: Sequence[BaseMessage]) -> None:
    for i, message in enumerate(messages):
        if not (isinstance(message, AIMessage) and message.additional_kwargs.get(PARTIAL_KEY)):
            continue
        if i != len(messages) - 1:
            msg = (
                "Partial mode continues the last message only: the assistant message "
                f"marked partial is at index {i} of {len(messages)}."
            )
            raise ValueError(msg)
        if message.tool_calls:
            msg = "A partial assistant message cannot carry tool calls."
            raise ValueError(msg)
        payload["messages"][i][PARTIAL_KEY] = True
