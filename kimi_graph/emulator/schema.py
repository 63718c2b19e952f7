"""Deterministic values from JSON schemas: tool arguments and structured output."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from kimi_graph.emulator.teacher import (
    EXPRESSION_FIELDS,
    FREE_TEXT_FIELDS,
    arithmetic_expression,
    named_thing,
)

__all__ = [
    "Source",
    "call_syntax_args",
    "clip",
    "first_number",
    "source_from_message",
    "synthesize_arguments",
    "value_for",
]

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r'"([^"\n]+)"')
_FENCED = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_ARG_SPLIT = re.compile(r"""(?:[^,"']|"[^"]*"|'[^']*')+""")
_KWARG = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*$", re.DOTALL)
_MAX_DEPTH = 8
_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def clip(text: str, limit: int) -> str:
    """Clip a text to ``limit`` characters (an ellipsis marks the cut).

    Args:
        text: Any text.
        limit: Maximum length.

    Returns:
        The text, at most ``limit`` characters long.
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def first_number(text: str) -> int | float | None:
    """The first number in a text (an ``int`` when integral), or ``None``."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    value = float(m.group())
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class Source:
    """Where generated values come from.

    Attributes:
        text: Text used for string fields.
        number: Number used for numeric fields (``None``: 1).
        code: Text used for a field named ``code``.
        thing: The one thing the message names (``"Paris"``), used for string fields
            that do not take free text (``city``, ``name``); ``None``: ``text``.
        expression: The message's arithmetic expression, used for fields named like
            ``expression``; ``None``: ``text``.
    """

    text: str
    number: int | float | None
    code: str
    thing: str | None = None
    expression: str | None = None


def source_from_message(message: str, noise: tuple[str, ...] = ()) -> Source:
    """Build a value source from a user message.

    Args:
        message: The user message without directives.
        noise: Words to drop from the message text (e.g. the tool's name).

    Returns:
        The value source.
    """
    quoted = _QUOTED.search(message)
    if quoted:
        text = quoted.group(1)
    else:
        text = message
        for word in noise:
            text = re.sub(rf"\b{re.escape(word)}\s*(\([^()]*\))?", " ", text, flags=re.IGNORECASE)
        text = clip(text, 200) or message
    number = first_number(message)
    fenced = _FENCED.search(message)
    expression = arithmetic_expression(quoted.group(1) if quoted else message)
    if fenced:
        code = fenced.group(1).strip()
    elif expression is not None:
        code = f"print({expression.replace('×', '*').replace('^', '**')})"
    else:
        code = f"print({number if number is not None else 1})"
    return Source(text=clip(text, 200), number=number, code=code, expression=expression)


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and pick the first non-null ``anyOf``/``oneOf`` option; merge ``allOf``."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for key in ref[2:].split("/"):
                target = target.get(key, {}) if isinstance(target, dict) else {}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        options = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            schema = {**rest, **(non_null or options)[0]}
            continue
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                part = _resolve(part, root)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                required = list(merged.get("required", [])) + list(part.get("required", []))
                merged = {**merged, **part, "properties": props, "required": required}
            schema = merged
            continue
        return schema
    return schema if isinstance(schema, dict) else {}


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: dict[str, Any], src: Source, integer: bool) -> int | float:
    value: float = src.number if src.number is not None else 1
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if isinstance(low, (int, float)) and value < low:
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(high, (int, float)) and value > high:
        value = high - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
    if integer:
        return int(value)
    return int(value) if float(value).is_integer() else value


def value_for(
    schema: Any,
    src: Source,
    *,
    root: dict[str, Any] | None = None,
    name: str | None = None,
    fill_optional: bool = True,
    depth: int = 0,
) -> Any:
    """Generate a deterministic value valid for a JSON schema.

    Args:
        schema: The (sub)schema.
        src: Where strings and numbers come from.
        root: The root schema (for ``$ref``); defaults to ``schema``.
        name: The property name this value is for, if any.
        fill_optional: Fill optional properties too (else only those without a default).
        depth: Recursion depth (recursive schemas stop filling optional fields).

    Returns:
        A JSON-serialisable value.
    """
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = _kind(schema)
    if kind == "string":
        if name == "code":
            return src.code
        text = src.text
        if name in EXPRESSION_FIELDS and src.expression is not None:
            text = src.expression
        elif name is not None and name not in FREE_TEXT_FIELDS and src.thing is not None:
            text = src.thing
        text = _FORMATS.get(str(schema.get("format")), text)
        min_len = schema.get("minLength")
        if isinstance(min_len, int) and len(text) < min_len:
            text = text + "x" * (min_len - len(text))
        max_len = schema.get("maxLength")
        return text[:max_len] if isinstance(max_len, int) else text
    if kind in ("integer", "number"):
        return _number(schema, src, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        if depth >= _MAX_DEPTH:
            return []
        item = value_for(
            schema.get("items", {}), src, root=root, fill_optional=fill_optional, depth=depth + 1
        )
        return [item] * count
    return _object(schema, src, root, fill_optional, depth)


def _object(
    schema: dict[str, Any], src: Source, root: dict[str, Any], fill_optional: bool, depth: int
) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict) or depth >= _MAX_DEPTH:
        return {}
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for key, sub in props.items():
        sub_resolved = _resolve(sub, root)
        optional_ok = fill_optional and depth < 3
        if key in required or optional_ok or (not fill_optional and "default" not in sub_resolved):
            out[key] = value_for(
                sub, src, root=root, name=key, fill_optional=fill_optional, depth=depth + 1
            )
    return out


def _literal(text: str) -> Any:
    text = text.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text.strip("'\"")


def call_syntax_args(message: str, tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Arguments written as ``name(3)`` or ``name(a=3)`` in a message.

    Args:
        message: The user message.
        tool_name: The tool's name.
        params: The tool's parameter schema (positional arguments follow its property order).

    Returns:
        The arguments found (possibly empty).
    """
    m = re.search(rf"\b{re.escape(tool_name)}\s*\(([^()]*)\)", message)
    if m is None or not m.group(1).strip():
        return {}
    order = list((params.get("properties") or {}).keys())
    out: dict[str, Any] = {}
    position = 0
    for part in _ARG_SPLIT.findall(m.group(1)):
        kw = _KWARG.match(part)
        if kw:
            out[kw.group(1)] = _literal(kw.group(2))
        elif position < len(order):
            out[order[position]] = _literal(part)
            position += 1
    return out


def synthesize_arguments(
    params: Any, tool_name: str, message: str, text: str | None = None
) -> dict[str, Any]:
    """Build a tool call's arguments from the tool's JSON schema and the user message.

    Args:
        params: The tool's ``parameters`` schema.
        tool_name: The tool's name (removed from the text used for strings).
        message: The user message without directives.
        text: Overrides the message as the source of values (e.g. one list item).

    Returns:
        The arguments: required fields and optional ones without a default.
    """
    params = params if isinstance(params, dict) else {}
    source = text if text is not None else message
    src = replace(source_from_message(source, (tool_name,)), thing=named_thing(source))
    args = value_for(params, src, root=params, fill_optional=False)
    if not isinstance(args, dict):
        args = {}
    args.update(call_syntax_args(message, tool_name, params))
    return args
