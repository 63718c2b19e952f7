"""An explicit opt-in for long-running processes: keep the startup heap out of GC scans.

LangChain, LangGraph, pydantic and the OpenAI SDK leave about 180,000 long-lived
objects once imported. CPython's cyclic garbage collector re-scans all of them in
every full collection, and a swarm of hundreds of sub-agents, whose messages and
tasks stay alive for the run, triggers several: at 300 tool-using sub-agents they
cost about as much client CPU as the sub-agents' model calls. `gc.freeze()` moves the
objects alive now into a generation the collector never scans, so a full collection
only walks what the run itself allocated.

kimi-graph never does this on import: freezing changes the whole process's collector,
which only the application may decide. `kimi-graph run` calls `freeze_heap()` once
its graph is built; an application calls it in its own entry point, after its imports
and graph building, before the work starts. Frozen objects are still freed by
reference counting; only reference cycles among them stay until `gc.unfreeze()`.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> int:
    """Collect once, then exempt every object alive now from later collections.

    Call it in an application's entry point, once imports are done and graphs built
    (never in library code). See `gc.freeze`; `gc.unfreeze()` undoes it.

    Returns:
        How many objects are frozen now (`gc.get_freeze_count()`).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
