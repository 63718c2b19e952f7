"""Per-run settings of the mode graphs: `KimiContext`, their `context_schema`.

Every field defaults to None, which means "what the graph was built with". A run
changes them with `graph.invoke(inputs, context={"thinking": False})`, or from
LangGraph Studio / the SDK with `client.runs.create(..., context={...})`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

from pydantic import Field

from kimi_graph.backends import BackendName

__all__ = ["KimiContext", "current_context"]


@dataclass(frozen=True)
class KimiContext:
    """Per-run settings of a kimi-graph graph; None keeps the graph's own value."""

    model: Annotated[
        str | None,
        Field(description="Served model name for this run, e.g. 'kimi-k2.5'."),
    ] = None
    base_url: Annotated[
        str | None,
        Field(
            description=(
                "OpenAI-compatible endpoint for this run. The graph's API key is sent "
                "only to its own host (or to a Moonshot host, with MOONSHOT_API_KEY)."
            )
        ),
    ] = None
    backend: Annotated[
        BackendName | None,
        Field(description="Server dialect: moonshot, vllm, sglang, llamacpp, openrouter, openai."),
    ] = None
    thinking: Annotated[
        bool | None,
        Field(
            description=(
                "Thinking (true) or instant (false) for the graph's own model calls; in a "
                "swarm, the orchestrator and the synthesis."
            )
        ),
    ] = None
    reasoning_effort: Annotated[
        str | None,
        Field(
            description=(
                "LangChain's standard reasoning effort for the graph's own model calls (in "
                "a swarm, the orchestrator and the synthesis); it takes the place of "
                "`thinking`. K3 reads 'low', 'high' or 'max'; a model with a thinking "
                "switch reads 'none'/'minimal' as instant and any other level as thinking."
            )
        ),
    ] = None
    system_prompt: Annotated[
        str | None,
        Field(description="System prompt; in a swarm, the orchestrator's."),
    ] = None
    max_steps: Annotated[
        int | None,
        Field(ge=1, description="Model calls per request of the agent and of each sub-agent."),
    ] = None
    max_tool_calls: Annotated[
        int | None,
        Field(
            ge=0,
            description=(
                "Tool calls per request of the agent; a swarm sets each sub-agent's share "
                "of its budget here."
            ),
        ),
    ] = None
    max_subagents: Annotated[
        int | None,
        Field(ge=1, description="Swarm: sub-agents per request; further calls are refused."),
    ] = None
    max_concurrency: Annotated[
        int | None,
        Field(ge=1, description="Swarm: sub-agents running at once."),
    ] = None
    max_rounds: Annotated[
        int | None,
        Field(ge=1, description="Swarm: rounds of sub-agents per request."),
    ] = None
    subagent_thinking: Annotated[
        bool | None,
        Field(description="Swarm: run the sub-agents in thinking mode (default instant)."),
    ] = None
    subagent_urls: Annotated[
        tuple[str, ...] | None,
        Field(
            description=(
                "Swarm: URLs of a LangGraph deployment (Aegra or LangGraph Server instances, "
                "or one balancer) whose runs the sub-agents become (env KIMI_SUBAGENT_URLS, "
                "comma-separated). Only for a swarm built without worker_model/subagent_graph."
            )
        ),
    ] = None
    subagent_assistant: Annotated[
        str | None,
        Field(
            description=(
                "Swarm: the graph (or assistant id) the sub-agents run on those URLs "
                "(env KIMI_SUBAGENT_GRAPH; default 'agent')."
            )
        ),
    ] = None
    subagent_id: Annotated[
        str | None,
        Field(
            description=(
                "Set by a controllable swarm on the runs of its remote sub-agents: the run "
                "reads steer and cancel commands for this id from its store (under "
                "('kimi_graph', 'control', <thread_id>)) before each model call and tool step."
            )
        ),
    ] = None

    def __post_init__(self) -> None:
        if self.reasoning_effort is not None:
            if not isinstance(self.reasoning_effort, str):
                msg = (
                    f"KimiContext.reasoning_effort must be a string, got {self.reasoning_effort!r}."
                )
                raise ValueError(msg)
            effort_on = self.reasoning_effort not in ("none", "minimal")
            if self.thinking is not None and self.thinking != effort_on:
                msg = (
                    f"KimiContext.thinking={self.thinking!r} contradicts "
                    f"reasoning_effort={self.reasoning_effort!r}; give one of them."
                )
                raise ValueError(msg)
        for name in (
            "max_steps",
            "max_tool_calls",
            "max_subagents",
            "max_concurrency",
            "max_rounds",
        ):
            value = getattr(self, name)
            least = 0 if name == "max_tool_calls" else 1
            if value is not None and (not isinstance(value, int) or value < least):
                msg = f"KimiContext.{name} must be an integer >= {least}, got {value!r}."
                raise ValueError(msg)
        if self.subagent_urls is not None:
            if isinstance(self.subagent_urls, str) or not all(
                isinstance(u, str) for u in self.subagent_urls
            ):
                msg = (
                    f"KimiContext.subagent_urls must be a list of URLs, got {self.subagent_urls!r}."
                )
                raise ValueError(msg)
            object.__setattr__(self, "subagent_urls", tuple(self.subagent_urls))
        if self.subagent_id is not None and (
            not isinstance(self.subagent_id, str) or not self.subagent_id
        ):
            msg = f"KimiContext.subagent_id must be a non-empty string, got {self.subagent_id!r}."
            raise ValueError(msg)


def current_context() -> KimiContext:
    """The `KimiContext` of the running graph, or an empty one outside a run.

    A plain dict given as `context=` to a graph without our schema (e.g. a parent graph
    of the user's) is read as well, keeping the fields `KimiContext` knows.
    """
    from langgraph.runtime import get_runtime

    try:
        context = get_runtime().context
    except (RuntimeError, KeyError, AttributeError):
        return _EMPTY
    if isinstance(context, KimiContext):
        return context
    if isinstance(context, dict):
        known = {f.name for f in fields(KimiContext)}
        return KimiContext(**{k: v for k, v in context.items() if k in known})
    return _EMPTY


_EMPTY = KimiContext()
"""The context of a run without one (frozen, so one instance serves every call)."""
