"""The control of a swarm's remote sub-agent, read from its run's own store.

A swarm whose sub-agent runs as a run of a LangGraph server (Aegra, LangGraph
Server, `langgraph dev`) cannot reach it through `_control_hook.ACTIVE`: the agent
loop runs in another process. The swarm marks such a run with
`KimiContext.subagent_id` and forwards the sub-agent's `steer` and `cancel` commands
(a swarm's `stop` as a cancel) into the server's store, under
`("kimi_graph", "control", <the run's thread_id>)`, with the wire format of
`SwarmControl` (`{"action", "subagent", "text"}`) and the same item keys.

`StoreStepControl` is the agent loop's `StepControl` for such a run. It reads those
items (one store search, filtered on the sub-agent's id) when the agent loop calls
`refresh` / `arefresh` (before each model call, after a final answer and before each
tool step) and answers the protocol from what it read, so the agent loop's steer
(a user message with the stable id `kimi-steer-<key>`, added once) and cancel (no new
tool, one wrap-up call without tools, the answer marked cancelled) are the in-process
ones, unchanged. An abort reaches a remote sub-agent as the cancellation of its run
on the server, not through the store.

A run without `subagent_id` never gets here and reads nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.config import get_config, get_store
from langgraph.store.base import BaseStore, Item

from kimi_graph.modes import _control_hook as hook
from kimi_graph.modes.swarm._commands import (
    CONTROL_NAMESPACE,
    STOPPED,
    WRAP_UP_PROMPT,
    ControlCommand,
    parse_command,
)

__all__ = ["MAX_RUNS", "USER_SCOPE", "StoreStepControl", "for_run"]

logger = logging.getLogger(__name__)

USER_SCOPE = "users"
"""The first element of the namespaces Aegra's store API scopes a client's items under."""
MAX_RUNS = 4096
"""Store-backed controls kept per process (the least recently used one goes first)."""
_PAGE = 100


class StoreStepControl:
    """A remote sub-agent's `StepControl`: its commands as last read from the store.

    Args:
        store: The run's store (the server's).
        thread_id: The run's thread (the sub-agent's remote thread).
        subagent_id: The id the swarm marked the run with; only commands naming it apply.
    """

    def __init__(
        self, store: BaseStore, thread_id: str, subagent_id: str, user_id: str | None = None
    ) -> None:
        self.store = store
        self.thread_id = thread_id
        self.id = subagent_id
        self.namespace = (*CONTROL_NAMESPACE, thread_id)
        # Aegra's store API keeps a client's items under ("users", <identity>, ...); the
        # run's config names that identity as `user_id`.
        self.namespaces: list[tuple[str, ...]] = [self.namespace]
        if user_id:
            self.namespaces.append((USER_SCOPE, user_id, *self.namespace))
        self.steers: list[ControlCommand] = []
        self.cancel_reason: str | None = None
        self._warned: set[str] = set()

    # -- reading the store ------------------------------------------------------------

    def refresh(self) -> None:
        """Read the sub-agent's commands (a store hiccup keeps what was read before)."""
        items: list[Item] = []
        try:
            for namespace in self.namespaces:
                found = len(items)
                while True:
                    page = self.store.search(
                        namespace,
                        filter={"subagent": self.id},
                        limit=_PAGE,
                        offset=len(items) - found,
                    )
                    items.extend(page)
                    if len(page) < _PAGE:
                        break
        except Exception as err:  # the run goes on; the next step reads again
            logger.warning("reading the commands of sub-agent %s failed: %s", self.id, err)
            return
        self._take(items)

    async def arefresh(self) -> None:
        """`refresh` with the store's async API."""
        items: list[Item] = []
        try:
            for namespace in self.namespaces:
                found = len(items)
                while True:
                    page = await self.store.asearch(
                        namespace,
                        filter={"subagent": self.id},
                        limit=_PAGE,
                        offset=len(items) - found,
                    )
                    items.extend(page)
                    if len(page) < _PAGE:
                        break
        except Exception as err:  # the run goes on; the next step reads again
            logger.warning("reading the commands of sub-agent %s failed: %s", self.id, err)
            return
        self._take(items)

    def _take(self, items: Iterable[Item]) -> None:
        commands: list[ControlCommand] = []
        for item in items:
            parsed = parse_command(item.key, item.value, timestamp(item.created_at))
            if isinstance(parsed, str):
                if item.key not in self._warned:
                    self._warned.add(item.key)
                    logger.warning("ignored control item %s: %s", item.key, parsed)
                continue
            commands.append(parsed)
        commands.sort(key=lambda c: (c.created, c.key))
        self.steers = [c for c in commands if c.action == "steer"]
        self.cancel_reason = next(
            (_cancel_reason(c) for c in commands if c.action in ("cancel", "stop")), None
        )

    # -- the agent loop's StepControl ---------------------------------------------------

    def before_model(self, messages: Sequence[AnyMessage]) -> tuple[list[HumanMessage], str | None]:
        """Steers not yet in the transcript, and the wrap-up request of a cancel."""
        seen = {m.id for m in messages if m.id}
        added = [
            hook.control_message(c.text, "steer", f"kimi-steer-{c.key}")
            for c in self.steers
            if f"kimi-steer-{c.key}" not in seen
        ]
        reason = self.cancel_reason
        if reason is not None and "kimi-wrap-up" not in seen:
            prompt = WRAP_UP_PROMPT.format(reason=reason)
            added.append(hook.control_message(prompt, hook.WRAP_UP, "kimi-wrap-up"))
        return added, reason

    def tools_refused(self) -> str | None:
        """The cancel reason once given."""
        return self.cancel_reason

    def after_model(self, steps: int) -> None:
        """Nothing: the swarm reads the steps from the run's streamed state."""

    def steer_waiting(self, messages: Sequence[AnyMessage]) -> bool:
        """A steer not yet delivered, and no cancel."""
        if self.cancel_reason is not None:
            return False
        seen = {m.id for m in messages if m.id}
        return any(f"kimi-steer-{c.key}" not in seen for c in self.steers)

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Nothing to register: an abort cancels the run on its server."""
        return _nothing


def timestamp(moment: datetime) -> float:
    """A store item's `created_at` as a POSIX time (a naive one is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _nothing() -> None:
    return None


def _cancel_reason(command: ControlCommand) -> str:
    if command.action == "stop":
        return f"{STOPPED}: {command.text}" if command.text else STOPPED
    return command.text or "cancelled"


_RUNS: OrderedDict[tuple[int, str, str], StoreStepControl] = OrderedDict()
_RUNS_LOCK = threading.Lock()


def for_run(subagent_id: str) -> StoreStepControl | None:
    """The store-backed control of the running graph's thread, or None without a store.

    The same object for the same (store, thread, id), so that what one node read is
    what the routing after it sees.
    """
    try:
        store = get_store()
        configurable = get_config().get("configurable") or {}
    except (RuntimeError, KeyError, AttributeError):
        return None
    thread_id: Any = configurable.get("thread_id")
    if store is None or thread_id is None:
        return None
    user = configurable.get("user_id")
    user_id = user if isinstance(user, str) else None
    key = (id(store), str(thread_id), subagent_id)
    with _RUNS_LOCK:
        control = _RUNS.get(key)
        if control is None or control.store is not store:
            control = StoreStepControl(store, str(thread_id), subagent_id, user_id)
            _RUNS[key] = control
        _RUNS.move_to_end(key)
        while len(_RUNS) > MAX_RUNS:
            _RUNS.popitem(last=False)
    return control
