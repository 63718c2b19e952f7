"""`kimi-graph serve` driven by real clients: openai (sync, async, streaming) and ChatKimi."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServerThread
from tests.integration_tests.serve_helpers import UPSTREAM_KEY, replayed_usage, served, sse_events

SWARM_TASK = "Compare two languages. In parallel:\n- Rust expert: binaries\n- Go expert: builds"


@pytest.fixture(scope="module")
def server(emulator: Emulator) -> Iterator[ServerThread]:
    with served(emulator) as srv:
        yield srv


@pytest.fixture
def client(server: ServerThread) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="any", max_retries=0)


def test_models_lists_the_four_modes(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["kimi-instant", "kimi-thinking", "kimi-agent", "kimi-swarm"]


def test_thinking_returns_reasoning_beside_content(client: OpenAI, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    reply = client.chat.completions.create(
        model="kimi-thinking", messages=[{"role": "user", "content": "What is 2+3*4?"}]
    )
    message = reply.choices[0].message
    assert message.content == "14"
    assert message.model_extra["reasoning_content"].startswith('The user asks: "What is 2+3*4?"')
    records = emulator.requests[mark:]
    assert len(records) == 1 and records[0].thinking
    assert (
        reply.usage.model_dump()["prompt_tokens"]
        == replayed_usage(emulator, records)["prompt_tokens"]
    )


def test_instant_has_no_reasoning_and_thinking_off_upstream(
    client: OpenAI, emulator: Emulator
) -> None:
    mark = len(emulator.requests)
    reply = client.chat.completions.create(
        model="kimi-instant", messages=[{"role": "user", "content": "What is 2+3*4?"}]
    )
    assert reply.choices[0].message.content == "14"
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})
    assert [r.thinking for r in emulator.requests[mark:]] == [False]


def test_stream_sends_reasoning_then_content_then_usage_then_done(
    server: ServerThread, emulator: Emulator
) -> None:
    mark = len(emulator.requests)
    body = {
        "model": "kimi-agent",
        "messages": [{"role": "user", "content": 'Use the calculator on "17 * 23"'}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    kinds = []
    for chunk in chunks[:-1]:
        delta = chunk["choices"][0]["delta"]
        kinds += [k for k in ("reasoning_content", "content") if delta.get(k)]
    first_content = kinds.index("content")
    assert "reasoning_content" in kinds[:first_content]
    assert "reasoning_content" not in kinds[first_content:]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert content == "Based on the tool results: 391"
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    # Two model calls (tool call, then answer): the usage is their sum.
    records = emulator.requests[mark:]
    assert len(records) == 2
    expected = replayed_usage(emulator, records)
    assert usage_chunk["usage"]["prompt_tokens"] == expected["prompt_tokens"]
    assert usage_chunk["usage"]["completion_tokens"] == expected["completion_tokens"]
    # The second call re-sends the first one's prompt: the emulator's prefix cache hits.
    cached = usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached < expected["prompt_tokens"]


def test_stream_without_include_usage_has_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="kimi-instant", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_swarm_usage_sums_every_model_call(client: OpenAI, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    reply = client.chat.completions.create(
        model="kimi-swarm", messages=[{"role": "user", "content": SWARM_TASK}]
    )
    records = emulator.requests[mark:]
    assert len(records) == 4  # orchestrator, two sub-agents, synthesis
    expected = replayed_usage(emulator, records)
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        expected["prompt_tokens"],
        expected["completion_tokens"],
    )
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    summary = reply.model_extra["kimi_graph"]["subagents"]
    assert [s["role"] for s in summary] == ["Rust expert", "Go expert"]
    assert all(s["status"] == "ok" for s in summary)
    assert reply.choices[0].message.model_extra["reasoning_content"]


async def test_async_stream_of_swarm_reports_progress_that_clients_may_ignore(
    server: ServerThread,
) -> None:
    client = AsyncOpenAI(base_url=server.base_url, api_key="any", max_retries=0)
    events, content, reasoning = [], "", ""
    stream = await client.chat.completions.create(
        model="kimi-swarm",
        messages=[{"role": "user", "content": SWARM_TASK}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        extra = (chunk.model_extra or {}).get("kimi_graph")
        if extra is not None:
            assert chunk.choices[0].delta.content is None
            events.append((extra["event"], extra["role"]))
            continue
        if chunk.choices:
            content += chunk.choices[0].delta.content or ""
            reasoning += (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
    await client.close()
    assert sorted(events) == [
        ("finish", "Go expert"),
        ("finish", "Rust expert"),
        ("start", "Go expert"),
        ("start", "Rust expert"),
    ]
    assert content.startswith("Based on the tool results:")
    assert "assign_task" in reasoning  # the orchestrator's plan
    assert "2 tool results" in reasoning  # the synthesis


def test_history_keeps_the_clients_reasoning(client: OpenAI, emulator: Emulator) -> None:
    """Moonshot refuses a thinking tool-call turn without reasoning: it must be passed on."""
    mark = len(emulator.requests)
    reply = client.chat.completions.create(
        model="kimi-thinking",
        messages=[
            {"role": "user", "content": "What is 6*7? Use the calculator."},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "MY-OWN-REASONING",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
    )
    assert reply.choices[0].message.content == "Based on the tool results: 42"
    (record,) = emulator.requests[mark:]
    assert record.status == 200
    assert record.history_reasoning == ["MY-OWN-REASONING"]


def test_max_tokens_is_passed_on(client: OpenAI, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    reply = client.chat.completions.create(
        model="kimi-instant",
        messages=[{"role": "user", "content": "Tell me about graphs"}],
        max_tokens=3,
    )
    (record,) = emulator.requests[mark:]
    assert record.body["max_tokens"] == 3
    assert reply.choices[0].finish_reason == "length"


def test_sampling_fields_pass_where_the_upstream_allows_them(emulator: Emulator) -> None:
    with served(emulator, "vllm") as srv:
        client = OpenAI(base_url=srv.base_url, api_key="any", max_retries=0)
        mark = len(emulator.requests)
        client.chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "hi"}],
            temperature=0.3,
            top_p=0.5,
            seed=7,
            stop=["zz"],
        )
        (record,) = emulator.requests[mark:]
        assert (record.body["temperature"], record.body["top_p"], record.body["seed"]) == (
            0.3,
            0.5,
            7,
        )
        assert record.body["stop"] == ["zz"]


def test_sampling_the_mode_forbids_is_a_clear_400(client: OpenAI, emulator: Emulator) -> None:
    import openai

    mark = len(emulator.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="kimi-instant", messages=[{"role": "user", "content": "hi"}], temperature=0.3
        )
    assert "temperature=0.6" in info.value.message
    assert "kimi-instant" in info.value.message
    assert emulator.requests[mark:] == []


async def test_fifty_simultaneous_requests(server: ServerThread, emulator: Emulator) -> None:
    client = AsyncOpenAI(base_url=server.base_url, api_key="any", max_retries=0)
    models = ["kimi-instant", "kimi-thinking"] * 25

    async def ask(i: int, model: str) -> tuple[str, str]:
        reply = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"What is {i}+1?"}]
        )
        return reply.id, reply.choices[0].message.content or ""

    results = await asyncio.gather(*(ask(i, m) for i, m in enumerate(models)))
    await client.close()
    assert len({rid for rid, _ in results}) == 50
    assert [text for _, text in results] == [str(i + 1) for i in range(50)]
    assert server.app.state.kimi.runs.active == 0


def test_chatkimi_calls_a_kimi_graph_swarm(server: ServerThread) -> None:
    llm = ChatKimi(
        model="kimi-swarm", base_url=server.base_url, api_key="any", backend="openai", max_retries=0
    )
    reply = llm.invoke(SWARM_TASK)
    assert reply.content.startswith("Based on the tool results:")
    assert "assign_task" in reply.additional_kwargs["reasoning_content"]
    assert any(b["type"] == "reasoning" for b in reply.content_blocks)
    assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0

    streamed = list(llm.stream(SWARM_TASK))
    whole = streamed[0]
    for chunk in streamed[1:]:
        whole += chunk
    # The stream and the single answer say the same: content and every call's reasoning.
    assert whole.content == reply.content
    assert (
        whole.additional_kwargs["reasoning_content"] == reply.additional_kwargs["reasoning_content"]
    )

    chunks = list(llm.stream("What is 2+3*4?"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.content == "14"
    assert merged.additional_kwargs["reasoning_content"].startswith("The user asks")
    assert merged.usage_metadata and merged.usage_metadata["total_tokens"] > 0


def test_upstream_key_never_reaches_the_client(client: OpenAI) -> None:
    with httpx.Client() as raw:
        answers = [
            raw.post(
                f"{client.base_url}chat/completions",
                json={"model": "kimi-swarm", "messages": [{"role": "user", "content": SWARM_TASK}]},
            ).text,
            raw.post(
                f"{client.base_url}chat/completions",
                json={
                    "model": "kimi-instant",
                    "messages": [{"role": "user", "content": "x"}],
                    "n": 2,
                },
            ).text,
        ]
    assert all(UPSTREAM_KEY not in text for text in answers)
