"""Context strategy for long tool loops: keep only the latest tool results.

K2.5's report manages context on long agentic runs by discarding old tool output
(BrowseComp: 60.6 single agent, 74.9 "w/ ctx-manage"; Kimi-K2.5 README §3, docs/wire.md
§3). This is the opt-in form for agent mode: once the conversation passes a token
threshold, every tool result but those of the latest tool turns is replaced by a
short note. The messages themselves stay (each tool call keeps its answer), so the
history remains valid for Moonshot's validator; only what the model reads shrinks. The
graph state keeps the full results: the strategy applies to the model's input only.

```python
from kimi_graph.modes._tool_results import keep_latest_tool_results

graph = create_agent_graph(llm, tools, context_strategy=keep_latest_tool_results(100_000))
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

ContextStrategy = Callable[[Sequence[AnyMessage]], list[AnyMessage]]
"""A pure function from the conversation to the messages the model reads."""

DEFAULT_THRESHOLD_TOKENS = 128_000
"""Half of K2.5's 256K context (our choice; the report gives no number)."""

CHARS_PER_TOKEN = 4
"""Rough size of a token, for the threshold only (no tokenizer is shipped)."""


def cleared_note(chars: int) -> str:
    """The text that replaces a cleared tool result."""
    return (
        f"[earlier tool result cleared to save context ({chars} characters); "
        "call the tool again if you still need it]"
    )


def estimate_tokens(messages: Sequence[AnyMessage]) -> int:
    """A rough token count of the conversation: langchain-core's estimate plus reasoning."""
    reasoning = sum(
        len(value)
        for message in messages
        if isinstance(message, AIMessage)
        and isinstance(value := message.additional_kwargs.get("reasoning_content"), str)
    )
    return count_tokens_approximately(messages) + int(reasoning / CHARS_PER_TOKEN)


def clear_old_tool_results(
    messages: Sequence[AnyMessage],
    *,
    threshold_tokens: int = DEFAULT_THRESHOLD_TOKENS,
    keep_turns: int = 1,
) -> list[AnyMessage]:
    """Replace all but the latest tool turns' results once the threshold is passed.

    Args:
        messages: The conversation.
        threshold_tokens: Below this (estimated) size nothing changes.
        keep_turns: How many of the latest tool turns (an assistant message with tool
            calls and its results) keep their results.

    Returns:
        A new list; cleared tool messages are copies, the rest are the same objects.

    Raises:
        ValueError: If `keep_turns` is below 1 or `threshold_tokens` below 0.
    """
    if keep_turns < 1 or threshold_tokens < 0:
        msg = (
            "keep_turns must be >= 1 and threshold_tokens >= 0, "
            f"got {keep_turns} and {threshold_tokens}."
        )
        raise ValueError(msg)
    out = list(messages)
    if estimate_tokens(out) <= threshold_tokens:
        return out
    turns = [i for i, m in enumerate(out) if isinstance(m, AIMessage) and m.tool_calls]
    if len(turns) <= keep_turns:
        return out
    first_kept = turns[-keep_turns]
    for i in range(first_kept):
        message = out[i]
        if isinstance(message, ToolMessage):
            size = len(message.text) if isinstance(message.content, list) else len(message.content)
            if message.content != cleared_note(size):
                out[i] = message.model_copy(update={"content": cleared_note(size)})
    return out


def keep_latest_tool_results(
    threshold_tokens: int = DEFAULT_THRESHOLD_TOKENS, *, keep_turns: int = 1
) -> ContextStrategy:
    """The strategy for `create_agent_graph(..., context_strategy=...)`.

    Args:
        threshold_tokens: Estimated conversation size from which old results are cleared.
        keep_turns: How many of the latest tool turns keep their results.

    Returns:
        A function applying `clear_old_tool_results` with these settings.
    """
    clear_old_tool_results([], threshold_tokens=threshold_tokens, keep_turns=keep_turns)
    return partial(clear_old_tool_results, threshold_tokens=threshold_tokens, keep_turns=keep_turns)
