"""Structured output for `ChatKimi`: `with_structured_output` and its parser.

Every server K2.5 runs on takes tool calling; guided JSON (`response_format` with a
JSON schema) only some (`Backend.supports_json_schema`). Whatever the method, the
parser accepts the schema's tool call or, failing that, JSON in the answer's text:
Moonshot with thinking on cannot force a tool (`tool_choice` other than "auto"/"none"
is refused, docs/wire.md), and raw-output fallbacks may leave the JSON in the text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.json import parse_json_markdown
from pydantic import BaseModel
from pydantic.v1 import BaseModel as BaseModelV1

__all__ = [
    "STRUCTURED_TOOL_KWARG",
    "Method",
    "json_schema_format",
    "structured_output",
    "tool_or_json_parser",
]

STRUCTURED_TOOL_KWARG = "kimi_structured_tool"
"""Call keyword naming the schema's tool, so the request builder knows it is forced."""

Method = Literal["function_calling", "json_mode", "json_schema"]


def json_schema_format(schema: type, *, strict: bool | None = None) -> dict[str, Any]:
    """The `response_format` asking for JSON that follows a pydantic class or TypedDict.

    Args:
        schema: The class.
        strict: Ask for strict schema adherence (None: leave it to the server).

    Returns:
        `{"type": "json_schema", "json_schema": {"name", "schema"[, "strict"]}}`.
    """
    return _json_schema_format(convert_to_openai_tool(schema)["function"], strict)


def _json_schema_format(function: dict[str, Any], strict: bool | None) -> dict[str, Any]:
    json_schema: dict[str, Any] = {
        "name": function.get("name", ""),
        "schema": function.get("parameters", {}),
    }
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}


def structured_output(
    model: BaseChatModel,
    schema: dict[str, Any] | type | None,
    *,
    supports_json_schema: bool,
    method: Method | None,
    include_raw: bool,
    strict: bool | None,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """Build `ChatKimi.with_structured_output` (see there for the other arguments).

    Args:
        model: The chat model to bind tools or a response format to.
        schema: The output schema.
        supports_json_schema: The server takes `response_format` with a JSON schema.
        method: How to ask for the schema; None picks the best the server offers.
        include_raw: Return `{"raw", "parsed", "parsing_error"}` instead.
        strict: Ask for strict schema adherence.
        **kwargs: Passed on to `bind`.

    Raises:
        ValueError: If `method` needs a schema and none is given, or is unknown.
    """
    if method is None or (method == "json_schema" and not supports_json_schema):
        method = "json_schema" if supports_json_schema else "function_calling"
    if schema is None and method != "json_mode":
        msg = f"with_structured_output(method={method!r}) needs a schema."
        raise ValueError(msg)
    function = convert_to_openai_tool(schema)["function"] if schema is not None else {}
    tool_name: str = function.get("name", "")
    traced = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    llm: Runnable[LanguageModelInput, Any]
    if method == "function_calling":
        assert schema is not None  # checked above
        bound: dict[str, Any] = {STRUCTURED_TOOL_KWARG: tool_name, **kwargs}
        llm = model.bind_tools(
            [schema],
            tool_choice=tool_name,
            parallel_tool_calls=False,
            strict=strict,
            ls_structured_output_format=traced,
            **bound,
        )
    elif method == "json_schema":
        llm = model.bind(
            response_format=_json_schema_format(function, strict),
            ls_structured_output_format=traced,
            **kwargs,
        )
    elif method == "json_mode":
        llm = model.bind(
            response_format={"type": "json_object"},
            ls_structured_output_format=traced,
            **kwargs,
        )
    else:
        msg = f"Unknown method {method!r}: use function_calling, json_schema or json_mode."
        raise ValueError(msg)
    parser = RunnableLambda(tool_or_json_parser(schema, tool_name), name="KimiOutputParser")
    if include_raw:
        parser_assign = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
        with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
        return RunnableMap(raw=llm) | with_fallback
    return llm | parser


def tool_or_json_parser(schema: Any, tool_name: str) -> Callable[[AIMessage], Any]:
    """Parse the schema's tool call, else JSON in the answer (all methods, all servers).

    Args:
        schema: The schema given to `with_structured_output` (None for JSON mode).
        tool_name: The schema's tool name.

    Returns:
        A function from the answer to a dict, or to an instance of a pydantic `schema`;
        it raises `ValueError` when the answer holds neither.
    """
    is_pydantic = isinstance(schema, type) and issubclass(schema, (BaseModel, BaseModelV1))

    def parse(message: AIMessage) -> Any:
        args = next((c["args"] for c in message.tool_calls if c["name"] == tool_name), None)
        if args is None:
            text = message.text
            try:
                args = parse_json_markdown(text) if text.strip() else None
            except json.JSONDecodeError as err:
                msg = f"The model neither called {tool_name} nor answered with JSON: {text!r}"
                raise ValueError(msg) from err
            if isinstance(args, dict) and set(args) == {"name", "arguments"}:
                args = args["arguments"]
        if not isinstance(args, dict):
            msg = f"The model did not call {tool_name} and gave no JSON object: {args!r}"
            raise ValueError(msg)
        if not is_pydantic:
            return args
        if issubclass(schema, BaseModelV1):
            return schema.parse_obj(args)
        return schema.model_validate(args)

    return parse
