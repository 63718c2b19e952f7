"""Whole answers posted as ChatKimi's JSON (`_transport.json_post`), over real HTTP.

The body on the wire is the one ChatKimi built; headers, retries, time-outs and the
SDK's error types are the OpenAI SDK's, for `invoke` and `ainvoke` alike.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.json_post import AsyncJsonCompletions, JsonCompletions
from tests.integration_tests.transport.scripted_server import Reply, ScriptedServer, scripted_server

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "kimi-k2.5",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "forty-two", "reasoning_content": "r"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server(ANSWER, headers={"X-Kimi-Test": "yes"}) as srv:
        yield srv


def _model(server: ScriptedServer, **kwargs: Any) -> ChatKimi:
    return ChatKimi(
        base_url=server.base_url,
        api_key="sk-test",
        backend="vllm",
        model="kimi-k2.5",
        discover_capabilities=False,
        **kwargs,
    )


def _call(llm: ChatKimi, how: str, text: str = "What is 6 * 7?", **kwargs: Any) -> Any:
    if how == "invoke":
        return llm.invoke(text, **kwargs)
    return asyncio.run(llm.ainvoke(text, **kwargs))


def test_clients_post_whole_answers_as_json(server: ScriptedServer) -> None:
    llm = _model(server)
    assert isinstance(llm.client, JsonCompletions)
    llm.invoke("hi")
    assert isinstance(llm.async_client, AsyncJsonCompletions)


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_the_body_on_the_wire_is_the_built_body(server: ScriptedServer, how: str) -> None:
    llm = _model(
        server, default_headers={"X-Default": "d"}, extra_body={"chat_template_kwargs": {"x": 1}}
    )
    message = _call(llm, how, extra_headers={"X-Extra": "e"})
    path, headers, body, _ = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert body == llm.wire_body("What is 6 * 7?")
    assert body["messages"] == [{"role": "user", "content": "What is 6 * 7?"}]
    assert body["chat_template_kwargs"]["x"] == 1
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["x-default"] == "d"
    assert headers["x-extra"] == "e"
    assert message.content == "forty-two"
    assert message.additional_kwargs["reasoning_content"] == "r"
    assert message.usage_metadata is not None
    assert message.usage_metadata["total_tokens"] == 5


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_response_headers_when_asked_for(server: ScriptedServer, how: str) -> None:
    message = _call(_model(server, include_response_headers=True), how)
    headers = {k.lower(): v for k, v in message.response_metadata["headers"].items()}
    assert headers["x-kimi-test"] == "yes"


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_retries_follow_max_retries(server: ScriptedServer, how: str) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    server.script = [Reply(503, error), Reply()]
    message = _call(_model(server, max_retries=1), how)
    assert message.content == "forty-two"
    assert len(server.requests) == 2


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_status_errors_keep_the_sdk_types(server: ScriptedServer, how: str) -> None:
    server.script = [Reply(400, {"error": {"message": "bad temperature"}})]
    with pytest.raises(openai.BadRequestError, match="bad temperature") as err:
        _call(_model(server, max_retries=3), how)
    assert err.value.status_code == 400
    assert len(server.requests) == 1  # a 400 is not retried
    server.script = [Reply(503, {"error": {"message": "down"}})]
    server.requests.clear()
    with pytest.raises(openai.InternalServerError, match="down"):
        _call(_model(server, max_retries=0), how)
    assert len(server.requests) == 1


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_timeouts_raise_the_sdk_timeout_naming_the_endpoint(
    server: ScriptedServer, how: str
) -> None:
    server.script = [Reply(delay=2.0)]
    llm = _model(server, timeout=0.3, max_retries=0)
    with pytest.raises(openai.APITimeoutError) as err:
        _call(llm, how)
    assert llm.endpoint in str(err.value)


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_connection_errors_name_the_endpoint(how: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = ChatKimi(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="k",
        backend="vllm",
        max_retries=0,
        discover_capabilities=False,
    )
    with pytest.raises(openai.APIConnectionError) as err:
        _call(llm, how)
    assert f"127.0.0.1:{port}" in str(err.value)
