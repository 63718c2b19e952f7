"""The messages of the current turn and their token usage (LangChain's `UsageMetadata`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

from langchain_core.messages.ai import UsageMetadata, add_usage

from kimi_graph.modes._control_hook import is_control_message

__all__ = ["after_last_user", "sum_usage", "total_usage"]

_AI_TYPES = frozenset({"ai", "AIMessageChunk"})


def after_last_user(messages: Sequence[Any]) -> list[Any]:
    """The messages after the latest user message (all of them if there is none).

    User messages that a swarm's control plane added (a steer, a wrap-up request) do
    not start a turn: the sub-agent's turn goes on through them.
    """
    for i in range(len(messages) - 1, -1, -1):
        if getattr(messages[i], "type", None) == "human" and not is_control_message(messages[i]):
            return list(messages[i + 1 :])
    return list(messages)


def sum_usage(messages: Sequence[Any]) -> UsageMetadata:
    """Token usage of the AI messages among `messages`, summed."""
    return total_usage(
        *(
            message.usage_metadata
            for message in messages
            if getattr(message, "type", None) in _AI_TYPES
            and getattr(message, "usage_metadata", None)
        )
    )


def total_usage(*parts: UsageMetadata) -> UsageMetadata:
    """The sum of several usage records (zeros for none), by langchain-core's `add_usage`."""
    return reduce(add_usage, parts, UsageMetadata(input_tokens=0, output_tokens=0, total_tokens=0))
