"""Request validation: generic body checks and Moonshot's HTTP 400 rules (docs/wire.md §1)."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "FIXED_SAMPLING_MODELS",
    "MAX_TOOLS",
    "K3_MODELS",
    "ApiError",
    "check_thinking_field",
    "validate_body",
    "validate_moonshot",
]

_FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9\-_]{0,63}$")
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_TOOLS = 128

#: Moonshot models whose sampling parameters are fixed (docs/wire.md §1.4).
FIXED_SAMPLING_MODELS = frozenset(
    {"kimi-k2.5", "kimi-k2.6", "kimi-k2-thinking", "kimi-k2-thinking-turbo"}
)
#: K3 and K3.1 on Moonshot: temperature 1 only (WIRE.md §8.2, two real logs), and
#: `tool_choice="required"` taken while reasoning (§8.2, [S]).
K3_MODELS = frozenset({"kimi-k3", "kimi-k3.1", "kimi-k3.1-pro", "kimi-k3.1-pro-highspeed"})


class ApiError(Exception):
    """An error answered to the client as an HTTP status with a JSON error body.

    Attributes:
        status: HTTP status code.
        message: Human-readable message, verbatim on the wire.
        type: Error type (dialects that format errors differently may ignore it).
        headers: Extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.headers = headers or {}


def _json_type(value: Any) -> str:
    """Name a JSON value's type the way Moonshot's (Go) validator does."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_body(body: Any) -> None:
    """Check the shape every dialect requires of a chat-completion body.

    Args:
        body: The parsed JSON body.

    Raises:
        ApiError: 400 when the body is not an object or ``messages`` is missing or invalid.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    messages = body.get("messages")
    if messages is None:
        raise ApiError(400, "messages is required: a non-empty list of message objects")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of message objects")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in _ROLES:
            raise ApiError(
                400, f"invalid message at index {i}: role must be one of {sorted(_ROLES)}"
            )


def check_thinking_field(value: Any) -> bool | None:
    """Interpret Moonshot's top-level ``thinking`` field (docs/wire.md §1.2).

    Args:
        value: The field's value (``None`` when absent).

    Returns:
        ``True``/``False`` for enabled/disabled, ``None`` when absent.

    Raises:
        ApiError: 400 for a non-object (e.g. a bool) or an unknown ``type``.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "the thinking field in the request (expected type object) is illegal, "
            f"and {_json_type(value)} is not acceptable",
        )
    kind: object = value.get("type")
    if kind not in ("enabled", "disabled"):
        raise ApiError(400, f"invalid thinking type {kind!r}: expected 'enabled' or 'disabled'")
    return kind == "enabled"


def _check_fixed(body: dict[str, Any], key: str, allowed: float, label: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"invalid {key}: only {label} is allowed for this model")
    if not math.isclose(float(value), allowed, abs_tol=1e-9):
        raise ApiError(400, f"invalid {key}: only {label} is allowed for this model")


def validate_moonshot(body: dict[str, Any], model: str, thinking: bool) -> None:
    """Apply Moonshot's validation rules (docs/wire.md §1.4–§1.6).

    Args:
        body: The request body (already shape-checked).
        model: The requested model id.
        thinking: Whether thinking is on for this request.

    Raises:
        ApiError: 400 with Moonshot's message for the first rule the request breaks.
    """
    if model in FIXED_SAMPLING_MODELS:
        if thinking:
            _check_fixed(body, "temperature", 1.0, "1")
        else:
            _check_fixed(body, "temperature", 0.6, "0.6")
        _check_fixed(body, "top_p", 0.95, "0.95")
        _check_fixed(body, "n", 1, "1")
        _check_fixed(body, "presence_penalty", 0.0, "0")
        _check_fixed(body, "frequency_penalty", 0.0, "0")
    if model in K3_MODELS:
        _check_fixed(body, "temperature", 1.0, "1")
    _check_tools(body.get("tools"))
    choice = body.get("tool_choice")
    if thinking and choice == "required" and model not in K3_MODELS:
        raise ApiError(400, "tool_choice 'required' is incompatible with thinking enabled")
    if thinking and isinstance(choice, dict):
        raise ApiError(400, "tool_choice 'specified' is incompatible with thinking enabled")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text", "json_object"):
        raise ApiError(
            400,
            f"invalid response_format type {fmt.get('type')!r}: "
            "only 'text' and 'json_object' are supported",
        )
    _check_answered_calls(body["messages"])
    if thinking:
        for i, msg in enumerate(body["messages"]):
            if (
                msg.get("role") == "assistant"
                and msg.get("tool_calls")
                and msg.get("reasoning_content") is None
            ):
                raise ApiError(
                    400,
                    "thinking is enabled but reasoning_content is missing in assistant "
                    f"tool call message at index {i}",
                )


def _check_answered_calls(messages: list[dict[str, Any]]) -> None:
    """Every tool call of an assistant turn is answered before the conversation goes on.

    A turn whose calls end the conversation is left alone (its results may follow).
    """
    for i, msg in enumerate(messages):
        calls = msg.get("tool_calls") if msg.get("role") == "assistant" else None
        if not isinstance(calls, list) or not calls:
            continue
        j = i + 1
        answered = set()
        while j < len(messages) and messages[j].get("role") == "tool":
            answered.add(messages[j].get("tool_call_id"))
            j += 1
        if j == len(messages):
            continue
        missing = [c.get("id") for c in calls if isinstance(c, dict)]
        missing = [c for c in missing if c not in answered]
        if missing:
            raise ApiError(
                400,
                f"an assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'; not answered: {', '.join(map(str, missing))}",
            )


def _check_tools(tools: Any) -> None:
    """Moonshot's limits on the ``tools`` list (count and function names)."""
    if tools is None:
        return
    if not isinstance(tools, list):
        raise ApiError(400, "invalid tools: expected an array of tool objects")
    if len(tools) > MAX_TOOLS:
        raise ApiError(
            400, f"too many tools: at most {MAX_TOOLS} functions are allowed, got {len(tools)}"
        )
    for tool in tools:
        if not isinstance(tool, dict):
            raise ApiError(400, "invalid tools: expected an array of tool objects")
        if tool.get("type") == "builtin_function":
            continue
        fn = tool.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if tool.get("type") != "function" or not isinstance(name, str):
            raise ApiError(400, "invalid tool: type must be 'function' with a function.name")
        if not _FUNCTION_NAME.match(name):
            raise ApiError(
                400,
                f"function name {name!r} is invalid: it must match "
                "^[a-zA-Z_][a-zA-Z0-9-_]{0,63}$",
            )
