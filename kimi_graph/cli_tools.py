"""The demo's local tools: `calculator` and the `run_python` sandbox (no network needed)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

from kimi_graph.arithmetic import evaluate

__all__ = ["calculator", "demo_tools"]


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. `17 * 23 + 4`.

    Supports + - * / // % ** and parentheses on integers and decimals.

    Args:
        expression: The arithmetic expression.
    """
    try:
        return str(evaluate(expression))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as err:
        return f"Error: cannot evaluate {expression!r}: {err}"


def demo_tools() -> list[Any]:
    """The demo's tools: `calculator` and the `run_python` sandbox (no network needed)."""
    from kimi_graph.tools import run_python

    return [calculator, run_python]
