"""Agent mode: K2.5 in a tool loop, as a ReAct subgraph (model node <-> tool node).

LangGraph's `ToolNode` runs the tools (parallel calls concurrently, unknown tools and
bad arguments answered as error tool messages). What K2.5 needs on top: tool calls
whose arguments are not JSON also get an error tool message, so the model can retry
and the history stays valid for Moonshot's validator; and a step limit ends a runaway
loop with a clear final message instead of a `GraphRecursionError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from kimi_graph.modes._context import ContextStrategy
from kimi_graph.modes._model import ModelLike, default_model, with_system, with_thinking
from kimi_graph.state import AgentState, InputState, MessagesState

DEFAULT_MAX_STEPS = 100
"""Model calls per request; K2.5's sub-agents were evaluated with up to 100 steps."""

STEP_LIMIT_REASON = "step_limit"


def model_steps(messages: Sequence[AnyMessage]) -> int:
    """Count the model calls made since the last user message."""
    steps = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            steps += 1
    return steps


def tool_calls_made(messages: Sequence[AnyMessage]) -> int:
    """Count the tool calls requested since the last user message."""
    calls = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            calls += len(message.tool_calls) + len(message.invalid_tool_calls)
    return calls


def step_limit_message(max_steps: int, messages: Sequence[AnyMessage]) -> AIMessage:
    """The final message of a loop stopped by the step limit."""
    last_results = [m for m in messages[-5:] if isinstance(m, ToolMessage)]
    tail = ""
    if last_results:
        clipped = [f"- {m.name or 'tool'}: {str(m.content)[:200]}" for m in last_results]
        tail = "\nLast tool results:\n" + "\n".join(clipped)
    text = (
        f"Stopped after {max_steps} model steps without a final answer "
        f"(step limit max_steps={max_steps}).{tail}"
    )
    return AIMessage(content=text, response_metadata={"finish_reason": STEP_LIMIT_REASON})


def _malformed_call_messages(message: AIMessage) -> list[ToolMessage]:
    """Answer tool calls whose arguments did not parse, so the model can fix them."""
    return [
        ToolMessage(
            content=(
                f"Error: the arguments of {call.get('name') or 'the tool call'} are not "
                f"valid JSON ({call.get('error') or 'parse error'}): {call.get('args')!r}. "
                "Call the tool again with a JSON object that matches its schema."
            ),
            tool_call_id=call.get("id") or "",
            name=call.get("name") or "unknown",
            status="error",
        )
        for call in message.invalid_tool_calls
    ]


def _route(state: dict[str, Any]) -> Literal["tools", "__end__"]:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
        return "tools"
    return END


