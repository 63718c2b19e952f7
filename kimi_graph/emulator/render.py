"""Rendering a turn on the wire: truncation, usage, chat.completion bodies and stream chunks."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kimi_graph.emulator import recorded_wire
from kimi_graph.emulator.brain import ToolCall, Turn, message_text
from kimi_graph.emulator.dialects import Dialect

__all__ = [
    "ARG_BEGIN",
    "CALL_BEGIN",
    "CALL_END",
    "RAW_PIECE",
    "SECTION_BEGIN",
    "SECTION_END",
    "Output",
    "chunk",
    "clip_tokens",
    "completion_body",
    "count_tokens",
    "finalize",
    "prompt_segments",
    "raw_content",
    "split_words",
    "stream_chunks",
    "stream_deltas",
]

_TOKEN = re.compile(r"\w+|[^\w\s]")
RAW_PIECE = 7
SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
CALL_BEGIN = "<|tool_call_begin|>"
ARG_BEGIN = "<|tool_call_argument_begin|>"
CALL_END = "<|tool_call_end|>"
_ids = itertools.count()


def count_tokens(text: str) -> int:
    """Deterministic token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def clip_tokens(text: str, budget: int) -> str:
    """The prefix of a text holding at most ``budget`` tokens."""
    if budget <= 0:
        return ""
    for i, m in enumerate(_TOKEN.finditer(text)):
        if i == budget - 1:
            return text[: m.end()]
    return text


@dataclass
class Output:
    """A turn after ``stop``/``max_tokens`` are applied, ready to render.

    Attributes:
        reasoning: Reasoning text (``""`` in instant mode).
        content: Answer text.
        tool_calls: Tool calls that survived truncation.
        finish_reason: ``"stop"``, ``"tool_calls"`` or ``"length"``.
        usage: The usage object.
        thinking: Whether thinking was on.
        show_reasoning: Whether reasoning is returned (OpenRouter's ``exclude`` hides it).
    """

    reasoning: str
    content: str
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: dict[str, Any]
    thinking: bool
    show_reasoning: bool = True
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}{next(_ids):x}")
    created: int = field(default_factory=lambda: int(time.time()))


def prompt_segments(body: dict[str, Any]) -> list[tuple[Any, int]]:
    """The prompt's parts in order (tools, then each message) with their token counts."""
    segments: list[tuple[Any, int]] = []
    if body.get("tools"):
        segments.append(
            (body["tools"], count_tokens(json.dumps(body["tools"], ensure_ascii=False)))
        )
    for m in body.get("messages", []):
        tokens = 4 + count_tokens(message_text(m.get("content")))
        for call in m.get("tool_calls") or []:
            tokens += count_tokens(json.dumps(call, ensure_ascii=False))
        segments.append((m, tokens))
    return segments


def _prompt_tokens(body: dict[str, Any]) -> int:
    return sum(tokens for _, tokens in prompt_segments(body))


def finalize(
    turn: Turn,
    body: dict[str, Any],
    dialect: Dialect,
    thinking: bool,
    *,
    extra_prompt_tokens: int = 0,
    cached_tokens: int = 0,
    legacy_usage: bool = False,
) -> Output:
    """Apply ``stop`` and ``max_tokens`` to a turn and count usage.

    Reasoning counts against ``max_tokens``/``max_completion_tokens`` before content does.

    Args:
        turn: The brain's turn.
        body: The request body.
        dialect: The dialect answering.
        thinking: Whether thinking is on.
        extra_prompt_tokens: Prompt tokens the server added (``$web_search`` results).
        cached_tokens: Prompt tokens served from the prefix cache (Moonshot).
        legacy_usage: Report cached tokens only top-level (older Moonshot models), not
            also in ``prompt_tokens_details`` (see ``recorded_wire.usage_fields``).

    Returns:
        The output to render.
    """
    reasoning, content, calls = turn.reasoning, turn.content, list(turn.tool_calls)
    finish = "tool_calls" if calls and not dialect.raw else "stop"
    stops = body.get("stop")
    stops = [stops] if isinstance(stops, str) else stops if isinstance(stops, list) else []
    cuts = [content.find(s) for s in stops if isinstance(s, str) and s and s in content]
    if cuts:
        content = content[: min(cuts)]
    budget = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        used = count_tokens(reasoning)
        if used > budget:
            reasoning, content, calls, finish = clip_tokens(reasoning, budget), "", [], "length"
        elif used + count_tokens(content) > budget:
            content, calls, finish = clip_tokens(content, budget - used), [], "length"
        elif calls and used + sum(count_tokens(c.arguments) for c in calls) > budget:
            calls, finish = [], "length"
    completion = (
        count_tokens(reasoning)
        + count_tokens(content)
        + sum(count_tokens(c.name) + count_tokens(c.arguments) for c in calls)
    )
    prompt = _prompt_tokens(body) + extra_prompt_tokens
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if dialect.name == "moonshot":
        thought = count_tokens(reasoning) if thinking else None
        usage.update(
            recorded_wire.usage_fields(
                cached_tokens=cached_tokens, legacy=legacy_usage, reasoning_tokens=thought
            )
        )
    if dialect.name == "openrouter":
        usage["completion_tokens_details"] = {"reasoning_tokens": count_tokens(reasoning)}
    show = not dialect.excludes_reasoning(body)
    return Output(reasoning, content, calls, finish, usage, thinking, show)


