"""The client's own tools on kimi-instant/thinking (issue 17.1), refused on agent/swarm (17.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServerThread
from tests.integration_tests.serve_helpers import served

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK = 'Weather in Paris? [[call get_weather {"city": "Paris"}]]'


@pytest.fixture(scope="module")
def server(emulator: Emulator) -> Iterator[ServerThread]:
    with served(emulator) as srv:
        yield srv


def _client(server: ServerThread, key: str = "client-a") -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def _follow_up(reply: Any, *, keep_reasoning: bool) -> list[dict[str, Any]]:
    """The client's next messages: its tool call turn (reasoning dropped or not), the result."""
    message = reply.choices[0].message
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [c.model_dump() for c in message.tool_calls],
    }
    if keep_reasoning:
        turn["reasoning_content"] = message.model_extra["reasoning_content"]
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": "18 C, sunny"} for c in message.tool_calls
    ]
    return [{"role": "user", "content": ASK}, turn, *results]


def test_thinking_returns_the_models_tool_calls_with_reasoning(
    server: ServerThread, emulator: Emulator
) -> None:
    mark = len(emulator.requests)
    reply = _client(server).chat.completions.create(
        model="kimi-thinking", messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert choice.message.model_extra["reasoning_content"].startswith("The user asks")
    (record,) = emulator.requests[mark:]
    assert record.thinking
    assert [t["function"]["name"] for t in record.body["tools"]] == ["get_weather"]


def test_reasoning_the_client_dropped_goes_back_upstream(
    server: ServerThread, emulator: Emulator
) -> None:
    """LiteLLM and the Agents SDK drop `reasoning_content`; Moonshot needs it back."""
    client = _client(server, "client-drops-reasoning")
    first = client.chat.completions.create(
        model="kimi-thinking", messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
    )
    produced = first.choices[0].message.model_extra["reasoning_content"]
    mark = len(emulator.requests)
    second = client.chat.completions.create(
        model="kimi-thinking", messages=_follow_up(first, keep_reasoning=False), tools=[WEATHER]
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Based on the tool results: 18 C, sunny"
    (record,) = emulator.requests[mark:]
    assert record.status == 200
    assert record.history_reasoning == [produced]


def test_reasoning_is_not_given_to_another_caller(server: ServerThread, emulator: Emulator) -> None:
    """The same conversation from another key gets nothing it did not send."""
    first = _client(server, "owner").chat.completions.create(
        model="kimi-thinking", messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
    )
    produced = first.choices[0].message.model_extra["reasoning_content"]
    mark = len(emulator.requests)
    _client(server, "somebody-else").chat.completions.create(
        model="kimi-thinking", messages=_follow_up(first, keep_reasoning=False), tools=[WEATHER]
    )
    (record,) = emulator.requests[mark:]
    assert produced not in record.history_reasoning


def test_the_clients_own_reasoning_wins(server: ServerThread, emulator: Emulator) -> None:
    client = _client(server, "client-keeps-reasoning")
    first = client.chat.completions.create(
        model="kimi-thinking", messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
    )
    messages = _follow_up(first, keep_reasoning=True)
    messages[1]["reasoning_content"] = "EDITED BY THE CLIENT"
    mark = len(emulator.requests)
    client.chat.completions.create(model="kimi-thinking", messages=messages, tools=[WEATHER])
    assert emulator.requests[mark].history_reasoning == ["EDITED BY THE CLIENT"]


def test_streamed_tool_calls_are_tool_call_deltas(server: ServerThread, emulator: Emulator) -> None:
    client = _client(server, "streaming-client")
    ask = 'Two. [[call get_weather {"city": "Paris"}]] [[call get_weather {"city": "Rome"}]]'
    chunks = list(
        client.chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": ask}],
            tools=[WEATHER],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    calls: dict[int, dict[str, str]] = {}
    first_call_chunk = None
    for position, chunk in enumerate(chunks):
        if not chunk.choices or not chunk.choices[0].delta.tool_calls:
            continue
        first_call_chunk = first_call_chunk if first_call_chunk is not None else position
        for delta in chunk.choices[0].delta.tool_calls:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function and delta.function.name) or ""
            entry["arguments"] += (delta.function and delta.function.arguments) or ""
    assert reasoning.startswith("The user asks")
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_weather"]
    assert [json.loads(calls[i]["arguments"]) for i in sorted(calls)] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert all(calls[i]["id"] for i in calls)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # The streamed turn is remembered too: the follow-up gets its reasoning back.
    mark = len(emulator.requests)
    turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": calls[i]["id"],
                "type": "function",
                "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]},
            }
            for i in sorted(calls)
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": calls[i]["id"], "content": f"result {i}"}
        for i in sorted(calls)
    ]
    client.chat.completions.create(
        model="kimi-thinking",
        messages=[{"role": "user", "content": ask}, turn, *results],
        tools=[WEATHER],
    )
    assert emulator.requests[mark].history_reasoning == [reasoning]


