"""The demo's local tools: `calculator` and the `run_python` sandbox (no network needed)."""

from __future__ import annotations

from langchain_core.tools import BaseTool

from kimi_graph.tools.calculator import calculator

__all__ = ["calculator", "demo_tools"]


def demo_tools() -> list[BaseTool]:
    """The demo's tools: `calculator` and the `run_python` sandbox (no network needed)."""
    from kimi_graph.tools import run_python

    return [calculator, run_python]