class AgentSteps:
    """The two steps of the ReAct loop: the model and the tools.

    The agent graph wires them as nodes; a swarm sub-agent drives them directly
    inside its `Send` branch (`run` / `arun`), which spares a nested graph run.
    """

    def __init__(
        self,
        model: ModelLike | None,
        tools: Sequence[BaseTool | Any] | None,
        *,
        thinking: bool | None = None,
        system_prompt: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        parallel_tool_calls: bool | None = None,
        context_strategy: ContextStrategy | None = None,
    ) -> None:
        if max_steps < 1:
            msg = f"max_steps must be at least 1, got {max_steps}."
            raise ValueError(msg)
        tools = list(tools or [])
        llm = default_model(model)
        if tools:
            extra = (
                {} if parallel_tool_calls is None else {"parallel_tool_calls": parallel_tool_calls}
            )
            llm = llm.bind_tools(tools, **extra)  # type: ignore[union-attr]
        # After bind_tools: a RunnableBinding's bind_tools would drop earlier kwargs.
        self.llm = with_thinking(llm, thinking)
        self.system_prompt = system_prompt
        self.max_steps = max_steps
        self.context_strategy = context_strategy
        self.tool_node = ToolNode(tools, handle_tool_errors=True) if tools else None

    def _prepare(self, state: dict[str, Any]) -> tuple[list[AnyMessage], AIMessage | None]:
        messages = state["messages"]
        if model_steps(messages) >= self.max_steps:
            return messages, step_limit_message(self.max_steps, messages)
        if self.context_strategy is not None:
            messages = self.context_strategy(messages)
        return with_system(messages, self.system_prompt), None

    @staticmethod
    def _finish(state: dict[str, Any], response: AIMessage) -> dict[str, list[AIMessage]]:
        # Not enough supersteps left for tools and another model call (a parent
        # graph's recursion limit): end cleanly instead of raising.
        if response.tool_calls and state.get("remaining_steps", 1000) < 2:
            response = step_limit_message(model_steps(state["messages"]) + 1, state["messages"])
        return {"messages": [response]}

    def call_model(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The model step (sync)."""
        messages, stop = self._prepare(state)
        return self._finish(state, stop or self.llm.invoke(messages, config))

    async def acall_model(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The model step (async)."""
        messages, stop = self._prepare(state)
        return self._finish(state, stop or await self.llm.ainvoke(messages, config))

    def run_tools(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The tool step (sync): parallel calls run concurrently on threads."""
        last = state["messages"][-1]
        out = []
        if last.tool_calls and self.tool_node is not None:
            out = self.tool_node.invoke(state, config)["messages"]
        return {"messages": [*out, *_malformed_call_messages(last)]}

    async def arun_tools(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The tool step (async): parallel calls run concurrently as tasks."""
        last = state["messages"][-1]
        out = []
        if last.tool_calls and self.tool_node is not None:
            out = (await self.tool_node.ainvoke(state, config))["messages"]
        return {"messages": [*out, *_malformed_call_messages(last)]}

    def run(self, messages: list[AnyMessage], config: RunnableConfig) -> Iterator[list[AnyMessage]]:
        """Drive the loop without a graph; yield the conversation after each step."""
        state: dict[str, Any] = {"messages": list(messages)}
        while True:
            state["messages"] = [*state["messages"], *self.call_model(state, config)["messages"]]
            yield state["messages"]
            if _route(state) == END:
                return
            state["messages"] = [*state["messages"], *self.run_tools(state, config)["messages"]]
            yield state["messages"]

    async def arun(
        self, messages: list[AnyMessage], config: RunnableConfig
    ) -> AsyncIterator[list[AnyMessage]]:
        """Drive the loop without a graph (async); yield the conversation after each step."""
        state: dict[str, Any] = {"messages": list(messages)}
        while True:
            update = await self.acall_model(state, config)
            state["messages"] = [*state["messages"], *update["messages"]]
            yield state["messages"]
            if _route(state) == END:
                return
            update = await self.arun_tools(state, config)
            state["messages"] = [*state["messages"], *update["messages"]]
            yield state["messages"]


def create_agent_graph(
    model: ModelLike | None = None,
    tools: Sequence[BaseTool | Any] | None = None,
    *,
    thinking: bool | None = None,
    system_prompt: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    parallel_tool_calls: bool | None = None,
    context_strategy: ContextStrategy | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str = "kimi-agent",
) -> CompiledStateGraph:
    """Create the agent-mode graph: a ReAct loop of model and tools.

    Args:
        model: A `ChatKimi` (or any tool-calling chat model); None = `ChatKimi()`.
        tools: LangChain tools or plain functions. None or empty: the model answers.
        thinking: Thinking (True) or instant (False) agent; None keeps the model's.
        system_prompt: Prepended when the conversation has no system message.
        max_steps: Model calls allowed per request; then the loop ends with a final
            message saying so (`response_metadata["finish_reason"] == "step_limit"`).
        parallel_tool_calls: Passed to `bind_tools` when set.
        context_strategy: Shapes what the model reads on each step, e.g.
            `kimi_graph.modes._context.keep_latest_tool_results(...)`; the state keeps
            the full conversation.
        checkpointer: A LangGraph checkpointer, for threads that continue.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking and returning `{"messages": [...]}`.
    """
    steps = AgentSteps(
        model,
        tools,
        thinking=thinking,
        system_prompt=system_prompt,
        max_steps=max_steps,
        parallel_tool_calls=parallel_tool_calls,
        context_strategy=context_strategy,
    )
    builder = StateGraph(AgentState, input_schema=InputState, output_schema=MessagesState)
    builder.add_node(
        "agent", RunnableLambda(steps.call_model, afunc=steps.acall_model, name="agent")
    )
    builder.add_edge(START, "agent")
    if steps.tool_node is not None:
        builder.add_node(
            "tools", RunnableLambda(steps.run_tools, afunc=steps.arun_tools, name="tools")
        )
        builder.add_conditional_edges("agent", _route, ["tools", END])
        builder.add_edge("tools", "agent")
    else:
        builder.add_edge("agent", END)
    graph = builder.compile(checkpointer=checkpointer, store=store, name=name)
    # Two supersteps per model step, plus slack for the final answer.
    return graph.with_config(recursion_limit=2 * max_steps + 5)
