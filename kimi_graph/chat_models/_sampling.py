"""What the server enforces on one call, applied as its `CallPlan` says.

Moonshot serves K2.5/K2.6 with fixed sampling (temperature 1.0 thinking / 0.6 instant,
top_p 0.95) and K3 with temperature 1 only (WIRE.md §1.4, §8.2); while thinking, only
`tool_choice` "auto"/"none" (§1.6), so structured output's tool is offered with "auto"
and an instruction. A user value the server would reject is a `ValueError` before any
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["apply_fixed_sampling", "offer_structured_tool"]


def apply_fixed_sampling(
    payload: dict[str, Any],
    fixed: Mapping[str, float],
    sent: tuple[str, ...],
    *,
    thinking: bool,
    model: str,
) -> None:
    """Send the server's fixed sampling values; refuse a user value it would reject.

    Args:
        payload: The request payload (changed in place).
        fixed: The values the server takes for this call and no other.
        sent: Names of those values ChatKimi sends itself.
        thinking: Whether the call reasons (for the message).
        model: The model id (for the message).

    Raises:
        ValueError: A value in `payload` differs from the fixed one.
    """
    mode = "thinking" if thinking else "instant"
    for name, allowed in fixed.items():
        value = payload.get(name)
        if value is not None and float(value) != float(allowed):
            msg = (
                f"Moonshot serves {model} in {mode} mode only with "
                f"{name}={allowed:g}; got {name}={value!r} (the server would answer 400 "
                f"'invalid {name}: only {allowed:g} is allowed for this model'). Leave "
                f"{name} unset and ChatKimi sends the right value."
            )
            raise ValueError(msg)
    for name in sent:
        payload[name] = fixed[name]


def offer_structured_tool(payload: dict[str, Any], tool: str) -> None:
    """Offer structured output's tool with `tool_choice="auto"` and tell the model to use it."""
    payload["tool_choice"] = "auto"
    hint = f"Respond by calling the `{tool}` tool with your answer."
    messages = payload["messages"]
    if (
        messages
        and messages[0].get("role") == "system"
        and isinstance(messages[0].get("content"), str)
    ):
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{hint}"}
    else:
        messages.insert(0, {"role": "system", "content": hint})
