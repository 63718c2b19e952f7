"""Request and response shapes of `/v1/chat/completions`, and messages to LangChain.

The request follows OpenAI's chat completions; unknown fields (`thinking`,
`chat_template_kwargs`, `user`, ...) are accepted and ignored, since the model name
picks the mode. An assistant message may carry the client's own `reasoning_content`
(or `reasoning`): it is kept on the LangChain message, so `ChatKimi` writes it back in
the field the upstream server reads.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kimi_graph.serve.errors import ApiError

__all__ = [
    "ChatRequest",
    "MessageIn",
    "SAMPLING_FIELDS",
    "THREAD_ID_PATTERN",
    "StreamOptions",
    "chunk_body",
    "completion_body",
    "finish_reason",
    "new_id",
    "openai_tool_calls",
    "parse_request",
    "public_url",
    "to_langchain",
]

THREAD_ID_PATTERN = r"^[!-~]{1,200}$"
"""A thread id: 1 to 200 visible ASCII characters (it is echoed in a response header)."""

SAMPLING_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop")
"""Request fields passed on to the answering model, beside `max_tokens`."""


class MessageIn(BaseModel):
    """One message of the conversation, as OpenAI clients send it."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class StreamOptions(BaseModel):
    """`stream_options`: only `include_usage` means something here."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """The body of `POST /v1/chat/completions`."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    thread_id: str | None = Field(default=None, pattern=THREAD_ID_PATTERN)

    def model_params(self) -> dict[str, Any]:
        """`max_tokens` and the sampling fields the client set, as `ChatKimi` fields."""
        params: dict[str, Any] = {}
        limit = self.max_completion_tokens or self.max_tokens
        if limit is not None:
            params["max_tokens"] = limit
        for name in SAMPLING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                params[name] = tuple(value) if isinstance(value, list) else value
        return params

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


def parse_request(raw: bytes) -> ChatRequest:
    """Parse and validate a request body.

    Raises:
        ApiError: 400 naming the field at fault.
    """
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"/v1/chat/completions: the body is not valid JSON ({err})"
        raise ApiError(400, msg, "invalid_json") from None
    except RecursionError:
        msg = "/v1/chat/completions: the body is nested too deeply"
        raise ApiError(400, msg, "invalid_json") from None
    if not isinstance(data, dict):
        msg = "/v1/chat/completions: the body must be a JSON object"
        raise ApiError(400, msg, "invalid_json")
    try:
        return ChatRequest.model_validate(data)
    except RecursionError:
        msg = "/v1/chat/completions: the body is nested too deeply"
        raise ApiError(400, msg, "invalid_json") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        msg = f"/v1/chat/completions: {where}: {first['msg']}"
        raise ApiError(400, msg, "invalid_value", param=where) from None


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def _assistant(message: MessageIn, index: int) -> AIMessage:
    tool_calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for call in message.tool_calls or []:
        function = call.get("function") or {}
        name, arguments = function.get("name"), function.get("arguments") or "{}"
        if not isinstance(name, str):
            msg = f"/v1/chat/completions: messages.{index}.tool_calls: a call has no name"
            raise ApiError(400, msg, "invalid_value", param=f"messages.{index}.tool_calls")
        if not isinstance(arguments, (str, dict)):
            msg = (
                f"/v1/chat/completions: messages.{index}.tool_calls: the arguments of "
                f"{name} must be a JSON string (got {type(arguments).__name__})"
            )
            raise ApiError(400, msg, "invalid_value", param=f"messages.{index}.tool_calls")
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else arguments
        except (json.JSONDecodeError, RecursionError) as err:
            invalid.append(
                {"name": name, "args": arguments, "id": call.get("id"), "error": str(err)}
            )
            continue
        if not isinstance(args, dict):
            invalid.append(
                {"name": name, "args": arguments, "id": call.get("id"), "error": "not an object"}
            )
            continue
        tool_calls.append({"name": name, "args": args, "id": call.get("id"), "type": "tool_call"})
    kwargs: dict[str, Any] = {}
    reasoning = message.reasoning_content if message.reasoning_content is not None else None
    if reasoning is None and message.reasoning is not None:
        reasoning = message.reasoning
    if reasoning is not None:
        kwargs["reasoning_content"] = reasoning
    return AIMessage(
        content=_text(message.content),
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        additional_kwargs=kwargs,
        name=message.name,
    )


def to_langchain(messages: list[MessageIn]) -> list[AnyMessage]:
    """Convert the request's messages to LangChain messages, reasoning included.

    Raises:
        ApiError: 400 for a tool message without `tool_call_id` or a nameless tool call.
    """
    out: list[AnyMessage] = []
    for index, message in enumerate(messages):
        if message.role in ("system", "developer"):
            out.append(SystemMessage(_text(message.content)))
        elif message.role == "user":
            content = message.content if message.content is not None else ""
            out.append(HumanMessage(content=content, name=message.name))  # type: ignore[arg-type]
        elif message.role == "assistant":
            out.append(_assistant(message, index))
        else:
            if not message.tool_call_id:
                msg = f"/v1/chat/completions: messages.{index}: a tool message needs tool_call_id"
                raise ApiError(400, msg, "invalid_value", param=f"messages.{index}.tool_call_id")
            out.append(
                ToolMessage(
                    content=_text(message.content),
                    tool_call_id=message.tool_call_id,
                    name=message.name,
                )
            )
    return out


def public_url(url: str) -> str:
    """`url` without a `user:password@` part, safe to show to clients."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def new_id() -> str:
    """A fresh completion id, `chatcmpl-...`."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(message: AIMessage | None, *, client_tools: bool = False) -> str:
    """OpenAI's finish reason for the final message (`stop`, `length` or `tool_calls`).

    `tool_calls` only with `client_tools`: the server's own tool calls are not the
    client's to run.
    """
    if message is None:
        return "stop"
    if client_tools and (message.tool_calls or message.invalid_tool_calls):
        return "tool_calls"
    reason = message.response_metadata.get("finish_reason")
    return "length" if reason == "length" else "stop"


def openai_tool_calls(message: AIMessage | None) -> list[dict[str, Any]]:
    """The message's tool calls in OpenAI's shape (arguments as JSON text).

    Calls whose arguments were not a JSON object are passed on as the model wrote them.
    """
    if message is None:
        return []
    calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call["args"], ensure_ascii=False),
            },
        }
        for call in message.tool_calls
    ]
    calls += [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {"name": call.get("name") or "", "arguments": call.get("args") or ""},
        }
        for call in message.invalid_tool_calls
    ]
    return calls


def completion_body(
    *,
    completion_id: str,
    model: str,
    content: str,
    reasoning: str | None,
    reason: str,
    usage: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A non-streamed `chat.completion` body (`content` null beside tool calls)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
        message["content"] = content or None
    if reasoning:
        message["reasoning_content"] = reasoning
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    if extra:
        body["kimi_graph"] = extra
    return body


def chunk_body(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None = None,
    *,
    reason: str | None = None,
    usage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; `delta=None` with `usage` is the usage chunk."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    if extra is not None:
        body["kimi_graph"] = extra
    return body
