"""Run one swarm sub-agent inside a `Send` branch, isolating every failure.

When one `Send` branch raises, LangGraph fails the whole superstep and cancels the
siblings, so a sub-agent never raises: whatever happens (model errors after the
client's retries, a crashing tool, the step limit, the timeout, the tool-call budget)
ends in one `SubagentResult` and one tool message answering the orchestrator's call.

The branch drives the agent's own steps (`AgentSteps`, the nodes of the agent graph)
directly rather than running the agent graph nested: a nested Pregel run costs about a
millisecond per branch before its first request leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.types import Command

from kimi_graph import prompts
from kimi_graph._endpoint import redact_url
from kimi_graph.modes._model import ModelLike
from kimi_graph.modes.agent import (
    STEP_LIMIT_REASON,
    AgentSteps,
    model_steps,
    tool_calls_made,
)
from kimi_graph.state import SubagentResult


def _label(model: Any) -> str:
    while model is not None:
        url = getattr(model, "openai_api_base", None)
        if url:
            return redact_url(url)
        model = getattr(model, "bound", None)
    return "model"


@dataclass
class Worker:
    """One worker model (one server): its agent steps and its concurrency bound."""

    steps: AgentSteps
    label: str
    limit: int | None = None
    _thread_slots: threading.BoundedSemaphore | None = None
    _loop_slots: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)

    @classmethod
    def build(
        cls,
        model: ModelLike,
        tools: Sequence[Any],
        *,
        thinking: bool,
        max_steps: int,
        limit: int | None,
    ) -> Worker:
        """Prepare the sub-agent loop for one worker model."""
        steps = AgentSteps(model, tools, thinking=thinking, max_steps=max_steps)
        slots = threading.BoundedSemaphore(limit) if limit else None
        return cls(steps, _label(model), limit, slots)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of this worker's slots (threads)."""
        if self._thread_slots is None:
            yield
            return
        with self._thread_slots:
            yield

    @contextlib.asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold one of this worker's slots (the running event loop)."""
        if not self.limit:
            yield
            return
        loop = asyncio.get_running_loop()
        sem = self._loop_slots.get(loop)
        if sem is None:
            sem = self._loop_slots[loop] = asyncio.Semaphore(self.limit)
        async with sem:
            yield


class _Progress:
    """What a sub-agent has done so far, kept even when it fails half-way."""

    def __init__(self, budget: int | None) -> None:
        self.messages: list[AnyMessage] = []
        self.budget = budget
        self.error: str | None = None
        self._closed = False

    def close(self, error: str) -> None:
        """Stop recording: the run was abandoned for `error`."""
        self._closed = True
        self.error = error

    def update(self, messages: list[AnyMessage]) -> bool:
        """Record the latest state; return False to stop the run."""
        if self._closed:
            return False
        self.messages = messages
        if self.budget is not None and tool_calls_made(messages) > self.budget:
            self.error = (
                f"stopped: its share of the swarm's tool-call budget ({self.budget}) ran out"
            )
            return False
        return True

    def outcome(self) -> tuple[str, str | None]:
        """Return (output, error) from the last state seen."""
        last = next((m for m in reversed(self.messages) if isinstance(m, AIMessage)), None)
        text = ""
        if last is not None:
            text = last.text if isinstance(last.content, list) else str(last.content)
        if self.error:
            return text, self.error
        if last is None or last.tool_calls:
            return text, "the sub-agent ended without a final answer"
        if last.response_metadata.get("finish_reason") == STEP_LIMIT_REASON:
            return text, "the sub-agent hit its step limit"
        return text, None


