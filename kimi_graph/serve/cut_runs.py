"""A thread stays valid when its run is cut: unanswered tool calls get an answer.

A run stopped by the server's timeout or by a client that hung up may stop between a
model's tool calls and their results; the thread's checkpoint then ends with calls no
tool message answers, and every later turn would send an invalid history. After such
a run, `repair_thread` appends an "interrupted" tool message for each (the graphs also
repair what they send, `kimi_graph.modes._repair`, so a thread cut elsewhere works too).
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from kimi_graph.modes._repair import dangling_calls

__all__ = [
    "repair_thread",
]

logger = logging.getLogger(__name__)


async def repair_thread(graph: Any, config: RunnableConfig) -> int:
    """Answer the tool calls a cut run left at the end of the thread.

    Args:
        graph: The compiled graph of the run (with its checkpointer).
        config: The run's config (`configurable.thread_id`).

    Returns:
        How many calls were answered (0 when the thread was already valid).
    """
    try:
        snapshot = await graph.aget_state(config)
        messages = list((snapshot.values or {}).get("messages") or [])
        tail = messages[-1] if messages else None
        if not isinstance(tail, (AIMessage, ToolMessage)):
            return 0
        answers = dangling_calls(messages)
        if answers:
            await graph.aupdate_state(config, {"messages": answers})
    except Exception:  # the run already failed; its thread is repaired on a best-effort basis
        logger.exception("kimi-graph serve: could not repair the thread of a cut run")
        return 0
    return len(answers)
