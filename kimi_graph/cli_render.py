"""Terminal rendering of a streamed mode graph, for the `kimi-graph` CLI.

`StreamRenderer` consumes the events of
`graph.stream(..., stream_mode=["messages", "updates", "custom"], subgraphs=True)`:

- `messages` of the root graph: reasoning tokens (dimmed) and answer tokens;
- `updates` of the root graph: tool calls (name and arguments) and tool results
  (clipped), each on its own line, and any part of a final answer not yet streamed;
- `custom` sub-agent events of the swarm: a progress bar (redrawn in place on a
  terminal, one line per finished sub-agent otherwise).

Sub-agents' own tokens (the swarm's `subagent` node, or any nested namespace) are not
printed: they run in parallel and would interleave.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, TextIO

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

__all__ = ["StreamRenderer", "clip", "use_color"]

DIM = "\033[2m"
BOLD = "\033[1m"
RED = "\033[31m"
GREEN = "\033[32m"
YELLOW = "\033[33m"
CYAN = "\033[36m"
RESET = "\033[0m"
CLEAR_LINE = "\r\033[K"

#: Nodes of the root graph whose output gets a `[node]` header (the swarm's steps).
SECTION_NODES = ("orchestrator", "synthesis")
ASSIGN_TASK = "assign_task"
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


def _text(content: Any) -> str:
    """The text of a message's content (a string or a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return ""


def _reasoning(message: BaseMessage) -> str:
    value = message.additional_kwargs.get("reasoning_content")
    return value if isinstance(value, str) else ""


