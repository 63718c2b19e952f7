"""Split raw K2.5 output into reasoning, answer and tool calls.

A server run without a reasoning parser returns the chain of thought inside `content`,
usually with no opening `<think>` (K2.5's prompt pre-fills it) and ending in `</think>`
or directly at a tool-call section. A server without a tool parser returns Kimi's raw
tool-call tokens in `content`. `RawOutputParser` turns both back into reasoning text and
real tool calls, one piece at a time, so a token split across stream chunks still parses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ARG_BEGIN",
    "CALL_BEGIN",
    "CALL_END",
    "ParsedPiece",
    "RawOutputParser",
    "RawToolCall",
    "SECTION_BEGIN",
    "SECTION_END",
    "State",
    "THINK_CLOSE",
    "THINK_OPEN",
    "looks_raw",
    "split_raw_output",
    "tool_call_name",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
CALL_BEGIN = "<|tool_call_begin|>"
ARG_BEGIN = "<|tool_call_argument_begin|>"
CALL_END = "<|tool_call_end|>"

_CALL_RE = re.compile(
    re.escape(CALL_BEGIN)
    + r"\s*(?P<id>[^\s<]+?)\s*"
    + re.escape(ARG_BEGIN)
    + r"\s*(?P<args>.*?)\s*"
    + re.escape(CALL_END),
    re.DOTALL,
)
_ID_RE = re.compile(r"^(?:functions\.)?(?P<name>.+?)(?::\d+)?$")


@dataclass
class RawToolCall:
    """A tool call recovered from Kimi's raw tokens."""

    id: str
    name: str
    arguments: str

    def parsed_args(self) -> dict[str, Any] | None:
        """Return the arguments as a dict, or None if they are not a JSON object."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class ParsedPiece:
    """Text recovered from a piece of raw output, split by what it is."""

    reasoning: str = ""
    content: str = ""
    tool_calls: list[RawToolCall] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.reasoning or self.content or self.tool_calls)


def tool_call_name(call_id: str) -> str:
    """Return the function name inside a Kimi tool-call id such as `functions.get:0`."""
    match = _ID_RE.match(call_id.strip())
    return match.group("name") if match else call_id


def _held_suffix(text: str, markers: tuple[str, ...]) -> int:
    """Return how many trailing characters of `text` could start one of `markers`."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


State = Literal["undecided", "reasoning", "content", "section"]


class RawOutputParser:
    """Incremental splitter of raw K2.5 output.

    Feed it `content` text as it arrives; each call returns what can already be said for
    sure. In thinking mode, text that arrives before any sign of the server's own
    reasoning parser is held until a `<think>`, `</think>` or tool-call section decides
    whether it was reasoning; if the stream ends first, it was the answer.
    """

    def __init__(self, *, thinking: bool) -> None:
        self._state: State = "undecided" if thinking else "content"
        self._buf = ""

    def server_parses_reasoning(self) -> ParsedPiece:
        """Note that the server sent reasoning in its own field: content is the answer."""
        if self._state in ("undecided", "reasoning"):
            self._state = "content"
        return self._drain(final=False)

    @property
    def idle(self) -> bool:
        """Whether the parser is in the answer, holding nothing back."""
        return self._state == "content" and not self._buf

    def passes_through(self, text: str) -> bool:
        """Whether `text` is plain answer text the parser would return unchanged."""
        return self.idle and "<" not in text

    def feed(self, text: str) -> ParsedPiece:
        """Add raw content text; return the parts that are now certain."""
        self._buf += text
        return self._drain(final=False)

    def finish(self) -> ParsedPiece:
        """Flush what is held at the end of the output."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> ParsedPiece:
        out = ParsedPiece()
        while True:
            before = (self._state, len(self._buf))
            getattr(self, f"_step_{self._state}")(out, final)
            if (self._state, len(self._buf)) == before:
                return out

    def _step_undecided(self, out: ParsedPiece, final: bool) -> None:
        stripped = self._buf.lstrip()
        if stripped.startswith(THINK_OPEN):
            self._buf = stripped[len(THINK_OPEN) :]
            self._state = "reasoning"
        elif THINK_CLOSE in self._buf or SECTION_BEGIN in self._buf:
            self._state = "reasoning"
        elif final:
            self._state = "content"
        # Otherwise hold: nothing says yet whether this is reasoning or the answer.

    def _step_reasoning(self, out: ParsedPiece, final: bool) -> None:
        close, section = self._buf.find(THINK_CLOSE), self._buf.find(SECTION_BEGIN)
        ends = [i for i in (close, section) if i >= 0]
        if ends:
            end = min(ends)
            out.reasoning += self._buf[:end]
            skip = len(THINK_CLOSE) if end == close else 0
            self._buf = self._buf[end + skip :]
            if end == close:
                self._buf = self._buf.lstrip("\n")
            self._state = "content"
            return
        keep = 0 if final else _held_suffix(self._buf, (THINK_CLOSE, SECTION_BEGIN))
        out.reasoning += self._buf[: len(self._buf) - keep]
        self._buf = self._buf[len(self._buf) - keep :]

    def _step_content(self, out: ParsedPiece, final: bool) -> None:
        start = self._buf.find(SECTION_BEGIN)
        if start >= 0:
            out.content += self._buf[:start]
            self._buf = self._buf[start + len(SECTION_BEGIN) :]
            self._state = "section"
            return
        keep = 0 if final else _held_suffix(self._buf, (SECTION_BEGIN,))
        out.content += self._buf[: len(self._buf) - keep]
        self._buf = self._buf[len(self._buf) - keep :]

    def _step_section(self, out: ParsedPiece, final: bool) -> None:
        end = self._buf.find(SECTION_END)
        body = self._buf if end < 0 else self._buf[:end]
        last = 0
        for match in _CALL_RE.finditer(body):
            call_id = match.group("id")
            out.tool_calls.append(
                RawToolCall(id=call_id, name=tool_call_name(call_id), arguments=match["args"])
            )
            last = match.end()
        if end >= 0:
            self._buf = self._buf[end + len(SECTION_END) :]
            self._state = "content"
        elif final:
            # A section cut short: keep any text that is not a complete call.
            self._buf = ""
            rest = body[last:].strip()
            if rest:
                out.content += rest
        else:
            self._buf = self._buf[last:]


def split_raw_output(text: str, *, thinking: bool) -> ParsedPiece:
    """Split a complete raw `content` string into reasoning, answer and tool calls."""
    parser = RawOutputParser(thinking=thinking)
    first, last = parser.feed(text), parser.finish()
    return ParsedPiece(
        reasoning=first.reasoning + last.reasoning,
        content=first.content + last.content,
        tool_calls=first.tool_calls + last.tool_calls,
    )


def looks_raw(text: str, *, thinking: bool) -> bool:
    """Return True if `text` holds raw tool-call tokens, or (thinking) raw reasoning."""
    return SECTION_BEGIN in text or (
        thinking and (THINK_CLOSE in text or text.lstrip().startswith(THINK_OPEN))
    )
