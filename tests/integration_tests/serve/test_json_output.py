"""`response_format` honoured on kimi-instant / kimi-thinking, refused elsewhere (issue 17.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServerThread
from tests.integration_tests.serve_helpers import CannedUpstream, completion, served, served_on

PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}
QUESTION = [{"role": "user", "content": "Alice is 31. Give her name and age."}]


@pytest.fixture(scope="module", params=["moonshot", "vllm"])
def server(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[ServerThread]:
    """Moonshot has no json_schema mode (a tool carries the schema); vLLM guides JSON."""
    with served(emulator, request.param) as srv:
        srv.dialect = request.param  # type: ignore[attr-defined]
        yield srv


def _client(server: ServerThread) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="x", max_retries=0)


@pytest.mark.parametrize("model", ["kimi-instant", "kimi-thinking"])
def test_json_schema_answers_json_that_follows_the_schema(
    server: ServerThread, emulator: Emulator, model: str
) -> None:
    mark = len(emulator.requests)
    reply = _client(server).chat.completions.create(
        model=model,
        messages=QUESTION,  # type: ignore[arg-type]
        response_format=PERSON,  # type: ignore[arg-type]
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert set(value) >= {"name", "age"} and isinstance(value["age"], int)
    assert reply.choices[0].finish_reason == "stop"
    assert not reply.choices[0].message.tool_calls
    (record,) = emulator.requests[mark:]
    if server.dialect == "vllm":  # type: ignore[attr-defined]
        assert record.body["response_format"]["type"] == "json_schema"
    else:  # Moonshot refuses json_schema: the schema travels as a tool
        assert "response_format" not in record.body
        assert record.body["tools"][0]["function"]["name"] == "person"
    if model == "kimi-thinking":
        assert record.thinking and reply.choices[0].message.model_extra["reasoning_content"]


def test_json_object_answers_a_json_object(server: ServerThread, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    reply = _client(server).chat.completions.create(
        model="kimi-thinking",
        messages=[{"role": "user", "content": "What is 2+3*4?"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"answer": "14"}
    assert emulator.requests[mark].body["response_format"] == {"type": "json_object"}


def test_streamed_json_is_sent_whole_after_the_reasoning(server: ServerThread) -> None:
    chunks = list(
        _client(server).chat.completions.create(
            model="kimi-thinking",
            messages=QUESTION,  # type: ignore[arg-type]
            response_format=PERSON,  # type: ignore[arg-type]
            stream=True,
        )
    )
    kinds = []
    content = ""
    for chunk in chunks:
        delta = chunk.choices[0].delta
        assert not delta.tool_calls  # the schema's tool call is not the client's
        if (delta.model_extra or {}).get("reasoning_content"):
            kinds.append("reasoning")
        if delta.content:
            kinds.append("content")
            content += delta.content
    assert kinds[0] == "reasoning" and kinds[-1] == "content"
    assert kinds.count("content") == 1
    assert set(json.loads(content)) >= {"name", "age"}
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_prose_where_json_was_asked_is_a_502_not_prose() -> None:
    with CannedUpstream(completion("Sure! Alice is 31 years old.")) as upstream:
        with served_on(upstream.base_url) as srv:
            for fmt in (PERSON, {"type": "json_object"}):
                with pytest.raises(openai.InternalServerError) as info:
                    _client(srv).chat.completions.create(
                        model="kimi-instant",
                        messages=QUESTION,  # type: ignore[arg-type]
                        response_format=fmt,  # type: ignore[arg-type]
                    )
                assert info.value.status_code == 502
                assert "did not answer with JSON" in info.value.message
                assert "kimi-instant" in info.value.message


@pytest.mark.parametrize("model", ["kimi-agent", "kimi-swarm"])
def test_response_format_on_agent_and_swarm_is_a_400(emulator: Emulator, model: str) -> None:
    with served(emulator) as srv:
        mark = len(emulator.requests)
        with pytest.raises(openai.BadRequestError) as info:
            _client(srv).chat.completions.create(
                model=model,
                messages=QUESTION,  # type: ignore[arg-type]
                response_format=PERSON,  # type: ignore[arg-type]
            )
        assert model in info.value.message and info.value.param == "response_format"
        assert emulator.requests[mark:] == []


@pytest.mark.parametrize(
    ("fmt", "words"),
    [
        ({"type": "yaml"}, "response_format.type"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "json_schema.schema"),
    ],
)
def test_bad_response_formats_are_400s(emulator: Emulator, fmt: Any, words: str) -> None:
    with served(emulator) as srv:
        with pytest.raises(openai.BadRequestError) as info:
            _client(srv).chat.completions.create(
                model="kimi-instant",
                messages=QUESTION,  # type: ignore[arg-type]
                response_format=fmt,
            )
        assert words in info.value.message


def test_text_format_is_plain_text(emulator: Emulator) -> None:
    with served(emulator) as srv:
        reply = _client(srv).chat.completions.create(
            model="kimi-instant",
            messages=[{"role": "user", "content": "What is 2+3*4?"}],
            response_format={"type": "text"},
        )
        assert reply.choices[0].message.content == "14"


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK_WEATHER = 'Weather in Paris? [[call get_weather {"city": "Paris"}]]'


def test_tools_and_json_together_answer_calls_then_json(
    server: ServerThread, emulator: Emulator
) -> None:
    """The Agents SDK sends both for an agent with tools and an output_type."""
    client = _client(server)
    first = client.chat.completions.create(
        model="kimi-thinking",
        messages=[{"role": "user", "content": ASK_WEATHER}],
        tools=[WEATHER],  # type: ignore[list-item]
        response_format=PERSON,  # type: ignore[arg-type]
    )
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    mark = len(emulator.requests)
    second = client.chat.completions.create(
        model="kimi-thinking",
        messages=[
            {"role": "user", "content": ASK_WEATHER},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "18 C"},
        ],
        tools=[WEATHER],  # type: ignore[list-item]
        response_format=PERSON,  # type: ignore[arg-type]
    )
    assert second.choices[0].finish_reason == "stop"
    value = json.loads(second.choices[0].message.content or "")
    (record,) = emulator.requests[mark:]
    assert record.status == 200
    if server.dialect == "vllm":  # type: ignore[attr-defined]
        assert record.body["response_format"]["type"] == "json_schema"
        assert set(value) >= {"name", "age"}
    else:  # json_object, and the schema told in a system message
        assert record.body["response_format"] == {"type": "json_object"}
        hints = [m["content"] for m in record.body["messages"] if m["role"] == "system"]
        assert any('"age"' in h and "JSON schema" in h for h in hints)
        assert isinstance(value, dict)


def test_tools_and_json_stream_calls_as_deltas_and_json_at_the_end(
    server: ServerThread,
) -> None:
    chunks = list(
        _client(server).chat.completions.create(
            model="kimi-instant",
            messages=[{"role": "user", "content": "What is 2+3*4?"}],
            tools=[WEATHER],  # type: ignore[list-item]
            response_format={"type": "json_object"},
            stream=True,
        )
    )
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(contents) == 1 and isinstance(json.loads(contents[0]), dict)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tools_and_json_with_prose_is_a_502() -> None:
    with CannedUpstream(completion("Sure, here you go.")) as upstream:
        with served_on(upstream.base_url) as srv:
            with pytest.raises(openai.InternalServerError) as info:
                _client(srv).chat.completions.create(
                    model="kimi-instant",
                    messages=QUESTION,  # type: ignore[arg-type]
                    tools=[WEATHER],  # type: ignore[list-item]
                    response_format=PERSON,  # type: ignore[arg-type]
                )
            assert info.value.status_code == 502 and "JSON object" in info.value.message