def raw_content(out: Output) -> str:
    """The raw dialect's content: reasoning, ``</think>``, answer and Kimi's tool-call tokens."""
    text = ""
    if out.thinking:
        text = out.reasoning
        if out.content or (not out.tool_calls and out.finish_reason != "length"):
            text += "</think>"
    text += out.content
    if out.tool_calls:
        text += SECTION_BEGIN
        for call in out.tool_calls:
            text += f"{CALL_BEGIN}{call.id}{ARG_BEGIN}{call.arguments}{CALL_END}"
        text += SECTION_END
    return text


def _call_type(call: ToolCall) -> str:
    # Moonshot may type a builtin's call "builtin_function" (docs/wire.md §1.7).
    return "builtin_function" if call.name.startswith("$") else "function"


def _tool_calls_json(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "id": c.id,
            "type": _call_type(c),
            "function": {"name": c.name, "arguments": c.arguments},
        }
        for i, c in enumerate(calls)
    ]


def completion_body(out: Output, dialect: Dialect, model: str) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object.

    Args:
        out: The finalized output.
        dialect: The dialect answering.
        model: The requested model id (echoed).

    Returns:
        The JSON body.
    """
    message: dict[str, Any] = {"role": "assistant"}
    if dialect.raw:
        message["content"] = raw_content(out)
    else:
        empty = None if out.tool_calls and dialect.name != "moonshot" else ""
        message["content"] = out.content or empty
        if out.thinking and out.show_reasoning:
            message.update(dialect.reasoning_fields(out.reasoning))
        if out.tool_calls:
            message["tool_calls"] = _tool_calls_json(out.tool_calls)
    return {
        "id": out.id,
        "object": "chat.completion",
        "created": out.created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": out.finish_reason, "logprobs": None}
        ],
        "usage": out.usage,
    }


def split_words(text: str, words: int) -> list[str]:
    """Cut a text every ``words`` words; the pieces concatenate back to the text."""
    pieces = re.findall(r"\s*\S+\s*", text) if text.strip() else ([text] if text else [])
    if not pieces:
        return []
    pieces[-1] += text[len("".join(pieces)) :]
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)]


def _split_even(text: str, parts: int) -> list[str]:
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def stream_deltas(out: Output, dialect: Dialect, chunk_words: int) -> list[dict[str, Any]]:
    """The ``delta`` objects of a streamed answer, reasoning strictly before content.

    The first delta carries ``role: "assistant"`` (on Moonshot alone, with empty
    content, and an empty reasoning delta ends the reasoning: ``recorded_wire``).

    Args:
        out: The finalized output.
        dialect: The dialect answering.
        chunk_words: Words per text chunk.

    Returns:
        The deltas, without the final ``finish_reason`` chunk.
    """
    deltas: list[dict[str, Any]] = []
    if dialect.raw:
        text = raw_content(out)
        deltas = [{"content": text[i : i + RAW_PIECE]} for i in range(0, len(text), RAW_PIECE)]
    else:
        if out.thinking and out.show_reasoning:
            for piece in split_words(out.reasoning, chunk_words):
                deltas.append(dialect.reasoning_fields(piece))
        if dialect.name == "moonshot":
            deltas = recorded_wire.opening_deltas(deltas)
        for piece in split_words(out.content, chunk_words):
            deltas.append({"content": piece})
        for i, call in enumerate(out.tool_calls):
            head = {"index": i, "id": call.id, "type": _call_type(call)}
            head["function"] = {"name": call.name, "arguments": ""}
            deltas.append({"tool_calls": [head]})
            for piece in _split_even(call.arguments, 3):
                deltas.append({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    if not deltas:
        deltas.append({"content": ""})
    deltas[0] = {"role": "assistant", **deltas[0]}
    return deltas


def chunk(
    out: Output, model: str, delta: dict[str, Any] | None, finish: str | None = None
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` makes the trailing usage chunk."""
    base: dict[str, Any] = {
        "id": out.id,
        "object": "chat.completion.chunk",
        "created": out.created,
        "model": model,
    }
    if delta is None:
        base["choices"] = []
        base["usage"] = out.usage
    else:
        base["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    return base


def stream_chunks(
    out: Output, dialect: Dialect, model: str, body: dict[str, Any], words: int
) -> list[dict[str, Any]]:
    """Every chunk of a streamed answer, in order (without ``[DONE]``).

    Args:
        out: The finalized output.
        dialect: The dialect answering.
        model: The requested model id.
        body: The request body (``stream_options.include_usage``).
        words: Words per text chunk.

    Returns:
        The chunk objects.
    """
    chunks = [chunk(out, model, d) for d in stream_deltas(out, dialect, words)]
    last = chunk(out, model, {}, out.finish_reason)
    if dialect.name == "moonshot":
        # Moonshot reports usage on the final choice of every stream.
        last["choices"][0]["usage"] = out.usage
    chunks.append(last)
    mark = recorded_wire.fingerprint(model) if dialect.name == "moonshot" else None
    for item in chunks if mark else ():
        item["system_fingerprint"] = mark
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        chunks.append(chunk(out, model, None))
    return chunks
