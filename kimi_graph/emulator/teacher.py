"""Reading a newcomer's prompt: arithmetic, named things and "X and Y" lists.

The emulator's brain uses these to give plain prompts sensible results: `2+3*4` is an
expression a calculator or `run_python` call computes, "weather in Paris and Rome"
names two cities (two parallel calls), "weather in Paris" names one (`city="Paris"`,
not the whole sentence).
"""

from __future__ import annotations

import re
from typing import Any

from kimi_graph.tools._arithmetic import evaluate

__all__ = [
    "EXPRESSION_FIELDS",
    "FREE_TEXT_FIELDS",
    "MAX_FANOUT",
    "arithmetic_expression",
    "is_calculator",
    "listed_items",
    "named_thing",
]

#: String properties that take the arithmetic expression of the prompt when it has one.
EXPRESSION_FIELDS = frozenset({"expression", "expr", "formula", "equation", "calculation", "math"})
#: String properties that take free text (the prompt), never a single named thing.
FREE_TEXT_FIELDS = frozenset(
    {
        "query",
        "q",
        "question",
        "text",
        "prompt",
        "message",
        "task",
        "instructions",
        "content",
        "input",
        "description",
        "body",
        "search",
        "search_query",
        "topic",
        "url",
    }
)
#: At most this many parallel calls come out of one "X, Y and Z" list.
MAX_FANOUT = 8

_EXPRESSION = re.compile(r"[-(]*\d[\d\s.+\-*/%()×^]*[\d)]")
_OPERATOR = re.compile(r"[\d)]\s*(?:\*\*|//|[-+*/%×^])\s*[-(]*\d")
# A named thing: a "quoted string", a Capitalised phrase (up to four words) or a number.
_THING = r'(?:"[^"\n]{1,80}"|[A-Z][\w.\'-]*(?:\s+[A-Z][\w.\'-]*){0,3}|-?\d+(?:\.\d+)?)'
_LIST = re.compile(rf"({_THING}(?:\s*,\s*{_THING})*)\s*,?\s+(?:and|&)\s+({_THING})")
_PLACE = re.compile(
    r"\b(?:in|for|at|from|of|about|near|to)\s+([A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,3})"
)
_SPLIT = re.compile(rf"{_THING}")


def arithmetic_expression(text: str) -> str | None:
    """The first arithmetic expression of a text (`2+3*4` in "what is 2+3*4?"), else None.

    Args:
        text: Any text.

    Returns:
        The expression as written (`×` and `^` kept), or None when the text holds no
        expression with an operator that `kimi_graph.tools._arithmetic.evaluate` accepts.
    """
    for match in _EXPRESSION.finditer(text):
        candidate = match.group().strip()
        if not _OPERATOR.search(candidate):
            continue
        candidate = _balance(candidate)
        try:
            evaluate(candidate.replace("×", "*"))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError):
            continue
        return candidate
    return None


def _balance(text: str) -> str:
    """Drop unmatched parentheses at the ends ("(see 2+3)" captures "2+3)")."""
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip()
    while text.startswith("(") and text.count("(") > text.count(")"):
        text = text[1:].lstrip()
    return text


def listed_items(text: str, exclude: frozenset[str] = frozenset()) -> list[str]:
    """The items of the first "X and Y" / "X, Y and Z" list of named things in a text.

    Items are `"quoted strings"` (quotes removed), Capitalised phrases ("New York") or
    numbers; lowercase words never form a list ("salt and pepper" is prose).

    Args:
        text: The user message without directives.
        exclude: Words that are not items (tool names), compared case-insensitively.

    Returns:
        Two to `MAX_FANOUT` items in the order written, or an empty list.
    """
    lowered = {word.lower() for word in exclude}
    for match in _LIST.finditer(text):
        items = [_unquote(t) for t in _SPLIT.findall(match.group(1))]
        items.append(_unquote(match.group(2)))
        items = [_drop_leading_words(item) for item in items]
        if _RANGE.search(text[: match.start()]):
            continue  # "between 1 and 10" is a range, not two things
        if any(not item or item.lower() in lowered for item in items):
            continue
        if len(items) >= 2 and len(set(items)) == len(items):
            return items[:MAX_FANOUT]
    return []


def named_thing(text: str) -> str | None:
    """The one thing a prompt is about ("weather in Paris" -> "Paris").

    Args:
        text: The user message (or one list item) without directives.

    Returns:
        Its first quoted string, else a Capitalised phrase after a preposition, else None.
    """
    quoted = re.search(r'"([^"\n]+)"', text)
    if quoted:
        return quoted.group(1).strip()
    place = _PLACE.search(text)
    return place.group(1) if place else None


def is_calculator(name: str, params: dict[str, Any]) -> bool:
    """Whether a tool evaluates expressions: its name says so or it takes an expression.

    Args:
        name: The tool's name.
        params: The tool's parameter schema.

    Returns:
        True for `calculator`, `calc`, `math_eval` and tools with a required string
        property named like `expression`.
    """
    if re.search(r"calc|math|arith", name, re.IGNORECASE):
        return True
    required = set(params.get("required") or [])
    return bool(required & EXPRESSION_FIELDS)


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return item[1:-1].strip()
    return item


_RANGE = re.compile(r"\b(?:between|from)\s*$", re.IGNORECASE)
# Capitalised only because they start a sentence: not part of a named thing.
_LEADING = frozenset(
    "A An The What What's Whats Use Check Compare Get Find Look Tell Show Give Please How "
    "Is Are Can Could Would Should Search Fetch Call Run Do Does And Or Then I We My Our "
    "Weather".split()
)


def _drop_leading_words(item: str) -> str:
    words = item.split()
    while len(words) > 1 and words[0] in _LEADING:
        words = words[1:]
    return "" if len(words) == 1 and words[0] in _LEADING else " ".join(words)
