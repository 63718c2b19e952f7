"""The CLI's swarm view: one live line per sub-agent, and its result lines in plan order.

`SwarmBoard` follows each sub-agent of the current round from the swarm's progress
events (`stream_mode="custom"`, `type: "subagent"`) and from the events of its nested
graph, which arrive under the namespace `subagent:<task id>` with `subgraphs=True`:
its model steps, its current tool call and its state (queued, thinking, writing,
calling, ok, FAIL, and under `SwarmControl`: steered, cancelled, aborted). One line
may be selected (`selected`), for the live view's keys (`_swarm_keys`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SubagentLine", "SwarmBoard", "fit"]


def fit(text: str, width: int | None) -> str:
    """Clip one line to `width` columns (None: no limit), marking the cut with `...`."""
    if width is None or len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..."


def _flat(text: Any) -> str:
    return " ".join(str(text).split())


@dataclass
class SubagentLine:
    """What one sub-agent is doing now."""

    id: str
    role: str
    index: int
    namespace: str = ""
    state: str = "queued"
    step: int = 0
    tool: str = ""
    detail: str = ""
    result: str | None = None
    failed: bool = False
    tools_seen: list[str] = field(default_factory=list)
    control_id: str = ""
    """The id `SwarmControl` takes (`r<round>/<call id>`), from the progress events."""

    @property
    def ended(self) -> bool:
        """The sub-agent finished (ok, failed, cancelled or aborted)."""
        return self.state in ENDED

    def text(self, role_width: int, *, selected: bool = False) -> str:
        """The live line: state, role, step, then the current tool call or the outcome."""
        state = {"ok": "ok  ", "FAIL": "FAIL", "cancelled": "CNCL", "aborted": "ABRT"}.get(
            self.state, "..  "
        )
        role = _flat(self.role or "sub-agent").ljust(role_width)
        head = f"{'>' if selected else ' '} {state} {role}  step {self.step}"
        if self.ended:
            return f"{head}  {self.state}{self.detail}"
        tail = f"  {self.state}"
        if self.tool:
            tail += f" {self.tool}"
        return head + tail


class SwarmBoard:
    """The sub-agents of one round, in the order the orchestrator assigned them."""

    def __init__(self) -> None:
        self.lines: list[SubagentLine] = []
        self.selected = 0
        self._by_id: dict[str, SubagentLine] = {}
        self._by_ns: dict[str, SubagentLine] = {}

    def plan(self, calls: list[dict[str, Any]]) -> None:
        """Start a round from the orchestrator's `assign_task` calls (refused ones too)."""
        self.lines = []
        self._by_id.clear()
        self._by_ns.clear()
        for call in calls:
            raw = call.get("args")
            args: dict[str, Any] = raw if isinstance(raw, dict) else {}
            role = str(args.get("role") or "") or f"sub-agent {len(self.lines) + 1}"
            line = SubagentLine(id=str(call.get("id") or ""), role=role, index=len(self.lines))
            self.lines.append(line)
            self._by_id[line.id] = line

    def _line(self, task_id: Any, namespace: Any, role: Any = None) -> SubagentLine:
        line = self._by_id.get(str(task_id)) or self._by_ns.get(str(namespace))
        if line is None:
            line = SubagentLine(
                id=str(task_id), role=str(role or "sub-agent"), index=len(self.lines)
            )
            self.lines.append(line)
            self._by_id[line.id] = line
        if namespace:
            line.namespace = str(namespace)
            self._by_ns[line.namespace] = line
        return line

    def on_progress(self, data: dict[str, Any]) -> SubagentLine:
        """Apply a progress event (`start`, `finish`, `error`)."""
        line = self._line(data.get("id"), data.get("namespace"), data.get("role"))
        event = data.get("event")
        if data.get("subagent_id"):
            line.control_id = str(data["subagent_id"])
        if event == "start":
            line.state = "started"
        elif event == "steered":
            line.state = "steered"
        elif event in ("cancelled", "aborted"):
            line.state, line.tool = str(event), ""
            line.failed = True
            if isinstance(data.get("steps"), int):
                line.step = data["steps"]
            line.detail = f": {_flat(data.get('error') or event)}"
        elif event in ("finish", "error"):
            line.failed = event == "error" or data.get("status") == "error"
            line.state = "FAIL" if line.failed else "ok"
            line.tool = ""
            if isinstance(data.get("steps"), int):
                line.step = data["steps"]
            line.detail = _outcome(data)
        return line

    def on_nested(self, namespace: tuple[str, ...], mode: str, data: Any) -> SubagentLine | None:
        """Apply a `messages` or `updates` event of a sub-agent's nested graph.

        Returns:
            The sub-agent's line when its step, tool or state changed, else None.
        """
        line = self._by_ns.get(namespace[0]) if namespace else None
        if line is None or line.ended:
            return None
        before = (line.state, line.step, line.tool)
        if mode == "messages" and isinstance(data, tuple) and data:
            message = data[0]
            if getattr(message, "type", "") in ("AIMessageChunk", "ai"):
                if getattr(message, "tool_call_chunks", None):
                    line.state = "calling"
                elif message.additional_kwargs.get("reasoning_content"):
                    line.state, line.tool = "thinking", ""
                elif message.content:
                    line.state, line.tool = "writing", ""
        elif mode == "updates" and isinstance(data, dict):
            for update in data.values():
                messages = update.get("messages") if isinstance(update, dict) else None
                for message in messages if isinstance(messages, list) else []:
                    self._on_message(line, message)
        return line if (line.state, line.step, line.tool) != before else None

    @staticmethod
    def _on_message(line: SubagentLine, message: Any) -> None:
        kind = getattr(message, "type", "")
        if kind == "ai":
            line.step += 1
            calls = [*message.tool_calls, *message.invalid_tool_calls]
            if calls:
                line.state = "calling"
                line.tool = ", ".join(_call(c) for c in calls)
                line.tools_seen.extend(str(c.get("name") or "?") for c in calls)
            else:
                line.state = "answered"
                line.tool = ""
        elif kind == "tool":
            failed = getattr(message, "status", "") == "error"
            line.state = "tool failed" if failed else "tool done"

    def on_result(self, task_id: str, text: str, failed: bool) -> None:
        """Keep what a sub-agent returned (its `assign_task` tool message)."""
        line = self._by_id.get(task_id) or self._line(task_id, None)
        line.result = text
        line.failed = line.failed or failed

    def role_width(self) -> int:
        """Column width of the role, the same for every line of the round."""
        return min(16, max((len(_flat(x.role)) for x in self.lines), default=0))

    def live_lines(self, width: int | None, *, marked: bool = False) -> list[str]:
        """One line per sub-agent, each clipped to `width` (`marked`: `>` at the selected)."""
        rw = self.role_width()
        return [
            fit(line.text(rw, selected=marked and i == self.selected), width)
            for i, line in enumerate(self.lines)
        ]

    def select(self, step: int) -> SubagentLine | None:
        """Move the selection by `step` lines; the selected line (None: no line)."""
        if not self.lines:
            return None
        self.selected = (self.selected + step) % len(self.lines)
        return self.lines[self.selected]

    def current(self) -> SubagentLine | None:
        """The selected line."""
        if not self.lines:
            return None
        self.selected = min(self.selected, len(self.lines) - 1)
        return self.lines[self.selected]

    def result_lines(self, width: int | None, chars: int = 120) -> list[tuple[str, bool]]:
        """`<- [role] result: ...` per sub-agent that returned, in plan order."""
        out = []
        for line in self.lines:
            if line.result is None:
                continue
            label = line.state if line.state in ("cancelled", "aborted") else None
            label = label or ("failed" if line.failed else "result")
            text = f"   <- [{_flat(line.role)}] {label}: {_flat(line.result)}"
            out.append(
                (fit(fit(text, len(text) - len(_flat(line.result)) + chars), width), line.failed)
            )
        return out


ENDED = frozenset({"ok", "FAIL", "cancelled", "aborted"})


def _call(call: dict[str, Any]) -> str:
    name = call.get("name") or "?"
    args = call.get("args")
    shown = json.dumps(args, ensure_ascii=False) if isinstance(args, dict) else str(args)
    return f"{name}({_flat(shown)})"


def _outcome(data: dict[str, Any]) -> str:
    if data.get("event") == "error" or data.get("status") == "error":
        return f": {_flat(data.get('error') or 'failed')}"
    bits = []
    steps = data.get("steps")
    if isinstance(steps, int):
        bits.append(f"{steps} step{'' if steps == 1 else 's'}")
    calls = data.get("tool_calls")
    if isinstance(calls, int) and calls:
        bits.append(f"{calls} tool call{'' if calls == 1 else 's'}")
    if data.get("elapsed_s") is not None:
        bits.append(f"{float(data['elapsed_s']):.2f}s")
    usage = data.get("usage")
    if isinstance(usage, dict) and usage.get("total_tokens"):
        bits.append(f"{int(usage['total_tokens']):,} tokens")
    return f" ({', '.join(bits)})" if bits else ""
