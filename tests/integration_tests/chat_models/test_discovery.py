"""Capability discovery: `GET /v1/models` read once per endpoint, overriding the table.

Against the emulator's hosted-catalogue mode (what Moonshot lists today) and a loopback
server whose model list a test sets (to count requests, list a self-hosted name, fail).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator, EmulatorConfig
from kimi_graph.model_profiles import model_spec
from tests.integration_tests.replay.recordings import load
from tests.integration_tests.replay.server import ReplayServer

TEXT = "moonshot_k3_nonstream_reasoning_cached_usage"


@pytest.fixture(scope="module")
def hosted() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(hosted_catalogue=True)) as emu:
        yield emu


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    replay = ReplayServer()
    replay.start()
    try:
        yield replay
    finally:
        replay.stop()


def _listing(*items: dict[str, Any]) -> dict[str, Any]:
    return {"object": "list", "data": [{"object": "model", "owned_by": "x", **i} for i in items]}


def _model(server: ReplayServer, **kwargs: Any) -> ChatKimi:
    """ChatKimi on the loopback server with a key of its own (a fresh discovery cache)."""
    kwargs.setdefault("api_key", uuid.uuid4().hex)
    kwargs.setdefault("backend", "moonshot")
    kwargs.setdefault("max_retries", 0)
    return ChatKimi(base_url=server.base_url, **kwargs)


def test_capabilities_are_what_the_hosted_catalogue_lists(hosted: Emulator) -> None:
    listed = httpx.get(f"{hosted.base_url('moonshot')}/models", timeout=30).json()["data"]
    thinking = {"only": "always", "both": "switch", "no": "never"}
    for entry in listed:
        llm = ChatKimi(
            model=entry["id"],
            base_url=hosted.base_url("moonshot"),
            api_key="catalogue",
            backend="moonshot",
            discover_capabilities=True,
        )
        caps = llm.capabilities
        assert caps.source == "server"
        assert caps.context_tokens == entry["context_length"]
        assert caps.thinking == thinking[entry["supports_thinking_type"]]
        efforts = entry["think_efforts"]
        assert caps.reasoning_efforts == (
            tuple(efforts["valid_efforts"]) if efforts["support"] else ()
        )
        assert caps.default_effort == efforts["default_effort"]
        assert caps.image_input is entry["supports_image_in"]
        assert caps.video_input is entry["supports_video_in"]
        assert caps.tool_use is entry["supports_tool_use"]
        assert llm.invoke("hi").content  # and the model answers
    off = ChatKimi(
        model="kimi-k3",
        base_url=hosted.base_url("moonshot"),
        api_key="catalogue",
        backend="moonshot",
    )
    assert off.capabilities.source == "table"
    assert off.capabilities.context_tokens == model_spec("kimi-k3").context_tokens


def test_what_the_server_says_overrides_the_table(server: ReplayServer) -> None:
    server.serve(load(TEXT))
    server.models = _listing(
        {"id": "my-kimi", "supports_thinking_type": "no", "context_length": 50}
    )
    table = _model(server, model="my-kimi")  # discovery off on loopback by default
    table.invoke("hi")
    assert server.requests[-1]["thinking"] == {"type": "enabled"}  # the table: K2.5's switch
    assert server.models_requests == 0
    found = _model(server, model="my-kimi", discover_capabilities=True)
    assert found.capabilities.overridden == ("thinking", "context_tokens")
    found.invoke("hi")
    assert "thinking" not in server.requests[-1]  # the server says: no thinking
    sent = len(server.requests)
    with pytest.raises(ValueError, match="50"):
        found.invoke("word " * 100)  # over the listed context: refused locally
    assert len(server.requests) == sent
    server.models = _listing({"id": "my-kimi", "supports_thinking_type": "only"})
    always = _model(server, model="my-kimi", discover_capabilities=True)
    with pytest.raises(ValueError, match="always thinks"):
        always.invoke("hi", thinking=False)


def test_model_list_read_once_per_endpoint_and_process(server: ReplayServer) -> None:
    server.serve(load(TEXT))
    server.models = _listing({"id": "kimi-k3", "context_length": 1_048_576})
    server.models_requests = 0
    key = uuid.uuid4().hex
    first = _model(server, model="kimi-k3", api_key=key, discover_capabilities=True)
    second = _model(server, model="kimi-k3", api_key=key, discover_capabilities=True)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: first.invoke("hi"), range(8)))
    asyncio.run(second.ainvoke("hi"))
    assert second.capabilities.context_tokens == 1_048_576
    assert server.models_requests == 1
    _model(server, model="kimi-k3", discover_capabilities=True).invoke("hi")  # another key
    assert server.models_requests == 2
    stream_server = ReplayServer()
    stream_server.start()
    try:
        stream_server.serve(load("moonshot_k3_stream_reasoning_usage_twice"))
        stream_server.models = server.models
        llm = _model(stream_server, model="kimi-k3", api_key=key, discover_capabilities=True)
        list(llm.stream("hi"))

        async def astream() -> None:
            async for _ in llm.astream("hi"):
                pass

        asyncio.run(astream())
        assert stream_server.models_requests == 1  # another endpoint: its own read
    finally:
        stream_server.stop()


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"error": {"message": "down"}}), (200, {"data": "not a list"}), (404, {})],
)
def test_a_failed_read_falls_back_to_the_table(
    server: ReplayServer, status: int, body: Any
) -> None:
    server.serve(load(TEXT))
    server.models, server.models_status, server.models_requests = body, status, 0
    try:
        llm = _model(server, model="kimi-k3", discover_capabilities=True)
        assert llm.invoke("hi").content
        assert llm.capabilities.source == "table"
        assert llm.capabilities.context_tokens == model_spec("kimi-k3").context_tokens
        assert server.models_requests == 1  # the failure is remembered, not retried per call
    finally:
        server.models_status = 200


def test_the_switch(server: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.serve(load(TEXT))
    server.models = _listing({"id": "kimi-k3", "context_length": 1_048_576})
    server.models_requests = 0
    _model(server, model="kimi-k3", discover_capabilities=False).invoke("hi")
    _model(server, model="kimi-k3").invoke("hi")
    assert server.models_requests == 0
    monkeypatch.setenv("KIMI_DISCOVER_CAPABILITIES", "1")
    _model(server, model="kimi-k3").invoke("hi")
    assert server.models_requests == 1
    _model(server, model="kimi-k3", discover_capabilities=False).invoke("hi")  # init wins
    assert server.models_requests == 1
    monkeypatch.setenv("KIMI_DISCOVER_CAPABILITIES", "0")
    _model(server, model="kimi-k3").invoke("hi")
    assert server.models_requests == 1
    monkeypatch.setenv("KIMI_DISCOVER_CAPABILITIES", "maybe")
    with pytest.raises(ValueError, match="KIMI_DISCOVER_CAPABILITIES"):
        _model(server, model="kimi-k3")


def test_vllm_max_model_len(server: ReplayServer) -> None:
    server.models = _listing({"id": "served-k25", "root": "/models/kimi", "max_model_len": 131_072})
    llm = _model(server, model="served-k25", backend="vllm", discover_capabilities=True)
    caps = llm.capabilities
    assert (caps.source, caps.context_tokens) == ("server", 131_072)
    assert caps.overridden == ("context_tokens",)


def test_profile_shows_what_was_read(server: ReplayServer) -> None:
    server.serve(load(TEXT))
    server.models = _listing(
        {"id": "my-kimi", "context_length": 777_777, "supports_image_in": False}
    )
    llm = _model(server, model="my-kimi", discover_capabilities=True)
    assert llm.profile is not None and llm.profile["max_input_tokens"] != 777_777  # the table
    llm.invoke("hi")  # the first call reads the list
    assert llm.profile["max_input_tokens"] == 777_777
    assert llm.profile["image_inputs"] is False
    mine = _model(
        server, model="my-kimi", discover_capabilities=True, profile={"max_input_tokens": 5}
    )
    mine.invoke("hi")
    assert mine.profile == {"max_input_tokens": 5}  # a profile the caller gave is kept
