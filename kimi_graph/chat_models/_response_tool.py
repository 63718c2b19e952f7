"""A caller's `response_format` JSON schema on a server without a JSON-schema mode.

Moonshot's API answers 400 to `response_format={"type": "json_schema", ...}` (it takes
only `text` and `json_object`). `with_structured_output` asks such a server for the
schema as a tool instead (forced, or offered with `tool_choice="auto"` and an
instruction while thinking); a caller's own `response_format` (LangChain's
`create_agent` with a provider strategy, `.bind(response_format=Model)`) is asked for
the same way, and the tool call comes back as the JSON text the caller asked for.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

__all__ = [
    "ResponseToolStream",
    "response_tool",
    "response_tool_as_text",
    "response_tool_name",
]


def _json_schema(fmt: Any) -> dict[str, Any] | None:
    """The `json_schema` object of a response format (a class, or an OpenAI dict)."""
    if isinstance(fmt, type):
        function = convert_to_openai_tool(fmt)["function"]
        return {
            "name": function.get("name", "response"),
            "description": function.get("description", ""),
            "schema": function.get("parameters", {}),
        }
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema")
        return inner if isinstance(inner, dict) else {}
    return None


def response_tool_name(fmt: Any) -> str | None:
    """The tool name a JSON-schema `response_format` is asked for as, or None for others."""
    schema = _json_schema(fmt)
    if schema is None:
        return None
    return str(schema.get("name") or "response")


def response_tool(fmt: Any) -> dict[str, Any]:
    """The OpenAI tool that asks for `fmt`'s schema (see `response_tool_name`)."""
    schema = _json_schema(fmt) or {}
    function: dict[str, Any] = {
        "name": str(schema.get("name") or "response"),
        "description": schema.get("description")
        or "Respond with your final answer as this tool's arguments.",
        "parameters": schema.get("schema") or {"type": "object", "properties": {}},
    }
    return {"type": "function", "function": function}


def _as_text(message: AIMessage, name: str) -> AIMessage:
    calls = [c for c in message.tool_calls if c["name"] == name]
    if not calls:
        return message
    content = json.dumps(calls[0]["args"], ensure_ascii=False)
    raw = [
        c
        for c in message.additional_kwargs.get("tool_calls") or []
        if (c.get("function") or {}).get("name") != name
    ]
    kwargs = {k: v for k, v in message.additional_kwargs.items() if k != "tool_calls"}
    if raw:
        kwargs["tool_calls"] = raw
    return message.model_copy(
        update={
            "content": content,
            "tool_calls": [c for c in message.tool_calls if c["name"] != name],
            "additional_kwargs": kwargs,
        }
    )


def response_tool_as_text(result: ChatResult, name: str) -> ChatResult:
    """Turn the response tool's call into the answer's JSON text, in every generation."""
    for generation in result.generations:
        if isinstance(generation.message, AIMessage):
            generation.message = _as_text(generation.message, name)
            generation.text = generation.message.text
    return result


class ResponseToolStream:
    """The same on a stream: the response tool's argument pieces become content pieces."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._index: int | None = None

    def push(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        """Return `chunk` with the response tool's call chunks moved into `content`."""
        message = chunk.message
        if not isinstance(message, AIMessageChunk) or not message.tool_call_chunks:
            return chunk
        kept, text = [], ""
        for piece in message.tool_call_chunks:
            if piece.get("name") == self._name:
                self._index = piece.get("index")
            if piece.get("name") == self._name or (
                piece.get("name") is None
                and self._index is not None
                and piece.get("index") == self._index
            ):
                text += piece.get("args") or ""
            else:
                kept.append(piece)
        if len(kept) == len(message.tool_call_chunks):
            return chunk
        content = message.content if isinstance(message.content, str) else ""
        kwargs = {k: v for k, v in message.additional_kwargs.items() if k != "tool_calls"}
        new = AIMessageChunk(
            content=content + text,
            additional_kwargs=kwargs,
            response_metadata=message.response_metadata,
            tool_call_chunks=kept,
            usage_metadata=message.usage_metadata,
            id=message.id,
            chunk_position=message.chunk_position,
        )
        return ChatGenerationChunk(message=new, generation_info=chunk.generation_info)
