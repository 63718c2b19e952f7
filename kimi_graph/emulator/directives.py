"""Parsing of the ``[[...]]`` directives that script the emulator's answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallSpec",
    "Directives",
    "parse_directives",
    "strip_directives",
]

_CALL_HEAD = re.compile(r"\[\[\s*(call|loop)\s+([^\s\]{]+)\s*", re.IGNORECASE)
_GENERIC = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_FAULT = re.compile(
    r"fault\s+(?:(?P<status>\d{3})(?:\s+x(?P<times>\d+)|\s+after\s+(?P<after>\d+))?"
    r"|hang\s+(?P<hang>\d+(?:\.\d+)?)(?:\s+x(?P<hang_times>\d+))?"
    r"|(?P<word>cut|malformed|args-list|args-string|args-number))\s*$",
    re.IGNORECASE,
)
_DECODER = json.JSONDecoder()
_BAD_ARGS = {"args-list": "[1, 2]", "args-string": '"str"', "args-number": "123"}


@dataclass(frozen=True)
class CallSpec:
    """A scripted tool call.

    Attributes:
        name: Tool name.
        arguments: Arguments given in the directive, or ``None`` to synthesise them.
    """

    name: str
    arguments: dict[str, Any] | None = None


@dataclass
class Directives:
    """Everything the directives of one user message ask for.

    Attributes:
        groups: Scripted calls per assistant turn (split by ``[[then]]``).
        loop: A call to repeat on every turn, forever.
        answer: Scripted final answer text.
        fault_status: HTTP status to fail with (500 or 429).
        fault_times: Only fail the first N requests of the conversation (``None``: always).
        fault_after: Answer the first N requests of the conversation, fail the rest.
        hang: Seconds to wait before answering.
        hang_times: Only hang on the first N requests of the conversation (``None``: always).
        cut: Drop the connection mid-answer.
        malformed: Emit tool-call arguments that are not valid JSON.
        bad_args: Emit this valid JSON that is not an object as every call's arguments
            (``[[fault args-list]]``, ``args-string``, ``args-number``).
        latency: Extra seconds before the first byte.
        text: The message with every directive removed.
    """

    groups: list[list[CallSpec]] = field(default_factory=list)
    loop: CallSpec | None = None
    answer: str | None = None
    fault_status: int | None = None
    fault_times: int | None = None
    fault_after: int | None = None
    hang: float = 0.0
    hang_times: int | None = None
    cut: bool = False
    malformed: bool = False
    bad_args: str | None = None
    latency: float = 0.0
    text: str = ""

    @property
    def has_calls(self) -> bool:
        """Whether any ``[[call]]`` directive is present."""
        return any(self.groups)


def _parse_call(text: str, pos: int) -> tuple[CallSpec, bool, int] | None:
    """Parse a ``[[call NAME {json}]]`` or ``[[loop ...]]`` starting at ``pos``.

    Returns:
        The call, whether it is a loop, and the index after the closing ``]]``;
        ``None`` if the text at ``pos`` is not a well-formed call directive.
    """
    head = _CALL_HEAD.match(text, pos)
    if head is None:
        return None
    end = head.end()
    args: dict[str, Any] | None = None
    if end < len(text) and text[end] == "{":
        try:
            value, end = _DECODER.raw_decode(text, end)
        except json.JSONDecodeError:
            return None
        if isinstance(value, dict):
            args = value
        while end < len(text) and text[end].isspace():
            end += 1
    if not text.startswith("]]", end):
        return None
    is_loop = head.group(1).lower() == "loop"
    return CallSpec(head.group(2), args), is_loop, end + 2


def _apply_generic(d: Directives, body: str) -> None:
    """Apply a non-call directive's body (the text between the brackets)."""
    body = body.strip()
    word, _, rest = body.partition(" ")
    word = word.lower()
    if word == "then":
        d.groups.append([])
    elif word == "answer":
        d.answer = rest.strip()
    elif word == "latency":
        try:
            d.latency += float(rest)
        except ValueError:
            pass
    elif word == "fault":
        m = _FAULT.match(body)
        if m is None:
            return
        if m.group("status"):
            d.fault_status = int(m.group("status"))
            d.fault_times = int(m.group("times")) if m.group("times") else None
            d.fault_after = int(m.group("after")) if m.group("after") else None
        elif m.group("hang"):
            d.hang = float(m.group("hang"))
            d.hang_times = int(m.group("hang_times")) if m.group("hang_times") else None
        elif m.group("word").lower() == "cut":
            d.cut = True
        elif m.group("word").lower() in _BAD_ARGS:
            d.bad_args = _BAD_ARGS[m.group("word").lower()]
        else:
            d.malformed = True


def parse_directives(text: str) -> Directives:
    """Parse all directives in a user message.

    Args:
        text: The user message's text.

    Returns:
        The parsed directives; ``text`` holds the message without them.
    """
    d = Directives(groups=[[]])
    out: list[str] = []
    pos = 0
    while True:
        start = text.find("[[", pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        call = _parse_call(text, start)
        if call is not None:
            spec, is_loop, pos = call
            if is_loop:
                d.loop = spec
            else:
                d.groups[-1].append(spec)
            continue
        m = _GENERIC.match(text, start)
        if m is None:
            out.append(text[start:])
            break
        _apply_generic(d, m.group(1))
        pos = m.end()
    d.text = re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()
    return d


def strip_directives(text: str) -> str:
    """Remove every directive from a text.

    Args:
        text: Any text that may hold directives.

    Returns:
        The text without directives.
    """
    return parse_directives(text).text if "[[" in text else text
