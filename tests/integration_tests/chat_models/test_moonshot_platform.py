"""ChatKimi on Moonshot's platform over HTTP against the emulator (issue 11).

Forced tool choice while thinking, builtin `$web_search`, cached-token usage,
`prompt_cache_key`, partial mode, newer models (K2.6 `thinking.keep`, K3
`reasoning_effort`) and the context length.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool

from kimi_graph import create_agent_graph
from kimi_graph.emulator.platform import CONTEXT_TOKENS
from kimi_graph.tools import moonshot_web_search
from tests.integration_tests.conftest import requests_since


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny, 21 C in {city}"


def _merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    return full


# ------------------------------------------------------------------ 1. forced tool choice


@pytest.mark.parametrize("choice", ["any", "required", "get_weather"])
def test_forced_tool_choice_turns_thinking_off_for_that_call(kimi, emulator, choice) -> None:
    llm = kimi("moonshot")
    mark = len(emulator.requests)
    with pytest.warns(UserWarning, match="thinking is off"):
        ai = llm.bind_tools([get_weather], tool_choice=choice).invoke('weather in "Oslo"')
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_weather"
    assert "reasoning_content" not in ai.additional_kwargs
    (record,) = requests_since(emulator, mark)
    assert record.status == 200
    assert record.body["thinking"] == {"type": "disabled"}
    assert record.body["temperature"] == 0.6
    assert record.body["tool_choice"]
    # a call that forces nothing still thinks, and no second warning comes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thought = llm.bind_tools([get_weather]).invoke("What is 2+2?")
        llm.bind_tools([get_weather], tool_choice="any").invoke('weather in "Rome"')
    assert thought.additional_kwargs["reasoning_content"]


def test_history_stays_valid_after_a_forced_call(kimi, emulator) -> None:
    llm = kimi("moonshot")
    question = HumanMessage('weather in "Oslo"')
    with pytest.warns(UserWarning):
        ai = llm.bind_tools([get_weather], tool_choice="any").invoke([question])
    result = ToolMessage(
        get_weather.invoke(ai.tool_calls[0]["args"]), tool_call_id=ai.tool_calls[0]["id"]
    )
    mark = len(emulator.requests)
    final = llm.bind_tools([get_weather]).invoke([question, ai, result])
    (record,) = requests_since(emulator, mark)
    assert record.status == 200 and record.thinking
    assert record.body["messages"][1]["reasoning_content"] == ""
    assert "Oslo" in final.content and final.additional_kwargs["reasoning_content"]


def test_forced_tool_choice_streams_too(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.warns(UserWarning):
        chunks = list(
            kimi("moonshot").bind_tools([get_weather], tool_choice="any").stream('"Oslo" weather')
        )
    assert _merge(chunks).tool_calls[0]["name"] == "get_weather"
    assert requests_since(emulator, mark)[0].body["thinking"] == {"type": "disabled"}


def test_forced_tool_choice_error_option_and_always_thinking_models(kimi, emulator) -> None:
    mark = len(emulator.requests)
    strict = kimi("moonshot", forced_tool_choice="error").bind_tools(
        [get_weather], tool_choice="any"
    )
    with pytest.raises(ValueError, match="forced_tool_choice='error'"):
        strict.invoke("hi")
    always = kimi("moonshot", model="kimi-k2-thinking").bind_tools([get_weather], tool_choice="any")
    with pytest.raises(ValueError, match="cannot turn thinking off"):
        always.invoke("hi")
    assert requests_since(emulator, mark) == []


# ------------------------------------------------------------------ 2. builtin $web_search


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # builtin_function type
def test_web_search_in_the_agent_graph(kimi, emulator) -> None:
    graph = create_agent_graph(kimi("moonshot"), [moonshot_web_search, get_weather])
    mark = len(emulator.requests)
    with pytest.warns(UserWarning, match=r"\$web_search"):
        out = graph.invoke({"messages": [HumanMessage("latest news about the moon landing")]})
    first, second = requests_since(emulator, mark)
    assert first.body["thinking"] == {"type": "disabled"}
    assert {"type": "builtin_function", "function": {"name": "$web_search"}} in first.body["tools"]
    call, answer = out["messages"][1], out["messages"][-1]
    assert call.tool_calls[0]["name"] == "$web_search"
    echoed = second.body["messages"][2]
    assert echoed["role"] == "tool" and echoed["name"] == "$web_search"
    assert json.loads(echoed["content"]) == call.tool_calls[0]["args"]
    assert second.status == 200 and "web results for search ws-" in answer.content
    search_tokens = call.tool_calls[0]["args"]["usage"]["total_tokens"]
    assert answer.usage_metadata["input_tokens"] > search_tokens


async def test_web_search_in_the_async_agent_graph(kimi, emulator) -> None:
    graph = create_agent_graph(
        kimi("moonshot", builtin_search="disable_thinking"), [moonshot_web_search]
    )
    with pytest.warns(UserWarning):
        out = await graph.ainvoke({"messages": [HumanMessage("search the web for comets")]})
    assert "web results" in out["messages"][-1].content


def test_web_search_refused_locally_when_it_cannot_work(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="builtin of Moonshot's platform"):
        kimi("vllm").bind_tools([moonshot_web_search]).invoke("search")
    with pytest.raises(ValueError, match="builtin_search='error'"):
        kimi("moonshot", builtin_search="error").bind_tools([moonshot_web_search]).invoke("x")
    assert requests_since(emulator, mark) == []


def test_emulator_rejects_web_search_while_thinking(emulator_openai) -> None:
    client = emulator_openai("moonshot")
    builtin = {"type": "builtin_function", "function": {"name": "$web_search"}}
    with pytest.raises(openai.BadRequestError, match="incompatible with thinking"):
        client.chat.completions.create(
            model="kimi-k2.5", messages=[{"role": "user", "content": "x"}], tools=[builtin]
        )


# ------------------------------------------------------------------ 3. usage, cache key, partial


def test_cached_tokens_on_invoke_and_stream(kimi) -> None:
    llm = kimi("moonshot", prompt_cache_key="tenant-a")
    question = "Tell me about the history of the printing press " * 20
    first = llm.invoke(question)
    second = llm.invoke(question)
    streamed = _merge(list(llm.stream(question)))
    other_key = kimi("moonshot", prompt_cache_key="tenant-b").invoke(question)
    # Without a hit Moonshot sends no cache field (recorded, WIRE.md §8.3).
    assert first.usage_metadata["input_token_details"].get("cache_read", 0) == 0
    cached = second.usage_metadata["input_token_details"]["cache_read"]
    assert 0 < cached <= second.usage_metadata["input_tokens"]
    assert streamed.usage_metadata["input_token_details"]["cache_read"] == cached
    assert other_key.usage_metadata["input_token_details"].get("cache_read", 0) == 0


def test_cached_tokens_from_the_top_level_field(kimi, emulator) -> None:
    llm = kimi("moonshot", model="kimi-k2-turbo-preview", prompt_cache_key="legacy")
    llm.invoke("hello there, old model")
    mark = len(emulator.requests)
    again = llm.invoke("hello there, old model")
    streamed = _merge(list(llm.stream("hello there, old model")))
    assert again.usage_metadata["input_token_details"]["cache_read"] > 0
    assert streamed.usage_metadata["input_token_details"]["cache_read"] > 0
    assert requests_since(emulator, mark)[0].body["prompt_cache_key"] == "legacy"


def test_prompt_cache_key_per_call(kimi, emulator) -> None:
    mark = len(emulator.requests)
    kimi("moonshot").invoke("hi", prompt_cache_key="per-call")
    assert requests_since(emulator, mark)[0].body["prompt_cache_key"] == "per-call"


@pytest.mark.parametrize("thinking", [True, False])
def test_partial_mode_continues_the_last_message(kimi, emulator, thinking: bool) -> None:
    prefix = AIMessage("The answer is", additional_kwargs={"partial": True})
    mark = len(emulator.requests)
    ai = kimi("moonshot", thinking=thinking).invoke(
        [HumanMessage("What is 6*7? [[answer The answer is 42]]"), prefix]
    )
    assert ai.content == " 42"
    sent = requests_since(emulator, mark)[0].body["messages"][-1]
    assert sent == {"role": "assistant", "content": "The answer is", "partial": True}


def test_partial_mode_only_on_the_last_message(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="last message only"):
        kimi("moonshot").invoke(
            [AIMessage("x", additional_kwargs={"partial": True}), HumanMessage("hi")]
        )
    assert requests_since(emulator, mark) == []


# ------------------------------------------------------------------ 5. newer models


def test_k26_thinking_keep(kimi, emulator) -> None:
    llm = kimi("moonshot", model="kimi-k2.6", thinking_keep="all")
    mark = len(emulator.requests)
    ai = llm.invoke("What is 6*7?")
    llm.invoke("What is 6*7?", thinking=False)
    on, off = requests_since(emulator, mark)
    assert on.body["thinking"] == {"type": "enabled", "keep": "all"} and on.status == 200
    assert off.body["thinking"] == {"type": "disabled"} and off.body["temperature"] == 0.6
    assert ai.content == "42" and ai.additional_kwargs["reasoning_content"]


def test_k3_reasoning_effort(kimi, emulator) -> None:
    mark = len(emulator.requests)
    ai = kimi("moonshot", model="kimi-k3", reasoning_effort="low").invoke("What is 6*7?")
    (record,) = requests_since(emulator, mark)
    assert record.status == 200 and record.body["reasoning_effort"] == "low"
    assert "thinking" not in record.body and "temperature" not in record.body
    assert ai.additional_kwargs["reasoning_content"]
    assert kimi("moonshot", model="kimi-k3.1").invoke("What is 1+1?").content == "2"


def test_values_a_model_would_ignore_or_reject_fail_locally(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="does not read thinking.keep"):
        kimi("moonshot", model="kimi-k2.5", thinking_keep="all").invoke("hi")
    with pytest.raises(ValueError, match="has no reasoning_effort 'ultra'"):
        kimi("moonshot", reasoning_effort="ultra").invoke("hi")
    with pytest.raises(ValueError, match="takes reasoning_effort 'none', 'minimal', 'low'"):
        kimi("moonshot", model="kimi-k3", reasoning_effort="medium").invoke("hi")
    with pytest.raises(ValueError, match="kimi-k2.7-code at .* always thinks"):
        kimi("moonshot", model="kimi-k2.7-code", thinking=False).invoke("hi")
    with pytest.raises(ValueError, match="only with temperature=1; got temperature=0.5"):
        kimi("moonshot", model="kimi-k3", temperature=0.5).invoke("hi")
    assert requests_since(emulator, mark) == []


def test_emulator_enforces_k3_rules(emulator_openai) -> None:
    client = emulator_openai("moonshot")
    msgs = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="invalid thinking"):
        client.chat.completions.create(
            model="kimi-k3", messages=msgs, extra_body={"thinking": {"type": "disabled"}}
        )
    with pytest.raises(openai.BadRequestError, match="reasoning_effort"):
        client.chat.completions.create(model="kimi-k3", messages=msgs, reasoning_effort="medium")


# ------------------------------------------------------------------ 6. context length


def test_prompt_over_the_context_fails_before_any_request(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="context is 262,144 tokens"):
        kimi("moonshot").invoke("word " * (CONTEXT_TOKENS + 10))
    with pytest.raises(ValueError, match="max_tokens=100000"):
        kimi("moonshot", max_tokens=100_000).invoke("word " * 200_000)
    assert requests_since(emulator, mark) == []


def test_prompt_near_the_context_gets_the_servers_error_naming_it(kimi) -> None:
    # 150K words pass the local floor; with punctuation the server counts ~300K tokens.
    with pytest.raises(openai.BadRequestError, match=f"model token limit: {CONTEXT_TOKENS}"):
        kimi("moonshot").invoke("a, " * 150_000)


def _long_tool(text: str) -> Any:
    @tool
    def read_page(url: str) -> str:
        """Read a web page."""
        return text

    return read_page


def test_agent_context_strategy_keeps_only_the_latest_tool_results(kimi, emulator) -> None:
    from kimi_graph.modes._tool_results import cleared_note, keep_latest_tool_results

    page = "lorem ipsum dolor " * 300
    graph = create_agent_graph(
        kimi("moonshot"),
        [_long_tool(page)],
        context_strategy=keep_latest_tool_results(500),
    )
    prompt = "[[call read_page]] [[then]] [[call read_page]] [[then]] [[call read_page]]"
    mark = len(emulator.requests)
    out = graph.invoke({"messages": [HumanMessage(prompt)]})
    records = requests_since(emulator, mark)
    assert len(records) == 4 and all(r.status == 200 for r in records)
    last = records[-1].body["messages"]
    tool_contents = [m["content"] for m in last if m["role"] == "tool"]
    assert tool_contents[:2] == [cleared_note(len(page))] * 2
    assert tool_contents[2] == page
    # the state keeps every full result
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == [page] * 3


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.filterwarnings("ignore:ChatKimi. Moonshot rejects")
def test_web_search_in_swarm_sub_agents(kimi, emulator) -> None:
    from kimi_graph import create_swarm_graph

    graph = create_swarm_graph(kimi("moonshot"), [moonshot_web_search], max_subagents=2)
    task = "Research these:\n- search the web for comets\n- search the web for asteroids"
    mark = len(emulator.requests)
    out = graph.invoke({"messages": [HumanMessage(task)]})
    results = out["subagent_results"]
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert all("web results for search ws-" in r["output"] for r in results)
    searches = [
        r
        for r in requests_since(emulator, mark)
        if any(m.get("name") == "$web_search" for m in r.body["messages"])
    ]
    assert len(searches) == 2 and all(r.status == 200 for r in searches)
