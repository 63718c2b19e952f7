"""A process-wide cap on `run_python` sandboxes running at once.

Each sandbox may hold its memory limit plus its ``/tmp``; without a cap, a model
that asks for many runs in one turn (or many concurrent threads) multiplies that.
A run waits for a free slot for at most its own time-out, then is refused.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["DEFAULT_MAX_SANDBOXES", "SandboxSlots", "sandbox_slots"]

DEFAULT_MAX_SANDBOXES = 4
"""Sandboxes that may run at once in one process, by default."""


class SandboxSlots:
    """A counting semaphore whose size can be changed while in use."""

    def __init__(self, limit: int) -> None:
        """Make the slots.

        Args:
            limit: Runs allowed at once (at least 1).
        """
        self._cond = threading.Condition()
        self._busy = 0
        self._limit = 1
        self.set_limit(limit)

    @property
    def limit(self) -> int:
        """Runs allowed at once."""
        return self._limit

    @property
    def busy(self) -> int:
        """Runs holding a slot now."""
        return self._busy

    def set_limit(self, limit: int) -> None:
        """Change the number of runs allowed at once (running ones are not stopped).

        Args:
            limit: Runs allowed at once.

        Raises:
            ValueError: If ``limit`` is below 1.
        """
        if limit < 1:
            msg = f"the sandbox limit must be at least 1, got {limit}"
            raise ValueError(msg)
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, wait: float) -> Iterator[bool]:
        """Hold a slot for the body, waiting at most ``wait`` seconds for one.

        Args:
            wait: Seconds to wait for a free slot.

        Yields:
            True with a slot held; False if none became free in time.
        """
        deadline = time.monotonic() + wait
        with self._cond:
            while self._busy >= self._limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            got = self._busy < self._limit
            if got:
                self._busy += 1
        try:
            yield got
        finally:
            if got:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify()


sandbox_slots = SandboxSlots(DEFAULT_MAX_SANDBOXES)
"""The slots every `run_python` tool of this process shares."""
