"""The remote side of a swarm's control: an agent graph whose run is marked with
`KimiContext.subagent_id` reads steer and cancel commands from its own store before
each model call and tool step (what a LangGraph server's run of a remote sub-agent
does), on invoke and ainvoke; an unmarked run never reads the store."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.store.memory import InMemoryStore

from kimi_graph import create_agent_graph
from kimi_graph.emulator import Emulator

HOW = pytest.mark.parametrize("how", ["invoke", "ainvoke"])
SUB = "r1/functions.assign_task:0"


class CountingStore(InMemoryStore):
    """An in-memory store that counts the searches made on it."""

    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1
        return super().search(*args, **kwargs)

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1
        return await super().asearch(*args, **kwargs)


PENDING: dict[str, dict[str, Any]] = {}


@tool
def work(tag: str) -> str:
    """Do one step of work on `tag`."""
    command = PENDING.pop(tag, None)
    if command is not None:  # the swarm's forwarder writes while the sub-agent runs
        get_store().put(("kimi_graph", "control", command.pop("thread")), tag, command)
    return f"worked on {tag}"


def _run(graph: Any, how: str, prompt: str, thread: str, context: dict[str, Any]) -> Any:
    inputs = {"messages": [("user", prompt)]}
    config = {"configurable": {"thread_id": thread}}
    if how == "invoke":
        return graph.invoke(inputs, config, context=context)
    return asyncio.run(graph.ainvoke(inputs, config, context=context))


def _requests_with(emulator: Emulator, marker: str) -> list[Any]:
    return [r for r in emulator.requests if marker in str(r.body.get("messages"))]


@HOW
def test_a_steer_in_the_store_reaches_the_marked_run_once(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tag, thread = f"W-{nonce}", f"remote-{nonce}"
    steer = f"[[answer steered-{nonce}]]"
    PENDING[tag] = {"action": "steer", "subagent": SUB, "text": steer, "thread": thread}
    store = CountingStore()
    # a command for another sub-agent of the same thread does not apply
    store.put(("kimi_graph", "control", thread), "other", {"action": "cancel", "subagent": "x"})
    graph = create_agent_graph(kimi(), [work], store=store, checkpointer=InMemorySaver())
    out = _run(graph, how, f'[[loop work {{"tag": "{tag}"}}]]', thread, {"subagent_id": SUB})

    assert out["messages"][-1].text == f"steered-{nonce}"
    assert out["messages"][-1].response_metadata.get("kimi_graph_control") is None
    with_steer = [r for r in _requests_with(emulator, tag) if steer in str(r.body["messages"])]
    assert len(with_steer) == 1  # added once, then the run ended
    assert with_steer[0].last_user == steer
    (message,) = [m for m in out["messages"] if m.text == steer]
    assert message.id == f"kimi-steer-{tag}"


def _cancel_during_the_next_call(emulator: Emulator, marker: str, put: Any) -> threading.Thread:
    """Write the cancel while the second model call of `marker` is in flight."""

    def target() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            calls = _requests_with(emulator, marker)
            if len(calls) >= 2 and calls[-1].finished is None:
                put()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@HOW
def test_a_cancel_in_the_store_refuses_tools_and_wraps_up(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    tag, thread = f"C-{nonce}", f"remote-{nonce}"
    store = CountingStore()
    writer = _cancel_during_the_next_call(
        emulator,
        tag,
        lambda: store.put(
            ("kimi_graph", "control", thread),
            "k-cancel",
            {"action": "cancel", "subagent": SUB, "text": f"enough-{nonce}"},
        ),
    )
    graph = create_agent_graph(kimi(), [work], store=store, checkpointer=InMemorySaver())
    prompt = f'[[latency 0.5]] [[loop work {{"tag": "{tag}"}}]]'
    out = _run(graph, how, prompt, thread, {"subagent_id": SUB})
    writer.join(5)

    final = out["messages"][-1]
    assert final.response_metadata["kimi_graph_control"] == "cancelled"
    assert final.response_metadata["reason"] == f"enough-{nonce}"
    assert not final.tool_calls
    calls = _requests_with(emulator, tag)
    assert len(calls) == 3  # two looping calls, then the wrap-up
    assert "tools" not in calls[-1].body and f"enough-{nonce}" in calls[-1].last_user
    results = [m.text for m in out["messages"] if m.type == "tool"]
    # the first call's tool ran; the second call's (answered after the cancel) did not
    assert results[0] == f"worked on {tag}"
    assert results[1].startswith("Cancelled:") and len(results) == 2


@HOW
def test_only_a_marked_run_reads_the_store(kimi, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    store = CountingStore()
    ns = ("kimi_graph", "control", f"t-{nonce}")
    store.put(ns, "bad", {"action": "explode", "subagent": SUB})  # ignored, never a crash
    store.put(ns, "stop", {"action": "cancel", "subagent": SUB, "text": "not for you"})
    graph = create_agent_graph(kimi(), [work], store=store, checkpointer=InMemorySaver())
    prompt = (
        f'[[call work {{"tag": "a-{nonce}"}}]] [[then]] [[call work {{"tag": "b-{nonce}"}}]] '
        f"[[then]] [[answer done-{nonce}]]"
    )
    unmarked = _run(graph, how, prompt, f"t-{nonce}", {})
    assert unmarked["messages"][-1].text == f"done-{nonce}"  # the cancel was not read
    assert store.searches == 0

    store.delete(ns, "stop")
    marked = _run(graph, how, prompt, f"t-{nonce}", {"subagent_id": SUB})
    assert marked["messages"][-1].text == f"done-{nonce}"
    # before each of 3 model calls, after the final one, before each of 2 tool steps
    assert store.searches == 6
