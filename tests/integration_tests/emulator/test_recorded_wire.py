"""The emulator's Moonshot dialect against real recorded responses (WIRE.md §8.3).

The expected shapes are read from tests/fixtures/recordings, not written here: the
emulator must open, reason, call tools, finish and report usage the way the recorded
Moonshot streams and bodies do, and answer errors in the recorded envelope.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kimi_graph.emulator import Emulator, EmulatorConfig
from kimi_graph.emulator.catalogue import HOSTED_MODELS, RETIRED_EXAMPLES
from tests.integration_tests.replay.recordings import load

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _kind(item: dict[str, Any]) -> str:
    """A chunk's shape: what its delta carries, where its usage sits."""
    if not item["choices"]:
        return "trailer:" + ",".join(sorted(item)) if item.get("usage") else "empty"
    choice = item["choices"][0]
    if choice.get("finish_reason"):
        return f"finish:{'usage' if choice.get('usage') else 'no-usage'}"
    delta = choice["delta"]
    if "role" in delta:
        return "open:" + json.dumps(delta, sort_keys=True)
    if "tool_calls" in delta:
        return "call-head" if delta["tool_calls"][0].get("id") else "call-args"
    if "reasoning_content" in delta:
        return "reasoning" if delta["reasoning_content"] else "reasoning-end"
    return "content"


def _shape(chunks: list[dict[str, Any]]) -> list[str]:
    """The chunk kinds in order, runs of one kind folded into one."""
    kinds = [_kind(c) for c in chunks]
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def _usage_shape(usage: dict[str, Any]) -> list[str]:
    """The usage keys in order, with the nested keys."""
    return [f"{k}.{','.join(v)}" if isinstance(v, dict) else k for k, v in usage.items()]


def _post(emulator: Emulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{emulator.base_url('moonshot')}/chat/completions", json=body, timeout=30)


def _stream(emulator: Emulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = _post(emulator, {**body, "stream": True})
    assert response.status_code == 200, response.text
    blocks = [b for b in response.text.split("\n\n") if b]
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]


@pytest.mark.parametrize(
    ("name", "prompt", "tools"),
    [
        ("moonshot_k3_stream_reasoning_usage_twice", "Say hello", []),
        (
            "moonshot_k3_stream_reasoning_tool_call",
            'Weather? [[call get_weather {"city": "Paris"}]]',
            [WEATHER],
        ),
    ],
)
def test_stream_follows_the_recording(
    emulator: Emulator, name: str, prompt: str, tools: list[Any]
) -> None:
    recorded = load(name).chunks()
    body: dict[str, Any] = {
        "model": "kimi-k3",
        "messages": [{"role": "user", "content": prompt}],
        "stream_options": {"include_usage": True},
    }
    if tools:
        body["tools"] = tools
    chunks = _stream(emulator, body)
    assert _shape(chunks) == _shape(recorded)
    usage_on_choice = chunks[-2]["choices"][0]["usage"]
    assert usage_on_choice == chunks[-1]["usage"]  # reported twice, the same numbers
    assert "reasoning_tokens" in usage_on_choice["completion_tokens_details"]
    without = _stream(emulator, {k: v for k, v in body.items() if k != "stream_options"})
    assert _shape(without) == _shape(recorded)[:-1]  # no trailer without include_usage


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("moonshot_k25_stream_tool_call_fragmented_args", "kimi-k2.5"),
        ("moonshot_k3_stream_reasoning_tool_call", "kimi-k3"),
    ],
)
def test_system_fingerprint_follows_the_recording(
    emulator: Emulator, name: str, model: str
) -> None:
    def marks(chunks: list[dict[str, Any]]) -> list[bool]:
        return ["system_fingerprint" in c for c in chunks]

    recorded = load(name).chunks()
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather? [[call get_weather]]"}],
        "tools": [WEATHER],
        "stream_options": {"include_usage": True},
    }
    chunks = _stream(emulator, body)
    # On every chunk but the usage-only one (K2.5), or on none (K3).
    assert (
        set(marks(chunks[:-1])) == set(marks(recorded[:-1])) and len(set(marks(recorded[:-1]))) == 1
    )
    assert marks(chunks[-1:]) == marks(recorded[-1:])


def test_tool_call_body_follows_the_recording(emulator: Emulator) -> None:
    recorded = json.loads(load("moonshot_k3_nonstream_tool_call").body)
    body = {
        "model": "kimi-k3",
        "messages": [{"role": "user", "content": 'Weather? [[call get_weather {"city": "Oslo"}]]'}],
        "tools": [WEATHER],
        "prompt_cache_key": uuid.uuid4().hex,  # a first request: no cache hit
    }
    response = _post(emulator, body)
    assert response.status_code == 200
    got = response.json()
    want_message = recorded["choices"][0]["message"]
    message = got["choices"][0]["message"]
    assert list(message) == list(want_message)
    assert message["content"] == want_message["content"] == ""
    (call,) = message["tool_calls"]
    (want_call,) = want_message["tool_calls"]
    assert list(call) == list(want_call)  # index, id, type, function
    assert re.fullmatch(r"get_weather_\d+", call["id"])
    assert re.fullmatch(rf"{want_call['function']['name']}_\d+", want_call["id"])
    assert got["choices"][0]["finish_reason"] == recorded["choices"][0]["finish_reason"]
    # No cache hit: the recorded usage has neither cache field, nor does the emulator's.
    assert _usage_shape(got["usage"]) == _usage_shape(recorded["usage"])


