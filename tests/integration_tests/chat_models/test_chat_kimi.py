"""ChatKimi over HTTP against the emulator, in every server dialect."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from kimi_graph.emulator import DIALECTS, Emulator, EmulatorConfig
from tests.integration_tests.conftest import requests_since

PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny, 21 C in {city}"


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    return f"12:00 in {city}"


def _merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    return full


def _has_reasoning_block(message: AIMessage) -> bool:
    return any(block["type"] == "reasoning" for block in message.content_blocks)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reasoning_out_on_invoke(kimi, dialect: str) -> None:
    msg = kimi(dialect).invoke("What is 6*7?")
    assert msg.additional_kwargs["reasoning_content"].startswith("The user asks")
    assert msg.content == "42"
    assert "</think>" not in msg.content
    assert _has_reasoning_block(msg)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reasoning_out_on_stream(kimi, dialect: str) -> None:
    chunks = list(kimi(dialect).stream("What is 6*7?"))
    full = _merge(chunks)
    assert full.additional_kwargs["reasoning_content"].startswith("The user asks")
    assert full.content == "42"
    assert _has_reasoning_block(full)
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] > 0
    # reasoning arrives before the answer
    first_content = next(i for i, c in enumerate(chunks) if c.content)
    assert any(c.additional_kwargs.get("reasoning_content") for c in chunks[: first_content + 1])


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_reasoning_out_on_astream(kimi, dialect: str) -> None:
    chunks = [c async for c in kimi(dialect).astream("What is 6*7?")]
    full = _merge(chunks)
    assert full.additional_kwargs["reasoning_content"]
    assert full.content == "42"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_instant_mode_has_no_reasoning(kimi, emulator, dialect: str) -> None:
    mark = len(emulator.requests)
    llm = kimi(dialect)
    via_kwarg = llm.invoke("What is 6*7?", thinking=False)
    via_bind = llm.bind(thinking=False).invoke("What is 6*7?")
    via_field = kimi(dialect, thinking=False).invoke("What is 6*7?")
    for msg in (via_kwarg, via_bind, via_field):
        assert not msg.additional_kwargs.get("reasoning_content")
        assert msg.content == "42"
    assert [r.thinking for r in requests_since(emulator, mark)] == [False, False, False]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_multi_step_tool_loop_sends_reasoning_back(kimi, emulator, dialect: str) -> None:
    llm = kimi(dialect).bind_tools([get_weather, get_time])
    messages: list[Any] = [
        HumanMessage(
            '[[call get_weather {"city": "Oslo"}]] [[then]] [[call get_time {"city": "Oslo"}]]'
        )
    ]
    mark = len(emulator.requests)
    for _ in range(3):
        ai = llm.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            break
        assert ai.additional_kwargs["reasoning_content"]
        for call in ai.tool_calls:
            tool_fn = {"get_weather": get_weather, "get_time": get_time}[call["name"]]
            messages.append(tool_fn.invoke(call))
    records = requests_since(emulator, mark)
    assert [r.status for r in records] == [200, 200, 200]
    # the server read back the reasoning of every turn of the current tool chain
    assert records[1].history_reasoning and all(records[1].history_reasoning)
    assert len(records[2].history_reasoning) == 2 and all(records[2].history_reasoning)
    assert "12:00 in Oslo" in messages[-1].content


@pytest.mark.parametrize("dialect", DIALECTS)
def test_multi_step_tool_loop_streaming(kimi, emulator, dialect: str) -> None:
    llm = kimi(dialect).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage('[[call get_weather {"city": "Rome"}]]')]
    ai = _merge(list(llm.stream(messages)))
    assert [c["name"] for c in ai.tool_calls] == ["get_weather"]
    assert ai.tool_calls[0]["args"] == {"city": "Rome"}
    assert ai.additional_kwargs["reasoning_content"]
    mark = len(emulator.requests)
    messages += [ai, get_weather.invoke(ai.tool_calls[0])]
    final = _merge(list(llm.stream(messages)))
    (record,) = requests_since(emulator, mark)
    assert record.status == 200
    assert record.history_reasoning == [ai.additional_kwargs["reasoning_content"]]
    assert "Sunny, 21 C in Rome" in final.content


def test_moonshot_rejects_history_without_reasoning_but_chatkimi_does_not(
    kimi, emulator_openai
) -> None:
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "functions.get_weather:0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"},
    ]
    with pytest.raises(openai.BadRequestError, match="reasoning_content is missing"):
        emulator_openai("moonshot").chat.completions.create(
            model="kimi-k2.5", messages=history, extra_body={"thinking": {"type": "enabled"}}
        )
    ai = AIMessage(
        content="",
        tool_calls=[
            {"id": "functions.get_weather:0", "name": "get_weather", "args": {"city": "Oslo"}}
        ],
    )
    msgs = [
        HumanMessage("weather?"),
        ai,
        ToolMessage("sunny", tool_call_id="functions.get_weather:0"),
    ]
    assert kimi("moonshot").bind_tools([get_weather]).invoke(msgs).content


@pytest.mark.parametrize("dialect", ["raw", "vllm", "moonshot"])
def test_parallel_tool_calls_in_one_turn(kimi, dialect: str) -> None:
    ai = (
        kimi(dialect)
        .bind_tools([get_weather, get_time])
        .invoke('Use get_weather and get_time for "Lima".')
    )
    assert sorted(c["name"] for c in ai.tool_calls) == ["get_time", "get_weather"]
    assert all(c["args"] == {"city": "Lima"} for c in ai.tool_calls)
    assert len({c["id"] for c in ai.tool_calls}) == 2


def test_raw_server_tokens_become_tool_calls_and_reasoning(kimi, emulator) -> None:
    llm = kimi("raw").bind_tools([get_weather])
    ai = llm.invoke('[[call get_weather {"city": "Quito"}]]')
    assert ai.tool_calls == [
        {
            "name": "get_weather",
            "args": {"city": "Quito"},
            "id": "functions.get_weather:0",
            "type": "tool_call",
        }
    ]
    assert ai.additional_kwargs["reasoning_content"]
    assert "<|" not in ai.content
    streamed = _merge(list(llm.stream('[[call get_weather {"city": "Quito"}]]')))
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        ("get_weather", {"city": "Quito"})
    ]
    assert "<|" not in streamed.content
    assert (
        streamed.additional_kwargs["reasoning_content"] == ai.additional_kwargs["reasoning_content"]
    )


def test_raw_malformed_arguments_become_invalid_tool_calls(kimi) -> None:
    ai = (
        kimi("raw")
        .bind_tools([get_weather])
        .invoke('[[call get_weather {"city": "X"}]] [[fault malformed]]')
    )
    assert ai.tool_calls == []
    assert [c["name"] for c in ai.invalid_tool_calls] == ["get_weather"]


@pytest.mark.parametrize("thinking", [True, False])
def test_moonshot_sampling_sent_by_default(kimi, emulator, thinking: bool) -> None:
    mark = len(emulator.requests)
    kimi("moonshot").invoke("hi", thinking=thinking)
    (record,) = requests_since(emulator, mark)
    assert record.status == 200
    assert record.body["temperature"] == (1.0 if thinking else 0.6)
    assert record.body["top_p"] == 0.95


def test_moonshot_bad_values_fail_before_any_request(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="temperature"):
        kimi("moonshot", temperature=0.0).invoke("hi")
    with pytest.raises(ValueError, match="tool_choice"):
        strict = kimi("moonshot", forced_tool_choice="error")
        strict.bind_tools([get_weather], tool_choice="required").invoke("hi")
    assert requests_since(emulator, mark) == []
    # the same tool_choice is fine in instant mode
    ai = (
        kimi("moonshot", thinking=False)
        .bind_tools([get_weather], tool_choice="required")
        .invoke('city "Oslo"')
    )
    assert ai.tool_calls


class Person(BaseModel):
    name: str
    age: int


@pytest.mark.parametrize("thinking", [True, False])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_structured_output_in_both_modes(kimi, dialect: str, thinking: bool) -> None:
    structured = kimi(dialect, thinking=thinking).with_structured_output(Person)
    person = structured.invoke('Extract the person: "Ada" is 36 years old.')
    assert isinstance(person, Person)
    assert person.age == 36


@pytest.mark.parametrize("dialect", ["moonshot", "vllm"])
def test_structured_output_include_raw(kimi, dialect: str) -> None:
    out = (
        kimi(dialect)
        .with_structured_output(Person, include_raw=True)
        .invoke('Extract the person: "Ada" is 36 years old.')
    )
    assert out["parsing_error"] is None
    assert isinstance(out["parsed"], Person)
    assert isinstance(out["raw"], AIMessage)


@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "openrouter"])
def test_image_parts(kimi, dialect: str) -> None:
    msg = HumanMessage(
        content=[
            {"type": "text", "text": "Describe this image."},
            {"type": "image_url", "image_url": {"url": PNG_1PX}},
        ]
    )
    assert "1 image" in kimi(dialect).invoke([msg]).content


def test_usage_metadata_on_invoke(kimi) -> None:
    usage = kimi("moonshot").invoke("What is 6*7?").usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_langsmith_params(kimi) -> None:
    params = kimi("moonshot")._get_ls_params(thinking=False)
    assert params["ls_provider"] == "moonshot"
    assert params["ls_model_name"] == "kimi-k2.6"  # Moonshot's hosted default
    vllm = kimi("vllm")._get_ls_params()
    assert (vllm["ls_provider"], vllm["ls_model_name"]) == ("vllm", "kimi-k2.5")


def test_server_errors_are_clear(kimi) -> None:
    with pytest.raises(openai.InternalServerError, match="500"):
        kimi("vllm").invoke("hi [[fault 500]]")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        kimi("vllm", model="no-such-model").invoke("hi")


def test_retries_ride_out_transient_errors(kimi, emulator) -> None:
    mark = len(emulator.requests)
    msg = kimi("moonshot", max_retries=2).invoke("What is 1+1? [[fault 429 x2]]")
    assert msg.content == "2"
    assert [r.status for r in requests_since(emulator, mark)] == [429, 429, 200]


def test_timeout_is_enforced(kimi) -> None:
    with pytest.raises(openai.APITimeoutError):
        kimi("vllm", timeout=0.5).invoke("hi [[fault hang 5]]")


def test_cut_stream_is_an_error_not_a_silent_answer(kimi) -> None:
    with pytest.raises(openai.APIConnectionError):
        list(kimi("vllm").stream("Tell me a long story [[fault cut]]"))
    with pytest.raises(openai.APIConnectionError):
        kimi("vllm").invoke("Tell me a long story [[fault cut]]")


async def test_concurrent_async_calls(kimi) -> None:
    llm = kimi("vllm")
    answers = await asyncio.gather(*(llm.ainvoke(f"What is {i}+1?") for i in range(20)))
    assert [a.content for a in answers] == [str(i + 1) for i in range(20)]


def test_moonshot_stream_usage_comes_without_stream_options(kimi, emulator) -> None:
    mark = len(emulator.requests)
    full = _merge(list(kimi("moonshot").stream("What is 6*7?")))
    (record,) = requests_since(emulator, mark)
    assert "stream_options" not in record.body
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] > 0
    mark = len(emulator.requests)
    list(kimi("vllm").stream("What is 6*7?"))
    (record,) = requests_since(emulator, mark)
    assert record.body["stream_options"] == {"include_usage": True}


class Answer(BaseModel):
    value: int


def test_structured_output_thinking_moonshot_without_schema_hint_in_prompt(kimi) -> None:
    # Nothing in the question names the schema: ChatKimi's system hint makes the
    # model answer with the tool, which thinking mode cannot force.
    answer = kimi("moonshot").with_structured_output(Answer).invoke("What is 6 * 7?")
    assert isinstance(answer, Answer)


def test_structured_output_non_object_answer_is_a_clear_error(kimi) -> None:
    structured = kimi("vllm").with_structured_output(Answer, method="function_calling")
    with pytest.raises(ValueError, match="no JSON object"):
        structured.invoke("What is 6 * 7?", tool_choice="none")


def test_async_calls_work_across_event_loops(kimi) -> None:
    # A script calling asyncio.run twice, or a test suite with a loop per test.
    llm = kimi("vllm")
    assert asyncio.run(llm.ainvoke("What is 1+1?")).content == "2"
    assert asyncio.run(llm.ainvoke("What is 2+2?")).content == "4"
    chunks = asyncio.run(_collect(llm.astream("What is 3+3?")))
    assert _merge(chunks).content == "6"


async def _collect(stream: Any) -> list:
    return [chunk async for chunk in stream]


async def test_dropped_models_do_not_break_other_sockets_of_the_loop(kimi) -> None:
    # Models created and dropped in a running loop must not leave HTTP pools for the
    # garbage collector: its finalizers close sockets without unregistering them from
    # the loop, and a new socket reusing the number then never gets its data.
    for _ in range(3):
        llm = kimi("vllm")
        await asyncio.gather(*(llm.ainvoke(f"What is {i}+1?") for i in range(20)))
        del llm
    gc.collect()
    with Emulator(EmulatorConfig(latency=0.5)) as emu:
        url = f"{emu.base_url('vllm')}/chat/completions"
        limits = httpx.Limits(max_connections=150, max_keepalive_connections=150)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:

            async def one(i: int) -> str:
                body = {"model": "kimi-k2.5", "messages": [{"role": "user", "content": f"s{i}"}]}
                async with client.stream("POST", url, json={**body, "stream": True}) as r:
                    return "".join([part async for part in r.aiter_text()])

            texts = await asyncio.gather(*(one(i) for i in range(120)))
    assert all(t.rstrip().endswith("data: [DONE]") for t in texts)
