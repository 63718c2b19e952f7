"""The replay tier: real recorded responses of Kimi servers, served verbatim over loopback.

For every recording, ChatKimi must report what the server said (content, reasoning in
`additional_kwargs` and as a content block, tool calls, usage with cached and reasoning
tokens, finish reason) on `invoke`, `stream`, `ainvoke` and `astream` alike; a summed
stream carries no internal key; usage counts once whatever the backend and whoever
asked for it; the reasoning of a tool-call turn goes back byte for byte on the next
turn; and a recorded error body reaches the caller with its status and message.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from kimi_graph import ChatKimi
from tests.integration_tests.replay.recordings import (
    Expected,
    Recording,
    expected,
    load,
    names,
    usage_reports,
)
from tests.integration_tests.replay.server import ReplayServer

RECORDINGS = [load(name) for name in names()]
ANSWERS = [r for r in RECORDINGS if not r.is_error]
ERRORS = [r for r in RECORDINGS if r.is_error]
WITH_TOOL_CALLS = [r for r in ANSWERS if expected(r).tool_calls]
USAGE_TWICE = [r for r in ANSWERS if r.stream and usage_reports(r) == 2]
METHODS = ("invoke", "stream", "ainvoke", "astream")
PROMPT = "What is the weather in Paris? Use get_weather."


def _model(replay: ReplayServer, recording: Recording, method: str, **kwargs: Any) -> ChatKimi:
    """ChatKimi on the replay server, asking in the recording's mode (streamed or not)."""
    kwargs.setdefault("backend", "moonshot")
    if method in ("invoke", "ainvoke"):
        kwargs.setdefault("streaming", recording.stream)
    else:
        kwargs.setdefault("disable_streaming", not recording.stream)
    return ChatKimi(
        model=recording.model,
        base_url=replay.base_url,
        api_key="test-key",
        max_retries=0,
        **kwargs,
    )


async def _ask(
    llm: ChatKimi, method: str, messages: Any, **kwargs: Any
) -> tuple[AIMessage, list[AIMessageChunk]]:
    """The answer by `method` (`kwargs` are call options), and the chunks when it streamed."""
    if method == "invoke":
        return llm.invoke(messages, **kwargs), []
    if method == "ainvoke":
        return await llm.ainvoke(messages, **kwargs), []
    if method == "stream":
        chunks = list(llm.stream(messages, **kwargs))
    else:
        chunks = [c async for c in llm.astream(messages, **kwargs)]
    # Unstreamed (`disable_streaming`), `stream` yields the one answer as it is.
    total = chunks[0]
    for piece in chunks[1:]:
        total = total + piece
    assert isinstance(total, AIMessage)
    return total, chunks


