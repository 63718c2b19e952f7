"""The run's side of `SwarmControl`: read commands from the store, apply them, publish status.

A swarm run that has a store and a `thread_id` is controllable. Its sub-agent
branches share one `CommandFeed` per (store, thread) in the process: a daemon thread
that, every `POLL_INTERVAL` seconds, writes the sub-agents' changed statuses under
`("kimi_graph", "swarm", thread_id)` in one batch and reads the commands under
`("kimi_graph", "control", thread_id)`, handing each new one to the sub-agents it
targets. One search per tick whatever the number of sub-agents, and no store call
on a sub-agent's own path, keeps a controllable run as fast as one without a store.

Each sub-agent's `SubagentControl` is the agent loop's `StepControl` (see
`kimi_graph.modes._control_hook`): steers become user messages with a stable id
(`kimi-steer-<command key>`), so a resumed run that finds one in the checkpointed
transcript does not add it again; a cancel refuses new tools and asks for a summary;
an abort wakes the branch, which returns at once. A command applies to a sub-agent
only if it was written after the sub-agent first appeared in this run (`since`,
kept in its status item, so a resumed run keeps it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.config import get_config, get_store
from langgraph.store.base import BaseStore, PutOp

from kimi_graph._turns import after_last_user
from kimi_graph.modes import _control_hook as hook
from kimi_graph.state import SubagentTask

__all__ = [
    "ACTIONS",
    "acancel_remote_runs",
    "cancel_remote_runs",
    "CONTROL_NAMESPACE",
    "POLL_INTERVAL",
    "STATUS_NAMESPACE",
    "STOPPED",
    "CommandFeed",
    "SlotHold",
    "ControlCommand",
    "SubagentControl",
    "open_control",
    "parse_command",
    "settle",
    "subagent_id",
    "swarm_stopped",
]

CONTROL_NAMESPACE = ("kimi_graph", "control")
"""Commands live under `(*CONTROL_NAMESPACE, thread_id)`."""
STATUS_NAMESPACE = ("kimi_graph", "swarm")
"""Live sub-agent statuses live under `(*STATUS_NAMESPACE, thread_id)`, one item each."""
ACTIONS = ("steer", "cancel", "abort", "stop")
POLL_INTERVAL = 0.2
"""Seconds between two reads of the commands (and writes of the statuses)."""
CLOCK_SLACK = 1.5
"""Seconds a command may seem older than its sub-agent and still apply: some stores
(SQLite) keep `created_at` to the second."""
READY_WAIT = 2.0
"""Seconds a starting sub-agent waits at most for the feed's first read."""
STOPPED = "the swarm was stopped"
"""How the cancel reason of a `stop` begins (the orchestrator starts no new round)."""

WRAP_UP_PROMPT = (
    "You have been cancelled ({reason}). Do not call any tool. Reply now with a short "
    "summary of what you found so far, saying what is missing."
)

Status = Literal["queued", "running", "ok", "error", "cancelled", "aborted"]
Ending = Literal["ok", "error", "cancelled", "aborted"]
T = TypeVar("T")


@dataclass(frozen=True)
class ControlCommand:
    """One well-formed command item."""

    key: str
    action: str
    subagent: str | None
    text: str
    created: float
    """The item's `created_at`, as a POSIX timestamp."""


def subagent_id(task: SubagentTask) -> str:
    """The sub-agent's id for `SwarmControl` and the progress events: `r<round>/<call id>`.

    The orchestrator's tool-call ids repeat across rounds, so the round is part of it.
    """
    return f"r{task['round']}/{task['id']}"


def parse_command(key: str, value: Any, created: float) -> ControlCommand | str:
    """The command of a store item, or why it is ignored."""
    if not isinstance(value, dict):
        return f"the value is not an object: {type(value).__name__}"
    action = value.get("action")
    if action not in ACTIONS:
        return f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
    target = value.get("subagent")
    text = value.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return f"'text' must be a string, got {type(text).__name__}"
    if action == "stop":
        target = None
    elif not isinstance(target, str) or not target:
        return f"{action!r} needs a non-empty 'subagent' id, got {target!r}"
    if action == "steer" and not text.strip():
        return "'steer' needs a non-empty 'text'"
    return ControlCommand(key, action, target, text, created)


