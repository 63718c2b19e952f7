"""The async HTTP stack: aiohttp by default (leaner per request), httpx on request."""

from __future__ import annotations

import socket

import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.limited_client import RateLimitedAioHttpClient, RateLimitedAsyncClient
from kimi_graph.emulator import Emulator


def _pool(llm: ChatKimi) -> object:
    return llm.root_async_client._client


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, RateLimitedAioHttpClient),
        ({"async_transport": "httpx"}, RateLimitedAsyncClient),
        (
            {"http_socket_options": [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]},
            RateLimitedAsyncClient,
        ),
    ],
    ids=["default-aiohttp", "httpx", "socket-options-need-httpx"],
)
async def test_async_calls_and_streams_on_each_transport(
    emulator: Emulator, options: dict, expected: type
) -> None:
    llm = ChatKimi(
        base_url=emulator.base_url("moonshot"), backend="moonshot", api_key="k", **options
    )
    answer = await llm.ainvoke("What is 2+3*4?")
    assert answer.content == "14" and answer.additional_kwargs["reasoning_content"]
    assert isinstance(_pool(llm), expected)
    chunks = [chunk async for chunk in llm.astream("What is 2+3*4?")]
    assert "".join(str(c.content) for c in chunks) == "14"
    assert any(c.additional_kwargs.get("reasoning_content") for c in chunks)


async def test_url_credentials_work_on_aiohttp(emulator: Emulator) -> None:
    # user:pw@ becomes an Authorization header when the model is made, so the URL
    # aiohttp gets has no credentials and the default transport is kept
    url = emulator.base_url("moonshot").replace("http://", "http://user:pw@")
    llm = ChatKimi(base_url=url, backend="moonshot", api_key="k")
    assert (await llm.ainvoke("What is 2+3*4?")).content == "14"
    assert isinstance(_pool(llm), RateLimitedAioHttpClient)
