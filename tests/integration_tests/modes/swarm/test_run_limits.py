"""Regressions found in review of the subgraph swarm: keys, limits, time-outs, budget,
plan-review answers, the closing remark, wrapped models."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command

from kimi_graph import ChatKimi, KimiContext, create_graph, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from kimi_graph.modes._model import ModelSource, find_kimi
from tests.integration_tests.conftest import peak_concurrency


@tool
def echo(x: int = 1) -> str:
    """Echo x."""
    return f"echo {x}"


def assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


@pytest.fixture
def header_log() -> Iterator[tuple[str, list[str | None]]]:
    """A loopback server that records the Authorization header and answers 400."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "no"}}')

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", seen
    finally:
        server.shutdown()


@pytest.mark.parametrize("configured", [False, True], ids=["model-from-env", "own-model"])
def test_a_run_setting_cannot_send_the_key_elsewhere(
    emulator, header_log, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    other, seen = header_log
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-env-secret")
    monkeypatch.delenv("KIMI_BASE_URL", raising=False)
    model = (
        ChatKimi(base_url=emulator.base_url("moonshot"), api_key="sk-graph-secret", max_retries=0)
        if configured
        else None
    )
    graph = create_graph("instant", model=model)
    for context in ({"base_url": other}, {"base_url": other, "backend": "moonshot"}):
        with pytest.raises(Exception, match="no|400"):
            graph.invoke({"messages": [("user", "hi")]}, context=context)
    assert seen == ["Bearer EMPTY", "Bearer EMPTY"]


def test_subagents_get_their_own_recursion_limit(kimi) -> None:
    loop = '[[loop echo {"x": 1}]]'
    out = create_swarm_graph(kimi("moonshot"), [echo], subagent_max_steps=40).invoke(
        {"messages": [("user", assign("looper", loop))]}
    )
    (record,) = out["subagent_results"]
    assert record["error"] == "the sub-agent hit its step limit"
    assert record["tool_calls"] >= 39  # not cut at the swarm's own recursion limit


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_timeout_counts_the_run_not_the_queue(kimi, mode: str) -> None:
    script = "".join(assign(f"r{i}", f"[[latency 0.6]] [[answer a{i}]]") for i in range(3))
    graph = create_swarm_graph(kimi("moonshot"), [], max_concurrency=1, subagent_timeout=1.5)
    inputs = {"messages": [("user", script)]}
    out = graph.invoke(inputs) if mode == "invoke" else await graph.ainvoke(inputs)
    assert [r["status"] for r in out["subagent_results"]] == ["ok", "ok", "ok"]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_a_timeout_error_inside_a_subagent_is_its_own_failure(kimi, mode: str) -> None:
    def boom(state: MessagesState) -> dict[str, Any]:
        raise TimeoutError("socket read timed out")

    builder = StateGraph(MessagesState)
    builder.add_node("boom", boom)
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    graph = create_swarm_graph(kimi("moonshot"), subagent_graph=builder.compile())
    inputs = {"messages": [("user", assign("a", "x") + assign("b", "y"))]}
    out = graph.invoke(inputs) if mode == "invoke" else await graph.ainvoke(inputs)
    errors = [r["error"] for r in out["subagent_results"]]
    assert errors == ["TimeoutError: socket read timed out"] * 2


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_context_may_raise_the_built_limits(mode: str) -> None:
    with Emulator(EmulatorConfig(latency=0.2)) as emu:
        llm = ChatKimi(base_url=emu.base_url("moonshot"), backend="moonshot", api_key="k")
        script = "".join(assign(f"r{i}", f"say {i}") for i in range(6))
        graph = create_swarm_graph(llm, [], max_concurrency=2, max_subagents=3)
        inputs = {"messages": [("user", script)]}
        context = {"max_concurrency": 6, "max_subagents": 6, "max_rounds": 150}
        if mode == "invoke":
            out = graph.invoke(inputs, context=context)
        else:
            out = await graph.ainvoke(inputs, context=context)
        assert [r["status"] for r in out["subagent_results"]] == ["ok"] * 6
        assert peak_concurrency([r for r in emu.requests if not r.thinking]) == 6


def test_budget_is_never_overspent_and_dropped_shares_move(kimi) -> None:
    loop = '[[loop echo {"x": 1}]]'
    script = "".join(assign(f"r{i}", loop) for i in range(4))
    out = create_swarm_graph(kimi("moonshot"), [echo], tool_call_budget=2).invoke(
        {"messages": [("user", script)]}
    )
    assert sum(r["tool_calls"] for r in out["subagent_results"]) <= 2

    graph = create_swarm_graph(
        kimi("moonshot"),
        [echo],
        tool_call_budget=8,
        approve_plan=True,
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    tasks = graph.invoke({"messages": [("user", script)]}, config)["__interrupt__"][0].value[
        "tasks"
    ]
    assert [t["max_tool_calls"] for t in tasks] == [2, 2, 2, 2]
    out = graph.invoke(Command(resume=[{"id": tasks[0]["id"]}]), config)
    kept = next(r for r in out["subagent_results"] if r["status"] == "error" and r["tool_calls"])
    assert kept["tool_calls"] == 8  # the dropped tasks' shares went to the kept one


def test_a_bad_review_answer_asks_again(kimi) -> None:
    script = assign("a", 'weather "Oslo"') + assign("b", 'weather "Rome"')
    graph = create_swarm_graph(
        kimi("moonshot"), [], approve_plan=True, checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    graph.invoke({"messages": [("user", script)]}, config)
    again = graph.invoke(Command(resume=[{"id": "nope"}]), config)["__interrupt__"][0].value
    assert "unknown task id" in again["error"]
    out = graph.invoke(Command(resume="accept"), config)
    assert [r["status"] for r in out["subagent_results"]] == ["ok", "ok"]


def test_closing_remark_gives_way_to_the_answer(kimi) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [], max_rounds=2, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    out = graph.invoke(
        {"messages": [("user", assign("a", "x") + " [[then]] [[answer done]]")]}, config
    )
    kinds = [type(m).__name__ for m in out["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert isinstance(out["messages"][-1], AIMessage)


def test_per_run_model_keeps_every_wrapper(kimi) -> None:
    wrapped = kimi("moonshot").with_retry(stop_after_attempt=5).bind(max_tokens=7)
    derived = ModelSource(wrapped).get(KimiContext(model="moonshotai/Kimi-K2.5"))
    assert type(derived.bound).__name__ == "RunnableRetry"
    assert derived.kwargs == {"max_tokens": 7}
    assert find_kimi(derived).model_name == "moonshotai/Kimi-K2.5"
