"""Terminal rendering of a streamed mode graph, for the `kimi-graph` CLI.

`StreamRenderer` consumes the events of
`graph.stream(..., stream_mode=["messages", "updates", "custom"], subgraphs=True)`:

- `messages` of the root graph: reasoning tokens (dimmed) and answer tokens;
- `updates` of the root graph: tool calls (name and arguments) and tool results
  (clipped), each on its own line, and any part of a final answer not yet streamed;
- `custom` sub-agent events of the swarm and the events of each sub-agent's nested
  graph (namespace `subagent:<task id>`): on a terminal, a live block redrawn in place
  (a progress bar, then one line per sub-agent with its role, step, current tool call
  and state, `kimi_graph.cli._swarm_view`); otherwise one line per sub-agent step with a tool
  call and one per finished sub-agent. When a round ends, each sub-agent's result line
  names it, in the order the orchestrator assigned them;
- `values` of the root graph: the final state, for the summary (token usage, critical
  steps).

Sub-agents' own tokens are not printed: they run in parallel and would interleave. With
a `width` (a terminal's by default) every line is clipped or wrapped to fit it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from typing import Any, TextIO

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from kimi_graph.cli._safe_text import printable
from kimi_graph.cli._summary import summarize, usage_text
from kimi_graph.cli._swarm_view import SwarmBoard, fit
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK

__all__ = ["StreamRenderer", "clip", "use_color"]

DIM = "\033[2m"
BOLD = "\033[1m"
RED = "\033[31m"
GREEN = "\033[32m"
YELLOW = "\033[33m"
CYAN = "\033[36m"
RESET = "\033[0m"
CLEAR_LINE = "\r\033[K"
#: Move the cursor up N lines to their start, then erase to the end of the screen.
ERASE_UP = "\033[{n}F\033[J"

#: Nodes of the root graph whose output gets a `[node]` header (the swarm's steps).
SECTION_NODES = ("orchestrator", "synthesis")
BAR_WIDTH = 20


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def use_color(stream: TextIO) -> bool:
    """Return True when `stream` is a terminal and `NO_COLOR` is not set."""
    return not os.environ.get("NO_COLOR") and _isatty(stream)


def clip(text: Any, limit: int) -> str:
    """Flatten whitespace and clip `text` to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 3)] + "..."


def _reasoning(message: BaseMessage) -> str:
    value = message.additional_kwargs.get("reasoning_content")
    return value if isinstance(value, str) else ""


