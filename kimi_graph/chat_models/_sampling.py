"""What Moonshot enforces on a thinking or instant call: fixed sampling and tool choice.

K2.5 is served with fixed sampling (temperature 1.0 thinking / 0.6 instant, top_p 0.95)
and, while thinking, only `tool_choice` "auto"/"none" (docs/wire.md §1.4, §1.6). A user
value the server would reject is a `ValueError` before any request.
"""

from __future__ import annotations

from typing import Any

from kimi_graph.backends import (
    MOONSHOT_TEMPERATURE_INSTANT,
    MOONSHOT_TEMPERATURE_THINKING,
    MOONSHOT_TOP_P,
)

__all__ = ["apply_fixed_sampling", "check_tool_choice"]


def apply_fixed_sampling(payload: dict[str, Any], *, thinking: bool, model: str) -> None:
    """Send Moonshot's fixed sampling values; refuse a user value it would reject."""
    temperature = MOONSHOT_TEMPERATURE_THINKING if thinking else MOONSHOT_TEMPERATURE_INSTANT
    fixed = {
        "temperature": temperature,
        "top_p": MOONSHOT_TOP_P,
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
    }
    mode = "thinking" if thinking else "instant"
    for name, allowed in fixed.items():
        value = payload.get(name)
        if value is not None and float(value) != float(allowed):
            msg = (
                f"Moonshot serves {model} in {mode} mode only with "
                f"{name}={allowed:g}; got {name}={value!r}. Leave {name} unset "
                "and ChatKimi sends the right value."
            )
            raise ValueError(msg)
    payload["temperature"] = temperature
    payload["top_p"] = MOONSHOT_TOP_P


def check_tool_choice(payload: dict[str, Any], structured_tool: str | None) -> None:
    """Refuse a forced `tool_choice` while thinking, but for structured output's tool."""
    choice = payload.get("tool_choice")
    if choice in (None, "auto", "none"):
        return
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if structured_tool and named == structured_tool:
        # Structured output in thinking mode: the tool cannot be forced, so it is
        # offered with "auto" and the model is told to answer with it.
        payload["tool_choice"] = "auto"
        hint = f"Respond by calling the `{structured_tool}` tool with your answer."
        messages = payload["messages"]
        if (
            messages
            and messages[0].get("role") == "system"
            and isinstance(messages[0].get("content"), str)
        ):
            messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{hint}"}
        else:
            messages.insert(0, {"role": "system", "content": hint})
        return
    shown = "required" if choice in ("required", "any", True) else f"{named or choice!r}"
    msg = (
        f"Moonshot rejects tool_choice={shown} while thinking is on (only 'auto' or "
        "'none'). Use tool_choice='auto', or call with thinking=False."
    )
    raise ValueError(msg)
