"""`response_format` on `kimi-instant` / `kimi-thinking`: JSON through structured output.

The answering call goes through `ChatKimi.with_structured_output` (guided JSON where
the upstream has it, the schema as a tool on Moonshot, JSON in the text parsed as
well), and the parsed object becomes the answer's content, serialized. A model that
gives no JSON is a 502 naming the model, never prose in JSON mode. The answer keeps
the call's reasoning, usage and id, so streams and usage read it as any answer.

With the client's own tools too (the OpenAI Agents SDK sends both for an agent with
tools and an `output_type`), the call answers tool calls or a JSON object
(`JsonFormat.answering_with_tools`).

`kimi-agent` and `kimi-swarm` answer after a tool loop or a synthesis that this path
does not reach: a `response_format` there is a 400 (`refuse_for_mode`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.json import parse_json_markdown

from kimi_graph.chat_models import ChatKimi
from kimi_graph.serve.client_tools import ClientTools
from kimi_graph.serve.errors import ApiError

__all__ = [
    "SCHEMA_HINT",
    "JsonFormat",
    "json_schema_format_of",
    "parse_response_format",
    "refuse_for_mode",
]

ENDPOINT = "/v1/chat/completions"


def refuse_for_mode(model_name: str) -> ApiError:
    """The 400 for a JSON `response_format` on `kimi-agent` / `kimi-swarm`."""
    msg = (
        f"{ENDPOINT}: `response_format` is not available on {model_name} (its answer comes "
        "after a server-side tool loop); use kimi-instant or kimi-thinking for JSON output"
    )
    return ApiError(400, msg, "unsupported_value", param="response_format")


@dataclass(frozen=True)
class JsonFormat:
    """A JSON `response_format`: `json_object`, or `json_schema` with its schema.

    Attributes:
        schema: An OpenAI function (`name`, `parameters`) for `json_schema`; None for
            `json_object`.
        strict: The client's `json_schema.strict`.
    """

    schema: dict[str, Any] | None
    strict: bool | None = None

    def key(self) -> str:
        """A stable key of this format (graphs are cached per key)."""
        return json.dumps([self.schema, self.strict], sort_keys=True)

    def answering(self, model: ChatKimi, *, served: str) -> Runnable[Any, AIMessage]:
        """`model` answering with JSON: an `AIMessage` whose content is the JSON text.

        Args:
            model: The answering model, thinking already set as the mode wants.
            served: The served model name, for messages.
        """
        method: Literal["json_mode"] | None = "json_mode" if self.schema is None else None
        structured = model.with_structured_output(
            self.schema, method=method, include_raw=True, strict=self.strict
        )

        def as_answer(result: Any) -> AIMessage:
            raw = result["raw"]
            parsed = result["parsed"]
            if not isinstance(raw, AIMessage) or parsed is None:
                error = result.get("parsing_error")
                msg = f"{ENDPOINT} ({served}): the model did not answer with JSON ({error})"
                raise ApiError(502, msg, "invalid_model_output")
            reasoning = raw.additional_kwargs.get("reasoning_content")
            return AIMessage(
                content=json.dumps(parsed, ensure_ascii=False),
                additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
                response_metadata=raw.response_metadata,
                usage_metadata=raw.usage_metadata,
                id=raw.id,
            )

        return structured | RunnableLambda(as_answer, name="json_answer")

    def answering_with_tools(
        self, model: ChatKimi, tools: ClientTools, *, thinking: bool, served: str
    ) -> Runnable[Any, AIMessage]:
        """`model` with the client's tools, answering tool calls or JSON (see `_with_tools`).

        Args:
            model: The answering model, thinking already set as the mode wants.
            tools: The client's tools.
            thinking: Thinking as the served mode sets it.
            served: The served model name, for messages.
        """
        return _with_tools(self, model, tools, thinking=thinking, served=served)


def _with_tools(
    fmt: JsonFormat, model: ChatKimi, tools: ClientTools, *, thinking: bool, served: str
) -> Runnable[Any, AIMessage]:
    """The client's tools and JSON output in one call: tool calls, or a JSON answer.

    The format goes to the upstream as it can take it: `json_schema` where it guides
    JSON, else `json_object` with the schema in a system message (Moonshot). An answer
    without tool calls must be a JSON object (502 otherwise); it is sent re-serialized.
    """
    if fmt.schema is not None and model.kimi_backend.supports_json_schema:
        response_format = json_schema_format_of(fmt)
    else:
        response_format = {"type": "json_object"}
    bound = tools.bind(model, thinking=thinking, served=served)
    bound = bound.bind(response_format=response_format)
    hint = (
        None
        if fmt.schema is None or response_format["type"] == "json_schema"
        else SCHEMA_HINT.format(schema=json.dumps(fmt.schema["parameters"], ensure_ascii=False))
    )

    def prompt(messages: list[AnyMessage]) -> list[AnyMessage]:
        return [*messages, SystemMessage(hint)] if hint else messages

    def checked(message: AIMessage) -> AIMessage:
        if message.tool_calls or message.invalid_tool_calls:
            return message
        try:
            value = parse_json_markdown(message.text) if message.text.strip() else None
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            msg = f"{ENDPOINT} ({served}): the model did not answer with a JSON object"
            raise ApiError(502, msg, "invalid_model_output")
        return message.model_copy(update={"content": json.dumps(value, ensure_ascii=False)})

    return RunnableLambda(prompt) | bound | RunnableLambda(checked, name="json_answer")


SCHEMA_HINT = "Answer with one JSON object that follows this JSON schema: {schema}"
"""How the schema reaches a model whose server has no `json_schema` mode."""


def json_schema_format_of(fmt: JsonFormat) -> dict[str, Any]:
    """`fmt` as OpenAI's `response_format` of type `json_schema`."""
    assert fmt.schema is not None
    spec: dict[str, Any] = {"name": fmt.schema["name"], "schema": fmt.schema["parameters"]}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def parse_response_format(value: Any) -> JsonFormat | None:
    """The request's `response_format` (None for absent or `text`).

    Raises:
        ApiError: 400 for an unknown type or a `json_schema` without a schema object.
    """
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonFormat(None)
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            msg = f"{ENDPOINT}: response_format.json_schema.schema must be a JSON schema object"
            raise ApiError(400, msg, "invalid_value", param="response_format")
        assert isinstance(spec, dict)
        name = spec.get("name") or "answer"
        function: dict[str, Any] = {"name": str(name), "parameters": schema}
        if isinstance(spec.get("description"), str):
            function["description"] = spec["description"]
        strict = spec.get("strict")
        return JsonFormat(function, strict if isinstance(strict, bool) else None)
    msg = f"{ENDPOINT}: response_format.type must be 'text', 'json_object' or 'json_schema'"
    raise ApiError(400, msg, "invalid_value", param="response_format")
