"""`create_swarm_graph`: the orchestrator, its sub-agent branches and the synthesis, wired."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer, Send

from kimi_graph._thread_guard import guard_threads
from kimi_graph._transport.urls import redact_url
from kimi_graph.context import KimiContext, current_context
from kimi_graph.modes._model import ModelLike, ModelSource, call_kwargs, find_kimi
from kimi_graph.modes._node import dual_node
from kimi_graph.modes._repair import answer_dangling_calls
from kimi_graph.modes.agent import DEFAULT_MAX_STEPS, DEFAULT_TOOL_TIMEOUT, create_agent_graph
from kimi_graph.modes.swarm import _prompts as prompts
from kimi_graph.modes.swarm._commands import swarm_stopped
from kimi_graph.modes.swarm._context import compact_for_orchestrator
from kimi_graph.modes.swarm._plan import ASSIGN_TASK_TOOL, continues_request, plan_round
from kimi_graph.modes.swarm._remote import remote_workers
from kimi_graph.modes.swarm._review import review_plan
from kimi_graph.modes.swarm._settings import DEFAULT_TOOL_CALL_BUDGET, SwarmSettings
from kimi_graph.modes.swarm._subagent import SubagentBranch, Worker, describe
from kimi_graph.modes.swarm._synthesis import finish, results_digest, synthesis_input
from kimi_graph.state import InputState, SwarmOutput, SwarmState

SwarmGraph = CompiledStateGraph[SwarmState, KimiContext, InputState, SwarmOutput]
"""The compiled graph of agent-swarm mode."""


def _bind(tool_choice: str | None) -> Any:
    def prepare(model: Any) -> Any:
        bind_tools = getattr(model, "bind_tools", None)
        if bind_tools is None:
            msg = f"The swarm's model must support bind_tools; got {type(model).__name__}."
            raise TypeError(msg)
        extra = {"tool_choice": tool_choice} if tool_choice else {}
        return bind_tools([ASSIGN_TASK_TOOL], **extra)

    return prepare


class _ModelStep(ABC):
    """A node that makes one model call; subclasses say what the answer and a failure give.

    `call` and `acall` are the same node on invoke and ainvoke: one request, one
    answer, and the failed call handled alike (after the client's retries are spent).
    LangGraph's control flow (`GraphBubbleUp`) always propagates.
    """

    @abstractmethod
    def _request(
        self, state: SwarmState
    ) -> tuple[Any, list[AnyMessage], dict[str, Any], SwarmSettings]:
        """The model, its messages, the call's options and the run's settings."""

    @abstractmethod
    def _answered(
        self, state: SwarmState, response: AIMessage, settings: SwarmSettings
    ) -> dict[str, Any]:
        """The state update of an answered call."""

    @abstractmethod
    def _failed(self, state: SwarmState, err: Exception) -> dict[str, Any]:
        """The state update of a failed call (or raise it)."""

    def call(self, state: SwarmState, config: RunnableConfig) -> dict[str, Any]:
        """The node (sync)."""
        llm, messages, kwargs, settings = self._request(state)
        try:
            response = llm.invoke(messages, config, **kwargs)
        except GraphBubbleUp:
            raise
        except Exception as err:  # the client's retries are spent
            return self._failed(state, err)
        return self._answered(state, response, settings)

    async def acall(self, state: SwarmState, config: RunnableConfig) -> dict[str, Any]:
        """The node (async)."""
        llm, messages, kwargs, settings = self._request(state)
        try:
            response = await llm.ainvoke(messages, config, **kwargs)
        except GraphBubbleUp:
            raise
        except Exception as err:  # the client's retries are spent
            return self._failed(state, err)
        return self._answered(state, response, settings)


class Orchestrator(_ModelStep):
    """The `orchestrator` node: the model plans a round with `assign_task` calls."""

    def __init__(
        self,
        model: ModelLike | None,
        settings: SwarmSettings,
        workers: Callable[[KimiContext], int],
    ) -> None:
        self.source = ModelSource(model, _bind(None))
        self.settings = settings
        self.workers = workers  # how many workers a run's sub-agents spread over

    def _request(
        self, state: SwarmState
    ) -> tuple[Any, list[AnyMessage], dict[str, Any], SwarmSettings]:
        context = current_context()
        settings = self.settings.for_run(context)
        rounds_note = (
            prompts.ROUNDS_NOTE.format(max_rounds=settings.max_rounds)
            if settings.max_rounds > 1
            else ""
        )
        prompt = settings.system_prompt or prompts.ORCHESTRATOR_PROMPT.format(
            max_subagents=settings.max_subagents, rounds_note=rounds_note
        )
        # unanswered calls of a cut run answered; earlier rounds' results shortened
        # once the conversation is large
        messages = compact_for_orchestrator(
            answer_dangling_calls(
                [m for m in state["messages"] if not isinstance(m, SystemMessage)]
            )
        )
        llm = self.source.get(context)
        return (
            llm,
            [SystemMessage(prompt), *messages],
            call_kwargs(llm, settings.thinking, context.reasoning_effort),
            settings,
        )

    def _answered(
        self, state: SwarmState, response: AIMessage, settings: SwarmSettings
    ) -> dict[str, Any]:
        return plan_round(state, response, settings, self.workers(current_context()))

    def call(self, state: SwarmState, config: RunnableConfig) -> dict[str, Any]:
        """The node (sync); after a `SwarmControl.stop`, no new round."""
        if _stopped(state):
            return {"pending": []}
        return super().call(state, config)

    async def acall(self, state: SwarmState, config: RunnableConfig) -> dict[str, Any]:
        """The node (async); after a `SwarmControl.stop`, no new round."""
        if _stopped(state):
            return {"pending": []}
        return await super().acall(state, config)

    def _failed(self, state: SwarmState, err: Exception) -> dict[str, Any]:
        """A later round's plan failed: keep the results so far and go to the synthesis."""
        if not (state.get("round") and continues_request(state["messages"])):
            raise err  # nothing has been produced yet: the caller sees the error
        note = AIMessage(
            content=f"(No further round: the orchestrator's call failed: {describe(err)})",
            response_metadata={"finish_reason": "error", "error": describe(err)},
        )
        return {"messages": [note], "pending": []}


class Synthesis(_ModelStep):
    """The `synthesis` node: the final answer; a failed call yields a digest instead."""

    def __init__(self, model: ModelLike | None, settings: SwarmSettings) -> None:
        self.source = ModelSource(model, _bind("none"))
        self.settings = settings

    def _request(
        self, state: SwarmState
    ) -> tuple[Any, list[AnyMessage], dict[str, Any], SwarmSettings]:
        context = current_context()
        settings = self.settings.for_run(context)
        llm = self.source.get(context)
        kwargs = call_kwargs(llm, settings.thinking, context.reasoning_effort)
        return llm, answer_dangling_calls(synthesis_input(state)), kwargs, settings

    def _answered(
        self, state: SwarmState, response: AIMessage, settings: SwarmSettings
    ) -> dict[str, Any]:
        return finish(state, response)

    def _failed(self, state: SwarmState, err: Exception) -> dict[str, Any]:
        """Keep the results: the digest of what the sub-agents produced is the answer."""
        return finish(state, results_digest(state.get("subagent_results") or [], err))


def _stopped(state: SwarmState) -> bool:
    """A round of this request ended in a `stop`: go to the synthesis."""
    return continues_request(state["messages"]) and swarm_stopped(
        state.get("subagent_results") or []
    )


def dispatch(state: SwarmState) -> list[Send] | str:
    """One `Send` per pending task; else the synthesis (or the end, if no round ran)."""
    pending = state.get("pending") or []
    if pending:
        return [Send("subagent", task) for task in pending]
    return "synthesis" if state.get("round", 0) else END


def _label(model: Any) -> str:
    kimi = find_kimi(model)
    if kimi is not None and kimi.openai_api_base:
        return redact_url(kimi.openai_api_base)
    return str(getattr(model, "name", None) or type(model).__name__)


def _workers(
    model: ModelLike | None,
    tools: Sequence[BaseTool | Any],
    worker_model: ModelLike | Sequence[ModelLike] | None,
    subagent_graph: Any,
    *,
    limit: int | None,
    max_steps: int,
    tool_timeout: float | None,
) -> list[Worker]:
    if subagent_graph is not None:
        graphs = (
            list(subagent_graph) if isinstance(subagent_graph, (list, tuple)) else [subagent_graph]
        )
        return [Worker(g, _label(g), limit) for g in remote_workers(graphs)]
    chosen = model if worker_model is None else worker_model
    models: list[ModelLike | None] = (
        list(chosen) if isinstance(chosen, (list, tuple)) else [cast("ModelLike | None", chosen)]
    )
    workers = []
    for m in models:
        graph = create_agent_graph(
            m, tools, max_steps=max_steps, tool_timeout=tool_timeout, name="kimi-subagent"
        )
        workers.append(Worker(graph, _label(m) if m is not None else "default", limit))
    return workers


def create_swarm_graph(
    model: ModelLike | None = None,
    tools: Sequence[BaseTool | Any] | None = None,
    *,
    worker_model: ModelLike | Sequence[ModelLike] | None = None,
    subagent_graph: Any = None,
    max_subagents: int = 100,
    max_concurrency: int = 100,
    max_concurrency_per_worker: int | None = None,
    max_rounds: int = 1,
    subagent_max_steps: int = DEFAULT_MAX_STEPS,
    subagent_timeout: float | None = None,
    subagent_thinking: bool = False,
    tool_call_budget: int = DEFAULT_TOOL_CALL_BUDGET,
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    max_result_chars: int = 4000,
    system_prompt: str | None = None,
    approve_plan: bool = False,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    name: str = "kimi-swarm",
) -> SwarmGraph:
    """Create the agent-swarm graph (map-reduce over sub-agent subgraphs).

    Args:
        model: The orchestrator and synthesis model (thinking); None = `ChatKimi()`
            from the environment, made on the first run.
        tools: The sub-agents' tools (for the default sub-agent graph).
        worker_model: The sub-agents' model, or a list of models (one per server) to
            spread sub-agents over; None = `model` (in instant mode by default).
        subagent_graph: The graph each sub-agent runs instead of the agent graph over
            `worker_model`: any graph taking and returning messages state, including
            a `RemoteGraph`, or a list of them to spread sub-agents over. Each run of
            it gets a `KimiContext` with the sub-agent's `thinking`, `max_steps` and
            share of the tool-call budget (`max_tool_calls`), which the default graph
            honours; the run's `model`/`base_url`/`backend` are passed on only when the
            sub-agents use the swarm's own model (no `worker_model`/`subagent_graph`).
        max_subagents: Sub-agents per request; further `assign_task` calls are refused
            with a tool message saying so.
        max_concurrency: Sub-agents running at once (enforced by the swarm itself).
        max_concurrency_per_worker: Sub-agents running at once on one worker.
        max_rounds: Rounds of sub-agents per request; after each round but the
            last, the orchestrator sees the results and may start another.
        subagent_max_steps: Model calls per sub-agent.
        subagent_timeout: Seconds per sub-agent's run, counted once it has its
            concurrency slots (waiting in the queue does not count); None = no limit.
        subagent_thinking: Run sub-agents in thinking mode (default instant).
        tool_call_budget: Tool calls all sub-agents of a request may make together;
            each round splits what is left among its sub-agents (equal shares, the
            remainder to the first; never more than is left, so some may get none).
        tool_timeout: Seconds per tool call of the default sub-agent graph.
        max_result_chars: Clip each result in the tool message the orchestrator and
            synthesis see (the record keeps it whole).
        system_prompt: Replaces the orchestrator's prompt.
        approve_plan: Show each round's plan to a person through `interrupt()` before
            any sub-agent starts (needs a checkpointer); see `_review`.
        checkpointer: A LangGraph checkpointer; a resumed run re-runs neither finished
            sub-agents nor the finished steps of unfinished ones.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking `{"messages": [...]}` and returning `messages`,
        `subagent_results` and `critical_steps`, with `KimiContext` as its context
        schema (per-run settings).
    """
    settings = SwarmSettings(
        max_subagents=max_subagents,
        max_concurrency=max_concurrency,
        max_concurrency_per_worker=max_concurrency_per_worker,
        max_rounds=max_rounds,
        subagent_max_steps=subagent_max_steps,
        subagent_timeout=subagent_timeout,
        subagent_thinking=subagent_thinking,
        tool_call_budget=tool_call_budget,
        max_result_chars=max_result_chars,
        system_prompt=system_prompt,
        approve_plan=approve_plan,
    )
    workers = _workers(
        model,
        list(tools or []),
        worker_model,
        subagent_graph,
        limit=max_concurrency_per_worker,
        max_steps=subagent_max_steps,
        tool_timeout=tool_timeout,
    )
    branch = SubagentBranch(
        workers, settings, follow_run_model=worker_model is None and subagent_graph is None
    )
    orchestrator = Orchestrator(model, settings, lambda context: len(branch.run_workers(context)))
    synthesis = Synthesis(model, settings)

    builder = StateGraph(
        SwarmState,
        context_schema=KimiContext,
        input_schema=InputState,
        output_schema=SwarmOutput,
    )
    builder.add_node(
        "orchestrator",
        dual_node(orchestrator.call, orchestrator.acall, name="orchestrator"),
    )
    builder.add_node(
        "subagent",
        dual_node(branch.run, branch.arun, name="subagent"),
        destinations=("orchestrator", "synthesis"),
    )
    builder.add_node("synthesis", dual_node(synthesis.call, synthesis.acall, name="synthesis"))
    builder.add_edge(START, "orchestrator")
    builder.add_edge("synthesis", END)
    if approve_plan:
        builder.add_node("review", review_plan)
        builder.add_conditional_edges(
            "orchestrator",
            lambda state: "review" if state.get("pending") else dispatch(state),
            ["review", "synthesis", END],
        )
        builder.add_conditional_edges("review", dispatch, ["subagent", "synthesis", END])
    else:
        builder.add_conditional_edges("orchestrator", dispatch, ["subagent", "synthesis", END])
    # one run at a time per thread (kimi_graph._thread_guard)
    graph = guard_threads(builder.compile(checkpointer=checkpointer, store=store, name=name))
    # LangGraph's `max_concurrency` (the thread pool of `graph.invoke`, the task bound
    # of `ainvoke`) must not cap a run whose context raises the swarm's own limits: the
    # swarm bounds its branches itself (`max_concurrency`, per run). Threads are only
    # made when needed. The recursion limit is a safety net; rounds are bounded by
    # `max_rounds`.
    return graph.with_config(
        max_concurrency=max(max_concurrency, max_subagents, BRANCH_POOL),
        recursion_limit=4 * max(max_rounds, 100) + 10,
    )


BRANCH_POOL = 1024
"""Branches LangGraph may run at once; a run's context may raise the swarm's own
`max_concurrency`/`max_subagents` up to this under `invoke` (threads)."""
