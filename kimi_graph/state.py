"""Graph state shared by the mode graphs.

Every mode takes and returns a messages state shaped like LangGraph's `MessagesState`
(a `messages` key with the `add_messages` reducer), so any of them can be a node or a
subgraph of an existing app. The swarm adds `subagent_results`. The names here differ
from LangGraph's (`MessagesState`, `AgentState`) so that importing both never shadows.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langchain_core.messages.ai import UsageMetadata
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from typing_extensions import TypedDict

__all__ = [
    "AgentLoopState",
    "ConversationState",
    "InputState",
    "SubagentResult",
    "SubagentTask",
    "SwarmOutput",
    "SwarmState",
]


class InputState(TypedDict):
    """What a mode graph accepts: messages as objects, dicts or (role, text) tuples."""

    messages: Annotated[list[AnyMessage | dict[str, Any] | tuple[str, str] | str], add_messages]


class ConversationState(TypedDict):
    """The conversation; new messages are appended (or replace one with the same id)."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentLoopState(ConversationState):
    """State of the agent (ReAct) graph."""

    remaining_steps: NotRequired[RemainingSteps]
    """Supersteps left before LangGraph's recursion limit; managed by LangGraph."""


class SubagentResult(TypedDict):
    """What one sub-agent of a swarm produced. Every `assign_task` call ends in one."""

    id: str
    """The orchestrator's tool-call id that launched the sub-agent."""
    role: str
    task: str
    status: Literal["ok", "error", "cancelled", "aborted"]
    """`cancelled`/`aborted`: ended by a `SwarmControl` command (its output is partial)."""
    output: str
    """The sub-agent's final answer ("" when it failed; a cancelled one's summary)."""
    error: str | None
    """Why it failed or was cancelled/aborted, or None."""
    steps: int
    """Model calls the sub-agent made."""
    tool_calls: int
    elapsed_s: float
    round: int
    worker: str
    """Which worker served it (its base URL or graph name)."""
    usage: NotRequired[UsageMetadata]
    """Tokens of its model calls, summed."""
    namespace: NotRequired[str]
    """Its branch's checkpoint namespace, `subagent:<LangGraph task id>` (after the
    parent's namespace when the swarm is nested): the sub-agent's streamed events
    carry the same namespace. The task id is LangGraph's, not the record's `id`."""


class SubagentTask(TypedDict):
    """The `Send` packet of one sub-agent: what the orchestrator asked and where it runs."""

    id: str
    """The orchestrator's `assign_task` call id."""
    role: str
    task: str
    instructions: str | None
    round: int
    worker_index: int
    """Index into the swarm's workers (the record's `worker` names the one that ran it)."""
    max_tool_calls: int
    """This sub-agent's share of the swarm's tool-call budget."""
    group: str
    """Key of the sub-agents that share one `max_concurrency` bound (one round)."""
    result_chars: NotRequired[int]
    """Characters of the result the orchestrator reads (the round's share)."""


class SwarmState(ConversationState):
    """State of the swarm graph: the conversation, the sub-agents' records, counters.

    `subagent_results`, `critical_steps`, `round`, `launched` and `pending` describe
    the current request: its first orchestrator turn resets them (`Overwrite`).
    """

    subagent_results: NotRequired[Annotated[list[SubagentResult], operator.add]]
    critical_steps: NotRequired[list[int]]
    """Per round: one orchestrator step plus the longest sub-agent's steps."""
    round: NotRequired[int]
    """Rounds (each one turn of `assign_task` calls) of the current request so far."""
    launched: NotRequired[int]
    """Sub-agents accepted in the current request so far (for `max_subagents`)."""
    orchestrator_usage: NotRequired[UsageMetadata]
    """Tokens of the orchestrator's calls in the current request."""
    pending: NotRequired[list[SubagentTask]]
    """The tasks of the latest round waiting to be sent (after plan review)."""


class SwarmOutput(TypedDict):
    """What the swarm graph returns."""

    messages: Annotated[list[AnyMessage], add_messages]
    subagent_results: list[SubagentResult]
    critical_steps: list[int]
