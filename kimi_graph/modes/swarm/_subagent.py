"""The `subagent` node: one `Send` branch running a sub-agent graph, nested.

The branch runs a graph (by default the compiled agent graph over the worker's model;
any messages-state graph, including a `RemoteGraph`, via `subagent_graph=`) inside
itself, so the sub-agent's steps stream under the branch namespace
(`subagent:<task id>`), are checkpointed there (a resumed run continues an unfinished
sub-agent from its last finished step) and may `interrupt()`.

When one `Send` branch raises, LangGraph fails the whole superstep and cancels its
siblings, so a branch never raises for a failure of its own: model errors after the
client's retries, a crashing graph, the step limit, the tool-call budget and the
time-out each end in one `SubagentResult` and one tool message answering the
orchestrator's call. LangGraph's control-flow exceptions (`GraphBubbleUp`: interrupts,
parent commands) always propagate.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command

from kimi_graph._turns import after_last_user, sum_usage
from kimi_graph.context import KimiContext, current_context
from kimi_graph.modes.agent import (
    STEP_LIMIT_REASON,
    TOOL_BUDGET_REASON,
    model_steps,
    tool_calls_made,
)
from kimi_graph.modes.swarm import _prompts as prompts
from kimi_graph.modes.swarm._commands import (
    SlotHold,
    SubagentControl,
    acancel_remote_runs,
    cancel_remote_runs,
    open_control,
    settle,
    subagent_id,
)
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK
from kimi_graph.modes.swarm._remote import (
    RemoteSubagentGraph,
    deployment_graphs,
    subagent_thread_id,
)
from kimi_graph.modes.swarm._remote_control import attach_remote
from kimi_graph.modes.swarm._settings import SwarmSettings
from kimi_graph.state import SubagentResult, SubagentTask

STOP_REASONS = {
    STEP_LIMIT_REASON: "the sub-agent hit its step limit",
    TOOL_BUDGET_REASON: "stopped: its share of the swarm's tool-call budget ({budget}) ran out",
}


def describe(err: BaseException) -> str:
    """One line naming an exception."""
    return f"{type(err).__name__}: {err}"


@dataclass
class Worker:
    """One worker: the graph its sub-agents run and its concurrency bound."""

    graph: Any
    label: str
    limit: int | None = None
    _threads: threading.BoundedSemaphore | None = None
    _loops: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def __post_init__(self) -> None:
        if self.limit:
            self._threads = threading.BoundedSemaphore(self.limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of this worker's slots (threads)."""
        if self._threads is None:
            yield
            return
        with self._threads:
            yield

    @contextlib.asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold one of this worker's slots (the running event loop)."""
        if not self.limit:
            yield
            return
        loop = asyncio.get_running_loop()
        sem = self._loops.get(loop)
        if sem is None:
            sem = self._loops[loop] = asyncio.Semaphore(self.limit)
        async with sem:
            yield


class ConcurrencyGroups:
    """One `max_concurrency` bound per round of a run, shared by its branches.

    LangGraph's own `max_concurrency` is a config value that a LangGraph Server does
    not apply to a graph's branches, so the swarm bounds them itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, tuple[threading.Semaphore, int]] = {}
        self._tasks: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.contextmanager
    def hold(self, group: str, limit: int) -> Iterator[None]:
        """A slot of `group` for a thread."""
        with self._lock:
            sem, users = self._threads.get(group) or (threading.Semaphore(limit), 0)
            self._threads[group] = (sem, users + 1)
        try:
            with sem:
                yield
        finally:
            self._release(self._threads, group)

    @contextlib.asynccontextmanager
    async def ahold(self, group: str, limit: int) -> AsyncIterator[None]:
        """A slot of `group` for a task of the running loop."""
        key = f"{id(asyncio.get_running_loop())}:{group}"
        with self._lock:
            sem, users = self._tasks.get(key) or (asyncio.Semaphore(limit), 0)
            self._tasks[key] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            self._release(self._tasks, key)

    def _release(self, table: dict[str, Any], key: str) -> None:
        with self._lock:
            sem, users = table[key]
            if users <= 1:
                del table[key]
            else:
                table[key] = (sem, users - 1)


@dataclass
class _Outcome:
    """What the nested run produced so far, kept when it fails half-way."""

    messages: list[AnyMessage] = field(default_factory=list)
    error: str | None = None
    abandoned: bool = False

    def see(self, values: Any) -> bool:
        """Record the nested graph's latest state; False once the branch gave up."""
        if self.abandoned:
            return False
        if isinstance(values, dict) and "messages" in values:
            self.messages = [_message(m) for m in values["messages"]]
        return True

    def time_out(self, timeout: float | None) -> None:
        """The branch gave up on the run: say so; the run stops after its current step."""
        self.abandoned = True
        self.error = f"timed out after {timeout:g}s"


