"""Untrusted text reaches the terminal without its control characters (issue 16, item 9)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from kimi_graph.cli import _render
from kimi_graph.cli._json_lines import JsonRenderer
from kimi_graph.cli._render import StreamRenderer
from kimi_graph.cli._safe_text import printable

# Window title, clipboard write (OSC 52), cursor up + erase line, carriage return,
# 8-bit CSI, a bell and a NUL: each from a different untrusted source below.
HOSTILE = "A\x1b]0;PWNED\x07B\x1b]52;c;ZXZpbA==\x07C\x1b[1A\x1b[2KD\rE\x9b31mF\x00G\x7fH"
CLEAN = "A]0;PWNEDB]52;c;ZXZpbA==C[1A[2KDE31mFGH"
OURS = re.compile(
    "|".join(
        re.escape(code)
        for code in (
            _render.DIM, _render.BOLD, _render.RED, _render.GREEN, _render.YELLOW,
            _render.CYAN, _render.RESET,
        )
    )
    + r"|\x1b\[\d+F\x1b\[J"  # the live block's own redraw
)  # fmt: skip


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_printable_keeps_newline_and_tab_only() -> None:
    assert printable(HOSTILE) == CLEAN
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("".join(map(chr, range(0x100)))) == "\t\n" + "".join(
        map(chr, [*range(0x20, 0x7F), *range(0xA0, 0x100)])
    )


def _events() -> list[tuple]:
    ns = "subagent:aaa"
    call = {"name": "assign_task", "args": {"role": HOSTILE, "task": HOSTILE}, "id": "A"}
    tool_call = {"name": "run_python", "args": {"code": HOSTILE}, "id": "t1"}
    return [
        ((), "messages", (AIMessageChunk(content="", id="m0",
            additional_kwargs={"reasoning_content": HOSTILE}), {})),
        ((), "messages", (AIMessageChunk(content=HOSTILE, id="m0"), {})),
        ((), "updates", {"agent": {"messages": [AIMessage(content="", tool_calls=[tool_call])]}}),
        ((), "updates", {"tools": {"messages": [
            ToolMessage(content=HOSTILE, tool_call_id="t1", name="run_python")]}}),
        ((), "updates", {"orchestrator": {"messages": [
            AIMessage(content="", id="o", tool_calls=[{**call, "type": "tool_call"}])]}}),
        ((), "custom", {"type": "subagent", "event": "start", "id": "A", "role": HOSTILE,
            "namespace": ns}),
        ((ns,), "updates", {"agent": {"messages": [AIMessage(content="", tool_calls=[
            {"name": HOSTILE, "args": {"x": HOSTILE}, "id": "c1", "type": "tool_call"}])]}}),
        ((), "custom", {"type": "subagent", "event": "finish", "id": "A", "role": HOSTILE,
            "status": "ok", "steps": 1, "tool_calls": 1, "elapsed_s": 0.1}),
        ((), "updates", {"subagent": {"messages": [
            ToolMessage(content=HOSTILE, tool_call_id="A", name="assign_task")]}}),
        ((), "custom", {"type": HOSTILE}),
        ((), "updates", {"synthesis": {"messages": [AIMessage(content=HOSTILE, id="f")]}}),
    ]  # fmt: skip


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize("color", [True, False])
def test_the_renderer_strips_controls_from_every_untrusted_string(tty: bool, color: bool) -> None:
    out = Terminal() if tty else io.StringIO()
    renderer = StreamRenderer(out, color=color, width=None if not tty else 400)
    renderer.user(HOSTILE)
    renderer.note(HOSTILE)
    for event in _events():
        renderer.handle(event)
    renderer.finish()
    written = out.getvalue()
    assert "PWNED" in written and "ZXZpbA==" in written  # shown, as harmless text
    rest = OURS.sub("", written)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", rest), repr(rest[:400])
    if not color and not tty:
        assert "\x1b" not in written


def test_json_output_keeps_strings_as_they_are() -> None:
    out = io.StringIO()
    renderer = JsonRenderer(out, thread_id=None)
    renderer.user(HOSTILE)
    for event in _events():
        renderer.handle(event)
    renderer.finish()
    rows = [json.loads(row) for row in out.getvalue().splitlines()]
    assert "\x1b" not in out.getvalue()  # JSON escapes it (\u001b); the value keeps it
    values = list(_strings(rows))
    assert values.count(HOSTILE) >= 3, values  # the task, a tool call's arguments, the answer


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
