"""The emulated model's deterministic policy: from a request to one assistant turn."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kimi_graph.emulator.directives import CallSpec, Directives, strip_directives
from kimi_graph.emulator.platform import (
    WEB_SEARCH,
    builtin_names,
    continuation,
    partial_prefix,
    search_results,
    web_search_arguments,
)
from kimi_graph.emulator.schema import (
    call_syntax_args,
    clip,
    source_from_message,
    synthesize_arguments,
    value_for,
)
from kimi_graph.emulator.teacher import is_calculator, listed_items
from kimi_graph.tools._arithmetic import evaluate

__all__ = [
    "EMULATOR_NOTE",
    "ToolCall",
    "Turn",
    "arithmetic_answer",
    "count_images",
    "decide",
    "last_user_index",
    "message_text",
]

_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(.+?)\s*$", re.MULTILINE)
_ARITH_PREFIX = re.compile(
    r"^(?:what\s+is|what's|whats|calculate|compute|evaluate|how\s+much\s+is)\s+", re.IGNORECASE
)
_ARITH_BODY = re.compile(r"^[\d\s.+\-*/%()x×^]+$")
#: What a canned answer says about where it comes from.
EMULATOR_NOTE = (
    "this is a scripted reply from kimi-graph's K2.5 emulator, not from the model; "
    "point KIMI_BASE_URL at a real K2.5 endpoint for a real answer."
)
_ROLES = ("researcher", "analyst", "writer", "reviewer", "planner", "engineer")


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a turn.

    Attributes:
        id: Kimi's id, ``functions.NAME:IDX``.
        name: Tool name.
        arguments: Arguments as a JSON string (not valid JSON under ``[[fault malformed]]``).
    """

    id: str
    name: str
    arguments: str


@dataclass
class Turn:
    """What the model says on one request, before dialect rendering and truncation.

    Attributes:
        reasoning: Chain of thought (empty in instant mode).
        content: Answer text (empty when calling tools).
        tool_calls: Tool calls of this turn.
    """

    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


def message_text(content: Any) -> str:
    """Plain text of a message's ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return "" if content is None else str(content)


def count_images(content: Any) -> int:
    """Number of ``image_url`` parts in a message's content (never fetched)."""
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def last_user_index(messages: list[dict[str, Any]]) -> int:
    """Index of the last user message, or -1."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return -1


def arithmetic_answer(question: str) -> str | None:
    """The result of a simple arithmetic question such as ``what is 2+3*4``, else ``None``."""
    text = _ARITH_PREFIX.sub("", question.strip()).rstrip(" ?.!=")
    if not text or not _ARITH_BODY.match(text) or not re.search(r"\d\s*[-+*/%x×^]", text):
        return None
    try:
        value = evaluate(text.replace("×", "*").replace("x", "*"))
    except (ValueError, SyntaxError, ZeroDivisionError, OverflowError, TypeError):
        return None
    return str(round(value, 10) if isinstance(value, float) else value)


def _functions(tools: Any) -> dict[str, dict[str, Any]]:
    """Map function tool names to their parameter schemas."""
    out: dict[str, dict[str, Any]] = {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        fn = tool.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out[fn["name"]] = params if isinstance(params, dict) else {}
    return out


def _task_tool(functions: dict[str, dict[str, Any]]) -> str | None:
    """The first tool whose schema has a required ``task`` string property."""
    for name, params in functions.items():
        props = params.get("properties") or {}
        task = props.get("task")
        if "task" in (params.get("required") or []) and isinstance(task, dict):
            if task.get("type", "string") == "string":
                return name
    return None


def _swarm_calls(
    name: str, params: dict[str, Any], items: list[str], text: str
) -> list[dict[str, Any]]:
    """One set of arguments per list item for a ``task`` tool."""
    has_role = "role" in (params.get("properties") or {})
    out = []
    for i, item in enumerate(items):
        role, sep, rest = item.partition(":")
        args = synthesize_arguments(params, name, text, text=item)
        if has_role and sep and rest.strip() and len(role.strip()) <= 40:
            args["role"], args["task"] = role.strip(), rest.strip()
        else:
            args["task"] = item
            if has_role:
                args["role"] = _ROLES[i % len(_ROLES)]
        out.append(args)
    return out


_GENERIC_WORDS = frozenset(
    {"tool", "tools", "function", "call", "make", "current", "data", "info", "value", "result"}
)


def _topic_words(name: str) -> set[str]:
    """Words of a tool name a user would use for its topic (``get_weather``: weather)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    words = {w.lower() for w in re.split(r"[^A-Za-z]+", spaced)}
    return {w for w in words if len(w) >= 4 and w not in _GENERIC_WORDS}