class SubagentRunner:
    """The `subagent` node: runs the agent graph for one `assign_task` call."""

    def __init__(
        self,
        workers: list[Worker],
        *,
        timeout: float | None,
        max_result_chars: int,
        max_rounds: int,
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.max_result_chars = max_result_chars
        self.max_rounds = max_rounds

    def _inputs(self, args: dict[str, Any]) -> list[AnyMessage]:
        extra = f"\n\nInstructions: {args['instructions']}" if args.get("instructions") else ""
        role = str(args.get("role") or "a sub-agent")
        system = prompts.SUBAGENT_PROMPT.format(role=role, instructions=extra)
        return [SystemMessage(system), HumanMessage(str(args.get("task", "")))]

    def run(self, packet: dict[str, Any], config: RunnableConfig) -> Command:
        """Run the sub-agent with `graph.invoke` (a thread of LangGraph's pool)."""
        worker = self.workers[packet["worker"]]
        progress = _Progress(packet.get("tool_call_budget"))
        started = time.perf_counter()
        _emit("start", packet, worker)

        def consume() -> None:
            with worker.slot():
                for messages in worker.steps.run(self._inputs(packet["args"]), config):
                    if not progress.update(messages):
                        return

        failure: list[BaseException] = []

        def guarded() -> None:
            try:
                consume()
            except Exception as err:  # isolation: the record says what failed
                failure.append(err)

        if self.timeout is None:
            guarded()
        else:
            # The sub-agent runs in a thread of its own so the branch can give up on
            # time; the abandoned run stops at its next step.
            thread = threading.Thread(
                target=contextvars.copy_context().run, args=(guarded,), daemon=True
            )
            thread.start()
            thread.join(self.timeout)
            if thread.is_alive():
                progress.close(f"timed out after {self.timeout:g}s")
        if failure and progress.error is None:
            progress.error = f"{type(failure[0]).__name__}: {failure[0]}"
        return self._result(packet, worker, progress, started)

    async def arun(self, packet: dict[str, Any], config: RunnableConfig) -> Command:
        """Run the sub-agent with `graph.ainvoke` (a task of the event loop)."""
        worker = self.workers[packet["worker"]]
        progress = _Progress(packet.get("tool_call_budget"))
        started = time.perf_counter()
        _emit("start", packet, worker)

        async def consume() -> None:
            steps = worker.steps.arun(self._inputs(packet["args"]), config)
            try:
                async for messages in steps:
                    if not progress.update(messages):
                        return
            finally:
                await steps.aclose()

        try:
            async with worker.aslot():
                await asyncio.wait_for(consume(), self.timeout)
        except asyncio.TimeoutError:
            progress.close(f"timed out after {self.timeout:g}s")
        except Exception as err:  # isolation: the record says what failed
            progress.error = f"{type(err).__name__}: {err}"
        return self._result(packet, worker, progress, started)

    def _result(
        self, packet: dict[str, Any], worker: Worker, progress: _Progress, started: float
    ) -> Command:
        args = packet["args"]
        output, error = progress.outcome()
        record = SubagentResult(
            id=packet["id"],
            role=str(args.get("role") or ""),
            task=str(args.get("task") or ""),
            status="error" if error else "ok",
            output=output,
            error=error,
            steps=model_steps(progress.messages),
            tool_calls=tool_calls_made(progress.messages),
            elapsed_s=round(time.perf_counter() - started, 4),
            round=packet["round"],
            worker=worker.label,
        )
        clipped = output[: self.max_result_chars]
        if len(output) > self.max_result_chars:
            clipped += f"\n[... clipped {len(output) - self.max_result_chars} characters]"
        if error:
            content = f"Error: sub-agent {record['role']!r} failed: {error}"
            if clipped:
                content += f"\nPartial output:\n{clipped}"
        else:
            content = clipped
        reply = ToolMessage(
            content=content,
            tool_call_id=packet["id"],
            name="assign_task",
            status="error" if error else "success",
        )
        _emit("error" if error else "finish", packet, worker, record)
        update = {"subagent_results": [record], "messages": [reply]}
        # Every branch names the same next node; LangGraph runs it once, after the wave.
        next_node = "orchestrator" if packet["round"] < self.max_rounds else "synthesis"
        return Command(update=update, goto=next_node)


def _emit(event: str, packet: dict[str, Any], worker: Worker, record: Any = None) -> None:
    """Write a progress event for `stream_mode="custom"` (a no-op outside a graph)."""
    try:
        writer = get_stream_writer()
    except RuntimeError:
        return
    data: dict[str, Any] = {
        "type": "subagent",
        "event": event,
        "id": packet["id"],
        "role": str(packet["args"].get("role") or ""),
        "round": packet["round"],
        "worker": worker.label,
    }
    if record is not None:
        data.update(
            status=record["status"],
            steps=record["steps"],
            elapsed_s=record["elapsed_s"],
            error=record["error"],
        )
    writer(data)
