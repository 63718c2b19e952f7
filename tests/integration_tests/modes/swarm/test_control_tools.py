"""An abort reaches inside a tool: a `run_python` program is killed at once, not at its
time-out, on invoke and ainvoke (the sync path's abandoned thread included)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from kimi_graph import SwarmControl, create_swarm_graph
from kimi_graph.tools import make_run_python
from kimi_graph.tools._bwrap import bwrap_problem
from tests.integration_tests.modes.swarm._control_run import (
    BackgroundRun,
    assign,
    running,
    wait_for,
)


def _children() -> list[str]:
    """Command lines of this process's live child processes."""
    out = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:  # a thread or child may end while it is being read
            pids = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except FileNotFoundError:
                continue
    return out


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_abort_kills_the_run_python_program(kimi, emulator, how) -> None:
    isolation = "bubblewrap" if bwrap_problem() is None else "rlimits"
    tool = make_run_python(timeout=60, isolation=isolation)
    nonce = uuid.uuid4().hex[:8]
    code = f"import time\n# {nonce}\ntime.sleep(50)\n"
    call = json.dumps({"code": code})
    prompt = assign("coder", f"[[call run_python {call}]] [[then]] [[answer x]]") + assign(
        "sibling", f"[[answer sibling-done-{nonce}]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(kimi(), [tool], store=store, checkpointer=InMemorySaver())
    before = set(_children())
    run = BackgroundRun(graph, prompt, how).start()
    coder = wait_for(control, run.thread_id, running("coder", steps=1))["coder"]
    deadline = time.monotonic() + 20
    while not set(_children()) - before:  # the sandboxed program runs
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sent = time.monotonic()
    control.abort(run.thread_id, coder["id"])
    while set(_children()) - before:
        assert time.monotonic() - sent < 1.5, _children()
        time.sleep(0.02)
    records = run.records()
    assert records["coder"]["status"] == "aborted"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
