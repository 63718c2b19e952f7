"""Agent mode (ReAct subgraph) over HTTP against the emulator, in several dialects."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Annotated

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from kimi_graph import create_agent_graph
from tests.integration_tests.conftest import requests_since

DIALECTS = ["moonshot", "vllm", "raw"]


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@tool
def explode(reason: str) -> str:
    """A tool that always fails."""
    msg = f"boom: {reason}"
    raise RuntimeError(msg)


def _tool_messages(out: dict) -> list[ToolMessage]:
    return [m for m in out["messages"] if isinstance(m, ToolMessage)]


def _final(out: dict) -> AIMessage:
    final = out["messages"][-1]
    assert isinstance(final, AIMessage)
    assert not final.tool_calls
    return final


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tool_loop_answers(kimi, dialect: str) -> None:
    graph = create_agent_graph(kimi(dialect), [get_weather])
    out = graph.invoke({"messages": [("user", 'Use get_weather for "Lima".')]})
    assert [m.content for m in _tool_messages(out)] == ["Sunny in Lima"]
    assert "Sunny in Lima" in _final(out).content


@pytest.mark.parametrize("dialect", DIALECTS)
def test_parallel_tool_calls_run_concurrently(kimi, dialect: str) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def left(x: str) -> str:
        """Left half; waits for right to start."""
        barrier.wait()
        return f"left {x}"

    @tool
    def right(x: str) -> str:
        """Right half; waits for left to start."""
        barrier.wait()
        return f"right {x}"

    graph = create_agent_graph(kimi(dialect), [left, right])
    out = graph.invoke(
        {"messages": [("user", '[[call left {"x": "a"}]] [[call right {"x": "b"}]]')]}
    )
    # Each tool blocks until the other has started: they only finish if run concurrently.
    assert sorted(m.content for m in _tool_messages(out)) == ["left a", "right b"]
    assert _final(out)


async def test_parallel_async_tools_run_concurrently(kimi) -> None:
    started: list[str] = []
    both = asyncio.Event()

    @tool
    async def ping(x: str) -> str:
        """Async tool that waits for its sibling."""
        started.append(x)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=10)
        return f"pong {x}"

    graph = create_agent_graph(kimi("vllm"), [ping])
    out = await graph.ainvoke(
        {"messages": [("user", '[[call ping {"x": "1"}]] [[call ping {"x": "2"}]]')]}
    )
    assert sorted(m.content for m in _tool_messages(out)) == ["pong 1", "pong 2"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('[[call no_such_tool {"a": 1}]]', "not a valid tool"),
        ('[[call get_weather {"town": "X"}]]', "city"),
        ('[[call explode {"reason": "test"}]]', "boom: test"),
        ('[[call get_weather {"city": "Oslo"}]] [[fault malformed]]', "not valid JSON"),
    ],
    ids=["unknown-tool", "schema-error", "tool-raises", "malformed-json"],
)
def test_bad_calls_come_back_as_tool_messages(kimi, emulator, dialect, script, expected) -> None:
    graph = create_agent_graph(kimi(dialect), [get_weather, explode])
    mark = len(emulator.requests)
    out = graph.invoke({"messages": [("user", script)]})
    (error,) = _tool_messages(out)
    assert error.status == "error"
    assert expected in error.content
    # the model saw the error and answered; the server accepted the whole history
    assert expected.split()[0] in _final(out).content
    assert all(r.status == 200 for r in requests_since(emulator, mark))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_step_limit_ends_runaway_loop(kimi, dialect: str) -> None:
    graph = create_agent_graph(kimi(dialect), [get_weather], max_steps=3)
    out = graph.invoke({"messages": [("user", '[[loop get_weather {"city": "Rome"}]]')]})
    final = _final(out)
    assert final.response_metadata["finish_reason"] == "step_limit"
    assert "Stopped after 3 model steps" in final.content
    assert len(_tool_messages(out)) == 3


def test_step_limit_inside_a_parent_with_a_small_recursion_limit(kimi) -> None:
    class Parent(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]

    agent = create_agent_graph(kimi("vllm"), [get_weather])
    builder = StateGraph(Parent)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    app = builder.compile()
    out = app.invoke(
        {"messages": [("user", '[[loop get_weather {"city": "Rome"}]]')]},
        {"recursion_limit": 12},
    )
    assert out["messages"][-1].response_metadata["finish_reason"] == "step_limit"


@pytest.mark.parametrize("thinking", [True, False])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_reasoning_carried_through_every_step(kimi, emulator, dialect, thinking) -> None:
    graph = create_agent_graph(kimi(dialect), [get_weather], thinking=thinking)
    script = " [[then]] ".join(f'[[call get_weather {{"city": "C{i}"}}]]' for i in range(4))
    mark = len(emulator.requests)
    out = graph.invoke({"messages": [("user", script)]})
    records = requests_since(emulator, mark)
    assert [r.status for r in records] == [200] * 5  # never a 400 from Moonshot
    assert [r.thinking for r in records] == [thinking] * 5
    if thinking:
        assert [len(r.history_reasoning) for r in records] == [0, 1, 2, 3, 4]
        assert all(all(r.history_reasoning) for r in records)
    assert len(_tool_messages(out)) == 4


@pytest.mark.parametrize("dialect", DIALECTS)
def test_streaming_messages_and_updates(kimi, emulator, dialect: str) -> None:
    graph = create_agent_graph(kimi(dialect), [get_weather])
    inputs = {"messages": [("user", '[[call get_weather {"city": "Kyiv"}]]')]}
    mark = len(emulator.requests)
    seen: dict[str, str] = {"reasoning": "", "answer": ""}
    nodes = set()
    for chunk, metadata in graph.stream(inputs, stream_mode="messages"):
        nodes.add(metadata["langgraph_node"])
        if metadata["langgraph_node"] == "agent":
            seen["reasoning"] += chunk.additional_kwargs.get("reasoning_content", "")
            seen["answer"] += chunk.content if isinstance(chunk.content, str) else ""
    assert nodes == {"agent", "tools"}
    assert seen["reasoning"] and "Sunny in Kyiv" in seen["answer"]
    assert all(r.status == 200 and r.stream for r in requests_since(emulator, mark))

    updates = list(graph.stream(inputs, stream_mode="updates"))
    assert [next(iter(u)) for u in updates] == ["agent", "tools", "agent"]
    call = updates[0]["agent"]["messages"][-1].tool_calls[0]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Kyiv"})
    assert updates[1]["tools"]["messages"][0].content == "Sunny in Kyiv"


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "raw", "openrouter"])
def test_thread_continues_across_invocations(kimi, emulator, tmp_path, saver, dialect) -> None:
    def run(checkpointer) -> None:
        graph = create_agent_graph(kimi(dialect), [get_weather], checkpointer=checkpointer)
        config = {"configurable": {"thread_id": f"t-{dialect}-{saver}"}}
        graph.invoke({"messages": [("user", '[[call get_weather {"city": "Oslo"}]]')]}, config)
        mark = len(emulator.requests)
        out = graph.invoke(
            {"messages": [("user", '[[call get_weather {"city": "Bergen"}]]')]}, config
        )
        records = requests_since(emulator, mark)
        assert [r.status for r in records] == [200, 200]
        # the whole first turn was re-sent, in the dialect's shape
        sent = records[0].body["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
        assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
        assert len(out["messages"]) == 8
        assert "Bergen" in out["messages"][-1].content
        # the current tool chain's reasoning went back to the server
        assert records[1].history_reasoning and all(records[1].history_reasoning)

    if saver == "memory":
        run(InMemorySaver())
    else:
        with SqliteSaver.from_conn_string(str(tmp_path / "agent.sqlite")) as checkpointer:
            run(checkpointer)


async def test_ainvoke_and_astream(kimi) -> None:
    graph = create_agent_graph(kimi("moonshot"), [get_weather])
    inputs = {"messages": [HumanMessage('[[call get_weather {"city": "Riga"}]]')]}
    out = await graph.ainvoke(inputs)
    assert "Sunny in Riga" in _final(out).content
    updates = [u async for u in graph.astream(inputs, stream_mode="updates")]
    assert [next(iter(u)) for u in updates] == ["agent", "tools", "agent"]


def test_no_tools_means_plain_answer(kimi) -> None:
    out = create_agent_graph(kimi("vllm"), []).invoke({"messages": [("user", "What is 1+2?")]})
    assert _final(out).content == "3"


def test_max_steps_must_be_positive(kimi) -> None:
    with pytest.raises(ValueError, match="max_steps"):
        create_agent_graph(kimi("vllm"), [get_weather], max_steps=0)
