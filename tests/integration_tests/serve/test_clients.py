"""`kimi-graph serve` driven by the clients people use (issue 17.6): LiteLLM, the OpenAI
Agents SDK and the Vercel AI SDK, each with tools, JSON output, streaming and usage.

A client that is not installed (or, for the AI SDK, that npm cannot install) skips with
the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServerThread
from tests.integration_tests.serve_helpers import served

ASK = 'Weather in Paris? [[call get_weather {"city": "Paris"}]]'
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
JS_CLIENT = Path(__file__).parent / "js_client"


@pytest.fixture(scope="module")
def server(emulator: Emulator) -> Iterator[ServerThread]:
    with served(emulator) as srv:
        yield srv


# --------------------------------------------------------------------------- LiteLLM


@pytest.fixture(scope="module")
def litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
    module = pytest.importorskip("litellm", reason="LiteLLM is not installed (pip install litellm)")
    module.telemetry = False
    return module


def test_litellm_tools_json_stream_and_usage(
    litellm: Any, server: ServerThread, emulator: Emulator
) -> None:
    common = {"api_base": server.base_url, "api_key": "litellm-key"}
    first = litellm.completion(
        model="openai/kimi-thinking",
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER_TOOL],
        **common,
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    produced = message.reasoning_content
    assert produced
    assert first.usage.completion_tokens_details.reasoning_tokens > 0
    # The client's next request, built the LiteLLM way: its message object as is.
    mark = len(emulator.requests)
    second = litellm.completion(
        model="openai/kimi-thinking",
        messages=[
            {"role": "user", "content": ASK},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 C, sunny"},
        ],
        tools=[WEATHER_TOOL],
        **common,
    )
    assert second.choices[0].message.content == "Based on the tool results: 18 C, sunny"
    (record,) = emulator.requests[mark:]
    assert record.status == 200 and record.history_reasoning == [produced]

    person = litellm.completion(
        model="openai/kimi-thinking",
        messages=[{"role": "user", "content": "Alice is 31. Name and age?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA},
        },
        **common,
    )
    assert set(json.loads(person.choices[0].message.content)) == {"name", "age"}

    chunks = list(
        litellm.completion(
            model="openai/kimi-thinking",
            messages=[{"role": "user", "content": "What is 2+3*4?"}],
            stream=True,
            stream_options={"include_usage": True},
            **common,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "14"
    usage = next(c.usage for c in reversed(chunks) if getattr(c, "usage", None))
    assert usage.completion_tokens > 0


# --------------------------------------------------------------------------- Agents SDK


@pytest.fixture(scope="module")
def agents() -> Any:
    module = pytest.importorskip(
        "agents", reason="the OpenAI Agents SDK is not installed (pip install openai-agents)"
    )
    module.set_tracing_disabled(True)  # traces would go to OpenAI's servers
    return module


async def test_openai_agents_sdk_tools_json_stream_and_usage(
    agents: Any, server: ServerThread, emulator: Emulator
) -> None:
    from openai import AsyncOpenAI
    from pydantic import BaseModel

    client = AsyncOpenAI(base_url=server.base_url, api_key="agents-key", max_retries=0)
    model = agents.OpenAIChatCompletionsModel(model="kimi-thinking", openai_client=client)
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return f"18 C in {city}"

    mark = len(emulator.requests)
    agent = agents.Agent(name="weather", instructions="Be brief.", tools=[get_weather], model=model)
    result = await agents.Runner.run(agent, ASK)
    assert seen == ["Paris"]
    assert result.final_output == "Based on the tool results: 18 C in Paris"
    first, second = emulator.requests[mark:]
    assert first.thinking and second.status == 200
    assert second.history_reasoning and second.history_reasoning[0]  # put back by the server
    usage = result.context_wrapper.usage
    assert usage.requests == 2 and usage.output_tokens_details.reasoning_tokens > 0

    class Person(BaseModel):
        name: str
        age: int

    typed = agents.Agent(name="typed", output_type=Person, model=model)
    person = (await agents.Runner.run(typed, "Alice is 31. Name and age?")).final_output
    assert isinstance(person, Person)

    streamed = agents.Runner.run_streamed(agents.Agent(name="plain", model=model), "What is 2+3*4?")
    deltas = []
    async for event in streamed.stream_events():
        data = getattr(event, "data", None)
        if getattr(data, "type", None) == "response.output_text.delta":
            deltas.append(data.delta)
    assert "".join(deltas) == "14" and streamed.final_output == "14"
    await client.close()


# --------------------------------------------------------------------------- Vercel AI SDK


@pytest.fixture(scope="module")
def ai_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Vercel AI SDK needs node and npm, which are not on PATH")
    if not (JS_CLIENT / "node_modules" / "ai").is_dir():
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=JS_CLIENT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"npm could not install the AI SDK: {proc.stderr.strip()[-300:]}")
    return JS_CLIENT


def test_vercel_ai_sdk_tools_json_stream_and_usage(
    ai_sdk: Path, server: ServerThread, emulator: Emulator
) -> None:
    mark = len(emulator.requests)
    proc = subprocess.run(
        ["node", "check.mjs"],
        cwd=ai_sdk,
        env={**os.environ, "KIMI_SERVE_URL": server.base_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    tools = out["tools"]
    assert tools["calls"] == ["Paris"]
    assert tools["finishReasons"] == ["tool-calls", "stop"]
    assert tools["text"] == "Based on the tool results: 18 C in Paris"
    assert tools["reasoning"].startswith("The user asks")
    assert all(r.status == 200 for r in emulator.requests[mark:])
    assert set(out["object"]["value"]) == {"name", "age"}
    stream = out["stream"]
    assert stream["text"] == "14" and stream["reasoning"].startswith("The user asks")
    usage = stream["usage"]
    assert usage["outputTokens"] > 0 and usage["reasoningTokens"] > 0


async def test_openai_agents_sdk_agent_with_tools_and_an_output_type(
    agents: Any, emulator: Emulator
) -> None:
    """Tools and `output_type` together: the SDK sends `tools` and a JSON schema at once."""
    from openai import AsyncOpenAI
    from pydantic import BaseModel

    class Report(BaseModel):
        city: str
        summary: str

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"18 C in {city}"

    with served(emulator, "vllm") as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="agents-key", max_retries=0)
        model = agents.OpenAIChatCompletionsModel(model="kimi-thinking", openai_client=client)
        agent = agents.Agent(name="r", tools=[get_weather], output_type=Report, model=model)
        mark = len(emulator.requests)
        result = await agents.Runner.run(agent, ASK)
        await client.close()
    assert isinstance(result.final_output, Report)
    first, second = emulator.requests[mark:]
    assert first.body["tools"] and first.body["response_format"]["type"] == "json_schema"
    assert second.status == 200
