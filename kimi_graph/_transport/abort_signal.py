"""Who may abort a sync request in flight: the `ABORT_SIGNAL` context variable.

The caller sets it (a swarm sets its sub-agent's control there); the transport
(`kimi_graph._transport.abort`) reads it for each request. Kept apart from the
transport so that setting a signal imports no HTTP stack.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol

__all__ = ["ABORT_SIGNAL", "AbortSignal", "RequestAbortedError", "already_aborted"]


class AbortSignal(Protocol):
    """Something that can be aborted, and calls back when it is."""

    def add_abort_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on abort (at once if already aborted); returns its remover."""
        ...


ABORT_SIGNAL: ContextVar[AbortSignal | None] = ContextVar("kimi_graph_abort_signal", default=None)
"""The signal whose abort closes the sync requests made in this context (None: none)."""


class RequestAbortedError(Exception):
    """A request refused before sending: the work it belongs to was aborted."""


def already_aborted() -> bool:
    """True when the current context's signal has fired (False outside a signal)."""
    signal = ABORT_SIGNAL.get()
    if signal is None:
        return False
    fired: list[bool] = []
    signal.add_abort_callback(lambda: fired.append(True))()  # called at once if fired
    return bool(fired)
