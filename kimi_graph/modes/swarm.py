"""Agent swarm: an orchestrator fans sub-tasks out to parallel sub-agents with `Send`.

```
START -> orchestrator --Send per assign_task call--> subagent (xN, parallel)
              |  (no call: it answers alone)            |
              v                                         v
             END        orchestrator (next wave) <- or -> synthesis -> END
```

Every `assign_task` call ends in exactly one `SubagentResult` in
`state["subagent_results"]` and one tool message answering the call, whether the
sub-agent succeeded, failed, timed out, ran out of budget or was refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from pydantic import BaseModel, Field, ValidationError

from kimi_graph import prompts
from kimi_graph.modes._model import ModelLike, default_model, with_thinking
from kimi_graph.modes.agent import DEFAULT_MAX_STEPS
from kimi_graph.modes.subagents import SubagentRunner, Worker
from kimi_graph.state import InputState, SubagentResult, SwarmOutput, SwarmState

ASSIGN_TASK = "assign_task"
DEFAULT_TOOL_CALL_BUDGET = 1500
"""Tool calls all sub-agents of one request may make together (K2.5: up to 1,500)."""


class AssignTask(BaseModel):
    """Start a sub-agent on one self-contained sub-task; it runs in parallel with the others."""

    role: str = Field(description="A short role for the sub-agent, e.g. 'market researcher'.")
    task: str = Field(description="The self-contained sub-task; the sub-agent sees only this.")
    instructions: str | None = Field(
        default=None, description="Optional extra instructions: format, scope, sources."
    )


ASSIGN_TASK_TOOL = {
    "type": "function",
    "function": {
        "name": ASSIGN_TASK,
        "description": AssignTask.__doc__,
        "parameters": {
            k: v
            for k, v in AssignTask.model_json_schema().items()
            if k not in ("title", "description")
        },
    },
}


def _current_request(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i:])
    return list(messages)


def _waves(messages: Sequence[AnyMessage]) -> list[AIMessage]:
    """Orchestrator turns of the current request that called a tool (a wave each)."""
    return [
        m
        for m in _current_request(messages)
        if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls)
    ]


def _current_results(state: dict[str, Any]) -> list[SubagentResult]:
    ids = {
        c.get("id")
        for wave in _waves(state["messages"])
        for c in [*wave.tool_calls, *wave.invalid_tool_calls]
    }
    return [r for r in state.get("subagent_results") or [] if r["id"] in ids]


def override(value: list[Any]) -> dict[str, Any]:
    """Mark a `subagent_results` update that replaces the list instead of extending it."""
    return {"type": "override", "value": value}


def error_record(call_id: str, role: str, task: str, error: str, round_: int) -> SubagentResult:
    """A record for a sub-agent that never ran or failed before producing anything."""
    return SubagentResult(
        id=call_id,
        role=role,
        task=task,
        status="error",
        output="",
        error=error,
        steps=0,
        tool_calls=0,
        elapsed_s=0.0,
        round=round_,
        worker="",
    )


def critical_steps(results: Sequence[SubagentResult], waves: int) -> list[int]:
    """Per wave: one orchestrator step plus the longest sub-agent's steps."""
    per_wave = [1] * waves
    for record in results:
        index = record["round"] - 1
        if 0 <= index < waves:
            per_wave[index] = max(per_wave[index], 1 + record["steps"])
    return per_wave