def _relevant_tools(text: str, functions: dict[str, dict[str, Any]]) -> list[str]:
    """Tools the text names, else tools whose topic words it uses, in order of mention."""
    hits = []
    for name in functions:
        m = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text, re.IGNORECASE)
        if m:
            hits.append((m.start(), name))
    if not hits:
        lowered = text.lower()
        for name in functions:
            for word in _topic_words(name):
                m = re.search(rf"\b{re.escape(word)}", lowered)
                if m:
                    hits.append((m.start(), name))
                    break
    return [name for _, name in sorted(hits)]


_INSTRUCTED = re.compile(
    r"(?:respond|answer|reply)\s+(?:only\s+)?by\s+calling\s+(?:the\s+)?`?(\w+)`?",
    re.IGNORECASE,
)


def _instructed_tools(system_text: str, functions: dict[str, dict[str, Any]]) -> list[str]:
    """Tools a system message tells the model to answer with ("respond by calling X")."""
    return [n for n in _INSTRUCTED.findall(system_text) if n in functions]


def _plan_calls(
    d: Directives,
    k: int,
    functions: dict[str, dict[str, Any]],
    tool_choice: Any,
    system_text: str = "",
) -> list[tuple[str, dict[str, Any] | None]]:
    """Decide which tools to call on this turn (``None`` arguments: synthesise them)."""
    if tool_choice == "none":
        return []
    if d.loop is not None:
        return [(d.loop.name, d.loop.arguments)]
    if d.has_calls:
        group: list[CallSpec] = d.groups[k] if k < len(d.groups) else []
        return [(c.name, c.arguments) for c in group]
    calls: list[tuple[str, dict[str, Any] | None]] = []
    if k == 0 and functions:
        items = _LIST_ITEM.findall(d.text)
        task_tool = _task_tool(functions)
        if task_tool and len(items) >= 2:
            calls = [
                (task_tool, a) for a in _swarm_calls(task_tool, functions[task_tool], items, d.text)
            ]
        else:
            names = (
                _relevant_tools(d.text, functions)
                or _instructed_tools(system_text, functions)
                or _calculator_for(d.text, functions)
            )
            calls = _fan_out(names, d.text, functions) or [(name, None) for name in names]
    if isinstance(tool_choice, dict):
        forced = (tool_choice.get("function") or {}).get("name")
        if isinstance(forced, str) and forced in functions:
            kept = [c for c in calls if c[0] == forced]
            calls = kept or [(forced, None)]
    elif tool_choice == "required" and not calls and functions:
        calls = [(next(iter(functions)), None)]
    return calls


def _calculator_for(text: str, functions: dict[str, dict[str, Any]]) -> list[str]:
    """A calculator tool for a plain arithmetic question (`what is 2+3*4?`), if offered."""
    if arithmetic_answer(text) is None:
        return []
    return [name for name, params in functions.items() if is_calculator(name, params)][:1]


def _fan_out(
    names: list[str], text: str, functions: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any] | None]]:
    """Parallel calls of one tool over an "X and Y" list ("weather in Paris and Rome").

    Only when exactly one tool is called, the message does not spell its arguments
    (`name(...)`) and the tool takes the listed things (a string property other than
    `code`, or a number for a list of numbers).
    """
    if len(names) != 1:
        return []
    name = names[0]
    params = functions.get(name, {})
    if call_syntax_args(text, name, params):
        return []
    items = listed_items(text, exclude=frozenset(functions))
    if len(items) < 2 or not _takes_items(params, items):
        return []
    return [(name, synthesize_arguments(params, name, text, text=item)) for item in items]


