"""Checks on what a server answers: completion shape and tool-call arguments.

A 200 can still be unusable (no choices, a null message, a tool call without an id,
two calls sharing an id): each raises `MalformedResponseError` naming the server,
instead of an `IndexError` deep inside LangChain. Tool-call arguments must be a JSON
object; anything else (`[1,2]`, `"str"`, `123`, truncated JSON) becomes an invalid
tool call, which the agent graph answers with an error message to the model. Streams
get the same verdict as `invoke`: LangChain's chunk merging "repairs" truncated JSON,
so the final message is checked against the raw argument text it also carries.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, InvalidToolCall

from kimi_graph._transport.endpoint import MalformedResponseError

NOT_AN_OBJECT = "Arguments are not a JSON object"


def arguments_error(arguments: Any) -> str | None:
    """Why tool-call arguments are unusable, or None when they are a JSON object.

    Empty arguments (None or "") stand for a call without parameters and pass.

    Args:
        arguments: The raw `function.arguments` text.
    """
    if arguments is None or arguments == "":
        return None
    if not isinstance(arguments, str):
        return f"{NOT_AN_OBJECT}: got {type(arguments).__name__}."
    try:
        value = json.loads(arguments, strict=False)
    except json.JSONDecodeError as err:
        return f"{NOT_AN_OBJECT}: invalid JSON ({err.msg} at char {err.pos})."
    if not isinstance(value, dict):
        return f"{NOT_AN_OBJECT}: got a JSON {type(value).__name__}."
    return None


def _bad(where: str, endpoint: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"Malformed response from {endpoint}: {where} {detail}")


def check_tool_call_ids(calls: list[Any], endpoint: str, where: str) -> None:
    """Raise unless every tool call has a distinct, non-empty string id.

    Raises:
        MalformedResponseError: Naming the server and the offending call.
    """
    seen: set[str] = set()
    for i, call in enumerate(calls):
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise _bad(where, endpoint, f"has tool call #{i} without an id.")
        if call_id in seen:
            raise _bad(where, endpoint, f"has two tool calls with the id {call_id!r}.")
        seen.add(call_id)


def check_completion(data: Any, endpoint: str) -> list[list[InvalidToolCall]]:
    """Validate a chat completion body; take out calls whose arguments are unusable.

    Args:
        data: The response as a dict (modified in place: unusable tool calls are
            removed from `choices[i].message.tool_calls`).
        endpoint: The server's base URL without credentials, for the messages.

    Returns:
        Per choice, the tool calls removed, as invalid tool calls.

    Raises:
        MalformedResponseError: When the body is not a usable chat completion.
    """
    if not isinstance(data, dict):
        raise _bad("the body", endpoint, f"is not a JSON object: {str(data)[:200]!r}")
    if data.get("error"):
        raise _bad("the body", endpoint, f"is an error: {str(data['error'])[:300]}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _bad("the body", endpoint, f"has no choices (choices={choices!r}).")
    removed: list[list[InvalidToolCall]] = []
    for i, choice in enumerate(choices):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _bad(f"choice {i}", endpoint, f"has no message (message={message!r}).")
        calls = message.get("tool_calls")
        invalid: list[InvalidToolCall] = []
        if calls:
            if not isinstance(calls, list):
                raise _bad(f"choice {i}", endpoint, "has tool_calls that are not a list.")
            check_tool_call_ids(calls, endpoint, f"choice {i}")
            kept = []
            for call in calls:
                function = call.get("function")
                if not isinstance(function, dict):
                    detail = f"has tool call {call['id']!r} with no function."
                    raise _bad(f"choice {i}", endpoint, detail)
                error = arguments_error(function.get("arguments"))
                if error is None:
                    kept.append(call)
                    continue
                invalid.append(
                    InvalidToolCall(
                        type="invalid_tool_call",
                        id=call["id"],
                        name=function.get("name"),
                        args=function.get("arguments"),
                        error=error,
                    )
                )
            message["tool_calls"] = kept or None
        removed.append(invalid)
    return removed


RAW_ARGS_KEY = "kimi_raw_tool_args"
"""`additional_kwargs` key of a chunk's raw argument pieces, between the chunk reader and
`_stream_tidy.StreamTidy` only (which takes it out before the caller sees the chunk)."""


def raw_argument_pieces(delta_calls: Any) -> list[dict[str, Any]]:
    """The raw argument text of a stream delta's tool calls, to merge across chunks.

    Args:
        delta_calls: `choices[0].delta.tool_calls` of a chunk (or raw-token calls as
            dicts with `index`, `id` and `function.arguments`).

    Returns:
        One `{"index", "id", "args"}` piece per call (`id` only when the delta has one).
    """
    pieces: list[dict[str, Any]] = []
    if not isinstance(delta_calls, list):
        return pieces
    for call in delta_calls:
        if not isinstance(call, dict) or not isinstance(call.get("index"), int):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        piece: dict[str, Any] = {"index": call["index"], "args": function.get("arguments") or ""}
        if call.get("id"):
            piece["id"] = call["id"]
        pieces.append(piece)
    return pieces


def strict_tool_calls(message: Any, pieces: list[dict[str, Any]]) -> Any:
    """Return `message` with calls whose raw arguments are not a JSON object made invalid.

    A streamed message's `tool_calls` come from LangChain's partial-JSON parsing of the
    merged chunks, which completes truncated JSON. The raw argument text of the stream
    (collected by `_stream_tidy.collecting_raw_arguments`, never left in a chunk) gets
    `invoke`'s rule here.

    Args:
        message: Any message; only an `AIMessage` is changed.
        pieces: The stream's raw argument pieces (`raw_argument_pieces`), in order;
            empty for an answer that was not streamed, which is returned as it is.
    """
    if not isinstance(message, AIMessage) or not pieces:
        return message
    by_index: dict[int, dict[str, Any]] = {}
    for piece in pieces:
        slot = by_index.setdefault(piece["index"], {"id": None, "args": ""})
        slot["id"] = slot["id"] or piece.get("id")
        slot["args"] += piece.get("args") or ""
    raw_args = {str(slot["id"]): slot["args"] for slot in by_index.values() if slot["id"]}
    kept: list[Any] = []
    invalid: list[InvalidToolCall] = []
    for call in message.tool_calls:
        key = str(call.get("id"))
        error = arguments_error(raw_args[key]) if key in raw_args else None
        if error is None:
            kept.append(call)
            continue
        invalid.append(
            InvalidToolCall(
                type="invalid_tool_call",
                id=call["id"],
                name=call["name"],
                args=raw_args[key],
                error=error,
            )
        )
    for bad in message.invalid_tool_calls:
        if not bad.get("error"):
            reason = arguments_error(bad.get("args")) or f"{NOT_AN_OBJECT}."
            bad = InvalidToolCall(**{**bad, "error": reason})
        invalid.append(bad)
    return message.model_copy(update={"tool_calls": kept, "invalid_tool_calls": invalid})