class StreamRenderer:
    """Print the events of a streamed graph run to a text stream.

    Args:
        out: Where to write (a terminal or any text stream).
        color: Use ANSI styles; None decides from `out` and `NO_COLOR`.
        tool_result_chars: Characters of a tool result shown.
    """

    def __init__(
        self, out: TextIO, *, color: bool | None = None, tool_result_chars: int = 200
    ) -> None:
        self.out = out
        self.color = use_color(out) if color is None else color
        self.tty = _isatty(out)
        self.tool_result_chars = tool_result_chars
        self._at_line_start = True
        self._segment: tuple[str | None, str] | None = None
        self._streamed: dict[str, str] = {}
        self._node: str | None = None
        self._tool_names: dict[str, str] = {}
        self._started = time.perf_counter()
        self.final_message: AIMessage | None = None
        # Sub-agent progress of the current wave.
        self._round = 0
        self._total = 0
        self._done = 0
        self._failed = 0
        self._running = 0
        self._bar_shown = False
        self.subagents_done = 0
        self.subagents_failed = 0

    # ------------------------------------------------------------------ output

    def _style(self, text: str, *styles: str) -> str:
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

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._write("\n")
        self._segment = None

    def line(self, text: str = "", *styles: str) -> None:
        """Write `text` on a line of its own."""
        self._end_line()
        self._write(self._style(text, *styles) + "\n")
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
        if isinstance(event, tuple) and len(event) == 3:
            namespace, mode, data = event
        elif isinstance(event, tuple) and len(event) == 2:
            namespace, (mode, data) = (), event
        else:
            return
        if mode == "messages":
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
            self._write(self._style(reasoning, DIM))
        text = _text(message.content)
        if text:
            self._enter(key, "answer")
            self._write(text)
            self._streamed[key] = self._streamed.get(key, "") + text

    def _section(self, node: Any) -> None:
        if node in SECTION_NODES and node != self._node:
            self._end_line()
            self._close_bar()
            self._write(self._style(f"[{node}]", BOLD) + "\n")
        if isinstance(node, str):
            self._node = node

    def _enter(self, key: str | None, kind: str) -> None:
        """Start a reasoning or answer segment of one message on a new line."""
        if self._segment == (key, kind):
            return
        self._end_line()
        if kind == "reasoning":
            self._write(self._style("thinking: ", DIM, YELLOW))
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
                self._new_wave(sum(1 for c in assigned if c.get("id") not in refused))
            return
        self.final_message = message
        key = message.id or ""
        text = _text(message.content)
        streamed = self._streamed.get(key, "")
        if not streamed:
            if text:
                self._enter(key, "answer")
                self._write(text)
        elif text.startswith(streamed) and len(text) > len(streamed):
            self._enter(key, "answer")
            self._write(text[len(streamed) :])
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
            # The progress line already said it finished; show what it returned.
            label = "failed" if failed else "result"
            self.line(f"   <- {label}: {clip(_text(message.content), 120)}", RED if failed else DIM)
            return
        style = RED if failed else GREEN
        self.line(f"<- {name}: {clip(_text(message.content), self.tool_result_chars)}", style)

    # ------------------------------------------------------------------ progress

    def _new_wave(self, total: int) -> None:
        self._close_bar()
        self._round += 1
        self._total, self._done, self._failed, self._running = total, 0, 0, 0
        if total:
            word = "sub-agent" if total == 1 else "sub-agents"
            self.note(f"round {self._round}: {total} {word} launched in parallel")

    def _on_custom(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.note(f"[custom] {clip(data, 160)}")
            return
        if data.get("type") != "subagent":
            self.note(f"[custom] {clip(json.dumps(data, default=str), 160)}")
            return
        event = data.get("event")
        if event == "start":
            self._running += 1
            self._total = max(self._total, self._done + self._running)
            self._show_bar()
            return
        if event not in ("finish", "error"):
            return
        self._running = max(0, self._running - 1)
        self._done += 1
        self.subagents_done += 1
        failed = event == "error" or data.get("status") == "error"
        if failed:
            self._failed += 1
            self.subagents_failed += 1
        role = data.get("role") or data.get("id") or "sub-agent"
        if failed:
            status = self._style("FAIL", RED)
            detail = f": {clip(data.get('error') or 'failed', 120)}"
        else:
            status = self._style("ok", GREEN)
            steps = data.get("steps")
            elapsed = data.get("elapsed_s")
            bits = []
            if steps is not None:
                bits.append(f"{steps} step{'' if steps == 1 else 's'}")
            if elapsed is not None:
                bits.append(f"{float(elapsed):.2f}s")
            detail = f" ({', '.join(bits)})" if bits else ""
        self._end_line()
        self._hide_bar()
        prefix = "" if self.tty else f"{self._bar_text()}  "
        self._write(f"  {prefix}{status} {clip(role, 40)}{detail}\n")
        self._show_bar()

    def _bar_text(self) -> str:
        total = max(self._total, 1)
        filled = min(BAR_WIDTH, round(BAR_WIDTH * self._done / total))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"[{bar}] sub-agents {self._done}/{self._total} done, {self._failed} failed"
        if self._running:
            text += f", {self._running} running"
        return text

    def _show_bar(self) -> None:
        """Draw the progress bar on the last line (terminals only)."""
        if not self.tty or not self._total or self._done >= self._total and not self._running:
            return
        if not self._at_line_start:
            return
        self.out.write(CLEAR_LINE + self._style(self._bar_text(), CYAN))
        self.out.flush()
        self._bar_shown = True

    def _hide_bar(self) -> None:
        if self._bar_shown:
            self._bar_shown = False
            self.out.write(CLEAR_LINE)

    def _close_bar(self) -> None:
        """Print the wave's final counter as a permanent line."""
        if not self._total:
            return
        self._hide_bar()
        text = self._bar_text()
        self._total = 0
        self._end_line()
        self._write(self._style(text, CYAN) + "\n")

    # ------------------------------------------------------------------ the end

    def finish(self) -> str:
        """End the output with a summary line; return the final answer's text."""
        self._end_line()
        self._close_bar()
        elapsed = time.perf_counter() - self._started
        summary = f"done in {elapsed:.1f}s"
        if self.subagents_done:
            summary += (
                f"; {self.subagents_done} sub-agents, {self.subagents_failed} failed"
                f" over {self._round} round{'' if self._round == 1 else 's'}"
            )
        swarm = (
            (self.final_message.response_metadata or {}).get("swarm")
            if self.final_message
            else None
        )
        if isinstance(swarm, dict) and swarm.get("critical_steps") is not None:
            summary += f"; critical steps {swarm['critical_steps']}"
        self.note(summary)
        return _text(self.final_message.content) if self.final_message else ""