class StreamRenderer:
    """Print the events of a streamed graph run to a text stream.

    Args:
        out: Where to write (a terminal or any text stream).
        color: Use ANSI styles; None decides from `out` and `NO_COLOR`.
        tool_result_chars: Characters of a tool result shown.
        width: Columns every line must fit in; None: the terminal's width (`COLUMNS`
            wins) when `out` is a terminal, else no limit.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        color: bool | None = None,
        tool_result_chars: int = 200,
        width: int | None = None,
    ) -> None:
        self.out = out
        self.color = use_color(out) if color is None else color
        self.tty = _isatty(out)
        if width is None and self.tty:
            width = shutil.get_terminal_size().columns
        self.width = max(20, width) if width else None
        self._column = 0
        self.board = SwarmBoard()
        self._block = 0
        self.values: dict[str, Any] | None = None
        self.tool_result_chars = tool_result_chars
        self._at_line_start = True
        self._segment: tuple[str | None, str] | None = None
        self._streamed: dict[str, str] = {}
        self._node: str | None = None
        self._tool_names: dict[str, str] = {}
        self._started = time.perf_counter()
        self.final_message: AIMessage | None = None
        # Sub-agent progress of the current round.
        self._round = 0
        self._total = 0
        self._done = 0
        self._failed = 0
        self._running = 0
        self._bar_shown = False
        self.subagents_done = 0
        self.subagents_failed = 0
        self.lock = threading.RLock()
        self.key_lines: list[str] = []
        """Extra lines of the live block: the keys of `_swarm_keys`, its prompt and news."""

    # ------------------------------------------------------------------ output

    def _style(self, text: str, *styles: str) -> str:
        """Untrusted ``text`` made printable (`printable`), then styled."""
        text = printable(text)
        if not self.color or not styles or not text:
            return text
        return "".join(styles) + text + RESET

    def _write(self, text: str) -> None:
        if not text:
            return
        self._hide_bar()
        self.out.write(text)
        self._at_line_start = text.endswith("\n")
        self.out.flush()

    def _stream(self, text: str, *styles: str) -> None:
        """Write streamed prose, wrapped at word boundaries to fit `width`."""
        text = printable(text)
        if self.width is None:
            self._write(self._style(text, *styles))
            return
        pieces: list[str] = []
        column = 0 if self._at_line_start else self._column
        for word in _words(text):
            if word == "\n":
                pieces.append("\n")
                column = 0
                continue
            if column + len(word.rstrip()) > self.width and column:
                pieces.append("\n")
                column = 0
                word = word.lstrip() or word
            while len(word) > self.width:
                pieces.append(word[: self.width] + "\n")
                word = word[self.width :]
            if column + len(word) > self.width:
                word = word[: self.width - column]  # only trailing spaces go
            pieces.append(word)
            column += len(word)
        out = "".join(pieces)
        self._write("\n".join(self._style(row, *styles) for row in out.split("\n")))
        self._column = column

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._write("\n")
        self._segment = None

    def line(self, text: str = "", *styles: str) -> None:
        """Write `text` on a line of its own (clipped to `width`)."""
        self._end_line()
        self._write(self._style(fit(text, self.width), *styles) + "\n")
        self._show_bar()

    def heading(self, text: str) -> None:
        """Write a section heading."""
        self._end_line()
        self._close_bar()
        self._write("\n" + self._style(f"== {text} ==", BOLD) + "\n")

    def user(self, text: str) -> None:
        """Write the user's message, each line prefixed with `> `."""
        for row in text.splitlines() or [""]:
            self.line(f"> {row}", BOLD)

    def note(self, text: str) -> None:
        """Write a dimmed side note."""
        self.line(text, DIM)

    # ------------------------------------------------------------------ events

    def handle(self, event: Any) -> None:
        """Render one event of `stream_mode=[...]` with `subgraphs=True` (or without)."""
        with self.lock:  # the live view's keys (`_swarm_keys`) draw from their own thread
            self._handle(event)

    def _handle(self, event: Any) -> None:
        if isinstance(event, tuple) and len(event) == 3:
            namespace, mode, data = event
        elif isinstance(event, tuple) and len(event) == 2:
            namespace, (mode, data) = (), event
        else:
            return
        namespace = tuple(namespace)
        if namespace and mode in ("messages", "updates"):
            self._on_nested(namespace, mode, data)
        elif mode == "values":
            if not namespace and isinstance(data, dict):
                self.values = data
        elif mode == "messages":
            self._on_message(tuple(namespace), data)
        elif mode == "updates":
            self._on_update(tuple(namespace), data)
        elif mode == "custom":
            self._on_custom(data)

    def _on_message(self, namespace: tuple[str, ...], data: Any) -> None:
        if namespace or not isinstance(data, tuple) or len(data) != 2:
            return  # nested graphs run in parallel: progress only
        message, metadata = data
        if (metadata or {}).get("langgraph_node") == "subagent":
            return  # sub-agents run in parallel: progress only
        if not isinstance(message, AIMessage):
            return  # tool results are shown from the updates
        self._section((metadata or {}).get("langgraph_node"))
        key = message.id or str((metadata or {}).get("langgraph_checkpoint_ns", ""))
        reasoning = _reasoning(message)
        if reasoning:
            self._enter(key, "reasoning")
            self._stream(reasoning, DIM)
        text = message.text
        if text:
            self._enter(key, "answer")
            self._stream(text)
            self._streamed[key] = self._streamed.get(key, "") + text

    def _section(self, node: Any) -> None:
        if node in SECTION_NODES and node != self._node:
            self._end_line()
            self._close_bar()
            self._write(self._style(f"[{node}]", BOLD) + "\n")
            self._column = 0
        if isinstance(node, str):
            self._node = node

    def _enter(self, key: str | None, kind: str) -> None:
        """Start a reasoning or answer segment of one message on a new line."""
        if self._segment == (key, kind):
            return
        self._end_line()
        self._column = 0
        if kind == "reasoning":
            self._write(self._style("thinking: ", DIM, YELLOW))
            self._column = len("thinking: ")
        self._segment = (key, kind)

    def _on_update(self, namespace: tuple[str, ...], data: Any) -> None:
        if namespace or not isinstance(data, dict):
            return
        for node, update in data.items():
            if not isinstance(update, dict):
                continue
            messages = update.get("messages")
            if isinstance(messages, BaseMessage):
                messages = [messages]
            if not isinstance(messages, list):
                continue
            self._section(node)
            for message in messages:
                if isinstance(message, AIMessage):
                    self._on_ai_message(message, messages)
                elif isinstance(message, ToolMessage):
                    self._on_tool_message(message, node)

    def _on_ai_message(self, message: AIMessage, batch: list[Any]) -> None:
        calls = [*message.tool_calls, *message.invalid_tool_calls]
        if calls:
            self._end_line()
            for call in calls:
                name = call.get("name") or "?"
                self._tool_names[call.get("id") or ""] = name
                self.line(self._call_text(name, call.get("args")), CYAN)
            assigned = [c for c in message.tool_calls if c.get("name") == ASSIGN_TASK]
            if assigned:
                refused = {
                    m.tool_call_id
                    for m in batch
                    if isinstance(m, ToolMessage) and m.name == ASSIGN_TASK
                }
                launched = [c for c in assigned if c.get("id") not in refused]
                self._new_round(len(launched))
                self.board.plan([dict(c) for c in launched])
            return
        self.final_message = message
        key = message.id or ""
        text = message.text
        streamed = self._streamed.get(key, "")
        if not streamed:
            if text:
                self._enter(key, "answer")
                self._stream(text)
        elif text.startswith(streamed) and len(text) > len(streamed):
            self._enter(key, "answer")
            self._stream(text[len(streamed) :])
        self._streamed[key] = text
        self._end_line()

    @staticmethod
    def _call_text(name: str, args: Any) -> str:
        if name == ASSIGN_TASK and isinstance(args, dict):
            role = args.get("role") or "sub-agent"
            return f"-> {ASSIGN_TASK} [{clip(role, 40)}] {clip(args.get('task', ''), 100)}"
        if isinstance(args, dict):
            shown = json.dumps(args, ensure_ascii=False)
        else:
            shown = f"<unparsed arguments: {args}>"
        return f"-> {name}({clip(shown, 160)})"

    def _on_tool_message(self, message: ToolMessage, node: str) -> None:
        name = message.name or self._tool_names.get(message.tool_call_id, "tool")
        failed = message.status == "error"
        if name == ASSIGN_TASK and node == "subagent":
            # Shown with the other results of its round, in plan order, when it ends.
            self.board.on_result(message.tool_call_id, message.text, failed)
            return
        style = RED if failed else GREEN
        self.line(f"<- {name}: {clip(message.text, self.tool_result_chars)}", style)

    # ------------------------------------------------------------------ progress

    def _new_round(self, total: int) -> None:
        self._close_bar()
        self._round += 1
        self._total, self._done, self._failed, self._running = total, 0, 0, 0
        if total:
            word = "sub-agent" if total == 1 else "sub-agents"
            self.note(f"round {self._round}: {total} {word} launched in parallel")

    def _on_nested(self, namespace: tuple[str, ...], mode: str, data: Any) -> None:
        """A sub-agent's own event: update its live line (terminal) or log its tool calls."""
        line = self.board.on_nested(namespace, mode, data)
        if line is None:
            return
        if self.tty:
            self._redraw()
        elif mode == "updates" and line.state == "calling" and line.tool:
            self.line(f"  [{clip(line.role, 40)}] step {line.step} -> {line.tool}", CYAN)

    def _on_custom(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.note(f"[custom] {clip(data, 160)}")
            return
        if data.get("type") == "control":  # a malformed command was ignored
            self.note(f"[control] ignored {data.get('key')}: {clip(data.get('reason'), 120)}")
            return
        if data.get("type") != "subagent":
            self.note(f"[custom] {clip(json.dumps(data, default=str), 160)}")
            return
        event = data.get("event")
        line = self.board.on_progress(data)
        if event == "start":
            self._running += 1
            self._total = max(self._total, self._done + self._running)
            self._redraw()
            return
        if event == "steered":
            self._redraw()
            return
        if event not in ("finish", "error", "cancelled", "aborted"):
            return
        self._running = max(0, self._running - 1)
        self._done += 1
        self.subagents_done += 1
        if line.failed and event in ("finish", "error"):  # cancelled/aborted: partial
            self._failed += 1
            self.subagents_failed += 1
        if self.tty:
            self._redraw()  # the sub-agent's live line says it finished
            return
        word = event.upper() if event in ("cancelled", "aborted") else None
        word = word or ("FAIL" if line.failed else "ok")
        prefix = f"  {self._bar_text()}  "
        text = printable(fit(f"{prefix}{word} {clip(line.role, 40)}{line.detail}", self.width))
        self._end_line()
        if text.startswith(prefix + word):  # only the status is coloured
            status = self._style(word, RED if line.failed else GREEN)
            text = self._style(prefix) + status + self._style(text[len(prefix) + len(word) :])
        self._write(text + "\n")
        self._show_bar()

    def _bar_text(self) -> str:
        total = max(self._total, 1)
        filled = min(BAR_WIDTH, round(BAR_WIDTH * self._done / total))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"[{bar}] sub-agents {self._done}/{self._total} done, {self._failed} failed"
        if self._running:
            text += f", {self._running} running"
        return text

    def _block_lines(self) -> list[str]:
        marked = bool(self.key_lines)
        return [
            fit(self._bar_text(), self.width),
            *self.board.live_lines(self.width, marked=marked),
            *(fit(text, self.width) for text in self.key_lines),
        ]

    def redraw(self) -> None:
        """Draw the live block again (from another thread: the live view's keys)."""
        with self.lock:
            self._redraw()

    def _redraw(self) -> None:
        self._hide_bar()
        self._show_bar()

    def _show_bar(self) -> None:
        """Draw the live block (bar and sub-agent lines) below the output (terminals only)."""
        if not self.tty or not self._total or not self._at_line_start:
            return
        lines = self._block_lines()
        self.out.write("".join(self._style(text, CYAN) + "\n" for text in lines))
        self.out.flush()
        self._block = len(lines)

    def _hide_bar(self) -> None:
        if self._block:
            self.out.write(ERASE_UP.format(n=self._block))
            self._block = 0

    def _close_bar(self) -> None:
        """End a round: its final counter and sub-agent lines, then results in plan order."""
        if not self._total:
            return
        self._hide_bar()
        keys, self.key_lines = self.key_lines, []
        lines = self._block_lines() if self.tty else [fit(self._bar_text(), self.width)]
        self.key_lines = keys
        self._total = 0
        self._end_line()
        for text in lines:
            self._write(self._style(text, CYAN) + "\n")
        for text, failed in self.board.result_lines(self.width):
            self._write(self._style(text, RED if failed else DIM) + "\n")
        self.board = SwarmBoard()

    # ------------------------------------------------------------------ the end

    def finish(self) -> str:
        """End the output with a summary line; return the final answer's text.

        The summary has the time, the sub-agents and rounds, the swarm's critical steps
        and the token usage (input, of which cached, and output) of the run.
        """
        self._end_line()
        self._close_bar()
        elapsed = time.perf_counter() - self._started
        parts = [f"done in {elapsed:.1f}s"]
        if self.subagents_done:
            parts.append(
                f"{self.subagents_done} sub-agents, {self.subagents_failed} failed"
                f" over {self._round} round{'' if self._round == 1 else 's'}"
            )
        swarm = (
            (self.final_message.response_metadata or {}).get("swarm")
            if self.final_message
            else None
        )
        if isinstance(swarm, dict) and swarm.get("critical_steps") is not None:
            parts.append(f"critical steps {swarm['critical_steps']}")
        if self.values is not None:
            parts.append(usage_text(summarize(self.values)["usage"]))
        for row in _pack(parts, "; ", self.width):
            self.note(row)
        return self.final_message.text if self.final_message else ""


def _pack(parts: list[str], sep: str, width: int | None) -> list[str]:
    """Join `parts` with `sep` into as few rows of at most `width` columns as it takes."""
    rows: list[str] = []
    for part in parts:
        if rows and (width is None or len(rows[-1]) + len(sep) + len(part) <= width):
            rows[-1] += sep + part
        else:
            rows.append(part)
    return rows


def _words(text: str) -> list[str]:
    """Split prose into words with their trailing spaces, and newlines on their own."""
    out: list[str] = []
    for i, row in enumerate(text.split("\n")):
        if i:
            out.append("\n")
        word = ""
        for char in row:
            if char == " " and word and not word.endswith(" "):
                word += char
                continue
            if char != " " and word.endswith(" "):
                out.append(word)
                word = ""
            word += char
        if word:
            out.append(word)
    return out
