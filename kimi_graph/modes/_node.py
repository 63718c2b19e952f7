"""Graph nodes with a sync and an async body, wrapped the way LangGraph wraps its own.

`StateGraph.add_node(name, func)` wraps a plain function in LangGraph's
`RunnableCallable`, which inspects the function's signature once. Our nodes have two
bodies (`invoke` and `ainvoke` run different code), which a plain function cannot
give; `RunnableLambda` can, but asks `inspect.signature` on every call (about 0.1 ms
each, several per sub-agent in a big swarm). This wraps both bodies as LangGraph does
(no extra trace: the node's run is LangGraph's own, as for a plain function node).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import Runnable

# LangGraph's own node wrapper (langgraph._internal; pinned langgraph<2 in pyproject).
from langgraph._internal._runnable import RunnableCallable

__all__ = ["dual_node"]


def dual_node(
    func: Callable[..., Any], afunc: Callable[..., Awaitable[Any]], *, name: str
) -> Runnable[Any, Any]:
    """A node whose `invoke` runs `func` and whose `ainvoke` runs `afunc`.

    Args:
        func: The sync body, `(state, config)` or any signature LangGraph injects into.
        afunc: The async body, with the same parameters.
        name: The node's name (shown in traces and Studio).
    """
    return RunnableCallable(func, afunc, name=name, trace=False)
