"""Tool-call arguments that are not a JSON object: the same verdict on invoke and stream.

The emulator's `[[fault malformed]]` truncates the arguments; `[[fault args-list]]`,
`args-string` and `args-number` send valid JSON that is not an object.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from kimi_graph import create_agent_graph, create_swarm_graph

FAULTS = ["malformed", "args-list", "args-string", "args-number"]
RUNS = ["invoke", "ainvoke", "stream", "astream"]

ran: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    ran.append(city)
    return f"Sunny in {city}"


async def _run(graph, inputs: dict, run: str) -> dict:
    """Run a graph to its final state; the stream runs go through stream_mode="messages"."""
    if run == "invoke":
        return graph.invoke(inputs)
    if run == "ainvoke":
        return await graph.ainvoke(inputs)
    final: dict = {}
    streamed: list = []
    if run == "stream":
        for mode, part in graph.stream(inputs, stream_mode=["messages", "values"]):
            if mode == "values":
                final = part
            else:
                streamed.append(part[0])
    else:
        async for mode, part in graph.astream(inputs, stream_mode=["messages", "values"]):
            if mode == "values":
                final = part
            else:
                streamed.append(part[0])
    # The raw-argument verdict travels out of sight: no chunk carries an internal key.
    assert streamed and not [m for m in streamed if "kimi_raw_tool_args" in m.additional_kwargs]
    return final


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "raw"])
async def test_agent_answers_bad_arguments_with_an_error_message(kimi, fault, run, dialect) -> None:
    ran.clear()
    graph = create_agent_graph(kimi(dialect), [get_weather])
    prompt = f'weather in "Paris" {run} [[call get_weather]] [[fault {fault}]]'
    out = await _run(graph, {"messages": [("user", prompt)]}, run)
    first = next(m for m in out["messages"] if isinstance(m, AIMessage))
    assert first.tool_calls == []
    (bad,) = first.invalid_tool_calls
    assert bad["name"] == "get_weather" and "not a JSON object" in bad["error"]
    reply = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert reply.status == "error" and reply.tool_call_id == bad["id"]
    assert ran == []  # never executed on a guess
    assert isinstance(out["messages"][-1], AIMessage)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("run", RUNS)
async def test_swarm_plan_with_bad_arguments_is_an_error_record(kimi, fault, run) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    plan = {"role": "r", "task": f"weather in Rome {run}"}
    prompt = f"[[call assign_task {json.dumps(plan)}]] [[fault {fault}]]"
    out = await _run(graph, {"messages": [("user", prompt)]}, run)
    (record,) = out["subagent_results"]
    assert record["status"] == "error"
    assert record["output"] == ""
    assert isinstance(out["messages"][-1], AIMessage)