def create_swarm_graph(
    model: ModelLike | None = None,
    tools: Sequence[BaseTool | Any] | None = None,
    *,
    worker_model: ModelLike | Sequence[ModelLike] | None = None,
    max_subagents: int = 100,
    max_concurrency: int = 100,
    max_concurrency_per_worker: int | None = None,
    max_rounds: int = 1,
    subagent_max_steps: int = DEFAULT_MAX_STEPS,
    subagent_timeout: float | None = None,
    subagent_thinking: bool = False,
    tool_call_budget: int = DEFAULT_TOOL_CALL_BUDGET,
    max_result_chars: int = 4000,
    system_prompt: str | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str = "kimi-swarm",
) -> CompiledStateGraph:
    """Create the agent-swarm graph (map-reduce over sub-agents).

    Args:
        model: The orchestrator and synthesis model (thinking); None = `ChatKimi()`.
        tools: The sub-agents' tools.
        worker_model: The sub-agents' model, or a list of models (one per server) to
            spread sub-agents over; None = `model` in instant mode.
        max_subagents: Sub-agents per request; further `assign_task` calls are refused
            with a tool message saying so.
        max_concurrency: Sub-agents running at once (also LangGraph's
            `max_concurrency`, which sizes the thread pool of `graph.invoke`).
        max_concurrency_per_worker: Sub-agents running at once on one worker model.
        max_rounds: Waves of sub-agents per request; after each wave but the last,
            the orchestrator sees the results and may start another.
        subagent_max_steps: Model calls per sub-agent.
        subagent_timeout: Seconds per sub-agent; None = no limit.
        subagent_thinking: Run sub-agents in thinking mode (default instant).
        tool_call_budget: Tool calls all sub-agents of a request may make together;
            each wave shares what is left equally among its sub-agents.
        max_result_chars: Clip each result in the tool message the orchestrator and
            synthesis see (the record keeps it whole).
        system_prompt: Replaces the orchestrator's prompt.
        checkpointer: A LangGraph checkpointer; a resumed run does not re-run
            sub-agents that finished.
        store: A LangGraph store.
        name: The compiled graph's name (Studio, traces).

    Returns:
        A compiled graph taking `{"messages": [...]}` and returning `messages`,
        `subagent_results` and `critical_steps`.
    """
    if max_subagents < 1 or max_rounds < 1 or max_concurrency < 1:
        msg = "max_subagents, max_rounds and max_concurrency must be at least 1."
        raise ValueError(msg)
    boss = default_model(model)
    workers_in = worker_model if worker_model is not None else boss
    worker_models = list(workers_in) if isinstance(workers_in, (list, tuple)) else [workers_in]
    workers = [
        Worker.build(
            m,
            tools or [],
            thinking=subagent_thinking,
            max_steps=subagent_max_steps,
            limit=max_concurrency_per_worker,
        )
        for m in worker_models
    ]
    runner = SubagentRunner(
        workers,
        timeout=subagent_timeout,
        max_result_chars=max_result_chars,
        max_rounds=max_rounds,
    )
    # Thinking is bound after the tools: a binding's bind_tools drops earlier kwargs.
    orchestrator_llm = with_thinking(boss.bind_tools([ASSIGN_TASK_TOOL]), True)  # type: ignore[union-attr]
    synthesis_llm = with_thinking(
        boss.bind_tools([ASSIGN_TASK_TOOL], tool_choice="none"),  # type: ignore[union-attr]
        True,
    )
    rounds_note = prompts.ROUNDS_NOTE.format(max_rounds=max_rounds) if max_rounds > 1 else ""
    orchestrator_prompt = system_prompt or prompts.ORCHESTRATOR_PROMPT.format(
        max_subagents=max_subagents, rounds_note=rounds_note
    )

    def orchestrator_input(state: dict[str, Any]) -> list[AnyMessage]:
        messages = [m for m in state["messages"] if not isinstance(m, SystemMessage)]
        return [SystemMessage(orchestrator_prompt), *messages]

    def plan(state: dict[str, Any], response: AIMessage) -> dict[str, Any]:
        """Accept, refuse or reject each call; answer all but the accepted ones."""
        waves = _waves(state["messages"])
        round_ = len(waves) + 1
        launched = sum(len(w.tool_calls) + len(w.invalid_tool_calls) for w in waves)
        replies: list[ToolMessage] = []
        records: list[SubagentResult] = []
        accepted = 0
        for call in response.tool_calls:
            role, task, reason = "", "", None
            if call["name"] != ASSIGN_TASK:
                reason = (
                    f"unknown tool {call['name']!r}; the orchestrator can only call {ASSIGN_TASK}"
                )
            else:
                try:
                    args = AssignTask.model_validate(call["args"])
                    role, task = args.role, args.task
                except ValidationError as err:
                    reason = f"the arguments do not fit {ASSIGN_TASK}: {err.errors()[0]['msg']}"
                    role, task = (
                        str(call["args"].get("role", "")),
                        str(call["args"].get("task", "")),
                    )
            if reason is None and launched + accepted >= max_subagents:
                reason = f"refused: the swarm allows at most {max_subagents} sub-agents per request"
            if reason is None:
                accepted += 1
                continue
            records.append(error_record(call["id"] or "", role, task, reason, round_))
            replies.append(_error_reply(call["id"] or "", call["name"], reason))
        for bad in response.invalid_tool_calls:
            reason = f"the orchestrator's plan did not parse: {bad.get('error') or 'invalid JSON'}"
            records.append(
                error_record(bad.get("id") or "", "", str(bad.get("args")), reason, round_)
            )
            replies.append(
                _error_reply(bad.get("id") or "", bad.get("name") or ASSIGN_TASK, reason)
            )
        update: dict[str, Any] = {"messages": [response, *replies]}
        update["subagent_results"] = override(records) if round_ == 1 else records
        if round_ == 1 and not (response.tool_calls or response.invalid_tool_calls):
            update["critical_steps"] = [1]  # the orchestrator answered alone
        return update

    def orchestrator_failed(state: dict[str, Any], err: Exception) -> dict[str, Any]:
        """A later wave's plan failed: keep the results so far and go to the synthesis."""
        if not _waves(state["messages"]):
            raise err  # nothing has been produced yet: the caller sees the error
        note = AIMessage(
            content=f"(No further wave: the orchestrator's call failed: {_describe(err)})",
            response_metadata={"finish_reason": "error", "error": _describe(err)},
        )
        return {"messages": [note]}

    def call_orchestrator(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            response = orchestrator_llm.invoke(orchestrator_input(state), config)
        except Exception as err:  # the client's retries are spent
            return orchestrator_failed(state, err)
        return plan(state, response)

    async def acall_orchestrator(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            response = await orchestrator_llm.ainvoke(orchestrator_input(state), config)
        except Exception as err:  # the client's retries are spent
            return orchestrator_failed(state, err)
        return plan(state, response)

    def dispatch(state: dict[str, Any]) -> list[Send] | Literal["synthesis", "__end__"]:
        last = state["messages"]
        waves = _waves(last)
        response = next(m for m in reversed(last) if isinstance(m, AIMessage))
        if not waves:
            return END  # the orchestrator answered alone
        if response is not waves[-1]:
            return "synthesis"  # a later round that started no new wave
        answered = {m.tool_call_id for m in last if isinstance(m, ToolMessage)}
        calls = [c for c in response.tool_calls if c["id"] not in answered]
        if not calls:
            return "synthesis"
        used = sum(r["tool_calls"] for r in _current_results(state))
        share = max(1, (tool_call_budget - used) // len(calls))
        offset = sum(len(w.tool_calls) for w in waves[:-1])
        return [
            Send(
                "subagent",
                {
                    "id": call["id"],
                    "args": call["args"],
                    "round": len(waves),
                    "worker": (offset + i) % len(workers),
                    "tool_call_budget": share if used < tool_call_budget else 0,
                },
            )
            for i, call in enumerate(calls)
        ]

    def synthesis_input(state: dict[str, Any]) -> tuple[list[AnyMessage], list[SubagentResult]]:
        results = _current_results(state)
        failed = [r for r in results if r["status"] == "error"]
        failures = ""
        if failed:
            lines = "\n".join(
                f"- {r['id']} ({r['role'] or 'no role'}): {r['error']}" for r in failed
            )
            failures = prompts.FAILURES_NOTE.format(lines=lines)
        messages = [m for m in state["messages"] if not isinstance(m, SystemMessage)]
        last = messages[-1] if messages else None
        if isinstance(last, AIMessage) and not last.tool_calls and _waves(messages):
            messages = messages[:-1]  # the orchestrator's closing remark after a wave
        return [
            SystemMessage(prompts.SYNTHESIS_PROMPT.format(failures=failures)),
            *messages,
        ], failed

    def finish(state: dict[str, Any], response: AIMessage, failed: list) -> dict[str, Any]:
        results = _current_results(state)
        per_wave = critical_steps(results, len(_waves(state["messages"])))
        text = response.text if isinstance(response.content, list) else response.content
        roles = [r["role"] for r in results]
        missing = [
            r
            for r in failed
            if r["id"] not in text
            and (not r["role"] or roles.count(r["role"]) > 1 or r["role"] not in text)
        ]
        if missing:
            names = ", ".join(f"{r['id']} ({r['role'] or 'no role'})" for r in missing)
            text = f"{text}\n\nSub-agents that failed: {names}."
        summary = {
            "subagents": len(results),
            "failed": len(failed),
            "critical_steps": sum(per_wave) + 1,
            "critical_steps_per_wave": per_wave,
        }
        metadata = {**response.response_metadata, "swarm": summary}
        final = response.model_copy(update={"content": text, "response_metadata": metadata})
        return {"messages": [final], "critical_steps": per_wave}

    def call_synthesis(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages, failed = synthesis_input(state)
        try:
            response = synthesis_llm.invoke(messages, config)
        except Exception as err:  # the client's retries are spent: keep the results
            response = results_digest(_current_results(state), err)
        return finish(state, response, failed)

    async def acall_synthesis(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages, failed = synthesis_input(state)
        try:
            response = await synthesis_llm.ainvoke(messages, config)
        except Exception as err:  # the client's retries are spent: keep the results
            response = results_digest(_current_results(state), err)
        return finish(state, response, failed)

    builder = StateGraph(SwarmState, input_schema=InputState, output_schema=SwarmOutput)
    builder.add_node(
        "orchestrator",
        RunnableLambda(call_orchestrator, afunc=acall_orchestrator, name="orchestrator"),
    )
    builder.add_node(
        "subagent",
        RunnableLambda(runner.run, afunc=runner.arun, name="subagent"),
        destinations=("orchestrator", "synthesis"),
    )
    builder.add_node(
        "synthesis", RunnableLambda(call_synthesis, afunc=acall_synthesis, name="synthesis")
    )
    builder.add_edge(START, "orchestrator")
    builder.add_conditional_edges("orchestrator", dispatch, ["subagent", "synthesis", END])
    builder.add_edge("synthesis", END)
    graph = builder.compile(checkpointer=checkpointer, store=store, name=name)
    return graph.with_config(max_concurrency=max_concurrency, recursion_limit=4 * max_rounds + 10)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def results_digest(results: Sequence[SubagentResult], err: Exception) -> AIMessage:
    """The final message when the synthesis call fails: every result, verbatim."""
    lines = [f"The synthesis step failed ({_describe(err)}); the sub-agents' results follow."]
    for record in results:
        body = record["output"] if record["status"] == "ok" else f"failed: {record['error']}"
        lines.append(f"\n## {record['id']} ({record['role'] or 'no role'}): {record['task']}")
        lines.append(body)
    return AIMessage(
        content="\n".join(lines),
        response_metadata={"finish_reason": "error", "error": _describe(err)},
    )


def _error_reply(call_id: str, name: str, reason: str) -> ToolMessage:
    return ToolMessage(content=f"Error: {reason}", tool_call_id=call_id, name=name, status="error")
