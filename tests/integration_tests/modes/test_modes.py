"""Instant and thinking mode graphs, create_graph, composition into a user's app."""

from __future__ import annotations

import operator
from typing import Annotated

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from kimi_graph import (
    Mode,
    create_graph,
    create_instant_graph,
    create_thinking_graph,
)
from kimi_graph.modes._model import make_model_node
from tests.integration_tests.conftest import requests_since


def _last_ai(out: dict) -> AIMessage:
    message = out["messages"][-1]
    assert isinstance(message, AIMessage)
    return message


@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "raw"])
def test_thinking_graph_returns_reasoning(kimi, emulator, dialect: str) -> None:
    graph = create_thinking_graph(kimi(dialect, thinking=False))
    mark = len(emulator.requests)
    answer = _last_ai(graph.invoke({"messages": [("user", "What is 3*5?")]}))
    assert answer.content == "15"
    assert answer.additional_kwargs["reasoning_content"]
    assert any(b["type"] == "reasoning" for b in answer.content_blocks)
    assert [r.thinking for r in requests_since(emulator, mark)] == [True]


@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "raw"])
def test_instant_graph_has_no_reasoning(kimi, emulator, dialect: str) -> None:
    graph = create_instant_graph(kimi(dialect))
    mark = len(emulator.requests)
    answer = _last_ai(graph.invoke({"messages": [("user", "What is 3*5?")]}))
    assert answer.content == "15"
    assert not answer.additional_kwargs.get("reasoning_content")
    assert [r.thinking for r in requests_since(emulator, mark)] == [False]


async def test_all_entry_points(kimi) -> None:
    graph = create_graph("thinking", model=kimi("vllm"))
    inputs = {"messages": [HumanMessage("What is 2+2?")]}
    assert _last_ai(graph.invoke(inputs)).content == "4"
    assert _last_ai(await graph.ainvoke(inputs)).content == "4"
    assert list(graph.stream(inputs))[-1]["model"]["messages"][-1].content == "4"
    updates = [u async for u in graph.astream(inputs)]
    assert updates[-1]["model"]["messages"][-1].content == "4"


def test_create_graph_modes_and_names(kimi) -> None:
    llm = kimi("vllm")
    assert create_graph(Mode.INSTANT, model=llm).name == "kimi-instant"
    assert create_graph("THINKING", model=llm).name == "kimi-thinking"
    assert create_graph("agent", model=llm, tools=[]).name == "kimi-agent"
    assert create_graph("swarm", model=llm, tools=[]).name == "kimi-swarm"
    assert create_graph("instant", model=llm, name="mine").name == "mine"
    with pytest.raises(ValueError, match="Unknown mode 'turbo'"):
        create_graph("turbo", model=llm)


def test_graphs_have_typed_schemas(kimi) -> None:
    graph = create_thinking_graph(kimi("vllm"))
    assert set(graph.get_input_jsonschema()["properties"]) == {"messages"}
    assert set(graph.get_output_jsonschema()["properties"]) == {"messages"}


def test_system_prompt(kimi, emulator) -> None:
    graph = create_instant_graph(kimi("vllm"), system_prompt="You are terse.")
    mark = len(emulator.requests)
    graph.invoke({"messages": [("user", "hi")]})
    (record,) = requests_since(emulator, mark)
    assert record.body["messages"][0] == {"role": "system", "content": "You are terse."}


class ParentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    topic: str
    log: Annotated[list[str], operator.add]


def _parent(node) -> StateGraph:
    builder = StateGraph(ParentState)
    builder.add_node("prepare", lambda s: {"log": [f"topic={s['topic']}"]})
    builder.add_node("kimi", node)
    builder.add_node("after", lambda s: {"log": [f"answer={s['messages'][-1].content}"]})
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "kimi")
    builder.add_edge("kimi", "after")
    builder.add_edge("after", END)
    return builder


@pytest.mark.parametrize("how", ["subgraph", "node"])
async def test_drops_into_an_existing_app(kimi, how: str) -> None:
    llm = kimi("moonshot")
    node = create_thinking_graph(llm) if how == "subgraph" else make_model_node(llm, thinking=True)
    app = _parent(node).compile()
    inputs = {"messages": [("user", "What is 9-4?")], "topic": "math", "log": []}
    for out in (app.invoke(inputs), await app.ainvoke(inputs)):
        assert out["topic"] == "math"
        assert out["log"] == ["topic=math", "answer=5"]
        assert out["messages"][-1].additional_kwargs["reasoning_content"]


def test_stream_mode_messages_tags_reasoning_and_answer_with_node(kimi) -> None:
    graph = create_thinking_graph(kimi("moonshot"))
    reasoning, answer, nodes = "", "", set()
    for chunk, metadata in graph.stream(
        {"messages": [("user", "What is 6*7?")]}, stream_mode="messages"
    ):
        nodes.add(metadata["langgraph_node"])
        reasoning += chunk.additional_kwargs.get("reasoning_content", "")
        answer += chunk.content if isinstance(chunk.content, str) else ""
    assert nodes == {"model"}
    assert reasoning.startswith("The user asks")
    assert answer == "42"
