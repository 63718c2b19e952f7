"""`response_format` on `kimi-instant` / `kimi-thinking`: JSON through structured output.

The answering call goes through `ChatKimi.with_structured_output` (guided JSON where
the upstream has it, the schema as a tool on Moonshot, JSON in the text parsed as
well), and the parsed object becomes the answer's content, serialized. A model that
gives no JSON is a 502 naming the model, never prose in JSON mode. The answer keeps
the call's reasoning, usage and id, so streams and usage read it as any answer.

`kimi-agent` and `kimi-swarm` answer after a tool loop or a synthesis that this path
does not reach: a `response_format` there is a 400 (`refuse_for_mode`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda

from kimi_graph.chat_models import ChatKimi
from kimi_graph.serve.errors import ApiError

__all__ = [
    "JsonFormat",
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
