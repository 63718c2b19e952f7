"""Structured-output helpers of kimi_graph.chat_models._structured_output (no server needed)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel
from typing_extensions import TypedDict

from kimi_graph.chat_models._structured_output import json_schema_format, tool_or_json_parser


class Person(BaseModel):
    name: str
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


@pytest.mark.parametrize("schema", [Person, PersonDict])
def test_json_schema_format_is_plain_json(schema: type) -> None:
    fmt = json_schema_format(schema, strict=True)
    json.dumps(fmt)  # goes into the request body as is
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"name", "age"}
    assert "strict" not in json_schema_format(schema)["json_schema"]


def test_parser_prefers_the_tool_call() -> None:
    parse = tool_or_json_parser(Person, "Person")
    call = {"type": "tool_call", "id": "c1", "name": "Person", "args": {"name": "Ada", "age": 36}}
    message = AIMessage(content='{"name": "Bob", "age": 1}', tool_calls=[call])
    assert parse(message) == Person(name="Ada", age=36)


def test_parser_reads_json_text_and_name_arguments_wrapper() -> None:
    parse = tool_or_json_parser(None, "Person")
    text = '```json\n{"name": "Person", "arguments": {"name": "Ada", "age": 36}}\n```'
    assert parse(AIMessage(content=text)) == {"name": "Ada", "age": 36}


def test_parser_names_the_tool_when_there_is_no_json() -> None:
    parse = tool_or_json_parser(Person, "Person")
    with pytest.raises(ValueError, match="Person"):
        parse(AIMessage(content="I am not sure."))
    with pytest.raises(ValueError, match="no JSON object"):
        parse(AIMessage(content="[1, 2]"))
