"""The demo's `calculator` tool: plain arithmetic, evaluated without `eval`.

A local tool for the offline demo (`kimi-graph demo`, `serve --tools demo`) and for
tests; it is not among `default_tools()`.
"""

from __future__ import annotations

from langchain_core.tools import tool

from kimi_graph.tools._arithmetic import evaluate

__all__ = ["calculator"]


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