def _check(message: AIMessage, want: Expected) -> None:
    assert message.content == want.content
    assert message.additional_kwargs.get("reasoning_content", "") == want.reasoning
    blocks = [b for b in message.content_blocks if b["type"] == "reasoning"]
    assert [b.get("reasoning") for b in blocks] == ([want.reasoning] if want.reasoning else [])
    calls = [(c["id"], c["name"], c["args"]) for c in message.tool_calls]
    assert calls == [(i, n, json.loads(a) if a else {}) for i, n, a in want.tool_calls]
    assert message.invalid_tool_calls == []
    assert message.response_metadata.get("finish_reason") == want.finish_reason
    assert want.usage is not None
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] == want.usage["prompt_tokens"]
    assert usage["output_tokens"] == want.usage["completion_tokens"]
    assert usage["total_tokens"] == want.usage["total_tokens"]
    details = want.usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens", want.usage.get("cached_tokens"))
    assert (usage.get("input_token_details") or {}).get("cache_read") == cached
    thought = (want.usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    assert (usage.get("output_token_details") or {}).get("reasoning") == thought
    assert not [k for k in message.additional_kwargs if k.startswith("kimi")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("recording", ANSWERS, ids=lambda r: r.name)
async def test_answer_matches_recording(
    replay: ReplayServer, recording: Recording, method: str
) -> None:
    replay.serve(recording)
    llm = _model(replay, recording, method)
    message, chunks = await _ask(llm, method, PROMPT)
    assert len(replay.requests) == 1
    assert bool(replay.requests[0].get("stream")) == recording.stream
    _check(message, expected(recording))
    for chunk in chunks:
        assert not [k for k in chunk.additional_kwargs if k.startswith("kimi")], chunk
    if recording.stream and chunks:
        assert sum(c.usage_metadata is not None for c in chunks) == 1


@pytest.mark.parametrize("recording", [r for r in ANSWERS if r.stream], ids=lambda r: r.name)
async def test_summed_stream_equals_invoke(replay: ReplayServer, recording: Recording) -> None:
    replay.serve(recording)
    invoked = _model(replay, recording, "invoke").invoke(PROMPT)
    streamed, _ = await _ask(_model(replay, recording, "stream"), "stream", PROMPT)
    assert streamed.content == invoked.content
    assert streamed.additional_kwargs == invoked.additional_kwargs
    assert streamed.tool_calls == invoked.tool_calls
    assert streamed.usage_metadata == invoked.usage_metadata
    assert streamed.response_metadata.get("finish_reason") == invoked.response_metadata.get(
        "finish_reason"
    )


_INCLUDE_USAGE = {"stream_options": {"include_usage": True}}


@pytest.mark.parametrize(
    ("backend", "options", "call"),
    [
        ("moonshot", {}, {}),
        ("moonshot", {}, _INCLUDE_USAGE),
        ("moonshot", {"model_kwargs": _INCLUDE_USAGE}, {}),
        ("vllm", {}, {}),
        ("openai", {}, {}),
    ],
    ids=["moonshot", "moonshot-call-stream_options", "moonshot-model_kwargs", "vllm", "openai"],
)
@pytest.mark.parametrize("recording", USAGE_TWICE, ids=lambda r: r.name)
@pytest.mark.parametrize("method", ["stream", "astream", "invoke"])
async def test_usage_reported_twice_counts_once(
    replay: ReplayServer,
    recording: Recording,
    backend: str,
    options: dict[str, Any],
    call: dict[str, Any],
    method: str,
) -> None:
    replay.serve(recording)
    llm = _model(replay, recording, method, backend=backend, **options)
    message, chunks = await _ask(llm, method, PROMPT, **call)
    sent = replay.requests[0].get("stream_options") or {}
    asked = backend != "moonshot" or bool(options) or bool(call)
    assert bool(sent.get("include_usage")) is asked
    want = expected(recording).usage
    assert want is not None
    usage = message.usage_metadata
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (
        want["prompt_tokens"],
        want["completion_tokens"],
        want["total_tokens"],
    )
    if chunks:
        assert sum(c.usage_metadata is not None for c in chunks) == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("recording", WITH_TOOL_CALLS, ids=lambda r: r.name)
async def test_reasoning_goes_back_byte_for_byte(
    replay: ReplayServer, recording: Recording, method: str
) -> None:
    replay.serve(recording)
    llm = _model(replay, recording, method)
    first, _ = await _ask(llm, method, PROMPT)
    want = expected(recording)
    history = [
        HumanMessage(PROMPT),
        first,
        *(ToolMessage("Sunny, 21 C", tool_call_id=call_id) for call_id, _, _ in want.tool_calls),
    ]
    replay.serve(recording)
    await _ask(llm, method, history)
    sent = replay.requests[0]["messages"]
    assistant = [m for m in sent if m["role"] == "assistant"]
    assert len(assistant) == 1
    assert assistant[0]["reasoning_content"] == want.reasoning
    calls = assistant[0]["tool_calls"]
    assert [c["id"] for c in calls] == [i for i, _, _ in want.tool_calls]
    assert [json.loads(c["function"]["arguments"] or "{}") for c in calls] == [
        json.loads(a or "{}") for _, _, a in want.tool_calls
    ]
    tools = [m for m in sent if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == [i for i, _, _ in want.tool_calls]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("recording", ERRORS, ids=lambda r: r.name)
async def test_recorded_error_reaches_the_caller(
    replay: ReplayServer, recording: Recording, method: str
) -> None:
    replay.serve(recording)
    llm = _model(replay, recording, method)
    recorded = json.loads(recording.body)["error"]["message"]
    with pytest.raises(openai.APIStatusError) as caught:
        await _ask(llm, method, PROMPT)
    assert caught.value.status_code == recording.status
    # A 404 may be reworded to name the model and endpoint; it must keep the model id.
    text = str(caught.value)
    assert recorded in text or (recording.status == 404 and recording.model in text)
