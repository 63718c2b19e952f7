"""Swarm sub-agents as nested subgraphs: streaming, interrupts, plan review, per-run
settings (`KimiContext`), usage. Over HTTP against the emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from kimi_graph import create_agent_graph, create_swarm_graph, create_thinking_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.conftest import peak_concurrency, requests_since


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@tool
def ask_human(question: str) -> str:
    """Ask the person a question and return the answer."""
    return str(interrupt({"question": question}))


def assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def _thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(latency=0.2)) as emu:
        yield emu


# ------------------------------------------------------------------ streaming


def test_subagent_steps_stream_under_their_namespace(kimi) -> None:
    nonce = uuid.uuid4().hex[:6]
    script = assign("oslo", f'weather in "Oslo-{nonce}"') + assign(
        "rome", f'weather in "Rome-{nonce}"'
    )
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    token_ns: dict[str, set[str]] = {}
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    for ns, mode, data in graph.stream(
        {"messages": [("user", script)]},
        stream_mode=["messages", "custom", "updates", "values"],
        subgraphs=True,
    ):
        if mode == "messages" and ns:
            token_ns.setdefault("|".join(ns), set()).add(data[1]["langgraph_node"])
        elif mode == "custom":
            events.append(data)
        elif mode == "values" and not ns:
            final = data
    starts = {e["role"]: e["namespace"] for e in events if e["event"] == "start"}
    assert set(starts) == {"oslo", "rome"}
    # every sub-agent's tokens arrive under the namespace its progress events name
    assert set(token_ns) == set(starts.values())
    assert all(ns.startswith("subagent:") for ns in token_ns)
    assert all({"agent", "tools"} <= nodes for nodes in token_ns.values())
    records = {r["role"]: r for r in final["subagent_results"]}
    for role, record in records.items():
        assert record["namespace"] == starts[role]
        assert record["usage"]["input_tokens"] > 0 and record["usage"]["output_tokens"] > 0
        assert record["steps"] == 2 and record["tool_calls"] == 1
    finishes = [e for e in events if e["event"] == "finish"]
    assert {e["namespace"] for e in finishes} == set(starts.values())
    assert all(e["usage"]["total_tokens"] > 0 for e in finishes)
    summary = final["messages"][-1].response_metadata["swarm"]
    parts = summary["usage_by_part"]
    assert parts["subagents"]["total_tokens"] == sum(
        r["usage"]["total_tokens"] for r in records.values()
    )
    assert parts["orchestrator"]["total_tokens"] > 0 and parts["synthesis"]["total_tokens"] > 0
    assert summary["usage"]["total_tokens"] == sum(p["total_tokens"] for p in parts.values())


def test_studio_sees_the_subagent_graph(kimi) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    drawn = graph.get_graph().to_json()
    names = {n["id"] for n in drawn["nodes"]}
    assert {"orchestrator", "subagent", "synthesis"} <= names
    assert graph.get_context_jsonschema()["properties"]["max_subagents"]["description"]


# ------------------------------------------------------------------ human in the loop


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_interrupt_inside_a_subagent_pauses_the_swarm(kimi, emulator, mode: str) -> None:
    nonce = uuid.uuid4().hex[:6]
    script = assign("asker", f'[[call ask_human {{"question": "go-{nonce}?"}}]]') + assign(
        "weather", f'weather in "Oslo-{nonce}"'
    )
    graph = create_swarm_graph(
        kimi("moonshot"), [get_weather, ask_human], checkpointer=InMemorySaver()
    )
    config = _thread()

    async def run(inputs: Any) -> dict[str, Any]:
        if mode == "invoke":
            return graph.invoke(inputs, config)
        return await graph.ainvoke(inputs, config)

    mark = len(emulator.requests)
    paused = await run({"messages": [("user", script)]})
    (pending,) = paused["__interrupt__"]
    assert pending.value == {"question": f"go-{nonce}?"}
    answered = {m.tool_call_id for m in paused["messages"] if isinstance(m, ToolMessage)}
    asker = next(m for m in paused["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert asker.tool_calls[0]["id"] not in answered  # the asker has no record yet
    weather_calls = [
        r for r in requests_since(emulator, mark) if r.last_user == f'weather in "Oslo-{nonce}"'
    ]
    assert len(weather_calls) == 2  # the sibling finished before the pause

    mark = len(emulator.requests)
    out = await run(Command(resume=f"yes-{nonce}"))
    after = requests_since(emulator, mark)
    assert not [r for r in after if r.last_user == f'weather in "Oslo-{nonce}"'], "sibling re-ran"
    asker = [r for r in after if r.last_user.startswith("[[call ask_human")]
    assert len(asker) == 1  # only the step after the tool: its first model call is not redone
    orchestrator = [r for r in after if r.thinking and r.body.get("tool_choice") != "none"]
    assert not orchestrator
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["asker"]["status"] == "ok" and f"yes-{nonce}" in records["asker"]["output"]
    assert records["weather"]["status"] == "ok"
    assert len([m for m in out["messages"] if isinstance(m, ToolMessage)]) == 2


def test_plan_review_accepts_edits_and_drops_tasks(kimi, emulator) -> None:
    nonce = uuid.uuid4().hex[:6]
    script = "".join(assign(r, f'weather in "{r}-{nonce}"') for r in ("a", "b", "c"))
    graph = create_swarm_graph(
        kimi("moonshot"), [get_weather], approve_plan=True, checkpointer=InMemorySaver()
    )
    config = _thread()
    mark = len(emulator.requests)
    paused = graph.invoke({"messages": [("user", script)]}, config)
    (review,) = paused["__interrupt__"]
    assert review.value["type"] == "plan_review" and review.value["round"] == 1
    tasks = review.value["tasks"]
    assert [t["role"] for t in tasks] == ["a", "b", "c"]
    assert len(requests_since(emulator, mark)) == 1  # no sub-agent started before approval

    edited = [
        {"id": tasks[0]["id"]},
        {"id": tasks[2]["id"], "task": f'weather in "edited-{nonce}"'},
    ]
    out = graph.invoke(Command(resume=edited), config)
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["a"]["status"] == "ok"
    assert records["b"]["status"] == "error" and "dropped" in records["b"]["error"]
    assert records["c"]["status"] == "ok" and f"edited-{nonce}" in records["c"]["output"]
    subs = [r for r in requests_since(emulator, mark) if not r.thinking]
    assert not [r for r in subs if f"b-{nonce}" in r.last_user or f"c-{nonce}" in r.last_user]
    plan = next(m for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls)
    assert plan.tool_calls[2]["args"]["task"] == f'weather in "edited-{nonce}"'
    assert len([m for m in out["messages"] if isinstance(m, ToolMessage)]) == 3


def test_plan_review_accept_and_reject(kimi) -> None:
    script = assign("a", 'weather in "Oslo"') + assign("b", 'weather in "Rome"')
    graph = create_swarm_graph(
        kimi("moonshot"), [get_weather], approve_plan=True, checkpointer=InMemorySaver()
    )
    config = _thread()
    graph.invoke({"messages": [("user", script)]}, config)
    accepted = graph.invoke(Command(resume=True), config)
    assert [r["status"] for r in accepted["subagent_results"]] == ["ok", "ok"]
    config = _thread()
    graph.invoke({"messages": [("user", script)]}, config)
    rejected = graph.invoke(Command(resume="reject"), config)
    assert [r["status"] for r in rejected["subagent_results"]] == ["error", "error"]
    assert isinstance(rejected["messages"][-1], AIMessage)


# ------------------------------------------------------------------ per-run settings


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_context_changes_thinking_for_one_run(kimi, emulator, mode: str) -> None:
    graph = create_thinking_graph(kimi("vllm"))
    inputs = {"messages": [("user", "What is 2+3*4?")]}
    mark = len(emulator.requests)
    if mode == "invoke":
        off = graph.invoke(inputs, context={"thinking": False})
        on = graph.invoke(inputs)
    else:
        off = await graph.ainvoke(inputs, context={"thinking": False})
        on = await graph.ainvoke(inputs)
    assert "reasoning_content" not in off["messages"][-1].additional_kwargs
    assert on["messages"][-1].additional_kwargs["reasoning_content"]
    assert [r.thinking for r in requests_since(emulator, mark)] == [False, True]


def test_context_model_system_prompt_and_endpoint(kimi, emulator) -> None:
    graph = create_agent_graph(kimi("moonshot"), [get_weather])
    mark = len(emulator.requests)
    context = {
        "model": "moonshotai/Kimi-K2.5",
        "system_prompt": "You are terse.",
        "base_url": emulator.base_url("vllm"),
        "backend": "vllm",
    }
    graph.invoke({"messages": [("user", "hello")]}, context=context)
    (request,) = requests_since(emulator, mark)
    assert request.dialect == "vllm"
    assert request.body["model"] == "moonshotai/Kimi-K2.5"
    assert request.body["messages"][0] == {"role": "system", "content": "You are terse."}


def test_context_max_steps_limits_the_agent(kimi) -> None:
    graph = create_agent_graph(kimi("moonshot"), [get_weather])
    out = graph.invoke(
        {"messages": [("user", '[[loop get_weather {"city": "Rome"}]]')]}, context={"max_steps": 2}
    )
    assert out["messages"][-1].response_metadata["finish_reason"] == "step_limit"


def test_context_limits_the_swarm(kimi, emulator) -> None:
    nonce = uuid.uuid4().hex[:6]
    script = "".join(assign(f"r{i}", f'weather in "c{i}-{nonce}"') for i in range(3))
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    mark = len(emulator.requests)
    out = graph.invoke(
        {"messages": [("user", script)]},
        context={"max_subagents": 2, "subagent_thinking": True, "max_steps": 5},
    )
    statuses = [r["status"] for r in out["subagent_results"]]
    assert sorted(statuses) == ["error", "ok", "ok"]
    refused = next(r for r in out["subagent_results"] if r["status"] == "error")
    assert "at most 2 sub-agents" in refused["error"]
    subs = [
        r
        for r in requests_since(emulator, mark)
        if nonce in r.last_user and "assign_task" not in r.last_user
    ]
    assert subs and all(r.thinking for r in subs)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_swarm_enforces_max_concurrency_from_the_context(slow_emulator, mode: str) -> None:
    from kimi_graph import ChatKimi

    llm = ChatKimi(
        base_url=slow_emulator.base_url("moonshot"), backend="moonshot", api_key="k", max_retries=0
    )
    nonce = uuid.uuid4().hex[:6]
    script = "".join(assign(f"r{i}", f"say hi {nonce}-{i}") for i in range(6))
    graph = create_swarm_graph(llm, [], max_concurrency=50)
    mark = len(slow_emulator.requests)
    inputs = {"messages": [("user", script)]}
    if mode == "invoke":
        out = graph.invoke(inputs, context={"max_concurrency": 2})
    else:
        out = await graph.ainvoke(inputs, context={"max_concurrency": 2})
    assert [r["status"] for r in out["subagent_results"]] == ["ok"] * 6
    subs = [r for r in requests_since(slow_emulator, mark) if not r.thinking]
    assert len(subs) == 6
    assert peak_concurrency(subs) == 2


def test_bad_context_is_refused() -> None:
    graph = create_thinking_graph()
    with pytest.raises(ValueError, match="max_subagents"):
        graph.invoke({"messages": [("user", "x")]}, context={"max_subagents": 0})


# ------------------------------------------------------------------ any graph as a sub-agent


def test_subagent_graph_may_be_any_messages_graph(kimi) -> None:
    def echo(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo: {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    custom = builder.compile(name="echo-graph")
    script = assign("a", "first") + assign("b", "second")
    out = create_swarm_graph(kimi("moonshot"), subagent_graph=custom).invoke(
        {"messages": [("user", script)]}
    )
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["a"]["output"] == "echo: first" and records["a"]["worker"] == "echo-graph"
    assert records["b"]["output"] == "echo: second" and records["b"]["status"] == "ok"


def test_a_failing_subagent_graph_is_isolated(kimi) -> None:
    def boom(state: MessagesState) -> dict[str, Any]:
        if "bad" in state["messages"][-1].content:
            raise GraphRecursionError("runaway")
        return {"messages": [AIMessage("fine")]}

    builder = StateGraph(MessagesState)
    builder.add_node("boom", boom)
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    out = create_swarm_graph(kimi("moonshot"), subagent_graph=builder.compile()).invoke(
        {"messages": [("user", assign("good", "ok") + assign("bad", "bad task"))]}
    )
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["good"]["status"] == "ok"
    assert records["bad"]["status"] == "error" and "GraphRecursionError" in records["bad"]["error"]
