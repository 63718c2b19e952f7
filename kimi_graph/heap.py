"""An explicit opt-in for long-running processes: keep the startup heap out of GC scans.

LangChain, LangGraph, pydantic and the OpenAI SDK leave about 180,000 long-lived
objects once imported. CPython's cyclic garbage collector re-scans all of them in
every full collection, and a swarm of hundreds of sub-agents, whose messages and
tasks stay alive for the run, triggers several: at 300 tool-using sub-agents they
cost about as much client CPU as the sub-agents' model calls. `gc.freeze()` moves the
objects alive now into a generation the collector never scans, so a full collection
only walks what the run itself allocated.

kimi-graph never does this on import: freezing changes the whole process's collector,
which only the application may decide. An application calls `freeze_heap()` in its
own entry point, after its imports and graph building, before the work starts.
`kimi-graph run` freezes for the length of its run only (`frozen_heap()`), so calling
the CLI's `main()` inside another process leaves that process's collector as it was.
Frozen objects are still freed by reference counting; only reference cycles among
them stay until `gc.unfreeze()`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["freeze_heap", "frozen_heap"]


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


@contextlib.contextmanager
def frozen_heap() -> Iterator[int]:
    """Freeze the heap for the block, then unfreeze it; a heap already frozen stays so.

    When something froze objects before (the application decided), nothing is changed
    on entry or exit.

    Yields:
        How many objects are frozen during the block.
    """
    if gc.get_freeze_count():
        yield gc.get_freeze_count()
        return
    frozen = freeze_heap()
    try:
        yield frozen
    finally:
        gc.unfreeze()
