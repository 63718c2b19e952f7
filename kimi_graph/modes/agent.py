"""Agent mode: K2.5 in a tool loop, as a ReAct subgraph (model node <-> tool node).

LangGraph's `ToolNode` runs the tools (parallel calls concurrently, unknown tools and
bad arguments answered as error tool messages, `interrupt()` inside a tool pauses the
run). What K2.5 needs on top: tool calls whose arguments are not a JSON object also
get an error tool message, so the model can retry and the history stays valid for
Moonshot's validator; a tool that hangs is stopped after `tool_timeout`; and a step
limit (or a tool-call budget) ends a runaway loop with a clear final message instead
of a `GraphRecursionError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer, Command

from kimi_graph._thread_guard import guard_threads
from kimi_graph._turns import after_last_user
from kimi_graph.context import KimiContext, current_context
from kimi_graph.modes import _control_hook as control
from kimi_graph.modes._model import ModelLike, ModelSource, call_kwargs, with_system
from kimi_graph.modes._node import dual_node
from kimi_graph.modes._tool_cap import DEFAULT_MAX_CALLS_PER_TURN, split_calls
from kimi_graph.modes._tool_results import ContextStrategy, keep_latest_tool_results
from kimi_graph.state import AgentLoopState, ConversationState, InputState

AgentGraph = CompiledStateGraph[AgentLoopState, KimiContext, InputState, ConversationState]
"""The compiled graph of agent mode."""

DEFAULT_MAX_STEPS = 100
"""Model calls per request; K2.5's sub-agents were evaluated with up to 100 steps."""

DEFAULT_TOOL_TIMEOUT = 120.0
"""Seconds one tool call may take before the model is told it timed out."""

STEP_LIMIT_REASON = "step_limit"
TOOL_BUDGET_REASON = "tool_budget"


def model_steps(messages: Sequence[AnyMessage]) -> int:
    """Count the model calls made since the last user message."""
    return sum(isinstance(m, AIMessage) for m in after_last_user(messages))


def tool_calls_made(messages: Sequence[AnyMessage]) -> int:
    """Count the tool calls requested since the last user message."""
    return sum(
        len(m.tool_calls) + len(m.invalid_tool_calls)
        for m in after_last_user(messages)
        if isinstance(m, AIMessage)
    )


def _stop_message(text: str, reason: str, messages: Sequence[AnyMessage]) -> AIMessage:
    last_results = [m for m in messages[-5:] if isinstance(m, ToolMessage)]
    if last_results:
        clipped = [f"- {m.name or 'tool'}: {str(m.content)[:200]}" for m in last_results]
        text += "\nLast tool results:\n" + "\n".join(clipped)
    return AIMessage(content=text, response_metadata={"finish_reason": reason})


def step_limit_message(max_steps: int, messages: Sequence[AnyMessage]) -> AIMessage:
    """The final message of a loop stopped by the step limit."""
    text = (
        f"Stopped after {max_steps} model steps without a final answer "
        f"(step limit max_steps={max_steps})."
    )
    return _stop_message(text, STEP_LIMIT_REASON, messages)


def tool_budget_message(budget: int, messages: Sequence[AnyMessage]) -> AIMessage:
    """The final message of a loop whose next tool calls would exceed its budget."""
    text = f"Stopped: the tool-call budget of this request ({budget}) ran out."
    return _stop_message(text, TOOL_BUDGET_REASON, messages)


def _malformed_call_messages(message: AIMessage) -> list[ToolMessage]:
    """Answer tool calls whose arguments did not parse, so the model can fix them."""
    return [
        ToolMessage(
            content=(
                f"Error: the arguments of {call.get('name') or 'the tool call'} are not "
                f"valid JSON for a tool call ({call.get('error') or 'parse error'}): "
                f"{call.get('args')!r}. Call the tool again with a JSON object that "
                "matches its schema."
            ),
            tool_call_id=call.get("id") or "",
            name=call.get("name") or "unknown",
            status="error",
        )
        for call in message.invalid_tool_calls
    ]


def _timeout_message(request: ToolCallRequest, timeout: float) -> ToolMessage:
    call = request.tool_call
    return ToolMessage(
        content=(
            f"Error: the tool {call['name']!r} did not finish within {timeout:g}s and was "
            "stopped. Try a smaller input or another approach."
        ),
        tool_call_id=call["id"] or "",
        name=call["name"],
        status="error",
    )


