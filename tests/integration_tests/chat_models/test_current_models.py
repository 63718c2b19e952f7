"""Today's Kimi family over HTTP (issue 15, items 1, 2, 4): defaults, 404s, K3, effort."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from kimi_graph import ChatKimi, create_agent_graph, create_swarm_graph
from kimi_graph.chat_models import ModelNotFoundError
from kimi_graph.modes.chat import create_instant_graph, create_thinking_graph
from tests.integration_tests.conftest import requests_since

CITIES = 'Compare the weather in these cities:\n- weather in "Paris"\n- weather in "Rome"'


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


class Person(BaseModel):
    """A person."""

    name: str
    age: int


# ------------------------------------------------------------------ item 1: defaults


def test_default_model_per_server(kimi, emulator, monkeypatch) -> None:
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    mark = len(emulator.requests)
    assert kimi("moonshot").invoke("What is 6*7?").content == "42"
    assert kimi("vllm").invoke("What is 6*7?").content == "42"
    hosted, self_hosted = requests_since(emulator, mark)
    assert hosted.body["model"] == "kimi-k2.6" and hosted.status == 200
    assert self_hosted.body["model"] == "kimi-k2.5" and self_hosted.status == 200
    monkeypatch.setenv("KIMI_MODEL", "moonshotai/Kimi-K2.5")
    assert kimi("vllm").model_name == "moonshotai/Kimi-K2.5"
    assert kimi("vllm", model="kimi-k2.5").model_name == "kimi-k2.5"


def test_non_kimi_platform_model_gets_no_kimi_fields(kimi) -> None:
    body = kimi("moonshot", model="moonshot-v1-8k").wire_body("hi")
    assert "thinking" not in body and "temperature" not in body and "top_p" not in body


# ------------------------------------------------------------------ item 1: 404


@pytest.mark.parametrize("run", ["invoke", "stream", "ainvoke", "astream"])
async def test_unknown_model_names_model_endpoint_and_served_models(kimi, run: str) -> None:
    llm = kimi("moonshot", model="kimi-k2-preview-gone")
    with pytest.raises(ModelNotFoundError) as info:
        if run == "invoke":
            llm.invoke("hi")
        elif run == "stream":
            list(llm.stream("hi"))
        elif run == "ainvoke":
            await llm.ainvoke("hi")
        else:
            [c async for c in llm.astream("hi")]
    err = info.value
    assert isinstance(err, openai.NotFoundError) and err.status_code == 404
    assert err.model == "kimi-k2-preview-gone" and err.endpoint == llm.endpoint
    assert err.served is not None and "kimi-k3" in err.served and "kimi-k2.6" in err.served
    text = str(err)
    assert "'kimi-k2-preview-gone'" in text and llm.endpoint in text
    assert "Not found the model kimi-k2-preview-gone" in text
    assert "It serves: " in text and "kimi-k3.1-pro" in text


def test_retired_model_says_when(kimi) -> None:
    with pytest.raises(ModelNotFoundError, match="retired moonshot-v1-8k on its hosted API"):
        kimi("moonshot", model="moonshot-v1-8k").invoke("hi")


class _NoModels(BaseHTTPRequestHandler):
    """A server that knows no model and has no model list."""

    def do_POST(self) -> None:
        self._send(404, {"error": {"message": "The model `ghost` does not exist."}})

    def do_GET(self) -> None:
        self._send(500, {"error": {"message": "no list here"}})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def no_models_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoModels)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_404_without_a_model_list(no_models_url: str) -> None:
    llm = ChatKimi(base_url=no_models_url, model="ghost", api_key="k", max_retries=0)
    with pytest.raises(ModelNotFoundError) as info:
        llm.invoke("hi")
    assert info.value.served is None
    assert str(info.value).startswith(f"{no_models_url} does not serve the model 'ghost'")
    assert "It serves" not in str(info.value)


# ------------------------------------------------------------------ item 2: K3 and friends


@pytest.mark.parametrize("run", ["invoke", "stream"])
def test_hosted_k3_instant_sends_lowest_effort(kimi, emulator, run: str) -> None:
    llm = kimi("moonshot", model="kimi-k3", thinking=False)
    mark = len(emulator.requests)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if run == "invoke":
            ai = llm.invoke("What is 6*7?")
            llm.invoke("What is 6*7?")
        else:
            chunks = list(llm.stream("What is 6*7?"))
            ai = chunks[0]
            for chunk in chunks[1:]:
                ai += chunk
            list(llm.stream("What is 6*7?"))
    first, second = requests_since(emulator, mark)
    assert first.status == 200 and first.body["reasoning_effort"] == "low"
    assert "thinking" not in first.body and second.body["reasoning_effort"] == "low"
    assert ai.content == "42"
    assert ai.response_metadata["reasoning_effort"] == "low"
    assert "no instant mode" in ai.response_metadata["kimi_notes"][0]
    assert [str(w.message) for w in caught if "no instant mode" in str(w.message)] != []
    assert len([w for w in caught if "no instant mode" in str(w.message)]) == 1


def test_self_hosted_k3_switches_thinking_off(kimi, emulator) -> None:
    mark = len(emulator.requests)
    ai = kimi("vllm", model="kimi-k3", thinking=False).invoke("What is 6*7?")
    (record,) = requests_since(emulator, mark)
    assert record.body["chat_template_kwargs"] == {"thinking": False}
    assert record.thinking is False and "reasoning_effort" not in record.body
    assert ai.content == "42" and not ai.additional_kwargs.get("reasoning_content")


def test_emulator_refuses_what_k3_refuses(emulator_openai) -> None:
    client = emulator_openai("moonshot")
    msgs = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="only 1 is allowed for this model"):
        client.chat.completions.create(model="kimi-k3", messages=msgs, temperature=0.5)
    with pytest.raises(openai.BadRequestError, match="thinking and reasoning_effort"):
        client.chat.completions.create(
            model="kimi-k3",
            messages=msgs,
            reasoning_effort="high",
            extra_body={"thinking": {"type": "enabled"}},
        )
    with pytest.raises(openai.BadRequestError, match="invalid thinking"):
        client.chat.completions.create(
            model="kimi-k2.7-code", messages=msgs, extra_body={"thinking": {"type": "disabled"}}
        )


@pytest.mark.parametrize(
    ("model", "keep"), [("kimi-k3", None), ("kimi-k2.7-code", None), ("kimi-k2.6", "all")]
)
def test_preserved_thinking_sends_every_earlier_reasoning(kimi, emulator, model, keep) -> None:
    llm = kimi("moonshot", model=model, thinking_keep=keep)
    history = [
        HumanMessage("What is 2+2?"),
        AIMessage("4", additional_kwargs={"reasoning_content": "two and two"}),
        HumanMessage("And 3+3?"),
        AIMessage("6"),  # e.g. from instant mode: no reasoning to give back
        HumanMessage("What is 6*7?"),
    ]
    mark = len(emulator.requests)
    assert llm.invoke(history).content == "42"
    (record,) = requests_since(emulator, mark)
    sent = [m for m in record.body["messages"] if m["role"] == "assistant"]
    assert [m.get("reasoning_content") for m in sent] == ["two and two", ""]


def test_k25_sends_only_the_reasoning_it_has(kimi, emulator) -> None:
    history = [HumanMessage("And 3+3?"), AIMessage("6"), HumanMessage("What is 6*7?")]
    mark = len(emulator.requests)
    kimi("moonshot", model="kimi-k2.5").invoke(history)
    (record,) = requests_since(emulator, mark)
    assert "reasoning_content" not in record.body["messages"][1]


async def test_four_modes_run_on_k3(kimi, emulator) -> None:
    llm = kimi("moonshot", model="kimi-k3")
    mark = len(emulator.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # instant mode's lowest-effort warning
        instant = create_instant_graph(llm).invoke({"messages": [("user", "What is 3*5?")]})
    thinking = await create_thinking_graph(llm).ainvoke({"messages": [("user", "What is 3*5?")]})
    assert instant["messages"][-1].content == thinking["messages"][-1].content == "15"
    assert thinking["messages"][-1].additional_kwargs["reasoning_content"]
    agent = create_agent_graph(llm, [get_weather]).invoke(
        {"messages": [("user", 'Use get_weather for "Lima".')]}
    )
    tools = [m.content for m in agent["messages"] if isinstance(m, ToolMessage)]
    assert tools == ["Sunny in Lima"] and "Sunny in Lima" in agent["messages"][-1].content
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # instant sub-agents: the lowest effort
        swarm = create_swarm_graph(llm, [get_weather]).invoke({"messages": [("user", CITIES)]})
    assert [r["status"] for r in swarm["subagent_results"]] == ["ok", "ok"]
    assert swarm["messages"][-1].additional_kwargs["reasoning_content"]
    records = requests_since(emulator, mark)
    assert records and all(r.status == 200 for r in records)
    assert all(r.body["model"] == "kimi-k3" and "thinking" not in r.body for r in records)
    assert all(r.thinking for r in records)  # hosted K3 always reasons
    efforts = [r.body.get("reasoning_effort") for r in records]
    assert efforts[0] == "low" and efforts.count("low") == 1 + 2 * 2  # instant + sub-agents


# ------------------------------------------------------------------ item 4: effort, formats


def test_reasoning_effort_init_call_and_context(kimi, emulator) -> None:
    mark = len(emulator.requests)
    kimi("moonshot", model="kimi-k3", reasoning_effort="high").invoke("What is 6*7?")
    kimi("moonshot", model="kimi-k3", reasoning_effort="high").invoke("hi", reasoning_effort="max")
    kimi("moonshot", reasoning_effort="none").invoke("What is 6*7?")
    kimi("moonshot", thinking=False).invoke("What is 6*7?", reasoning_effort="high")
    graph = create_thinking_graph(kimi("moonshot"))
    graph.invoke({"messages": [("user", "What is 6*7?")]}, context={"reasoning_effort": "none"})
    k3, k3_call, k26_none, k26_high, graph_none = requests_since(emulator, mark)
    assert k3.body["reasoning_effort"] == "high" and k3_call.body["reasoning_effort"] == "max"
    assert k26_none.body["thinking"] == {"type": "disabled"} and not k26_none.thinking
    assert k26_high.body["thinking"] == {"type": "enabled"} and k26_high.thinking
    assert "reasoning_effort" not in k26_high.body
    assert graph_none.body["thinking"] == {"type": "disabled"}


def test_contradicting_thinking_and_effort_fail_before_any_request(kimi, emulator) -> None:
    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="thinking=False contradicts reasoning_effort='high'"):
        kimi("moonshot").invoke("hi", thinking=False, reasoning_effort="high")
    with pytest.raises(ValueError, match="contradicts"):
        create_thinking_graph(kimi("moonshot")).invoke(
            {"messages": [("user", "hi")]},
            context={"thinking": True, "reasoning_effort": "none"},
        )
    assert requests_since(emulator, mark) == []


@pytest.mark.parametrize("thinking", [True, False])
@pytest.mark.parametrize("run", ["invoke", "stream"])
def test_json_schema_response_format_on_moonshot(kimi, emulator, thinking, run) -> None:
    llm = kimi("moonshot", thinking=thinking).bind(response_format=Person)
    prompt = 'Extract the person: "Ada" is 36 years old.'
    mark = len(emulator.requests)
    if run == "invoke":
        answer = llm.invoke(prompt)
    else:
        chunks = list(llm.stream(prompt))
        answer = chunks[0]
        for chunk in chunks[1:]:
            answer += chunk
    (record,) = requests_since(emulator, mark)
    assert record.status == 200 and "response_format" not in record.body
    assert [t["function"]["name"] for t in record.body["tools"]] == ["Person"]
    forced = {"type": "function", "function": {"name": "Person"}}
    assert record.body["tool_choice"] == ("auto" if thinking else forced)
    assert record.thinking is thinking
    assert not answer.tool_calls
    assert Person.model_validate(json.loads(answer.text)) == Person(name="Ada", age=36)


def test_k3_takes_required_tool_choice_while_reasoning(kimi, emulator) -> None:
    """create_agent's tool strategy forces "any": K3 keeps reasoning, K2.6 turns it off."""
    mark = len(emulator.requests)
    k3 = kimi("moonshot", model="kimi-k3").bind_tools([get_weather], tool_choice="any")
    ai = k3.invoke('Use get_weather for "Lima".')
    assert [c["name"] for c in ai.tool_calls] == ["get_weather"]
    with pytest.warns(UserWarning, match="thinking is off"):
        kimi("moonshot").bind_tools([get_weather], tool_choice="any").invoke("Weather in Lima?")
    with pytest.raises(ValueError, match="kimi-k3 cannot turn thinking off"):
        kimi("moonshot", model="kimi-k3").bind_tools(
            [get_weather], tool_choice="get_weather"
        ).invoke("hi")
    k3_record, k26_record = requests_since(emulator, mark)
    assert k3_record.status == 200 and k3_record.body["tool_choice"] == "required"
    assert k3_record.thinking and "thinking" not in k3_record.body
    assert k26_record.body["thinking"] == {"type": "disabled"} and not k26_record.thinking


@pytest.mark.parametrize("model", ["kimi-k3", "kimi-k2.6"])
def test_create_agent_structured_response_follows_the_profile(kimi, emulator, model) -> None:
    """No JSON-schema mode in the profile: create_agent asks for the schema as a tool."""
    from langchain.agents import create_agent

    agent = create_agent(kimi("moonshot", model=model), tools=[], response_format=Person)
    mark = len(emulator.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # K2.6: thinking off for the forced tool call
        out = agent.invoke({"messages": [("user", 'Extract the person: "Ada" is 36 years old.')]})
    assert out["structured_response"] == Person(name="Ada", age=36)
    records = requests_since(emulator, mark)
    assert records and all(r.status == 200 and "response_format" not in r.body for r in records)
    assert records[0].body["tool_choice"] == "required"
