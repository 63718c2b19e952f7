"""One oversized plan must not break a thread (issue 16, item 6).

The bundled emulator plays the model and, like Moonshot, answers 400 "exceeded model
token limit" past 262,144 tokens; an `InMemorySaver` keeps the thread between turns.
"""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from kimi_graph import create_swarm_graph
from kimi_graph.emulator import Emulator
from kimi_graph.modes._tool_results import estimate_tokens
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK


def assign(role: str, task: str) -> str:
    return f"[[call {ASSIGN_TASK} {json.dumps({'role': role, 'task': task})}]]"


def _orchestrator_turns(messages: list) -> list[AIMessage]:
    return [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]


def test_3000_calls_give_100_subagents_and_one_refusal(kimi, emulator: Emulator) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "oversized"}}
    plan = " ".join(assign(f"r{i}", f"[[answer done {i}]]") for i in range(3000))
    out = graph.invoke({"messages": [("user", plan)]}, config)
    messages = out["messages"]
    [turn] = _orchestrator_turns(messages)
    assert len(turn.tool_calls) == 101  # the 100 that ran and the one refusal answers
    results = [m for m in messages if isinstance(m, ToolMessage) and m.name == ASSIGN_TASK]
    assert len(results) == 101
    assert {m.tool_call_id for m in results} == {c["id"] for c in turn.tool_calls}
    [refusal] = [m for m in results if m.status == "error"]
    assert "2900 calls were not run" in refusal.text
    assert "2900 x refused: the swarm allows at most 100 sub-agents per request" in refusal.text
    records = out["subagent_results"]
    assert sum(r["status"] == "ok" for r in records) == 100
    assert sum(r["status"] == "error" for r in records) == 1
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls and final.text
    # the thread stays usable: the next turn is answered (no 400 on an oversized history)
    again = graph.invoke({"messages": [("user", "Thanks. Anything else? [[answer no]]")]}, config)
    assert again["messages"][-1].text
    assert all(r.status == 200 for r in emulator.requests[-3:])


def _reader_graph():  # a sub-agent that reads a long document and answers with it
    def read(state: MessagesState) -> dict:
        task = state["messages"][-1].text
        return {"messages": [AIMessage(f"{task}: " + "lorem ipsum dolor sit amet " * 200)]}

    builder = StateGraph(MessagesState)
    builder.add_node("read", read)
    builder.add_edge(START, "read")
    builder.add_edge("read", END)
    return builder.compile(name="reader")


def test_100_results_of_4000_characters_every_turn_keep_the_thread_usable(
    kimi, emulator: Emulator
) -> None:
    graph = create_swarm_graph(
        kimi("moonshot"), subagent_graph=_reader_graph(), checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "legit"}}
    sizes = []
    for turn in range(3):
        plan = " ".join(assign(f"reader {i}", f"document {i}") for i in range(100))
        mark = len(emulator.requests)
        out = graph.invoke({"messages": [("user", f"Turn {turn}: read all. {plan}")]}, config)
        final = out["messages"][-1]
        assert isinstance(final, AIMessage) and final.text, final
        records = out["subagent_results"]
        assert len(records) == 100 and all(r["status"] == "ok" for r in records), records[:2]
        results = [
            m for m in out["messages"] if isinstance(m, ToolMessage) and m.name == ASSIGN_TASK
        ]
        this_turn = results[-100:]
        # results of 4,000 characters pass whole (clipped from ~5,400 to the cap)
        assert all(4000 <= len(m.text) <= 4100 for m in this_turn), {len(m.text) for m in this_turn}
        assert "[... clipped" in this_turn[0].text
        sizes.append(estimate_tokens(out["messages"]))
        assert [r.status for r in emulator.requests[mark:]] == [200, 200]  # plan, synthesis
    # the state keeps every result whole; the model calls read earlier ones compacted
    assert sizes[-1] > 262_144
