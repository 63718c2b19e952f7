"""A history whose tool calls all have answers, whatever cut the run that made them.

A run stopped between a model's tool calls and their results (a timeout, a client that
hung up, a crash) leaves an assistant turn whose calls have no tool message in the
thread, and every later request built from it breaks the rule of OpenAI-compatible
servers that each call is answered (a strict server answers 400 on every later turn).
Before a model call, each unanswered call followed by more conversation gets a tool
message saying it was interrupted. A call at the very end of the history is left as
it is: its results may still come (a client running its own tools).
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

__all__ = [
    "INTERRUPTED",
    "answer_dangling_calls",
    "dangling_calls",
]

INTERRUPTED = "Interrupted: the run ended before this tool call finished; it has no result."
"""The content of the tool message that answers a call a cut run left unanswered."""


def _call_ids(message: AIMessage) -> list[tuple[str, str]]:
    calls: list[tuple[str | None, str | None]] = [
        (c.get("id"), c.get("name")) for c in message.tool_calls
    ]
    calls += [(c.get("id"), c.get("name")) for c in message.invalid_tool_calls]
    return [(i, n or "") for i, n in calls if i]


def dangling_calls(messages: Sequence[AnyMessage]) -> list[ToolMessage]:
    """Tool messages answering the calls of the last assistant turn that lack one.

    For a history that ends with tool calls whose run was cut: append these to the
    thread so it stays valid.
    """
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AIMessage):
            answered = {m.tool_call_id for m in messages[index + 1 :] if isinstance(m, ToolMessage)}
            return [
                ToolMessage(INTERRUPTED, tool_call_id=call_id, name=name, status="error")
                for call_id, name in _call_ids(message)
                if call_id not in answered
            ]
    return []


def answer_dangling_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """`messages` with an "interrupted" tool message for each unanswered call.

    Only calls followed by a message other than their answers are repaired; the input
    is returned unchanged (same list items) when nothing needs it.
    """
    out: list[AnyMessage] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        out.append(message)
        index += 1
        if not isinstance(message, AIMessage):
            continue
        calls = _call_ids(message)
        if not calls:
            continue
        answered: set[str] = set()
        while index < len(messages) and isinstance(messages[index], ToolMessage):
            tool = messages[index]
            assert isinstance(tool, ToolMessage)
            answered.add(tool.tool_call_id)
            out.append(tool)
            index += 1
        if index == len(messages):
            continue  # the end of the history: results may still come
        out.extend(
            ToolMessage(INTERRUPTED, tool_call_id=call_id, name=name, status="error")
            for call_id, name in calls
            if call_id not in answered
        )
    return out