def _takes_items(params: dict[str, Any], items: list[str]) -> bool:
    numeric = all(re.fullmatch(r"-?\d+(?:\.\d+)?", item) for item in items)
    for key, prop in (params.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind in ("string", None) and key != "code":
            return True
        if numeric and kind in ("integer", "number"):
            return True
    return False


def _reasoning(question: str, images: int, names: list[str], results: int) -> str:
    """Two to four deterministic sentences about the question and the plan."""
    parts = [f'The user asks: "{clip(question, 120)}".' if question else "The user asks nothing."]
    if images:
        parts.append(f"The message includes {images} image{'s' if images != 1 else ''}.")
    if names:
        together = " in parallel" if len(names) > 1 else ""
        parts.append(f"I will call {', '.join(names)}{together}.")
    elif results:
        parts.append(
            f"I have {results} tool result{'s' if results != 1 else ''}; I can answer now."
        )
    else:
        parts.append("I can answer directly.")
    parts.append("Let me keep the answer short and precise.")
    return " ".join(parts)


def _answer(d: Directives, question: str, results: list[str], images: int) -> str:
    if d.answer is not None:
        text = d.answer
    elif results:
        text = "Based on the tool results: " + "; ".join(clip(r, 200) for r in results)
    else:
        number = arithmetic_answer(question)
        if number is not None:
            text = number
        elif question:
            text = f'Here is my answer to "{clip(question, 80)}": {EMULATOR_NOTE}'
        else:
            text = f"Here is my answer: {EMULATOR_NOTE}"
    if images:
        text = f"I see {images} image{'s' if images != 1 else ''}. {text}"
    return text


def _formatted(text: str, response_format: Any, question: str) -> str:
    """Wrap an answer into the requested JSON format."""
    if not isinstance(response_format, dict):
        return text
    kind = response_format.get("type")
    if kind == "json_object":
        return json.dumps({"answer": text}, ensure_ascii=False)
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        value = value_for(schema or {"type": "object"}, source_from_message(question or text))
        return json.dumps(value, ensure_ascii=False)
    return text


def decide(body: dict[str, Any], thinking: bool, d: Directives) -> Turn:
    """Compute the model's turn for a request.

    Args:
        body: The validated request body.
        thinking: Whether thinking is on.
        d: Directives parsed from the last user message.

    Returns:
        The turn: reasoning (thinking only, never empty then), content and tool calls.
    """
    messages: list[dict[str, Any]] = body["messages"]
    u = last_user_index(messages)
    images = count_images(messages[u].get("content")) if u >= 0 else 0
    after = messages[u + 1 :]
    k = sum(1 for m in after if m.get("role") == "assistant" and m.get("tool_calls"))
    results: list[str] = []
    searched = search_results(messages)
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "tool":
            break
        results.insert(0, searched.get(i) or strip_directives(message_text(m.get("content"))))
    functions = _functions(body.get("tools"))
    system_text = " ".join(
        message_text(m.get("content")) for m in messages if m.get("role") == "system"
    )
    planned = _plan_calls(d, k, functions, body.get("tool_choice"), system_text)
    if (
        not planned
        and k == 0
        and body.get("tool_choice") != "none"
        and WEB_SEARCH in builtin_names(body.get("tools"))
    ):
        planned = [(WEB_SEARCH, None)]
    if body.get("parallel_tool_calls") is False:
        planned = planned[:1]
    prior = sum(
        len(m.get("tool_calls") or [])
        for m in messages
        if m.get("role") == "assistant" and isinstance(m.get("tool_calls"), list)
    )
    calls = []
    for i, (name, args) in enumerate(planned):
        if args is None and name == WEB_SEARCH:
            args = web_search_arguments(d.text)
        elif args is None:
            args = synthesize_arguments(functions.get(name, {}), name, d.text)
        text = json.dumps(args, ensure_ascii=False)
        if d.malformed:
            text = text[:-2] if len(text) > 2 else '{"'
        elif d.bad_args is not None:
            text = d.bad_args
        calls.append(ToolCall(f"functions.{name}:{prior + i}", name, text))
    turn = Turn(tool_calls=calls)
    if thinking:
        turn.reasoning = _reasoning(d.text, images, [c.name for c in calls], len(results))
    if not calls:
        answer = _answer(d, d.text, results, images)
        turn.content = _formatted(answer, body.get("response_format"), d.text)
        prefix = partial_prefix(messages)
        if prefix is not None:
            turn.content = continuation(turn.content, prefix)
    return turn