def swarm_stopped(results: Sequence[Any]) -> bool:
    """True when a `stop` ended sub-agents of the current request (no new round)."""
    return any(
        r.get("status") in ("cancelled", "aborted")
        and str(r.get("error") or "").startswith(STOPPED)
        for r in results
    )


class SubagentControl:
    """One sub-agent's control state: what the commands said, and its live status."""

    def __init__(self, task: SubagentTask, namespace: str, writer: Any, worker: str) -> None:
        self.id = subagent_id(task)
        self.task = task
        self.namespace = namespace
        self.writer = writer
        self.worker = worker
        self.since: float | None = None  # set by the feed (kept across a resume)
        self.status: Status = "queued"
        self.steps = 0
        self.cancel_reason: str | None = None
        self.abort_reason: str | None = None
        self.steers: list[ControlCommand] = []
        self.applied: set[str] = set()
        self.woken = threading.Event()
        self.ready = threading.Event()  # the feed has set `since` and handed its commands
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self._on_abort: dict[int, Callable[[], None]] = {}
        self.feed: CommandFeed | None = None
        self._forward: Callable[[str, str, str], None] | None = None
        self._to_forward: list[tuple[str, str, str]] = []  # (key, action, text)
        self._delivered: set[str] = set()

    # -- the commands ---------------------------------------------------------------

    def apply(self, command: ControlCommand) -> None:
        """Take one command (from the feed's thread)."""
        waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        with self._lock:
            if command.key in self.applied:
                return
            self.applied.add(command.key)
            forwarded: tuple[str, str, str] | None = None
            if command.action == "steer":
                self.steers.append(command)
                forwarded = (command.key, "steer", command.text)
            elif command.action == "cancel":
                self.cancel_reason = self.cancel_reason or (command.text or "cancelled")
                forwarded = (command.key, "cancel", self.cancel_reason)
            elif command.action == "stop":
                text = f"{STOPPED}: {command.text}" if command.text else STOPPED
                self.cancel_reason = self.cancel_reason or text
                forwarded = (command.key, "cancel", self.cancel_reason)
            elif command.action == "abort" and self.abort_reason is None:
                self.abort_reason = command.text or "aborted"
                waiters, self._waiters = self._waiters, []
            forward = self._forward
            if forwarded is not None:
                self._to_forward.append(forwarded)
        if forwarded is not None and forward is not None:
            forward(*forwarded)
        if command.action == "abort":
            self.woken.set()
            for loop, future in waiters:
                loop.call_soon_threadsafe(_settle, future)
            self._run_abort_callbacks()

    def forward_to(self, forward: Callable[[str, str, str], None]) -> None:
        """Hand steers and cancels to `forward(key, action, text)`: a remote sub-agent's.

        The commands taken before are handed over at once; a `stop` goes as a cancel
        with its reason.
        """
        with self._lock:
            self._forward = forward
            earlier = list(self._to_forward)
        for item in earlier:
            forward(*item)

    def observe(self, messages: Sequence[AnyMessage]) -> None:
        """A remote sub-agent's transcript as its server streams it: steps, steers delivered.

        (A local sub-agent reports these from its agent loop instead.)
        """
        if self._forward is None:
            return
        for message in messages:
            key = (message.id or "").removeprefix("kimi-steer-")
            if key != message.id and key not in self._delivered:
                self._delivered.add(key)
                self._event("steered", key=key, text=message.text)
        steps = sum(m.type == "ai" for m in after_last_user(messages))
        if steps != self.steps:
            self.after_model(steps)

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on abort (at once if already aborted); returns its remover."""
        token = id(callback)
        with self._lock:
            aborted = self.abort_reason is not None
            if not aborted:
                self._on_abort[token] = callback
        if aborted:
            callback()

        def remove() -> None:
            with self._lock:
                self._on_abort.pop(token, None)

        return remove

    def _run_abort_callbacks(self) -> None:
        with self._lock:
            callbacks, self._on_abort = list(self._on_abort.values()), {}
        for callback in callbacks:
            with contextlib.suppress(Exception):  # a tool's clean-up must not stop the feed
                callback()

    # -- the agent loop's StepControl -------------------------------------------------

    def before_model(self, messages: Sequence[AnyMessage]) -> tuple[list[HumanMessage], str | None]:
        """Steers not yet in the transcript, and the wrap-up request of a cancel."""
        if self.abort_reason is not None:
            msg = f"sub-agent {self.id} was aborted"
            raise hook.SubagentAbortedError(msg)
        self.report_ignored()
        seen = {m.id for m in messages if m.id}
        added = []
        for command in list(self.steers):
            message = hook.control_message(command.text, "steer", f"kimi-steer-{command.key}")
            if message.id not in seen:
                added.append(message)
                self._event("steered", key=command.key, text=command.text)
        reason = self.cancel_reason
        if reason is not None:
            prompt = WRAP_UP_PROMPT.format(reason=reason)
            wrap_up = hook.control_message(prompt, hook.WRAP_UP, "kimi-wrap-up")
            if wrap_up.id not in seen:
                added.append(wrap_up)
        return added, reason

    def steer_waiting(self, messages: Sequence[AnyMessage]) -> bool:
        """A steer not yet delivered, and no cancel or abort."""
        if self.cancel_reason is not None or self.abort_reason is not None:
            return False
        seen = {m.id for m in messages if m.id}
        return any(f"kimi-steer-{c.key}" not in seen for c in list(self.steers))

    def tools_refused(self) -> str | None:
        """The cancel (or abort) reason once given."""
        return self.cancel_reason or self.abort_reason

    def after_model(self, steps: int) -> None:
        """Publish the step count."""
        self.steps = steps
        self.publish()

    # -- the branch ---------------------------------------------------------------

    def begin(self) -> bool:
        """The sub-agent got its slots: False if it was cancelled or aborted while queued.

        Waits (briefly) for the feed to have handed this sub-agent its commands, so a
        resumed run sees a cancel written before the crash before its first call.
        """
        if self._must_wait():
            self.ready.wait(READY_WAIT)
        return self._begin()

    async def abegin(self) -> bool:
        """`begin` on an event loop."""
        deadline = time.monotonic() + READY_WAIT
        while self._must_wait() and not self.ready.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return self._begin()

    def _must_wait(self) -> bool:
        """Whether commands may already target this sub-agent before it starts.

        True while the round's first read is not done, or when this run is resumed
        (its status was published before); a new sub-agent cannot be targeted yet.
        """
        feed = self.feed
        if feed is None or self.ready.is_set():
            return False
        if not feed.synced.is_set():
            return True
        before = (feed.known or {}).get(self.id) or {}
        return before.get("group") == self.task["group"]

    def _begin(self) -> bool:
        self.report_ignored()
        if self.cancel_reason is not None or self.abort_reason is not None:
            return False
        self.status = "running"
        self.publish()
        return True

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the `StepControl` (and abort signal) of the agent loop run inside."""
        with hook.activate(self):
            yield

    def run_thread(self, work: Callable[[], None]) -> bool:
        """Run `work` on a thread of its own; False if an abort came first.

        The thread is not killed: its model request in flight is closed (this control
        is the transport's abort signal, see `_control_hook.activate`), it makes no
        further request (the agent loop checks before each model call, the transport
        refuses any later request) and gives its slots back when its current step ends.
        """

        def target() -> None:
            try:
                work()
            finally:
                self.woken.set()

        run = contextvars.copy_context().run
        thread = threading.Thread(target=run, args=(target,), daemon=True)
        thread.start()
        self.woken.wait()
        return self.abort_reason is None or not thread.is_alive()

    async def until_abort(self, work: Awaitable[T]) -> bool:
        """Await `work`; False if an abort came first (`work` is then cancelled)."""
        task: asyncio.Future[Any] = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        abort: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self.abort_reason is not None:
                abort.set_result(None)
            else:
                self._waiters.append((loop, abort))
        try:
            done, _ = await asyncio.wait({task, abort}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            abort.cancel()
        if task in done:
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return False

    def detach(self, *, wait: bool) -> None:
        """Leave the feed without an ending (the run paused on an interrupt).

        Its status stays as it was; commands written meanwhile apply on resume.
        """
        if self.feed is not None:
            self.feed.keep_commands = True  # the resumed run still needs them
            self.feed.leave(self, wait=wait)

    def finish(self, status: Status, steps: int, *, wait: bool) -> None:
        """Publish the final status and leave the feed (`wait`: for its last write)."""
        self.status = status
        self.steps = steps
        self.report_ignored()
        if self.feed is not None:
            self.feed.leave(self, wait=wait)

    # -- status and events -----------------------------------------------------------

    def status_value(self) -> dict[str, Any]:
        """The item `list()` reads."""
        return {
            "id": self.id,
            "role": self.task["role"],
            "status": self.status,
            "steps": self.steps,
            "round": self.task["round"],
            "namespace": self.namespace,
            "group": self.task["group"],
            "worker": self.worker,
            "since": self.since,
            "updated": time.time(),
        }

    def publish(self) -> None:
        """Queue the status for the feed's next write."""
        if self.feed is not None:
            self.feed.dirty(self)

    def _event(self, event: str, **data: Any) -> None:
        if self.writer is None:
            return
        self.writer(
            {
                "type": "subagent",
                "event": event,
                "id": self.task["id"],
                "subagent_id": self.id,
                "role": self.task["role"],
                "round": self.task["round"],
                "worker": self.worker,
                "namespace": self.namespace,
                **data,
            }
        )

    def report_ignored(self) -> None:
        """Write an event for each malformed command no branch has reported yet."""
        if self.feed is None or self.writer is None:
            return
        for key, reason in self.feed.claim_ignored():
            self.writer({"type": "control", "event": "ignored", "key": key, "reason": reason})


def _settle(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


class CommandFeed:
    """One thread per (store, thread_id) reading commands and writing statuses."""

    _feeds: dict[tuple[int, str], CommandFeed] = {}  # the process's registry
    _registry_lock = threading.Lock()

    def __init__(self, store: BaseStore, thread_id: str) -> None:
        self.store = store
        self.thread_id = thread_id
        self.controls: dict[str, SubagentControl] = {}
        self.commands: dict[str, ControlCommand] = {}
        self.ignored: dict[str, str] = {}
        self._reported: set[str] = set()
        self._dirty: dict[str, dict[str, Any]] = {}
        self.known: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._wake = threading.Event()
        self.synced = threading.Event()
        self.keep_commands = False
        """A sub-agent paused (an interrupt): its commands are not deleted at the end."""
        self._thread = threading.Thread(
            target=self._loop, name=f"kimi-graph-control-{thread_id}", daemon=True
        )

    @classmethod
    def join(cls, store: BaseStore, thread_id: str, control: SubagentControl) -> CommandFeed:
        """Register `control` with the feed of (store, thread), starting it if needed."""
        key = (id(store), thread_id)
        with cls._registry_lock:
            feed = cls._feeds.get(key)
            if feed is None or feed._quit.is_set():
                feed = cls._feeds[key] = CommandFeed(store, thread_id)
                feed._thread.start()
            with feed._lock:
                feed.controls[control.id] = control
                feed._dirty[control.id] = control.status_value()
            control.feed = feed
        feed._wake.set()  # a newcomer is read in at once, not after a whole interval
        return feed

    def leave(self, control: SubagentControl, *, wait: bool) -> None:
        """Unregister `control`; the last one out stops the feed after a last write.

        With `wait` (a thread, not an event loop) it waits for that write.
        """
        with self._registry_lock:
            with self._lock:
                if self.controls.get(control.id) is control:
                    del self.controls[control.id]
                    self._dirty[control.id] = control.status_value()
                last = not self.controls
            if last:
                self._quit.set()
                self._wake.set()
                if self._feeds.get((id(self.store), self.thread_id)) is self:
                    del self._feeds[(id(self.store), self.thread_id)]
        if last and wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def dirty(self, control: SubagentControl) -> None:
        """Queue `control`'s status for the next write."""
        with self._lock:
            self._dirty[control.id] = control.status_value()

    def claim_ignored(self) -> list[tuple[str, str]]:
        """The malformed commands not reported yet (each is reported once)."""
        with self._lock:
            fresh = [(k, r) for k, r in self.ignored.items() if k not in self._reported]
            self._reported.update(k for k, _ in fresh)
        return fresh

    # -- the feed's thread ----------------------------------------------------------

    def _loop(self) -> None:
        while True:
            quitting = self._quit.is_set()
            try:
                self._tick()
            except Exception:  # a store hiccup must not end the feed
                time.sleep(POLL_INTERVAL)
            self.synced.set()
            if quitting:
                if not self.keep_commands:
                    self._forget()
                return
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()

    def _forget(self) -> None:
        """Delete the commands this run read, once its sub-agents are done.

        A later run of the thread must not see them. A crashed run never gets here, so
        its commands wait for its resume.
        """
        keys = [*self.commands, *self.ignored]
        if keys:
            ns = (*CONTROL_NAMESPACE, self.thread_id)
            with contextlib.suppress(Exception):  # best effort: `since` guards as well
                self.store.batch([PutOp(ns, key, None) for key in keys])

    def _tick(self) -> None:
        if self.known is None:
            items = _search_all(self.store, (*STATUS_NAMESPACE, self.thread_id))
            self.known = {i.key: i.value for i in items}
        with self._lock:
            controls = list(self.controls.values())
        now = time.time()
        for control in controls:
            if control.since is None:
                before = self.known.get(control.id) or {}
                same_run = before.get("group") == control.task["group"]
                since = before.get("since") if same_run else None
                control.since = float(since) if isinstance(since, (int, float)) else now
                self.dirty(control)
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        if dirty:
            ns = (*STATUS_NAMESPACE, self.thread_id)
            self.store.batch([PutOp(ns, key, value, index=False) for key, value in dirty.items()])
            self.known.update(dirty)
        for item in _search_all(self.store, (*CONTROL_NAMESPACE, self.thread_id)):
            if item.key in self.commands or item.key in self.ignored:
                continue
            parsed = parse_command(item.key, item.value, _timestamp(item.created_at))
            with self._lock:
                if isinstance(parsed, str):
                    self.ignored[item.key] = parsed
                else:
                    self.commands[item.key] = parsed
        for command in sorted(self.commands.values(), key=lambda c: c.created):
            for control in controls:
                # a whole-second `created_at` (SQLite) may be up to a second early
                slack = CLOCK_SLACK if command.created == int(command.created) else 0.0
                if control.since is None or command.created < control.since - slack:
                    continue
                if command.subagent is None or command.subagent == control.id:
                    control.apply(command)
        for control in controls:
            if control.since is not None:
                control.ready.set()


def _timestamp(moment: datetime) -> float:
    """A store's `created_at` as a POSIX time (a naive one is UTC, as SQLite's is)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _search_all(store: BaseStore, namespace: tuple[str, ...]) -> list[Any]:
    out: list[Any] = []
    while True:
        page = store.search(namespace, limit=1000, offset=len(out))
        out.extend(page)
        if len(page) < 1000:
            return out


def open_control(
    task: SubagentTask, namespace: str, writer: Any, worker: str
) -> SubagentControl | None:
    """The control of a sub-agent of a controllable run (a store and a thread), or None.

    The thread is the swarm run's own (read from the branch's config, not from the
    nested run's, which a remote sub-agent gets a thread of its own in).
    """
    try:
        thread_id = (get_config().get("configurable") or {}).get("thread_id")
        store = get_store()
    except (RuntimeError, KeyError):
        return None
    if thread_id is None:
        return None
    if store is None:
        return None
    control = SubagentControl(task, namespace, writer, worker)
    CommandFeed.join(store, str(thread_id), control)
    return control


def settle(
    control: SubagentControl | None,
    produced: Sequence[AnyMessage],
    status: Ending,
    error: str | None,
    *,
    abandoned: bool = False,
) -> tuple[Ending, str | None]:
    """The record's status and error, given what the commands did to the sub-agent.

    A cancelled sub-agent's summary is marked in its metadata (so a resumed run that
    only finds it in the checkpoint still records `cancelled`); an aborted one was
    abandoned by its branch, or stopped by the abort before its next model call.
    """
    last = next((m for m in reversed(produced) if m.type == "ai"), None)
    if last is not None and last.response_metadata.get(hook.CONTROL_KEY) == hook.CANCELLED_FINISH:
        return "cancelled", str(last.response_metadata.get("reason") or "cancelled")
    if control is None:
        return status, error
    if control.abort_reason is not None and (abandoned or status == "error"):
        return "aborted", control.abort_reason
    if control.cancel_reason is not None and not any(m.type == "ai" for m in produced):
        return "cancelled", control.cancel_reason  # ended while queued: no model call
    return status, error


_LIVE_RUNS = ("pending", "running")


def cancel_remote_runs(graph: Any, config: Any) -> int:
    """Cancel the runs of an aborted remote sub-agent (a `RemoteGraph`) on its server.

    Closing the stream alone may leave the server's run going; this cancels it there.
    Returns the number of runs cancelled.
    """
    client = _sdk_client(graph, sync=True)
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if client is None or thread_id is None:
        return 0
    cancelled = 0
    for status in _LIVE_RUNS:
        with contextlib.suppress(Exception):  # no such thread yet: nothing runs
            for run in client.runs.list(thread_id, status=status):
                client.runs.cancel(thread_id, run["run_id"])
                cancelled += 1
    return cancelled


async def acancel_remote_runs(graph: Any, config: Any) -> int:
    """`cancel_remote_runs` with the graph's async client."""
    client = _sdk_client(graph, sync=False)
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if client is None or thread_id is None:
        return 0
    cancelled = 0
    for status in _LIVE_RUNS:
        with contextlib.suppress(Exception):  # no such thread yet: nothing runs
            for run in await client.runs.list(thread_id, status=status):
                await client.runs.cancel(thread_id, run["run_id"])
                cancelled += 1
    return cancelled


class SlotHold:
    """The concurrency slots of a sync branch, given back once, by whoever comes first.

    The nested run gives them back when it ends; an abort gives them back at once,
    while the abandoned run finishes its current step (so an aborted sub-agent's
    queued siblings need not wait for it). A slot taken after that is given back
    at once.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._released = False

    def take(self, slot: contextlib.AbstractContextManager[Any]) -> bool:
        """Take `slot` (may block in the queue); False if the hold was released meanwhile."""
        slot.__enter__()
        with self._lock:
            if not self._released:
                self._stack.push(slot)
                return True
        slot.__exit__(None, None, None)
        return False

    def release(self) -> None:
        """Give every slot back (once)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._stack.close()


def _sdk_client(graph: Any, *, sync: bool) -> Any:
    """The LangGraph SDK client of a remote sub-agent graph, or None for a local one.

    A `RemoteGraph` carries its clients; the swarm's own remote sub-agent graph
    (`_remote.RemoteSubagentGraph`, which follows a deployment's URLs) carries its URL
    and headers, from which one is made.
    """
    from kimi_graph.modes.swarm._remote import RemoteSubagentGraph
    from kimi_graph.modes.swarm._remote_control import sdk_client

    if isinstance(graph, RemoteSubagentGraph):
        return sdk_client(graph.url, graph.deployment.headers, sync=sync)
    return getattr(graph, "sync_client" if sync else "client", None)
