"""Calls Moonshot serves only with thinking off: forced tool choice and builtin tools.

Moonshot answers HTTP 400 to a forced `tool_choice` (`"required"` or a named tool)
while thinking is on (docs/wire.md §1.6), and its builtin `$web_search` needs thinking off
(§1.7). Generic LangChain code forces tool choice all the time (`bind_tools(...,
tool_choice="any")`, `create_agent` structured output, the standard test suite), so by
default ChatKimi turns thinking off *for that one call*, as other clients do
(simstudioai/sim PR #5716), and warns once per model instance. The option
`forced_tool_choice="error"` (or `builtin_search="error"`) restores the strict
`ValueError` raised before any request.

The conversation stays valid for Moonshot afterwards: the instant-mode turn carries no
reasoning, and `ChatKimi` writes an empty `reasoning_content` back on such a tool-call
turn when a later call thinks again (the validator only asks for the field).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

ConflictPolicy = Literal["disable_thinking", "error"]
"""What to do with a call that needs thinking off: turn it off for the call, or raise."""

BUILTIN_PREFIX = "$"
"""Moonshot's builtin functions are named with a leading `$` (`$web_search`)."""


def forced_choice(tool_choice: Any) -> str | None:
    """Name a forced `tool_choice` for messages, or None when it forces nothing.

    Args:
        tool_choice: The payload's `tool_choice` (after `bind_tools` formatting).

    Returns:
        `"required"`, the forced tool's name, or None for absent/`auto`/`none`.
    """
    if tool_choice in (None, "auto", "none", False):
        return None
    if tool_choice in ("required", "any", True):
        return "required"
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        return str(name) if name else repr(tool_choice)
    return str(tool_choice)


def builtin_names(tools: Sequence[Any] | None) -> list[str]:
    """Names of Moonshot builtin functions among request tools (OpenAI tool dicts)."""
    names = []
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        name = (tool.get("function") or {}).get("name")
        if tool.get("type") == "builtin_function" or (
            isinstance(name, str) and name.startswith(BUILTIN_PREFIX)
        ):
            names.append(str(name))
    return names


def as_builtin(tools: list[Any]) -> list[Any]:
    """Rewrite `$`-named function tools into Moonshot's `builtin_function` declaration."""
    out = []
    for tool in tools:
        name = (tool.get("function") or {}).get("name") if isinstance(tool, dict) else None
        if isinstance(name, str) and name.startswith(BUILTIN_PREFIX):
            tool = {"type": "builtin_function", "function": {"name": name}}
        out.append(tool)
    return out


def thinking_for_call(
    thinking: bool,
    *,
    model: str,
    can_switch: bool,
    tool_choice: Any,
    tools: Sequence[Any] | None,
    structured_tool: str | None,
    forced_policy: ConflictPolicy,
    builtin_policy: ConflictPolicy,
) -> tuple[bool, str | None]:
    """Decide whether a Moonshot call thinks, given what it asks for.

    Args:
        thinking: Thinking as configured for the call.
        model: The model id (for messages).
        can_switch: The model can turn thinking off.
        tool_choice: The call's `tool_choice`.
        tools: The call's tools (OpenAI dicts).
        structured_tool: The tool `with_structured_output` binds, which is offered with
            `auto` and an instruction instead (reasoning is kept).
        forced_policy: Policy for a forced `tool_choice`.
        builtin_policy: Policy for builtin tools such as `$web_search`.

    Returns:
        The thinking flag to send and, when it was turned off, why (for the warning).

    Raises:
        ValueError: Under an `"error"` policy, or when the model cannot stop thinking.
    """
    if not thinking:
        return thinking, None
    forced = forced_choice(tool_choice)
    if forced is not None and structured_tool and forced == structured_tool:
        forced = None
    builtins = builtin_names(tools)
    if forced is None and not builtins:
        return thinking, None
    if forced is not None:
        reason = f"tool_choice={forced}"
        option = f"forced_tool_choice={forced_policy!r}"
        policy = forced_policy
    else:
        reason = f"the builtin {', '.join(builtins)}"
        option = f"builtin_search={builtin_policy!r}"
        policy = builtin_policy
    if forced is not None and builtins and builtin_policy == "error":
        policy, option = "error", f"builtin_search={builtin_policy!r}"
    if not can_switch:
        msg = (
            f"Moonshot rejects {reason} while thinking is on, and {model} cannot turn "
            "thinking off. Use tool_choice='auto' (or drop the builtin tool), or a model "
            "with a thinking switch such as kimi-k2.6."
        )
        raise ValueError(msg)
    if policy == "error":
        msg = (
            f"Moonshot rejects {reason} while thinking is on (only tool_choice 'auto' or "
            f"'none', no builtin tools); ChatKimi was made with {option}. Use "
            "tool_choice='auto', or call with thinking=False."
        )
        raise ValueError(msg)
    return False, reason
