"""Test-only Studio graph: a swarm whose sub-agents may ask a person (`interrupt()`).

`test_studio_sdk.py` serves it beside the four graphs of `graphs/` under `langgraph dev`
and resumes the pause through the SDK (`Command(resume=...)`).
"""

from __future__ import annotations

from langchain_core.tools import tool
from langgraph.types import interrupt

from kimi_graph import create_swarm_graph


@tool
def ask_human(question: str) -> str:
    """Ask the person a question and return their answer."""
    return str(interrupt({"question": question}))


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


graph = create_swarm_graph(tools=[ask_human, get_weather], name="kimi-swarm-hitl")
