"""The cap on tool calls per model turn, against the emulator (invoke and ainvoke)."""

from __future__ import annotations

import threading

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from kimi_graph import create_agent_graph
from kimi_graph.modes._tool_cap import DEFAULT_MAX_CALLS_PER_TURN


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_calls_past_the_cap_are_answered_not_run(kimi, mode: str) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    @tool
    def count(n: int) -> str:
        """Count one call."""
        with lock:
            ran.append(n)
        return f"counted {n}"

    asked = 40
    script = " ".join(f'[[call count {{"n": {i}}}]]' for i in range(asked))
    graph = create_agent_graph(kimi("moonshot"), [count])
    inputs = {"messages": [("user", script)]}
    out = graph.invoke(inputs) if mode == "invoke" else await graph.ainvoke(inputs)
    assert DEFAULT_MAX_CALLS_PER_TURN == 32
    assert sorted(ran) == list(range(32))  # the first 32, each once
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(results) == asked  # every call has its answer: the history stays valid
    refused = [m for m in results if m.status == "error"]
    assert len(refused) == asked - 32
    assert {m.tool_call_id for m in results} == {
        c["id"] for m in out["messages"] if isinstance(m, AIMessage) for c in m.tool_calls
    }
    assert all("at most 32 run per turn" in str(m.content) for m in refused)
    assert "This turn asked for 40 tool calls" in str(refused[0].content)
    assert isinstance(out["messages"][-1], AIMessage) and not out["messages"][-1].tool_calls


def test_the_cap_is_configurable_and_checked(kimi) -> None:
    ran: list[int] = []

    @tool
    def count(n: int) -> str:
        """Count one call."""
        ran.append(n)
        return "ok"

    graph = create_agent_graph(kimi("moonshot"), [count], max_calls_per_turn=2)
    script = " ".join(f'[[call count {{"n": {i}}}]]' for i in range(5))
    out = graph.invoke({"messages": [("user", script)]})
    assert sorted(ran) == [0, 1]
    assert sum(isinstance(m, ToolMessage) and m.status == "error" for m in out["messages"]) == 3
    with pytest.raises(ValueError, match="max_calls_per_turn must be at least 1"):
        create_agent_graph(kimi("moonshot"), [count], max_calls_per_turn=0)
