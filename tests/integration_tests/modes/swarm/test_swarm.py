"""Agent swarm over HTTP against the emulator: fan-out, limits, failures, waves."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.conftest import peak_concurrency, requests_since

CITIES = (
    'Compare the weather in these cities:\n- weather in "Paris"\n- weather in "Rome"\n'
    '- weather in "Oslo"'
)


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@tool
def crash(x: str) -> str:
    """A tool that always fails."""
    msg = f"crash {x}"
    raise RuntimeError(msg)


def assign(role: str, task: str) -> str:
    """An orchestrator directive that assigns one scripted task."""
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def _records(out: dict) -> dict[str, dict]:
    return {r["role"]: r for r in out["subagent_results"]}


def _final(out: dict) -> AIMessage:
    final = out["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    return final


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Emulator]:
    """An emulator with 500 ms per response, to see branches overlap."""
    with Emulator(EmulatorConfig(latency=0.5)) as emu:
        yield emu


@pytest.mark.parametrize("dialect", ["moonshot", "vllm", "raw"])
async def test_fans_out_and_synthesizes(kimi, emulator, dialect: str) -> None:
    graph = create_swarm_graph(kimi(dialect), [get_weather])
    for run in ("invoke", "ainvoke"):
        mark = len(emulator.requests)
        inputs = {"messages": [HumanMessage(CITIES)]}
        out = graph.invoke(inputs) if run == "invoke" else await graph.ainvoke(inputs)
        results = out["subagent_results"]
        assert [r["status"] for r in results] == ["ok"] * 3
        assert sorted(r["task"].replace('"', "") for r in results) == [
            "weather in Oslo",
            "weather in Paris",
            "weather in Rome",
        ]
        for record in results:
            city = record["task"].split()[-1].strip('"')
            assert f"Sunny in {city}" in record["output"]
            assert (record["steps"], record["tool_calls"], record["round"]) == (2, 1, 1)
            assert record["error"] is None and record["elapsed_s"] > 0
        # each assign_task call is answered by the sub-agent's result
        replies = [m for m in out["messages"] if isinstance(m, ToolMessage)]
        assert {m.tool_call_id for m in replies} == {r["id"] for r in results}
        final = _final(out)
        assert final.additional_kwargs["reasoning_content"]
        assert final.response_metadata["swarm"]["critical_steps"] == 4
        assert out["critical_steps"] == [3]
        records = requests_since(emulator, mark)
        assert all(r.status == 200 for r in records)
        # orchestrator and synthesis think; the 3 sub-agents (2 calls each) are instant
        assert sorted(r.thinking for r in records) == [False] * 6 + [True] * 2
        assert records[-1].body["tool_choice"] == "none"


def test_orchestrator_answers_alone(kimi, emulator) -> None:
    mark = len(emulator.requests)
    out = create_swarm_graph(kimi("moonshot"), [get_weather]).invoke(
        {"messages": [("user", "What is 2+2?")]}
    )
    assert _final(out).content == "4"
    assert out["subagent_results"] == []
    assert out["critical_steps"] == [1]
    assert len(requests_since(emulator, mark)) == 1
    summary = _final(out).response_metadata["swarm"]
    assert summary["subagents"] == summary["failed"] == summary["partial"] == 0
    assert summary["critical_steps"] == 1
    assert summary["usage"] == _final(out).usage_metadata
    assert summary["usage_by_part"]["orchestrator"] == _final(out).usage_metadata
    assert summary["usage_by_part"]["subagents"]["total_tokens"] == 0


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_branches_run_in_parallel(slow_emulator, run: str) -> None:
    llm = ChatKimi(base_url=slow_emulator.base_url("vllm"), api_key="k", max_retries=0)
    tasks = "\n".join(f'- weather in "{run}{i}"' for i in range(12))
    graph = create_swarm_graph(llm, [get_weather], max_concurrency=12)
    inputs = {"messages": [("user", f"Do:\n{tasks}")]}
    mark = len(slow_emulator.requests)
    await graph.ainvoke(inputs) if run == "ainvoke" else graph.invoke(inputs)
    firsts = [
        r
        for r in requests_since(slow_emulator, mark)
        if not r.thinking and len(r.body["messages"]) == 2
    ]
    assert len(firsts) == 12
    # all twelve first requests in flight at once: on invoke, more than LangGraph's
    # default thread pool (cores + 4) would allow
    assert peak_concurrency(firsts) == 12


def test_max_concurrency_bounds_branches(slow_emulator) -> None:
    llm = ChatKimi(base_url=slow_emulator.base_url("vllm"), api_key="k", max_retries=0)
    tasks = "\n".join(f"- question {i}" for i in range(6))
    mark = len(slow_emulator.requests)
    create_swarm_graph(llm, [], max_concurrency=2).invoke({"messages": [("user", f"Do:\n{tasks}")]})
    subs = [r for r in requests_since(slow_emulator, mark) if not r.thinking]
    assert len(subs) == 6
    assert peak_concurrency(subs) == 2


def test_extra_subagents_are_refused(kimi) -> None:
    tasks = "\n".join(f"- weather in C{i}" for i in range(5))
    out = create_swarm_graph(kimi("moonshot"), [get_weather], max_subagents=3).invoke(
        {"messages": [("user", f"Check:\n{tasks}")]}
    )
    results = out["subagent_results"]
    assert len(results) == 5
    assert [r["status"] for r in results].count("ok") == 3
    refused = [r for r in results if r["status"] == "error"]
    assert len(refused) == 2
    assert all("at most 3 sub-agents" in r["error"] for r in refused)
    replies = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert set(replies) == {r["id"] for r in results}
    assert all(replies[r["id"]].status == "error" for r in refused)
    assert all(r["id"] in _final(out).content for r in refused)


def test_failing_worker_does_not_sink_the_swarm(kimi, emulator) -> None:
    broken = ChatKimi(base_url=emulator.url + "/no-such-server/v1", api_key="k", max_retries=0)
    graph = create_swarm_graph(kimi("moonshot"), [get_weather], worker_model=[kimi("vllm"), broken])
    tasks = "\n".join(f"- weather in W{i}" for i in range(4))
    out = graph.invoke({"messages": [("user", f"Check:\n{tasks}")]})
    results = out["subagent_results"]
    assert [r["status"] for r in results] == ["ok", "error", "ok", "error"]
    assert {r["worker"] for r in results if r["status"] == "ok"} == {emulator.base_url("vllm")}
    failed = [r for r in results if r["status"] == "error"]
    assert all("NotFound" in r["error"] for r in failed)
    final = _final(out)
    assert all(r["id"] in final.content or r["role"] in final.content for r in failed)
    assert final.response_metadata["swarm"]["failed"] == 2


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_model_errors_after_retries_are_isolated(kimi, emulator, run) -> None:
    script = (
        assign("good", 'weather in "Lima"')
        + assign("bad", "weather in Nowhere [[fault 500]]")
        + assign("flaky", f"weather in Quito [[fault 429 x1]] {run}")
    )
    graph = create_swarm_graph(
        kimi("moonshot"), [get_weather], worker_model=kimi("vllm", max_retries=2)
    )
    mark = len(emulator.requests)
    inputs = {"messages": [("user", script)]}
    out = graph.invoke(inputs) if run == "invoke" else await graph.ainvoke(inputs)
    records = _records(out)
    assert records["good"]["status"] == "ok"
    assert records["flaky"]["status"] == "ok"  # the 429 was retried
    assert records["bad"]["status"] == "error"
    assert "500" in records["bad"]["error"]
    statuses = [
        r.status
        for r in requests_since(emulator, mark)
        if not r.thinking and "Nowhere" in r.last_user
    ]
    assert statuses == [500, 500, 500]  # the first try and two retries
    assert "bad" in _final(out).content


def test_crashing_tool_is_recovered_inside_the_subagent(kimi) -> None:
    out = create_swarm_graph(kimi("moonshot"), [crash]).invoke(
        {"messages": [("user", assign("crasher", '[[call crash {"x": "1"}]]'))]}
    )
    record = _records(out)["crasher"]
    assert record["status"] == "ok"
    assert "crash 1" in record["output"]


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_subagent_timeout(kimi, run) -> None:
    script = assign("slow", f"wait [[fault hang 5]] {run}") + assign("fast", "What is 1+1?")
    graph = create_swarm_graph(kimi("moonshot"), [], subagent_timeout=0.5)
    inputs = {"messages": [("user", script)]}
    out = graph.invoke(inputs) if run == "invoke" else await graph.ainvoke(inputs)
    records = _records(out)
    assert records["fast"]["status"] == "ok"
    assert records["fast"]["output"] == "2"
    assert records["slow"]["status"] == "error"
    assert records["slow"]["error"] == "timed out after 0.5s"
    assert records["slow"]["elapsed_s"] < 4


def test_tool_call_budget_is_shared_and_enforced(kimi) -> None:
    loop = '[[loop get_weather {"city": "Rome"}]]'
    script = assign("a", f"A {loop}") + assign("b", f"B {loop}")
    out = create_swarm_graph(kimi("moonshot"), [get_weather], tool_call_budget=4).invoke(
        {"messages": [("user", script)]}
    )
    for record in out["subagent_results"]:
        assert record["status"] == "error"
        assert "tool-call budget (2)" in record["error"]
        assert record["tool_calls"] == 2  # the turn asking for a third call was stopped


def test_subagent_step_limit(kimi) -> None:
    script = assign("looper", '[[loop get_weather {"city": "Rome"}]]')
    out = create_swarm_graph(kimi("moonshot"), [get_weather], subagent_max_steps=2).invoke(
        {"messages": [("user", script)]}
    )
    (record,) = out["subagent_results"]
    assert record["status"] == "error"
    assert record["error"] == "the sub-agent hit its step limit"
    assert "Stopped after 2 model steps" in record["output"]


def test_malformed_and_invalid_plans_are_reported(kimi) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    out = graph.invoke({"messages": [("user", assign("x", "task") + " [[fault malformed]]")]})
    (record,) = out["subagent_results"]
    assert record["status"] == "error"
    assert "did not parse" in record["error"]
    assert record["id"] in _final(out).content
    out = graph.invoke({"messages": [("user", '[[call assign_task {"role": "x"}]]')]})
    (record,) = out["subagent_results"]
    assert "do not fit assign_task" in record["error"]


def test_second_wave(kimi, emulator) -> None:
    script = (
        assign("first", 'weather in "Paris"')
        + assign("second", 'weather in "Rome"')
        + " [[then]] "
        + assign("third", 'weather in "Oslo"')
    )
    mark = len(emulator.requests)
    out = create_swarm_graph(kimi("moonshot"), [get_weather], max_rounds=2).invoke(
        {"messages": [("user", script)]}
    )
    records = _records(out)
    assert {k: v["round"] for k, v in records.items()} == {"first": 1, "second": 1, "third": 2}
    assert all(r["status"] == "ok" for r in records.values())
    assert out["critical_steps"] == [3, 3]
    # the orchestrator's second call saw the first wave's results
    orchestrator_calls = [
        r
        for r in requests_since(emulator, mark)
        if r.thinking and r.body.get("tool_choice") != "none"
    ]
    assert len(orchestrator_calls) == 2
    assert "Sunny in Paris" in json.dumps(orchestrator_calls[1].body["messages"])


def test_orchestrator_may_stop_after_one_wave(kimi) -> None:
    out = create_swarm_graph(kimi("moonshot"), [get_weather], max_rounds=3).invoke(
        {"messages": [("user", assign("only", 'weather in "Paris"'))]}
    )
    assert [r["role"] for r in out["subagent_results"]] == ["only"]
    assert out["critical_steps"] == [3]
    assert "Sunny in Paris" in _final(out).content


def test_progress_events(kimi) -> None:
    script = assign("ok", 'weather in "Paris"') + assign("bad", "x [[fault 500]]")
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    events = [
        e
        for e in graph.stream({"messages": [("user", script)]}, stream_mode="custom")
        if e.get("type") == "subagent"
    ]
    by_role = {(e["role"], e["event"]) for e in events}
    assert by_role == {("ok", "start"), ("ok", "finish"), ("bad", "start"), ("bad", "error")}
    finished = next(e for e in events if e["event"] == "finish")
    assert finished["status"] == "ok" and finished["steps"] == 2


def test_worker_pool_spreads_and_bounds_per_server(slow_emulator) -> None:
    def model(dialect: str) -> ChatKimi:
        return ChatKimi(base_url=slow_emulator.base_url(dialect), api_key="k", max_retries=0)

    graph = create_swarm_graph(
        model("moonshot"),
        [],
        worker_model=[model("vllm"), model("sglang")],
        max_concurrency_per_worker=1,
    )
    tasks = "\n".join(f"- question {i}" for i in range(4))
    mark = len(slow_emulator.requests)
    out = graph.invoke({"messages": [("user", f"Do:\n{tasks}")]})
    workers = [r["worker"] for r in out["subagent_results"]]
    assert workers.count(slow_emulator.base_url("vllm")) == 2
    assert workers.count(slow_emulator.base_url("sglang")) == 2
    for dialect in ("vllm", "sglang"):
        subs = [r for r in requests_since(slow_emulator, mark) if r.dialect == dialect]
        assert len(subs) == 2
        first, second = sorted(subs, key=lambda r: r.started)
        assert first.finished <= second.started  # one at a time on each server


def test_thread_continues_and_results_are_per_request(kimi) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [get_weather], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "swarm-thread"}}
    first = graph.invoke({"messages": [("user", CITIES)]}, config)
    assert len(first["subagent_results"]) == 3
    second = graph.invoke({"messages": [("user", assign("solo", 'weather in "Kyiv"'))]}, config)
    assert [r["role"] for r in second["subagent_results"]] == ["solo"]
    assert second["messages"][0].content == CITIES  # the thread kept the first request
    assert "Sunny in Kyiv" in _final(second).content


def test_invalid_settings(kimi) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        create_swarm_graph(kimi("moonshot"), [], max_subagents=0)


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_failed_synthesis_keeps_every_result(kimi, run) -> None:
    # The orchestrator's call is answered, every later call of this user turn fails.
    script = (
        assign("alpha", 'weather in "Lima"')
        + assign("beta", "What is 2+2?")
        + f" [[fault 500 after 1]] {run}"
    )
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    inputs = {"messages": [("user", script)]}
    out = graph.invoke(inputs) if run == "invoke" else await graph.ainvoke(inputs)
    final = _final(out)
    assert final.response_metadata["finish_reason"] == "error"
    assert "synthesis step failed" in final.content and "500" in final.content
    assert "Sunny in Lima" in final.content and "4" in final.content
    assert [r["status"] for r in out["subagent_results"]] == ["ok", "ok"]


def test_failed_later_wave_goes_on_to_synthesis(kimi, emulator) -> None:
    # Waves: the orchestrator's first call is answered; its second call fails (and so
    # does the synthesis): the first wave's results survive in the final message.
    script = assign("first", 'weather in "Oslo"') + " [[then]] [[fault 500 after 1]]"
    out = create_swarm_graph(kimi("moonshot"), [get_weather], max_rounds=2).invoke(
        {"messages": [("user", script)]}
    )
    notes = [
        m for m in out["messages"] if isinstance(m, AIMessage) and "No further round" in m.text
    ]
    assert len(notes) == 1
    assert "Sunny in Oslo" in _final(out).content
    assert [r["role"] for r in out["subagent_results"]] == ["first"]


def test_failed_first_plan_is_raised(kimi) -> None:
    graph = create_swarm_graph(kimi("moonshot"), [get_weather])
    with pytest.raises(Exception, match="500"):
        graph.invoke({"messages": [("user", "Plan this. [[fault 500]]")]})
