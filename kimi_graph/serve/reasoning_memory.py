"""The reasoning of the tool-call turns the server produced, for the client's next request.

A thinking model's tool-call turn must go back upstream with its reasoning (Moonshot
refuses it without `reasoning_content`; K2.5 reasons worse without it), but most
clients drop the field (LiteLLM, the OpenAI Agents SDK). The server keeps what it sent,
keyed by the conversation the turn answered (the bearer key, every earlier message's
role, text and tool calls, and the turn's own tool calls), and puts it back on an
assistant turn that arrives without reasoning. Tool-call ids alone would not do: servers
number them per conversation (`get_weather_0`), so two conversations share them.

Bounded: the oldest entries go first (`MAX_ENTRIES`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TypeGuard

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

__all__ = [
    "MAX_ENTRIES",
    "ReasoningMemory",
    "conversation_key",
]

MAX_ENTRIES = 10_000
"""Tool-call turns remembered per server (about 10,000 x the reasoning's size)."""


def _shape(message: AnyMessage) -> list[object]:
    calls: list[object] = []
    if isinstance(message, AIMessage):
        calls = [[c.get("id"), c["name"], c["args"]] for c in message.tool_calls]
        calls += [[c.get("id"), c.get("name"), c.get("args")] for c in message.invalid_tool_calls]
    tool_call_id = message.tool_call_id if isinstance(message, ToolMessage) else None
    return [message.type, message.text.strip(), calls, tool_call_id]


def _digest(previous: str, value: object) -> str:
    data = json.dumps([previous, value], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def _lacks_reasoning(message: AnyMessage) -> TypeGuard[AIMessage]:
    """Whether `message` is a tool-call turn that came back without its reasoning."""
    return (
        isinstance(message, AIMessage)
        and bool(message.tool_calls or message.invalid_tool_calls)
        and not message.additional_kwargs.get("reasoning_content")
    )


def conversation_key(scope: str, before: Sequence[AnyMessage], turn: AIMessage) -> str:
    """The key of `turn` answering the conversation `before`, for the caller `scope`.

    Reasoning is left out of the key: the client may have dropped it anywhere.
    """
    prefix = _digest("", scope)
    for message in before:
        prefix = _digest(prefix, _shape(message))
    return _digest(prefix, _shape(turn))


class ReasoningMemory:
    """Reasoning of produced tool-call turns, keyed by `conversation_key`.

    Args:
        max_entries: Entries kept (least recently used out).
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, scope: str, before: Sequence[AnyMessage], turn: AIMessage | None) -> None:
        """Keep `turn`'s reasoning if it is a tool-call turn that has some."""
        if turn is None or not (turn.tool_calls or turn.invalid_tool_calls):
            return
        reasoning = turn.additional_kwargs.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning:
            return
        key = conversation_key(scope, before, turn)
        with self._lock:
            self._entries[key] = reasoning
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def restore(self, scope: str, messages: list[AnyMessage]) -> int:
        """Give back their reasoning to the tool-call turns of `messages` that lack it.

        Returns:
            How many turns got their reasoning back.
        """
        last = max((i for i, m in enumerate(messages) if _lacks_reasoning(m)), default=-1)
        if last < 0 or not self._entries:
            return 0  # nothing to give back: no conversation is hashed
        restored = 0
        prefix = _digest("", scope)  # the digest of the messages so far (one pass)
        for message in messages[: last + 1]:
            before, prefix = prefix, _digest(prefix, _shape(message))
            if not _lacks_reasoning(message):
                continue
            key = _digest(before, _shape(message))
            with self._lock:
                reasoning = self._entries.get(key)
                if reasoning is not None:
                    self._entries.move_to_end(key)
            if reasoning is not None:
                message.additional_kwargs["reasoning_content"] = reasoning
                restored += 1
        return restored
