"""Request fields of Moonshot's platform that LangChain's message dicts do not carry.

Applied to the request payload ChatKimi builds, per model (`kimi_graph.model_profiles`):
builtin tools (`$web_search`), partial mode, `prompt_cache_key`, K2.6's
`thinking.keep` and K3's `reasoning_effort`. Values a model would reject, or that
Moonshot would ignore silently, raise `ValueError` before any request.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from kimi_graph.backends import Backend
from kimi_graph.chat_models._thinking_conflicts import BUILTIN_PREFIX, as_builtin, builtin_names
from kimi_graph.model_profiles import ModelSpec

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
        model: The model id (for messages).
        thinking_keep: K2.6's `thinking.keep` value, or None.
        prompt_cache_key: Sent as `prompt_cache_key` unless the call sets one.
    """

    model: str
    thinking_keep: str | None = None
    prompt_cache_key: str | None = None


def apply_platform_fields(
    payload: dict[str, Any],
    messages: Sequence[BaseMessage],
    backend: Backend,
    spec: ModelSpec,
    options: PlatformOptions,
) -> None:
    """Add and check the platform fields of one request payload (in place).

    Args:
        payload: The chat-completions payload (`messages` still as dicts in it).
        messages: The LangChain messages the payload's message dicts came from.
        backend: The server dialect.
        spec: The model's capabilities.
        options: The model instance's settings.

    Raises:
        ValueError: For a builtin tool off Moonshot, a misplaced partial message, or a
            `thinking.keep` / `reasoning_effort` the model does not read.
    """
    _builtin_tools(payload, messages, backend)
    _partial(payload, messages)
    if options.prompt_cache_key and not payload.get("prompt_cache_key"):
        payload["prompt_cache_key"] = options.prompt_cache_key
    if backend.name != "moonshot":
        return
    if options.thinking_keep is not None and not spec.thinking_keep:
        msg = (
            f"{options.model} does not read thinking.keep (Preserved Thinking is a K2.6 "
            "feature; Moonshot would ignore it silently). Use model='kimi-k2.6' or drop "
            "thinking_keep."
        )
        raise ValueError(msg)
    effort = payload.get("reasoning_effort")
    if effort is not None and effort not in spec.reasoning_efforts:
        if spec.reasoning_efforts:
            allowed = ", ".join(repr(e) for e in spec.reasoning_efforts)
            msg = f"{options.model} takes reasoning_effort {allowed}; got {effort!r}."
        else:
            msg = (
                f"{options.model} does not read reasoning_effort (Moonshot would ignore it "
                "silently); it switches reasoning with thinking=True/False. K3 models read "
                "reasoning_effort."
            )
        raise ValueError(msg)


def moonshot_thinking_fields(thinking: bool, keep: str | None) -> dict[str, Any]:
    """Moonshot's `thinking` object, with `keep` when thinking is on and it is set."""
    value: dict[str, Any] = {"type": "enabled" if thinking else "disabled"}
    if thinking and keep is not None:
        value["keep"] = keep
    return {"thinking": value}


def _builtin_tools(
    payload: dict[str, Any], messages: Sequence[BaseMessage], backend: Backend
) -> None:
    names = builtin_names(payload.get("tools"))
    if names:
        if backend.name != "moonshot":
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
