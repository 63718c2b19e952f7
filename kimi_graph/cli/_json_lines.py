"""`kimi-graph run --json`: a run as JSON lines, one event per line, the summary last.

Each line is one JSON object with a `type`:

- `reasoning` / `answer`: a streamed piece of the root graph's reasoning or answer
  (`node`, `text`);
- `tool_call` (`node`, `id`, `name`, `args`) and `tool_result` (`node`, `id`, `name`,
  `status`, `content`) of the root graph;
- `subagent`: the swarm's progress events as the graph writes them (`event` start,
  finish or error, `id`, `role`, `round`, `namespace`, and on finish `status`, `steps`,
  `tool_calls`, `usage`...);
- `subagent_step`: a sub-agent's model step (`namespace`, `role`, `step`, `tool_calls`);
- `final` (last): `answer`, `reasoning`, `records` (the sub-agents' records),
  `usage` (`input`, `output`, `cached`, `total`), `critical_steps`, `elapsed_s`,
  and `thread_id` when the run is checkpointed.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from kimi_graph.cli._summary import summarize

__all__ = ["JsonRenderer"]


def _reasoning(message: Any) -> str:
    value = message.additional_kwargs.get("reasoning_content")
    return value if isinstance(value, str) else ""


class JsonRenderer:
    """Write the events of a streamed run as JSON lines (the same calls as `StreamRenderer`).

    Args:
        out: Where to write.
        thread_id: The checkpointed thread, echoed in the `final` line.
    """

    def __init__(self, out: TextIO, *, thread_id: str | None = None) -> None:
        self.out = out
        self.thread_id = thread_id
        self.values: dict[str, Any] | None = None
        self._started = time.perf_counter()
        self._roles: dict[str, str] = {}
        self._steps: dict[str, int] = {}

    def emit(self, record: dict[str, Any]) -> None:
        """Write one JSON line."""
        self.out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    # The text renderer's decorations have no JSON counterpart.
    def user(self, text: str) -> None:
        """Echo the task."""
        self.emit({"type": "task", "text": text})

    def note(self, text: str) -> None:
        """A side note."""
        self.emit({"type": "note", "text": text})

    def line(self, text: str = "", *styles: str) -> None:
        """A line of text."""
        self.note(text)

    def heading(self, text: str) -> None:
        """A section heading."""
        self.emit({"type": "heading", "text": text})

    def handle(self, event: Any) -> None:
        """Render one `(namespace, mode, data)` event of `subgraphs=True` streaming."""
        if not (isinstance(event, tuple) and len(event) == 3):
            return
        namespace, mode, data = tuple(event[0]), event[1], event[2]
        if mode == "values":
            if not namespace and isinstance(data, dict):
                self.values = data
        elif mode == "custom":
            if isinstance(data, dict) and data.get("type") == "subagent":
                self._roles[str(data.get("namespace"))] = str(data.get("role") or "")
                self.emit({**data, "type": "subagent"})
            else:
                self.emit({"type": "custom", "data": data})
        elif namespace:
            if mode == "updates":
                self._nested_update(namespace[0], data)
        elif mode == "messages":
            self._message(data)
        elif mode == "updates":
            self._update(data)

    def _message(self, data: Any) -> None:
        if not isinstance(data, tuple) or len(data) != 2:
            return
        message, metadata = data
        node = (metadata or {}).get("langgraph_node")
        if node == "subagent" or getattr(message, "type", "") != "AIMessageChunk":
            return
        reasoning = _reasoning(message)
        if reasoning:
            self.emit({"type": "reasoning", "node": node, "text": reasoning})
        if isinstance(message.content, str) and message.content:
            self.emit({"type": "answer", "node": node, "text": message.content})

    def _update(self, data: Any) -> None:
        for node, update in (data or {}).items():
            messages = update.get("messages") if isinstance(update, dict) else None
            for message in messages if isinstance(messages, list) else []:
                kind = getattr(message, "type", "")
                if kind == "ai":
                    for call in [*message.tool_calls, *message.invalid_tool_calls]:
                        self.emit(
                            {
                                "type": "tool_call",
                                "node": node,
                                "id": call.get("id"),
                                "name": call.get("name"),
                                "args": call.get("args"),
                            }
                        )
                elif kind == "tool":
                    self.emit(
                        {
                            "type": "tool_result",
                            "node": node,
                            "id": message.tool_call_id,
                            "name": message.name,
                            "status": message.status,
                            "content": message.content,
                        }
                    )

    def _nested_update(self, namespace: str, data: Any) -> None:
        for update in (data or {}).values():
            messages = update.get("messages") if isinstance(update, dict) else None
            for message in messages if isinstance(messages, list) else []:
                if getattr(message, "type", "") != "ai":
                    continue
                step = self._steps[namespace] = self._steps.get(namespace, 0) + 1
                self.emit(
                    {
                        "type": "subagent_step",
                        "namespace": namespace,
                        "role": self._roles.get(namespace, ""),
                        "step": step,
                        "tool_calls": [
                            {"name": c.get("name"), "args": c.get("args")}
                            for c in message.tool_calls
                        ],
                    }
                )

    def finish(self) -> str:
        """Write the `final` line; return the final answer."""
        summary = summarize(self.values)
        record: dict[str, Any] = {
            "type": "final",
            **summary,
            "elapsed_s": round(time.perf_counter() - self._started, 3),
        }
        if self.thread_id is not None:
            record["thread_id"] = self.thread_id
        self.emit(record)
        return summary["answer"]
