"""`tool_timeout`: a tool that hangs is stopped and the model is told; interrupts pass."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from kimi_graph import create_agent_graph

released = threading.Event()


@tool
def slow_sync(x: str) -> str:
    """A sync tool that hangs."""
    released.wait(30)
    return f"late {x}"


@tool
async def slow_async(x: str) -> str:
    """An async tool that hangs."""
    await asyncio.sleep(30)
    return f"late {x}"


@tool
def quick(x: str) -> str:
    """A tool that answers at once."""
    return f"quick {x}"


@tool
def confirm(x: str) -> str:
    """Ask a person to confirm."""
    return f"confirmed {interrupt(x)}"


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_a_hanging_tool_is_stopped_and_the_model_told(kimi, mode: str) -> None:
    name = "slow_sync" if mode == "invoke" else "slow_async"
    graph = create_agent_graph(kimi("moonshot"), [slow_sync, slow_async, quick], tool_timeout=0.5)
    script = f'[[call {name} {{"x": "a"}}]] [[call quick {{"x": "b"}}]]'
    inputs = {"messages": [("user", script)]}
    started = time.monotonic()
    out = graph.invoke(inputs) if mode == "invoke" else await graph.ainvoke(inputs)
    elapsed = time.monotonic() - started
    released.set()
    results = {m.name: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert results[name].status == "error"
    assert "did not finish within 0.5s" in results[name].content
    assert results["quick"].content == "quick b"  # the parallel call is unaffected
    assert "0.5s" in out["messages"][-1].text  # the model saw the error and answered
    assert elapsed < 10
    released.clear()


def test_interrupts_pass_through_the_timeout(kimi) -> None:
    graph = create_agent_graph(
        kimi("moonshot"), [confirm], tool_timeout=5, checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    paused = graph.invoke({"messages": [("user", '[[call confirm {"x": "ok?"}]]')]}, config)
    assert paused["__interrupt__"][0].value == "ok?"
    out = graph.invoke(Command(resume="yes"), config)
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_message.content == "confirmed yes"


def test_bad_timeout_is_refused(kimi) -> None:
    with pytest.raises(ValueError, match="tool_timeout"):
        create_agent_graph(kimi("moonshot"), [quick], tool_timeout=0)
