"""Helpers of the control tests: a swarm run in the background, driven from the test."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kimi_graph import SwarmControl


def assign(role: str, task: str) -> str:
    """The orchestrator directive that starts one sub-agent."""
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


class BackgroundRun:
    """`graph.stream` (invoke) or `graph.astream` (ainvoke) on a thread of its own.

    Both collect the custom events and the final values, so a test body is the same
    on the sync and the async path.
    """

    def __init__(self, graph: Any, prompt: str, how: str, thread_id: str | None = None) -> None:
        self.graph = graph
        self.how = how
        self.thread_id = thread_id or f"control-{uuid.uuid4().hex[:8]}"
        self.config: dict[str, Any] = {"configurable": {"thread_id": self.thread_id}}
        self.inputs = {"messages": [("user", prompt)]}
        self.events: list[dict[str, Any]] = []
        self.values: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.ended_at: float | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> BackgroundRun:
        """Start the run."""
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            if self.how == "invoke":
                for mode, chunk in self.graph.stream(
                    self.inputs, self.config, stream_mode=["custom", "values"]
                ):
                    self._take(mode, chunk)
            else:
                asyncio.run(self._amain())
        except BaseException as err:  # reported by `result`
            self.error = err
        finally:
            self.ended_at = time.monotonic()

    async def _amain(self) -> None:
        async for mode, chunk in self.graph.astream(
            self.inputs, self.config, stream_mode=["custom", "values"]
        ):
            self._take(mode, chunk)

    def _take(self, mode: str, chunk: Any) -> None:
        if mode == "custom":
            self.events.append(chunk)
        else:
            self.values = chunk

    def result(self, timeout: float = 60) -> dict[str, Any]:
        """The final values (re-raising the run's error)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the swarm did not finish"
        if self.error is not None:
            raise self.error
        return self.values

    def records(self, timeout: float = 60) -> dict[str, dict[str, Any]]:
        """The sub-agents' records by role."""
        return {r["role"]: r for r in self.result(timeout)["subagent_results"]}


def wait_for(
    control: SwarmControl,
    thread_id: str,
    ready: Callable[[dict[str, dict[str, Any]]], bool],
    timeout: float = 30,
    run: BackgroundRun | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll `list()` until `ready(by_role)` holds; the sub-agents by role.

    With `run`, a run that ended first (or failed) ends the wait with its error.
    """
    deadline = time.monotonic() + timeout
    while True:
        by_role = {s["role"]: s for s in control.list(thread_id)}
        if ready(by_role):
            return by_role
        if run is not None and run.ended_at is not None:
            raise AssertionError(f"the run ended first: {run.error!r}, {by_role}")
        assert time.monotonic() < deadline, f"never ready: {by_role}"
        time.sleep(0.05)


def running(role: str, steps: int = 1) -> Callable[[dict[str, dict[str, Any]]], bool]:
    """`wait_for` condition: `role` runs and made at least `steps` model calls."""
    return lambda by_role: (
        role in by_role and by_role[role]["status"] == "running" and by_role[role]["steps"] >= steps
    )
