"""A prompt that cannot fit the model's context is refused before any request.

There is no tokenizer here, so the check uses a floor: every run of word characters
is at least one token in K2's BPE vocabulary (a token never spans two words, only a
word and the space before it), so the number of such runs never exceeds the true
count. A prompt whose floor already passes the context length is certainly too long;
a prompt near the limit goes out and Moonshot's own 400 names the limit
("Your request exceeded model token limit: 262144 (requested: N)").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_WORD = re.compile(r"\w+")
_TEXT_KEYS = ("content", "reasoning_content", "reasoning", "name")


def _texts(messages: list[dict[str, Any]], tools: Any) -> Iterator[str]:
    for message in messages:
        for key in _TEXT_KEYS:
            value = message.get(key)
            if isinstance(value, str):
                yield value
            elif key == "content" and isinstance(value, list):
                for part in value:  # image parts are not text; they are left out
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part["text"]
        for call in message.get("tool_calls") or ():
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            yield str(function.get("name") or "")
            yield str(function.get("arguments") or "")
    if tools:
        yield repr(tools)


def prompt_token_floor(messages: list[dict[str, Any]], tools: Any = None) -> int:
    """A lower bound of the prompt's token count (word runs in messages and tools)."""
    return sum(len(_WORD.findall(text)) for text in _texts(messages, tools))


def check_context(
    messages: list[dict[str, Any]],
    tools: Any,
    max_tokens: Any,
    *,
    model: str,
    context_tokens: int,
) -> None:
    """Refuse a request whose prompt (plus `max_tokens`) cannot fit the context.

    Cheap for ordinary prompts: the words are only counted once the characters alone
    could hold more words than the context has tokens.

    Args:
        messages: The request's message dicts.
        tools: The request's tools.
        max_tokens: The completion budget asked for, if any.
        model: The model id (for the message).
        context_tokens: The model's context length.

    Raises:
        ValueError: If the prompt's token floor (plus `max_tokens`) passes the limit.
    """
    budget = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    chars = sum(len(text) for text in _texts(messages, tools))
    if (chars + 1) // 2 + budget <= context_tokens:
        return  # a word takes at least two characters with its separator
    floor = prompt_token_floor(messages, tools)
    if floor + budget <= context_tokens:
        return
    asked = f" plus max_tokens={budget}" if budget else ""
    msg = (
        f"The prompt is too long for {model}: it holds at least {floor:,} tokens{asked}, "
        f"and the model's context is {context_tokens:,} tokens. Shorten the conversation "
        "(in agent mode, context_strategy=keep_latest_tool_results(...) clears old tool "
        "results)."
    )
    raise ValueError(msg)