ToolResult = ToolMessage | Command[Any]
Steering = tuple[list[HumanMessage], str | None]
"""A controlled sub-agent's added messages and cancel reason for one model call."""


class ToolTimeout:
    """`ToolNode` wrappers that stop a tool call after `timeout` seconds.

    An async tool is cancelled. A sync tool runs in a thread of its own that is
    abandoned on time-out (Python cannot stop a thread; the tool finishes in the
    background and its result is dropped). Interrupts raised by the tool propagate.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def wrap(
        self, request: ToolCallRequest, execute: Callable[[ToolCallRequest], ToolResult]
    ) -> ToolResult:
        """Sync wrapper: run the call in a thread and wait at most `timeout`."""
        outcome: list[ToolResult] = []
        failure: list[BaseException] = []

        def target() -> None:
            try:
                outcome.append(execute(request))
            except BaseException as err:  # re-raised below, in the caller's thread
                failure.append(err)

        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(target,), daemon=True
        )
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            return _timeout_message(request, self.timeout)
        if failure:
            raise failure[0]
        return outcome[0]

    async def awrap(
        self,
        request: ToolCallRequest,
        execute: Callable[[ToolCallRequest], Awaitable[ToolResult]],
    ) -> ToolResult:
        """Async wrapper: cancel the call after `timeout`."""
        try:
            return await asyncio.wait_for(execute(request), self.timeout)
        except TimeoutError:
            return _timeout_message(request, self.timeout)


def route_after_model(state: ConversationState) -> Literal["tools", "agent", "__end__"]:
    """Go to the tools while the model's last message calls one.

    A swarm's sub-agent steered during what would have been its final call gets one
    more call (`agent`), which reads the steer.
    """
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
        return "tools"
    return "agent" if control.steer_waiting(state["messages"]) else "__end__"


def _route_without_tools(state: ConversationState) -> Literal["agent", "__end__"]:
    return "agent" if control.steer_waiting(state["messages"]) else "__end__"


class AgentNodes:
    """The two nodes of the ReAct loop, reading the run's `KimiContext`.

    `thinking`, `system_prompt`, `max_steps` and `max_tool_calls` of the context
    replace the values given here for that run; `model`, `base_url` and `backend`
    pick another model (see `ModelSource`).
    """

    def __init__(
        self,
        model: ModelLike | None,
        tools: Sequence[BaseTool | Any] | None,
        *,
        thinking: bool | None = None,
        system_prompt: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_tool_calls: int | None = None,
        tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        parallel_tool_calls: bool | None = None,
        context_strategy: ContextStrategy | None = None,
        max_calls_per_turn: int = DEFAULT_MAX_CALLS_PER_TURN,
    ) -> None:
        if max_calls_per_turn < 1:
            msg = f"max_calls_per_turn must be at least 1, got {max_calls_per_turn}."
            raise ValueError(msg)
        if max_steps < 1:
            msg = f"max_steps must be at least 1, got {max_steps}."
            raise ValueError(msg)
        if tool_timeout is not None and tool_timeout <= 0:
            msg = f"tool_timeout must be positive or None, got {tool_timeout}."
            raise ValueError(msg)
        tool_list = list(tools or [])
        extra = {} if parallel_tool_calls is None else {"parallel_tool_calls": parallel_tool_calls}

        def prepare(llm: Any) -> Any:
            return llm.bind_tools(tool_list, **extra) if tool_list else llm

        self.source = ModelSource(model, prepare)
        self.bare = ModelSource(model)  # a cancelled sub-agent's last call: no tools
        self.thinking = thinking
        self.system_prompt = system_prompt
        self.max_steps = max_steps
        self.max_tool_calls = max_tool_calls
        self.context_strategy = context_strategy
        self.max_calls_per_turn = max_calls_per_turn
        self.tool_node: ToolNode | None = None
        if tool_list:
            timeout = ToolTimeout(tool_timeout) if tool_timeout is not None else None
            self.tool_node = ToolNode(
                tool_list,
                handle_tool_errors=True,
                wrap_tool_call=timeout.wrap if timeout else None,
                awrap_tool_call=timeout.awrap if timeout else None,
            )

    def _request(
        self, state: AgentLoopState
    ) -> tuple[Any, list[AnyMessage], dict[str, Any], AIMessage | None, KimiContext, Steering]:
        context = current_context()
        steering = control.steer_step(state["messages"])  # a controlled swarm's steer/cancel
        added, wrap_up = steering
        messages = [*state["messages"], *added]
        max_steps = context.max_steps or self.max_steps
        if wrap_up is None and model_steps(messages) >= max_steps:
            stop = step_limit_message(max_steps, messages)
            return None, messages, {}, stop, context, steering
        if self.context_strategy is not None:
            messages = self.context_strategy(messages)
        llm = (self.source if wrap_up is None else self.bare).get(context)
        thinking = context.thinking if context.thinking is not None else self.thinking
        prompt = context.system_prompt or self.system_prompt
        kwargs = call_kwargs(llm, thinking, context.reasoning_effort)
        return llm, with_system(messages, prompt), kwargs, None, context, steering

    def _finish(
        self,
        state: AgentLoopState,
        response: AIMessage,
        context: KimiContext,
        steering: Steering = ([], None),
    ) -> dict[str, list[AnyMessage]]:
        added, wrap_up = steering
        messages = [*state["messages"], *added]
        control.report_steps(model_steps(messages) + 1)
        if wrap_up is not None:
            return {"messages": [*added, control.wrapped_up(response, wrap_up)]}
        calls = len(response.tool_calls) + len(response.invalid_tool_calls)
        budget = (
            context.max_tool_calls if context.max_tool_calls is not None else self.max_tool_calls
        )
        if calls and budget is not None and tool_calls_made(messages) + calls > budget:
            response = tool_budget_message(budget, messages)
        # Not enough supersteps left for tools and another model call (a parent
        # graph's recursion limit): end cleanly instead of raising.
        elif response.tool_calls and state.get("remaining_steps", 1000) < 2:
            response = step_limit_message(model_steps(messages) + 1, messages)
        return {"messages": [*added, response]}

    def call_model(self, state: AgentLoopState, config: RunnableConfig) -> dict[str, Any]:
        """The model node (sync)."""
        control.refresh()  # a remote sub-agent's commands, from its store
        llm, messages, kwargs, stop, context, steering = self._request(state)
        response = stop or llm.invoke(messages, config, **kwargs)
        if _final(response):
            control.refresh()  # a steer sent during the final call gets one more
        return self._finish(state, response, context, steering)

    async def acall_model(self, state: AgentLoopState, config: RunnableConfig) -> dict[str, Any]:
        """The model node (async)."""
        await control.arefresh()  # a remote sub-agent's commands, from its store
        llm, messages, kwargs, stop, context, steering = self._request(state)
        response = stop or await llm.ainvoke(messages, config, **kwargs)
        if _final(response):
            await control.arefresh()  # a steer sent during the final call gets one more
        return self._finish(state, response, context, steering)

    def run_tools(self, state: AgentLoopState, config: RunnableConfig) -> dict[str, Any]:
        """The tool node (sync): parallel calls run concurrently on threads."""
        last = state["messages"][-1]
        if not isinstance(last, AIMessage):  # reached only after a model turn
            return {"messages": []}
        control.refresh()
        cancelled = control.refused_tools()  # a cancelled sub-agent starts no new tool
        if cancelled is not None:
            return {"messages": control.cancelled_tool_messages(last, cancelled)}
        out: list[Any] = []
        run, refused = split_calls(last, self.max_calls_per_turn)
        if run.tool_calls and self.tool_node is not None:
            out = _tool_messages(self.tool_node.invoke(_with_last(state, run), config))
        return {"messages": [*out, *refused, *_malformed_call_messages(last)]}

    async def arun_tools(self, state: AgentLoopState, config: RunnableConfig) -> dict[str, Any]:
        """The tool node (async): parallel calls run concurrently as tasks."""
        last = state["messages"][-1]
        if not isinstance(last, AIMessage):  # reached only after a model turn
            return {"messages": []}
        await control.arefresh()
        cancelled = control.refused_tools()  # a cancelled sub-agent starts no new tool
        if cancelled is not None:
            return {"messages": control.cancelled_tool_messages(last, cancelled)}
        out: list[Any] = []
        run, refused = split_calls(last, self.max_calls_per_turn)
        if run.tool_calls and self.tool_node is not None:
            out = _tool_messages(await self.tool_node.ainvoke(_with_last(state, run), config))
        return {"messages": [*out, *refused, *_malformed_call_messages(last)]}


def _final(response: AIMessage) -> bool:
    """Whether a model answer calls no tool (the loop would end after it)."""
    return not (response.tool_calls or response.invalid_tool_calls)


def _with_last(state: AgentLoopState, message: AIMessage) -> AgentLoopState:
    """The state with its last message replaced (the calls that run)."""
    if message is state["messages"][-1]:
        return state
    return {**state, "messages": [*state["messages"][:-1], message]}


def _tool_messages(output: Any) -> list[Any]:
    if isinstance(output, dict):
        return list(output.get("messages", []))
    return list(output)


def create_agent_graph(
    model: ModelLike | None = None,
    tools: Sequence[BaseTool | Any] | None = None,
    *,
    thinking: bool | None = None,
    system_prompt: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_tool_calls: int | None = None,
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    parallel_tool_calls: bool | None = None,
    context_strategy: ContextStrategy | None = None,
    max_calls_per_turn: int = DEFAULT_MAX_CALLS_PER_TURN,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    name: str = "kimi-agent",
) -> AgentGraph:
    """Create the agent-mode graph: a ReAct loop of model and tools.

    Args:
        model: A `ChatKimi` (or any tool-calling chat model); None = `ChatKimi()`
            from the environment, made on the first run.
        tools: LangChain tools or plain functions. None or empty: the model answers.
        thinking: Thinking (True) or instant (False) agent; None keeps the model's.
        system_prompt: Prepended when the conversation has no system message.
        max_steps: Model calls allowed per request; then the loop ends with a final
            message saying so (`response_metadata["finish_reason"] == "step_limit"`).
        max_tool_calls: Tool calls allowed per request (None: no limit); a model turn
            that would exceed it ends the loop (`finish_reason == "tool_budget"`).
        tool_timeout: Seconds per tool call (None: no limit); a call that takes
            longer is stopped and the model gets an error tool message.
        parallel_tool_calls: Passed to `bind_tools` when set.
        context_strategy: Shapes what the model reads on each step, e.g.
            `kimi_graph.modes.agent.keep_latest_tool_results(...)`; the state keeps the full
            conversation.
        max_calls_per_turn: Tool calls of one model turn that run; each call past
            it is answered with an error tool message saying why, not run.
        checkpointer: A LangGraph checkpointer, for threads that continue.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking and returning `{"messages": [...]}`, with
        `KimiContext` as its context schema (per-run settings).
    """
    nodes = AgentNodes(
        model,
        tools,
        thinking=thinking,
        system_prompt=system_prompt,
        max_steps=max_steps,
        max_tool_calls=max_tool_calls,
        tool_timeout=tool_timeout,
        parallel_tool_calls=parallel_tool_calls,
        context_strategy=context_strategy,
        max_calls_per_turn=max_calls_per_turn,
    )
    builder = StateGraph(
        AgentLoopState,
        context_schema=KimiContext,
        input_schema=InputState,
        output_schema=ConversationState,
    )
    builder.add_node("agent", dual_node(nodes.call_model, nodes.acall_model, name="agent"))
    builder.add_edge(START, "agent")
    if nodes.tool_node is not None:
        builder.add_node("tools", dual_node(nodes.run_tools, nodes.arun_tools, name="tools"))
        builder.add_conditional_edges("agent", route_after_model, ["tools", "agent", END])
        builder.add_edge("tools", "agent")
    else:
        builder.add_conditional_edges("agent", _route_without_tools, ["agent", END])
    # one run at a time per thread (kimi_graph._thread_guard)
    graph = guard_threads(builder.compile(checkpointer=checkpointer, store=store, name=name))
    # Two supersteps per model step, plus slack for the final answer. A run whose
    # context raises max_steps above this gets the step-limit message early.
    return graph.with_config(recursion_limit=2 * max(max_steps, DEFAULT_MAX_STEPS) + 5)


__all__ = [
    "DEFAULT_MAX_CALLS_PER_TURN",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TOOL_TIMEOUT",
    "STEP_LIMIT_REASON",
    "TOOL_BUDGET_REASON",
    "AgentGraph",
    "AgentNodes",
    "ToolTimeout",
    "create_agent_graph",
    "keep_latest_tool_results",
    "model_steps",
    "step_limit_message",
    "tool_calls_made",
]
