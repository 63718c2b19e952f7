"""The hook through which a swarm's control plane reaches a sub-agent's agent loop.

A swarm branch that can be steered sets `ACTIVE` (a context variable, so LangGraph's
nodes of the nested agent graph see it on their threads and tasks) to an object of
the `StepControl` protocol. The agent loop asks it, before each model call, for
messages to add (steers, the wrap-up request of a cancel) and, before each tool
step, whether tools may still run.

A sub-agent that runs as a run of a LangGraph server (a swarm's remote sub-agent)
has no `ACTIVE`: its swarm marks the run with `KimiContext.subagent_id`, and its
control is read from the run's own store (`kimi_graph.modes._store_control`). The
agent loop brings such a control up to date with `refresh` / `arefresh` before each
model call and tool step; for the other controls those do nothing.

Outside a controlled swarm there is no control and the agent loop behaves as before.

`activate` also makes the control the transport's `ABORT_SIGNAL`, so an abort closes
the sub-agent's sync model requests in flight and refuses any later one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage

from kimi_graph._transport.abort_signal import ABORT_SIGNAL
from kimi_graph.context import KimiContext, current_context

__all__ = [
    "ACTIVE",
    "CANCELLED_FINISH",
    "CONTROL_KEY",
    "WRAP_UP",
    "SubagentAbortedError",
    "activate",
    "StepControl",
    "arefresh",
    "cancelled_tool_messages",
    "control_message",
    "current",
    "is_control_message",
    "on_abort",
    "refresh",
    "refused_tools",
    "report_steps",
    "steer_step",
    "steer_waiting",
    "wrapped_up",
]

CONTROL_KEY = "kimi_graph_control"
"""`additional_kwargs` key marking a message the control plane added (its kind)."""

WRAP_UP = "wrap_up"
"""The kind of the user message asking a cancelled sub-agent to sum up."""


class SubagentAbortedError(Exception):
    """Raised in an abandoned sub-agent run so that it makes no further request."""


class StepControl(Protocol):
    """What the agent loop asks the control plane of its sub-agent."""

    def before_model(self, messages: Sequence[AnyMessage]) -> tuple[list[HumanMessage], str | None]:
        """Messages to add before this model call, and the cancel reason (or None).

        Raises:
            SubagentAbortedError: The sub-agent was aborted.
        """
        ...

    def tools_refused(self) -> str | None:
        """Why tools may no longer run (the cancel reason), or None."""
        ...

    def after_model(self, steps: int) -> None:
        """Report the model calls made so far."""
        ...

    def steer_waiting(self, messages: Sequence[AnyMessage]) -> bool:
        """True if a steer is not yet in `messages` (and the sub-agent may go on)."""
        ...

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on abort (at once if aborted); returns its remover."""
        ...


ACTIVE: ContextVar[StepControl | None] = ContextVar("kimi_graph_step_control", default=None)


def current() -> StepControl | None:
    """The control of the running sub-agent: `ACTIVE`, else a store-backed one, else None.

    A run marked with `KimiContext.subagent_id` (a swarm's remote sub-agent) reads its
    commands from its store; any other run without `ACTIVE` has none.
    """
    control = ACTIVE.get()
    if control is not None:
        return control
    subagent = _marked()
    if subagent is None:
        return None
    from kimi_graph.modes._store_control import for_run  # loaded only when marked

    return for_run(subagent)


@functools.cache
def _get_runtime() -> Callable[[], Any]:
    """LangGraph's `get_runtime`, imported on first use (the CLI's renderer needs none)."""
    from langgraph.runtime import get_runtime

    return get_runtime


def _marked() -> str | None:
    """The run's `KimiContext.subagent_id` (a dict context's too), or None; kept cheap."""
    try:
        context = _get_runtime()().context
    except (RuntimeError, KeyError, AttributeError):
        return None
    if isinstance(context, KimiContext):
        return context.subagent_id
    if isinstance(context, dict):
        return current_context().subagent_id if context.get("subagent_id") else None
    return None