def test_cache_hit_usage_follows_the_recording(emulator: Emulator) -> None:
    recorded = json.loads(load("moonshot_k3_nonstream_reasoning_cached_usage").body)["usage"]
    body = {
        "model": "kimi-k3",
        "messages": [{"role": "user", "content": "Tell me about printing presses " * 30}],
        "prompt_cache_key": "recorded-wire",
    }
    assert _post(emulator, body).status_code == 200
    usage = _post(emulator, body).json()["usage"]
    assert _usage_shape(usage) == _usage_shape(recorded)
    assert usage["cached_tokens"] == usage["prompt_tokens_details"]["cached_tokens"] > 0


@pytest.mark.parametrize(
    ("name", "body"),
    [
        (
            "moonshot_error_400_required_tool_choice_with_thinking",
            {"model": "kimi-k2.5", "tools": [WEATHER], "tool_choice": "required"},
        ),
        ("moonshot_error_model_not_found", {"model": "definitely-not-a-real-moonshot-model"}),
    ],
)
def test_errors_follow_the_recording(emulator: Emulator, name: str, body: dict[str, Any]) -> None:
    recording = load(name)
    response = _post(emulator, {**body, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == recording.status
    assert response.json() == json.loads(recording.body)


# ------------------------------------------------------------------ today's hosted catalogue


@pytest.fixture(scope="module")
def hosted() -> Iterator[Emulator]:
    """An emulator serving Moonshot's hosted catalogue of today."""
    with Emulator(EmulatorConfig(hosted_catalogue=True)) as emu:
        yield emu


def test_catalogue_lists_todays_models_with_capabilities(hosted: Emulator) -> None:
    listed = httpx.get(f"{hosted.base_url('moonshot')}/models", timeout=30).json()["data"]
    assert [m["id"] for m in listed] == [
        "kimi-k3",
        "kimi-k3.1-pro",
        "kimi-k3.1-pro-highspeed",
        "kimi-k2.7-code",
        "kimi-k2.7-code-highspeed",
        "kimi-k2.6",
    ]
    fields = {
        "context_length",
        "supports_reasoning",
        "supports_image_in",
        "supports_video_in",
        "supports_tool_use",
        "supports_thinking_type",
        "think_efforts",
    }
    for model in listed:
        assert fields <= set(model)
        assert model["supports_thinking_type"] in ("only", "both", "no")
        assert set(model["think_efforts"]) == {"support", "valid_efforts", "default_effort"}
    by_id = {m["id"]: m for m in listed}
    assert by_id["kimi-k3"]["context_length"] == 1_048_576
    assert by_id["kimi-k3"]["think_efforts"]["valid_efforts"] == ["low", "high", "max"]
    assert by_id["kimi-k2.6"]["supports_thinking_type"] == "both"
    assert by_id["kimi-k2.7-code"]["supports_thinking_type"] == "only"
    # The default emulator keeps its plain list (no capability fields).
    plain = httpx.get(f"{hosted.url}/vllm/v1/models", timeout=30).json()["data"]
    assert "context_length" not in plain[0]


@pytest.mark.parametrize("model", RETIRED_EXAMPLES)
def test_catalogue_answers_retired_ids_with_the_recorded_404(hosted: Emulator, model: str) -> None:
    recorded = json.loads(load("moonshot_error_model_not_found").body)
    response = _post(hosted, {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    want = recorded["error"]["message"].replace("definitely-not-a-real-moonshot-model", model)
    assert response.json() == {"error": {"message": want, "type": recorded["error"]["type"]}}


@pytest.mark.parametrize("model", list(HOSTED_MODELS))
def test_catalogue_serves_todays_models(hosted: Emulator, model: str) -> None:
    response = _post(hosted, {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message["content"] and message["reasoning_content"]  # every one reasons by default


def test_catalogue_refuses_instant_mode_on_models_that_always_reason(hosted: Emulator) -> None:
    recorded = json.loads(load("moonshot_error_k27code_thinking_disabled").body)
    body = {
        "model": "kimi-k2.7-code",
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "disabled"},
    }
    response = _post(hosted, body)
    assert response.status_code == 400
    assert response.json() == recorded
    body["model"] = "kimi-k2.6"
    assert "reasoning_content" not in _post(hosted, body).json()["choices"][0]["message"]
