"""The rest of the OpenAI surface (issue 17.5): logprobs refused, models.retrieve, error shape."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI
from starlette.requests import Request

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServeConfig, ServerThread, create_app
from tests.integration_tests.serve_helpers import served

USER = [{"role": "user", "content": "hi"}]


def test_logprobs_are_refused_saying_why(emulator: Emulator) -> None:
    with served(emulator) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        mark = len(emulator.requests)
        for extra in ({"logprobs": True}, {"logprobs": True, "top_logprobs": 3}):
            with pytest.raises(openai.BadRequestError) as info:
                client.chat.completions.create(model="kimi-thinking", messages=USER, **extra)
            assert "not available" in info.value.message
            assert "kimi-thinking" in info.value.message
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="kimi-instant", messages=USER, top_logprobs=2)
        assert info.value.param == "top_logprobs"
        assert emulator.requests[mark:] == []
        # logprobs=false is what clients send by default: accepted.
        reply = client.chat.completions.create(model="kimi-instant", messages=USER, logprobs=False)
        assert reply.choices[0].logprobs is None


def test_models_retrieve(emulator: Emulator) -> None:
    with served(emulator, api_key="k") as srv:
        client = OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        model = client.models.retrieve("kimi-swarm")
        assert (model.id, model.object, model.owned_by) == ("kimi-swarm", "model", "kimi-graph")
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve("gpt-4o")
        assert info.value.code == "model_not_found" and "kimi-agent" in info.value.message
        assert httpx.get(f"{srv.base_url}/models/kimi-swarm").status_code == 401


def test_an_unexpected_failure_is_a_500_in_openais_shape() -> None:
    app = create_app(ServeConfig(base_url="http://127.0.0.1:9/v1", upstream_api_key="k"), tools=[])

    async def boom(request: Request) -> None:
        raise RuntimeError("secret detail")

    app.add_route("/v1/boom", boom, methods=["GET"])
    with ServerThread(app) as srv:
        response = httpx.get(f"{srv.base_url}/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert "RuntimeError" in error["message"] and "secret detail" not in error["message"]