def refresh() -> None:
    """Bring a store-backed control up to date (one store read); nothing for the others."""
    control = current()
    read = getattr(control, "refresh", None)
    if read is not None:
        read()


async def arefresh() -> None:
    """`refresh` with the store's async API (an async node on a server's event loop)."""
    control = current()
    read = getattr(control, "arefresh", None)
    if read is not None:
        await read()


def control_message(text: str, kind: str, message_id: str) -> HumanMessage:
    """A user message added by the control plane (kept out of turn counting)."""
    return HumanMessage(content=text, id=message_id, additional_kwargs={CONTROL_KEY: kind})


def is_control_message(message: Any) -> bool:
    """True for a message the control plane added."""
    extra = getattr(message, "additional_kwargs", None)
    return isinstance(extra, dict) and CONTROL_KEY in extra


CANCELLED_FINISH = "cancelled"
"""`response_metadata["kimi_graph_control"]` of a cancelled sub-agent's summary."""


def steer_step(messages: Sequence[AnyMessage]) -> tuple[list[HumanMessage], str | None]:
    """The control plane's messages for this model call and the cancel reason.

    Messages already in `messages` (a resumed run's checkpointed transcript) are not
    returned again, so a steer reaches the sub-agent exactly once.
    """
    control = current()
    if control is None:
        return [], None
    added, reason = control.before_model(messages)
    seen = {m.id for m in messages if m.id}
    return [m for m in added if m.id not in seen], reason


def steer_waiting(messages: Sequence[AnyMessage]) -> bool:
    """True when a steer came during the sub-agent's final call: it gets one more."""
    control = current()
    if control is None or not messages:
        return False
    last = messages[-1]
    if getattr(last, "response_metadata", {}).get("finish_reason") in _LOOP_ENDS:
        return False  # the step limit or the tool budget ended the loop
    return control.steer_waiting(messages)


_LOOP_ENDS = frozenset({"step_limit", "tool_budget"})


@contextlib.contextmanager
def activate(control: StepControl) -> Iterator[None]:
    """Within the block, `control` steers the agent loop and its abort closes requests.

    It is both the agent loop's `StepControl` and the transport's abort signal (see
    `kimi_graph._transport.abort`): on abort, a sync model request in flight is closed
    and no later request of this context is sent.
    """
    step = ACTIVE.set(control)
    signal = ABORT_SIGNAL.set(control)
    try:
        yield
    finally:
        ABORT_SIGNAL.reset(signal)
        ACTIVE.reset(step)


@contextlib.contextmanager
def on_abort(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, an abort of the current sub-agent calls `callback`.

    Tools use it to stop work that an abandoned thread would otherwise finish: a
    sandboxed process is killed, a download's connection closed. Outside a controlled
    swarm it does nothing.
    """
    control = current()
    if control is None:
        yield
        return
    remove = control.add_abort_callback(callback)
    try:
        yield
    finally:
        remove()


def refused_tools() -> str | None:
    """Why tools may no longer run in this sub-agent (cancelled), or None."""
    control = current()
    return None if control is None else control.tools_refused()


def report_steps(steps: int) -> None:
    """Tell the control plane how many model calls the sub-agent made."""
    control = current()
    if control is not None:
        control.after_model(steps)


def wrapped_up(response: Any, reason: str) -> Any:
    """The cancelled sub-agent's last answer: no tool calls, marked as cancelled."""
    metadata = {**response.response_metadata, CONTROL_KEY: CANCELLED_FINISH, "reason": reason}
    return response.model_copy(
        update={"tool_calls": [], "invalid_tool_calls": [], "response_metadata": metadata}
    )


def cancelled_tool_messages(message: Any, reason: str) -> list[ToolMessage]:
    """Answer every tool call of `message` with "cancelled", so the transcript stays valid."""
    calls = [*message.tool_calls, *message.invalid_tool_calls]
    return [
        ToolMessage(
            content=f"Cancelled: this sub-agent was cancelled ({reason}); the tool did not run.",
            tool_call_id=call.get("id") or "",
            name=call.get("name") or "unknown",
            status="error",
        )
        for call in calls
    ]