def test_instant_passes_tools_without_thinking(server: ServerThread, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    reply = _client(server).chat.completions.create(
        model="kimi-instant", messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})
    assert emulator.requests[mark].thinking is False


def test_forced_tool_choice_turns_thinking_off_and_says_so(
    server: ServerThread, emulator: Emulator
) -> None:
    """Moonshot refuses a forced tool_choice while thinking: ChatKimi's rule applies."""
    forced = {"type": "function", "function": {"name": "get_weather"}}
    for choice in ("required", forced):
        mark = len(emulator.requests)
        reply = _client(server).chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER],
            tool_choice=choice,  # type: ignore[arg-type]
        )
        assert reply.choices[0].finish_reason == "tool_calls"
        note = reply.model_extra["kimi_graph"]
        assert note["thinking"] is False and "tool_choice" in note["note"]
        (record,) = emulator.requests[mark:]
        assert record.status == 200 and record.thinking is False
        assert record.body["tool_choice"] == choice


def test_auto_tool_choice_keeps_thinking_and_says_nothing(server: ServerThread) -> None:
    reply = _client(server).chat.completions.create(
        model="kimi-thinking",
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER],
        tool_choice="auto",
    )
    assert "kimi_graph" not in (reply.model_extra or {})


def test_forced_tool_choice_on_a_model_that_always_thinks_is_a_400(emulator: Emulator) -> None:
    with served(emulator, model="kimi-k2.7-code") as srv:
        mark = len(emulator.requests)
        with pytest.raises(openai.BadRequestError) as info:
            _client(srv).chat.completions.create(
                model="kimi-thinking",
                messages=[{"role": "user", "content": "Weather in Oslo?"}],
                tools=[WEATHER],
                tool_choice="required",
            )
        assert "cannot turn thinking off" in info.value.message
        assert "kimi-thinking" in info.value.message
        assert emulator.requests[mark:] == []


@pytest.mark.parametrize(
    ("tools", "tool_choice", "words"),
    [
        ([{"type": "function", "function": {}}], None, "tools.0"),
        ([{"type": "retrieval"}], None, "tools.0"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": "x"}}],
            None,
            "parameters",
        ),
        ([WEATHER], {"type": "function", "function": {"name": "nope"}}, "'nope'"),
        ([WEATHER], "sometimes", "tool_choice must be"),
        (None, "required", "needs `tools`"),
    ],
)
def test_malformed_tools_are_400s(
    server: ServerThread, tools: Any, tool_choice: Any, words: str
) -> None:
    extra: dict[str, Any] = {"tools": tools, "tool_choice": tool_choice}
    with pytest.raises(openai.BadRequestError) as info:
        _client(server).chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={k: v for k, v in extra.items() if v is not None},
        )
    assert words in info.value.message and "/v1/chat/completions" in info.value.message


def test_request_tools_on_agent_and_swarm_are_refused_naming_the_mode(
    server: ServerThread, emulator: Emulator
) -> None:
    """17.2: agent and swarm run the server's tools; the client's are a 400 naming the mode."""
    mark = len(emulator.requests)
    for model in ("kimi-agent", "kimi-swarm"):
        with pytest.raises(openai.BadRequestError) as info:
            _client(server).chat.completions.create(
                model=model, messages=[{"role": "user", "content": ASK}], tools=[WEATHER]
            )
        assert info.value.code == "tools_not_supported"
        assert model in info.value.message and "run on the server" in info.value.message
    assert emulator.requests[mark:] == []


def test_a_streamed_forced_tool_choice_says_thinking_was_off(server: ServerThread) -> None:
    chunks = list(
        _client(server).chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER],
            tool_choice="required",
            stream=True,
        )
    )
    note = chunks[0].model_extra["kimi_graph"]
    assert note["thinking"] is False and "tool_choice=required" in note["note"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any((c.choices[0].delta.model_extra or {}).get("reasoning_content") for c in chunks)