_SERIALIZED: dict[str, type[AIMessage | HumanMessage | ToolMessage | SystemMessage]] = {
    "ai": AIMessage,
    "human": HumanMessage,
    "tool": ToolMessage,
    "system": SystemMessage,
}


def _message(value: Any) -> AnyMessage:
    """A message from a local graph, or one serialized by a LangGraph Server.

    `convert_to_messages` would drop a serialized AI message's `usage_metadata`.
    A local graph's message is returned as it is (what `convert_to_messages` does too).
    """
    if isinstance(value, BaseMessage):
        return cast("AnyMessage", value)
    if isinstance(value, dict) and value.get("type") in _SERIALIZED:
        return _SERIALIZED[value["type"]].model_validate(value)
    return cast("AnyMessage", convert_to_messages([value])[0])


class SubagentBranch:
    """The `subagent` node: runs a sub-agent graph for one `assign_task` call."""

    def __init__(
        self,
        workers: Sequence[Worker],
        settings: SwarmSettings,
        *,
        follow_run_model: bool,
    ) -> None:
        self.workers = list(workers)
        self.settings = settings
        self.follow_run_model = follow_run_model
        self.groups = ConcurrencyGroups()
        self._deployments: dict[Any, list[Worker]] = {}
        self._deployments_lock = threading.Lock()

    def run_workers(self, context: KimiContext) -> list[Worker]:
        """The workers of a run: the deployment its settings name, else the built ones.

        Only a swarm built without `worker_model`/`subagent_graph` follows
        `KimiContext.subagent_urls` / `KIMI_SUBAGENT_URLS`.
        """
        graphs = deployment_graphs(context) if self.follow_run_model else ()
        if not graphs:
            return self.workers
        with self._deployments_lock:
            workers = self._deployments.get(graphs)
            if workers is None:
                limit = self.workers[0].limit if self.workers else None
                workers = [Worker(g, g.name, limit) for g in graphs]
                self._deployments[graphs] = workers
        return workers

    def _prepare(
        self, task: SubagentTask, config: RunnableConfig
    ) -> tuple[Worker, SwarmSettings, dict[str, Any], RunnableConfig, KimiContext, str]:
        run_context = current_context()
        settings = self.settings.for_run(run_context)
        workers = self.run_workers(run_context)
        worker = workers[task["worker_index"] % len(workers)]
        extra = f"\n\nInstructions: {task['instructions']}" if task.get("instructions") else ""
        system = prompts.SUBAGENT_PROMPT.format(
            role=task["role"] or "a sub-agent", instructions=extra
        )
        inputs = {"messages": [SystemMessage(system), HumanMessage(task["task"])]}
        context = KimiContext(
            thinking=settings.subagent_thinking,
            max_steps=settings.subagent_max_steps,
            max_tool_calls=task["max_tool_calls"],
            model=run_context.model if self.follow_run_model else None,
            base_url=run_context.base_url if self.follow_run_model else None,
            backend=run_context.backend if self.follow_run_model else None,
        )
        namespace = str((config.get("configurable") or {}).get("checkpoint_ns", ""))
        # The branch's config carries the swarm's recursion limit; the nested run needs
        # its own, sized for the sub-agent's steps (two supersteps each).
        config = {**config, "recursion_limit": 2 * settings.subagent_max_steps + 5}
        if _is_remote(worker.graph):
            config = _remote_thread(config, namespace, task["id"])
        return worker, settings, inputs, config, context, namespace

    def run(self, task: SubagentTask, config: RunnableConfig) -> Command[Any]:
        """The branch under `graph.invoke`/`stream` (a thread of LangGraph's pool)."""
        worker, settings, inputs, config, context, namespace = self._prepare(task, config)
        writer = _writer()
        control = open_control(task, namespace, writer, worker.label)
        context = attach_remote(control, worker.graph, config, context)  # steer/cancel reach it
        _emit(writer, "start", task, worker, namespace)
        outcome = _Outcome()
        failure: list[BaseException] = []
        # The slots are taken before the clock starts (the time-out is for the run,
        # not the queue) and given back when the nested run really ends.
        slots = SlotHold()  # an abort gives them back at once (see SlotHold)
        clock = [time.perf_counter()]

        def consume() -> None:
            try:
                if control is not None and not control.begin():
                    return  # cancelled or aborted while queued: no model call
                with control.active() if control else contextlib.nullcontext():
                    stream = worker.graph.stream(
                        inputs, config, context=context, stream_mode="values"
                    )
                    for values in stream:
                        if not outcome.see(values):
                            return
                        if control is not None:
                            control.observe(outcome.messages)  # a remote one's progress
            except BaseException as err:  # sorted out in the branch's own thread
                failure.append(err)
            finally:
                slots.release()

        def queue_and_run() -> None:
            if not slots.take(self.groups.hold(task["group"], settings.max_concurrency)):
                return  # aborted while queued
            if not slots.take(worker.slot()):
                return
            clock[0] = time.perf_counter()
            if not _within_thread(consume, settings.subagent_timeout):
                outcome.time_out(settings.subagent_timeout)

        if control is None:
            queue_and_run()
        elif not control.run_thread(queue_and_run):
            outcome.abandoned = True  # aborted: the branch returns now (see SubagentControl)
            slots.release()
            if _is_remote(worker.graph):
                cancel_remote_runs(worker.graph, config)
        started = clock[0]
        if failure and control is not None and control.abort_reason is not None:
            failure.clear()  # the abandoned run's own ending
        if failure:
            err = failure[0]
            if isinstance(err, GraphBubbleUp) or not isinstance(err, Exception):
                if control is not None:
                    control.detach(wait=True)  # paused (an interrupt): commands wait
                raise err
            outcome.error = outcome.error or describe(err)
        return self._result(task, worker, settings, outcome, started, namespace, writer, control)

    async def arun(self, task: SubagentTask, config: RunnableConfig) -> Command[Any]:
        """The branch under `graph.ainvoke`/`astream` (a task of the event loop)."""
        worker, settings, inputs, config, context, namespace = self._prepare(task, config)
        writer = _writer()
        control = open_control(task, namespace, writer, worker.label)
        context = attach_remote(control, worker.graph, config, context)  # steer/cancel reach it
        _emit(writer, "start", task, worker, namespace)
        outcome = _Outcome()
        clock = [time.perf_counter()]

        async def consume() -> None:
            if control is not None and not await control.abegin():
                return  # cancelled or aborted while queued: no model call
            with control.active() if control else contextlib.nullcontext():
                stream = worker.graph.astream(inputs, config, context=context, stream_mode="values")
                try:
                    async for values in stream:
                        outcome.see(values)
                        if control is not None:
                            control.observe(outcome.messages)  # a remote one's progress
                finally:
                    await stream.aclose()

        async def queue_and_run() -> None:
            async with self.groups.ahold(task["group"], settings.max_concurrency):
                async with worker.aslot():
                    clock[0] = time.perf_counter()
                    if not await _within(consume(), settings.subagent_timeout):
                        outcome.time_out(settings.subagent_timeout)

        try:
            if control is None:
                await queue_and_run()
            elif not await control.until_abort(queue_and_run()):
                outcome.abandoned = True  # aborted: its task (and HTTP request) cancelled
                if _is_remote(worker.graph):
                    await acancel_remote_runs(worker.graph, config)
        except GraphBubbleUp:
            if control is not None:
                control.detach(wait=False)  # paused (an interrupt): commands wait
            raise
        except Exception as err:  # isolation: the record says what failed
            outcome.error = describe(err)
        started = clock[0]
        return self._result(task, worker, settings, outcome, started, namespace, writer, control)

    def _result(
        self,
        task: SubagentTask,
        worker: Worker,
        settings: SwarmSettings,
        outcome: _Outcome,
        started: float,
        namespace: str,
        writer: Any,
        control: SubagentControl | None = None,
    ) -> Command[Any]:
        produced = after_last_user(outcome.messages)
        last = next((m for m in reversed(produced) if isinstance(m, AIMessage)), None)
        output = "" if last is None else last.text
        error = outcome.error
        if error is None:
            if last is None or last.tool_calls:
                error = "the sub-agent ended without a final answer"
            else:
                reason = STOP_REASONS.get(last.response_metadata.get("finish_reason", ""))
                error = reason.format(budget=task["max_tool_calls"]) if reason else None
        status, error = settle(
            control, produced, "error" if error else "ok", error, abandoned=outcome.abandoned
        )
        record = SubagentResult(
            id=task["id"],
            role=task["role"],
            task=task["task"],
            status=status,
            output=output,
            error=error,
            steps=model_steps(produced),
            tool_calls=tool_calls_made(produced),
            elapsed_s=round(time.perf_counter() - started, 4),
            round=task["round"],
            worker=worker.label,
            usage=sum_usage(produced),
            namespace=namespace,
        )
        if control is not None:
            control.finish(status, record["steps"], wait=not _on_loop())
        _emit(writer, _EVENTS[status], task, worker, namespace, record)
        reply = ToolMessage(
            content=_reply_text(record, task.get("result_chars", settings.max_result_chars)),
            tool_call_id=task["id"],
            name=ASSIGN_TASK,
            status="error" if error else "success",
        )
        # Every branch names the same next node; LangGraph runs it once, after the round
        # (after a `stop`, the orchestrator starts no new round: `swarm_stopped`).
        next_node = "orchestrator" if task["round"] < settings.max_rounds else "synthesis"
        return Command(update={"subagent_results": [record], "messages": [reply]}, goto=next_node)


