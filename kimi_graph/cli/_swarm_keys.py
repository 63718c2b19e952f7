"""The keys of `kimi-graph run --mode swarm`'s live view: drive the running sub-agents.

While a round runs in a terminal, the live block shows one line per sub-agent, `>`
at the selected one, and the keys:

- `up`/`down` (or `k`/`j`): select a sub-agent;
- `s`: steer it: type a message, `Enter` sends it, `Esc` drops it;
- `c`: cancel it (it wraps up with a summary); `a`: abort it (now);
- `x`: stop the swarm (queued sub-agents end, running ones wrap up, then the synthesis).

The commands go through `SwarmControl` on the store the run was compiled with. The
keys are read on a thread of their own from the terminal in cbreak mode (restored on
exit); every redraw holds the renderer's lock.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

from kimi_graph.cli._render import StreamRenderer

__all__ = ["KEYS_HELP", "SwarmKeys"]

KEYS_HELP = "keys: up/down select  s steer  c cancel  a abort  x stop swarm"
UP = ("\x1b[A", "k")
DOWN = ("\x1b[B", "j")
ENTER = ("\r", "\n")
BACKSPACE = ("\x7f", "\b")
ESC = "\x1b"


class SwarmKeys:
    """Read the live view's keys while a swarm streams (a no-op off a terminal).

    Args:
        renderer: The run's renderer (its board has the sub-agents).
        control: A `SwarmControl` on the run's store.
        thread_id: The run's thread.
        keyboard: Where keys come from (default: standard input).
    """

    def __init__(
        self,
        renderer: StreamRenderer,
        control: Any,
        thread_id: str,
        keyboard: TextIO | None = None,
    ) -> None:
        self.renderer = renderer
        self.control = control
        self.thread_id = thread_id
        self.keyboard = keyboard or sys.stdin
        self.typing: str | None = None
        self.news = ""
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None

    def __enter__(self) -> SwarmKeys:
        """Put the terminal in cbreak mode and start reading keys."""
        if not (self.renderer.tty and self.keyboard.isatty()):
            return self
        import termios
        import tty

        fd = self.keyboard.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._show()
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop reading and give the terminal back as it was."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.keyboard.fileno(), termios.TCSADRAIN, self._saved)
        with self.renderer.lock:
            self.renderer.key_lines = []

    def _read(self, fd: int) -> None:
        while not self._quit.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 64).decode("utf-8", "replace")
            if not chunk:
                return
            for key in _keys(chunk):
                self.press(key)

    def press(self, key: str) -> None:
        """Act on one key (an escape sequence counts as one)."""
        with self.renderer.lock:
            if self.typing is not None:
                self._type(key)
            else:
                self._command(key)
            self._show()

    def _type(self, key: str) -> None:
        if key in ENTER:
            text, self.typing = (self.typing or "").strip(), None
            if text:
                self._send("steer", text)
        elif key == ESC:
            self.typing, self.news = None, "steer dropped"
        elif key in BACKSPACE:
            self.typing = (self.typing or "")[:-1]
        elif key.isprintable():
            self.typing = (self.typing or "") + key

    def _command(self, key: str) -> None:
        board = self.renderer.board
        if key in UP:
            board.select(-1)
        elif key in DOWN:
            board.select(1)
        elif key == "s":
            line = board.current()
            if line is not None and not line.ended:
                self.typing = ""
        elif key == "c":
            self._send("cancel", "cancelled from the terminal")
        elif key == "a":
            self._send("abort", "aborted from the terminal")
        elif key == "x":
            self._send("stop", "stopped from the terminal")

    def _send(self, action: str, text: str) -> None:
        line = self.renderer.board.current()
        try:
            if action == "stop":
                self.control.stop(self.thread_id, reason=text)
                self.news = "stop sent: the swarm wraps up"
                return
            if line is None or not line.control_id:
                self.news = "no sub-agent selected"
                return
            getattr(self.control, action)(self.thread_id, line.control_id, text)
            self.news = f"{action} sent to {line.role}"
        except ValueError as err:
            self.news = str(err)

    def _show(self) -> None:
        lines = [KEYS_HELP]
        line = self.renderer.board.current()
        if self.typing is not None and line is not None:
            lines.append(f"steer {line.role}: {self.typing}_  (Enter sends, Esc drops)")
        elif self.news:
            lines.append(self.news)
        self.renderer.key_lines = lines
        self.renderer.redraw()


def _keys(chunk: str) -> list[str]:
    """Split what one read gave into keys; `ESC [ X` arrows stay whole."""
    keys = []
    i = 0
    while i < len(chunk):
        if chunk.startswith("\x1b[", i) and i + 2 < len(chunk):
            keys.append(chunk[i : i + 3])
            i += 3
        else:
            keys.append(chunk[i])
            i += 1
    return keys
