"""Graph state shared by the mode graphs.

Every mode takes and returns LangGraph's messages state, so any of them can be a node
or a subgraph of an existing app. The swarm adds `subagent_results`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from typing_extensions import NotRequired, TypedDict


class InputState(TypedDict):
    """What a mode graph accepts: messages as objects, dicts or (role, text) tuples."""

    messages: Annotated[list[AnyMessage | dict[str, Any] | tuple[str, str] | str], add_messages]


class MessagesState(TypedDict):
    """The conversation; new messages are appended (or replace one with the same id)."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(MessagesState):
    """State of the agent (ReAct) graph."""

    remaining_steps: NotRequired[RemainingSteps]
    """Supersteps left before LangGraph's recursion limit; managed by LangGraph."""


class SubagentResult(TypedDict):
    """What one sub-agent of a swarm produced. Every `assign_task` call ends in one."""

    id: str
    """The orchestrator's tool-call id that launched the sub-agent."""
    role: str
    task: str
    status: Literal["ok", "error"]
    output: str
    """The sub-agent's final answer ("" when it failed)."""
    error: str | None
    """Why it failed, or None."""
    steps: int
    """Model calls the sub-agent made."""
    tool_calls: int
    elapsed_s: float
    round: int
    worker: str
    """Which worker model served it (its base URL)."""


def merge_results(current: list[Any] | None, update: Any) -> list[Any]:
    """Reducer of `subagent_results`: extend, or replace on `{"type": "override"}`.

    The orchestrator's first wave of a request replaces the list, so a thread that
    continues shows the records of its latest request only.
    """
    if isinstance(update, dict) and update.get("type") == "override":
        return list(update.get("value") or [])
    return [*(current or []), *(update or [])]


class SwarmState(MessagesState):
    """State of the swarm graph: the conversation plus the sub-agents' records."""

    subagent_results: NotRequired[Annotated[list[SubagentResult], merge_results]]
    critical_steps: NotRequired[list[int]]
    """Per wave: orchestrator steps plus the longest sub-agent's steps."""


class SwarmOutput(TypedDict):
    """What the swarm graph returns."""

    messages: Annotated[list[AnyMessage], add_messages]
    subagent_results: list[SubagentResult]
    critical_steps: list[int]