def _within_thread(work: Callable[[], None], timeout: float | None) -> bool:
    """Run `work`; False if `timeout` passed first (the sync twin of `_within`).

    With a time-out the work gets a thread of its own so the branch can give up on
    time; the abandoned run stops after its current step (`_Outcome.see`).
    """
    if timeout is None:
        work()
        return True
    thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


async def _within(work: Coroutine[Any, Any, None], timeout: float | None) -> bool:
    """Run `work`; False if `timeout` passed first (it is then cancelled).

    Unlike `asyncio.wait_for`, a `TimeoutError` raised inside `work` is not taken
    for the time-out: it propagates as the sub-agent's own failure. Without a
    time-out `work` runs in the branch's own task (no task of its own to schedule).
    """
    if timeout is None:
        await work
        return True
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:  # the branch itself is cancelled: so is its run
        task.cancel()
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()
    return True


def _reply_text(record: SubagentResult, limit: int) -> str:
    output = record["output"]
    clipped = output[:limit]
    if len(output) > limit:
        clipped += f"\n[... clipped {len(output) - limit} characters]"
    if not record["error"]:
        return clipped
    if record["status"] in ("cancelled", "aborted"):
        text = f"Partial: sub-agent {record['role']!r} was {record['status']} ({record['error']})"
        return f"{text}; what it found:\n{clipped}" if clipped else text
    text = f"Error: sub-agent {record['role']!r} failed: {record['error']}"
    return f"{text}\nPartial output:\n{clipped}" if clipped else text


