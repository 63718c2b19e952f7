"""Two sub-agents paused at once: each pause is answered by its interrupt id.

`Command(resume={interrupt_id: value, ...})` (the README's "Human in the loop") gives
each paused sub-agent its own answer; over HTTP against the emulator.
"""

from __future__ import annotations

import json
import uuid

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from kimi_graph import create_swarm_graph


@tool
def ask_human(question: str) -> str:
    """Ask the person a question and return the answer."""
    return str(interrupt({"question": question}))


def _assign(role: str, question: str) -> str:
    task = f'[[call ask_human {{"question": "{question}"}}]]'
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


async def test_two_paused_subagents_resume_by_interrupt_id(kimi) -> None:
    nonce = uuid.uuid4().hex[:6]
    script = _assign("first", f"one-{nonce}?") + _assign("second", f"two-{nonce}?")
    graph = create_swarm_graph(kimi("moonshot"), [ask_human], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    paused = await graph.ainvoke({"messages": [("user", script)]}, config)
    pending = paused["__interrupt__"]
    assert sorted(p.value["question"] for p in pending) == [f"one-{nonce}?", f"two-{nonce}?"]
    answers = {p.id: f"answer to {p.value['question']}" for p in pending}
    out = await graph.ainvoke(Command(resume=answers), config)
    assert "__interrupt__" not in out
    records = {r["role"]: r for r in out["subagent_results"]}
    assert records["first"]["status"] == records["second"]["status"] == "ok"
    assert f"answer to one-{nonce}?" in records["first"]["output"]
    assert f"answer to two-{nonce}?" in records["second"]["output"]
