"""Whole async answers posted straight on ChatKimi's aiohttp session (`_transport.lean_post`).

The lean path must send what the SDK's `post()` sends and behave as it does (retries,
errors, time-outs, limiter, caps); the httpx transport keeps the SDK's `post()`. Each
test runs on a loopback HTTP server that records what it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.caps import ResponseCapError
from kimi_graph._transport.json_post import AsyncJsonCompletions
from kimi_graph._transport.lean_post import LeanPoster
from kimi_graph._transport.lean_response import LeanJsonResponse
from kimi_graph._transport.ratelimit import limiter_for
from tests.integration_tests.transport.scripted_server import Reply, ScriptedServer, scripted_server

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "kimi-k2.5",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "forty-two"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}

TRANSPORTS = ["aiohttp", "httpx"]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server(ANSWER) as srv:
        yield srv


def _model(server: ScriptedServer, transport: str = "aiohttp", **kwargs: Any) -> ChatKimi:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("api_key", "sk-lean")
    return ChatKimi(
        base_url=server.base_url,
        backend="vllm",
        model="kimi-k2.5",
        discover_capabilities=False,
        async_transport=transport,
        **kwargs,
    )


async def _lean_and_sdk(llm: ChatKimi) -> tuple[AsyncJsonCompletions, AsyncJsonCompletions]:
    """The model's async completions twice: as built, and with the lean path off."""
    await llm.ainvoke("warm up")  # points the client at this loop's pool
    lean = AsyncJsonCompletions(llm.root_async_client)
    sdk = AsyncJsonCompletions(llm.root_async_client)
    sdk.lean = None
    return lean, sdk


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_lean_path_is_taken_on_aiohttp_only(
    server: ScriptedServer, transport: str
) -> None:
    llm = _model(server, transport)
    await llm.ainvoke("hi")
    assert isinstance(llm.async_client, AsyncJsonCompletions)
    assert (llm.async_client.lean is not None) is (transport == "aiohttp")
    raw = await llm.async_client.with_raw_response.create(**llm._get_request_payload("hi"))
    assert isinstance(raw, LeanJsonResponse) is (transport == "aiohttp")
    assert raw.parse()["choices"][0]["message"]["content"] == "forty-two"


async def test_a_users_http_client_keeps_the_sdk_post(server: ScriptedServer) -> None:
    import httpx2  # the SDK's httpx (openai >= 3)

    llm = _model(server, http_async_client=httpx2.AsyncClient())
    assert (await llm.ainvoke("hi")).content == "forty-two"
    assert llm.async_client.lean is None
    assert LeanPoster.for_client(llm.root_async_client) is None


async def test_an_api_key_function_keeps_the_sdk_post(server: ScriptedServer) -> None:
    async def key() -> str:
        return "sk-from-function"

    llm = _model(server, api_key=key)
    assert (await llm.ainvoke("hi")).content == "forty-two"
    assert llm.async_client.lean is None
    assert server.requests[-1][1]["authorization"] == "Bearer sk-from-function"