def _is_remote(graph: Any) -> bool:
    """Whether the sub-agent graph runs as a run of a server (its runs can be cancelled)."""
    return isinstance(graph, RemoteGraph | RemoteSubagentGraph)


def _remote_thread(config: RunnableConfig, namespace: str, subagent_id: str) -> RunnableConfig:
    """Give a remote sub-agent a thread of its own, keyed by the swarm's thread and its id."""
    configurable = dict(config.get("configurable") or {})
    parent = configurable.get("thread_id")
    if parent is None:
        return config
    configurable["thread_id"] = subagent_thread_id(str(parent), namespace, subagent_id)
    return {**config, "configurable": configurable}


_EVENTS = {"ok": "finish", "error": "error", "cancelled": "cancelled", "aborted": "aborted"}


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _writer() -> Any:
    try:
        return get_stream_writer()
    except (RuntimeError, KeyError):
        return None


def _emit(
    writer: Any,
    event: str,
    task: SubagentTask,
    worker: Worker,
    namespace: str,
    record: SubagentResult | None = None,
) -> None:
    """Write a progress event for `stream_mode="custom"` (nothing outside a graph)."""
    if writer is None:
        return
    data: dict[str, Any] = {
        "type": "subagent",
        "event": event,
        "id": task["id"],
        "subagent_id": subagent_id(task),
        "role": task["role"],
        "round": task["round"],
        "worker": worker.label,
        "namespace": namespace,
    }
    if record is not None:
        data.update(
            status=record["status"],
            steps=record["steps"],
            tool_calls=record["tool_calls"],
            elapsed_s=record["elapsed_s"],
            error=record["error"],
            usage=record.get("usage"),
        )
    writer(data)