async def test_headers_url_and_body_equal_the_sdks(server: ScriptedServer) -> None:
    llm = _model(
        server,
        default_headers={"X-Default": "d"},
        default_query={"tenant": "t1"},
        include_response_headers=True,
    )
    lean, sdk = await _lean_and_sdk(llm)
    payload = {
        **llm._get_request_payload("What is 6 * 7?"),
        "extra_headers": {"X-Extra": "e"},
        "extra_query": {"trace": "on"},
    }
    server.requests.clear()
    lean_raw = await lean.with_raw_response.create(**dict(payload))
    sdk_raw = await sdk.with_raw_response.create(**dict(payload))
    assert isinstance(lean_raw, LeanJsonResponse)
    assert not isinstance(sdk_raw, LeanJsonResponse)
    (lean_path, lean_headers, lean_body, _), (sdk_path, sdk_headers, sdk_body, _) = server.requests
    assert lean_path == sdk_path == "/v1/chat/completions?tenant=t1&trace=on"
    assert lean_body == sdk_body == llm.wire_body("What is 6 * 7?")
    assert lean_headers == sdk_headers
    for name in ("authorization", "x-default", "x-extra", "x-stainless-retry-count", "user-agent"):
        assert name in lean_headers, name
    assert lean_raw.parse() == sdk_raw.parse()
    assert dict(lean_raw.headers) == {
        k: v for k, v in dict(sdk_raw.headers).items() if k != "date"
    } | {"date": lean_raw.headers["date"]}
    assert lean_raw.http_response.status_code == 200
    assert lean_raw.http_response.json() == ANSWER


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [429, 503])
async def test_retries_follow_the_sdks_rules_and_retry_after(
    server: ScriptedServer, transport: str, status: int
) -> None:
    error = {"error": {"message": "busy", "type": "server_error"}}
    server.script = [Reply(status, error, headers={"Retry-After": "0.4"}), Reply()]
    # the limiter's own 429 back-off is off: the SDK's max_retries handles it
    llm = _model(server, transport, max_retries=1, rate_limit_backoff=False)
    message = await llm.ainvoke("hi")
    assert message.content == "forty-two"
    assert len(server.requests) == 2
    first, second = server.requests
    assert second[3] - first[3] >= 0.35  # the server's Retry-After, honoured
    assert first[1]["x-stainless-retry-count"] == "0"
    assert second[1]["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_retry_when_the_server_says_so(server: ScriptedServer, transport: str) -> None:
    server.script = [Reply(503, {"error": {"message": "no"}}, headers={"x-should-retry": "false"})]
    with pytest.raises(openai.InternalServerError, match="no"):
        await _model(server, transport, max_retries=3).ainvoke("hi")
    assert len(server.requests) == 1


async def test_status_errors_equal_the_sdks(server: ScriptedServer) -> None:
    llm = _model(server)
    lean, sdk = await _lean_and_sdk(llm)
    payload = llm._get_request_payload("hi")
    errors = []
    for completions in (lean, sdk):
        server.script = [Reply(404, {"error": {"message": "no such model", "type": "nf"}})]
        with pytest.raises(openai.APIStatusError) as caught:
            await completions.with_raw_response.create(**dict(payload))
        errors.append(caught.value)
    lean_err, sdk_err = errors
    assert type(lean_err) is type(sdk_err) is openai.NotFoundError
    assert str(lean_err) == str(sdk_err) == "Error code: 404 - no such model"
    assert lean_err.body == sdk_err.body == {"message": "no such model", "type": "nf"}
    assert lean_err.status_code == sdk_err.status_code == 404
    assert lean_err.request.url == sdk_err.request.url
    assert lean_err.response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_timeout_names_the_endpoint_after_the_retries(
    server: ScriptedServer, transport: str
) -> None:
    server.script = [Reply(delay=1.5)]
    llm = _model(server, transport, timeout=0.3, max_retries=1)
    with pytest.raises(openai.APITimeoutError) as err:
        await llm.ainvoke("hi")
    assert str(err.value).startswith(f"Request timed out: cannot reach {llm.endpoint}")
    assert len(server.requests) == 2  # retried once, as the SDK retries time-outs


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_per_call_timeout_applies(server: ScriptedServer, transport: str) -> None:
    server.script = [Reply(delay=1.0)]
    llm = _model(server, transport)
    with pytest.raises(openai.APITimeoutError):
        await llm.ainvoke("hi", timeout=0.2)
    assert (await llm.ainvoke("hi", timeout=5.0)).content == "forty-two"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_response_caps_apply_and_release_the_slot(
    server: ScriptedServer, transport: str
) -> None:
    server.script = [Reply(body={"pad": "x" * 50_000, **ANSWER})]
    llm = _model(server, transport, max_response_bytes=10_000)
    with pytest.raises(ResponseCapError, match="max_response_bytes=10000"):
        await llm.ainvoke("hi")
    assert limiter_for(llm.endpoint, "Bearer sk-lean").in_flight == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_cancelled_call_releases_its_slot(server: ScriptedServer, transport: str) -> None:
    server.script = [Reply(delay=1.0)]
    llm = _model(server, transport)
    limiter = limiter_for(llm.endpoint, "Bearer sk-lean")
    task = asyncio.ensure_future(llm.ainvoke("hi"))
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert limiter.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.in_flight == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_limiter_absorbs_a_429_before_the_sdk(
    server: ScriptedServer, transport: str
) -> None:
    error = {"error": {"message": "slow down"}}
    server.script = [Reply(429, error, headers={"Retry-After": "0.1"}), Reply()]
    llm = _model(server, transport, api_key=f"sk-absorb-{transport}")
    assert (await llm.ainvoke("hi")).content == "forty-two"
    assert len(server.requests) == 2
    # the retry was the limiter's, not the SDK's (max_retries=0)
    assert server.requests[1][1]["x-stainless-retry-count"] == "0"
    limiter = limiter_for(llm.endpoint, f"Bearer sk-absorb-{transport}")
    assert limiter.stats.throttled == 1 and limiter.in_flight == 0


async def test_a_compressed_answer_is_decoded(server: ScriptedServer) -> None:
    server.script = [Reply(gzip_body=True)]
    llm = _model(server, include_response_headers=True)
    message = await llm.ainvoke("hi")
    assert message.content == "forty-two"
    assert message.response_metadata["headers"]["content-encoding"] == "gzip"


async def test_a_redirect_is_followed_by_the_sdk(server: ScriptedServer) -> None:
    target = f"{server.origin}/elsewhere/chat/completions"
    server.script = [
        Reply(307, {}, headers={"Location": target}),
        Reply(307, {}, headers={"Location": target}),
        Reply(),
    ]
    llm = _model(server)
    assert (await llm.ainvoke("hi")).content == "forty-two"
    paths = [path for path, *_ in server.requests]
    # the lean request met the redirect; the SDK's post() sent it again and followed it
    assert paths == ["/v1/chat/completions", "/v1/chat/completions", "/elsewhere/chat/completions"]


def test_a_proxy_from_the_environment_keeps_the_sdk_post(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the loopback server is also the proxy: a proxied request names the whole URL
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.origin)
    llm = _model(server)

    async def run() -> Any:
        answer = await llm.ainvoke("hi")
        return answer, llm.async_client.lean

    answer, lean = asyncio.run(run())
    assert answer.content == "forty-two"
    assert server.requests[-1][0] == f"{server.base_url}/chat/completions"
    assert lean is not None  # the poster exists, but declined this proxied request
