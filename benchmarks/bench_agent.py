#!/usr/bin/env python
"""Benchmark: the Kimi agent graph against LangChain's stock agent, per tool step.

One run starts the K2.5 emulator (``kimi_graph.emulator``) in a child process at zero
latency and zero token delay, and runs the same agent loop of k tool steps (k in
``--steps``, default 1, 5, 20) through:

* (a) ``kimi_graph.create_agent_graph(ChatKimi(backend="vllm"), [echo])``;
* (b) ``langchain.agents.create_agent(ChatOpenAI(...), [echo])`` (else
  ``langgraph.prebuilt.create_react_agent``), ChatOpenAI sending the same thinking switch
  (``extra_body={"chat_template_kwargs": {"thinking": True}}``).

Both on the emulator's ``vllm`` dialect, thinking on, one trivial tool ``echo(text)``. The
user message scripts the loop (``[[call echo {"text": "1"}]] [[then]] ... [[then]] [[call
echo {"text": "k"}]]``), after which the emulator answers from the tool results: k + 1 model
calls and k tool calls per run. The only difference on the wire: ChatKimi writes each
turn's reasoning back into the history (as vLLM's K2.5 template wants), ChatOpenAI drops it.

Before timing, both agents must give the same final answer and make exactly k tool calls
(echoing 1..k) under ``invoke`` and ``ainvoke``; every timed run is checked for the
expected number of messages. The script stops with an error if either check fails.

Timing: for every k and for ``invoke`` and ``ainvoke`` (runs one after another), each
agent runs ``ceil(--budget / k)`` times per cell, the agents taking turns run by run (in a
rotating order), for ``--repeats`` repeats. Reported: the median wall milliseconds
per run and per tool step (run / k), this process's CPU milliseconds per step, and the
ratio (a)/(b) per step (median of per-repeat ratios). Goal: (a)/(b) <= 1.05.

Also (skip with ``--no-moonshot``) agent (a) runs the same loops on the ``moonshot``
dialect, thinking on, where every assistant tool-call turn must carry its
``reasoning_content`` back, timed in the same repeats (interleaved): its ms per step is
shown next to (a) on vllm, to show that the round trip costs nothing extra. Agent (b)
cannot run there (ChatOpenAI drops ``reasoning_content``, so Moonshot answers the second
request with HTTP 400; the script shows that error once) and is not compared.

Run from the repository root::

    .venv/bin/python benchmarks/bench_agent.py
    .venv/bin/python benchmarks/bench_agent.py --steps 1,5 --repeats 3 --no-moonshot
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import openai
from _bench import (  # also puts the repository root on sys.path, for kimi_graph
    GOAL,
    EmulatorProcess,
    Samples,
    Timer,
    environment,
    load,
    paired_ratio,
    ratio_range,
    rotate,
    table,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from kimi_graph import ChatKimi, create_agent_graph

MODEL = "kimi-k2.5"
AGENTS = ("kimi", "langchain")
VLLM_THINKING = {"chat_template_kwargs": {"thinking": True}}


@tool
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def baseline_agent(model: ChatOpenAI) -> tuple[Any, str]:
    """LangChain's stock agent: ``langchain.agents.create_agent``, else the prebuilt one."""
    try:
        from langchain.agents import create_agent
    except ImportError:
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(model, [echo]), "create_react_agent"
    return create_agent(model, [echo]), "create_agent"


def script(k: int) -> str:
    """The user message that makes the emulator call ``echo`` k times, one per turn."""
    return " [[then]] ".join(f'[[call echo {{"text": "{i}"}}]]' for i in range(1, k + 1))


def config(k: int) -> dict[str, Any]:
    """The same run config for both agents: enough supersteps for k tool steps."""
    return {"recursion_limit": 2 * k + 10}


def check_run(agent: str, k: int, messages: list[BaseMessage]) -> str:
    """Fail loudly unless the run made exactly k echo calls (1..k); return the answer.

    Raises:
        SystemExit: When the run did not go as scripted.
    """
    calls = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
    expected = [str(i) for i in range(1, k + 1)]
    final = messages[-1]
    problems = []
    if [c["name"] for c in calls] != ["echo"] * k:
        problems.append(f"tool calls {[c['name'] for c in calls]}, expected {k} echo calls")
    if results != expected:
        problems.append(f"tool results {results}, expected {expected}")
    if not isinstance(final, AIMessage) or final.tool_calls or not final.text:
        problems.append(f"no final answer: {final!r}")
    if problems:
        raise SystemExit(f"bench_agent: {agent} with k={k} went wrong: " + "; ".join(problems))
    return final.text


def check_agents(graphs: dict[str, Any], ks: list[int], loop: asyncio.AbstractEventLoop) -> None:
    """Warm up, then check that both agents answer alike with k tool calls, sync and async.

    Raises:
        SystemExit: When an agent misbehaves or the two answers differ.
    """
    for k in ks:
        answers: dict[str, str] = {}
        for agent, graph in graphs.items():
            inputs = {"messages": [HumanMessage(script(k))]}
            for _ in range(3):
                out = graph.invoke(inputs, config(k))
                answers[f"{agent} invoke"] = check_run(agent, k, out["messages"])
                out = loop.run_until_complete(graph.ainvoke(inputs, config(k)))
                answers[f"{agent} ainvoke"] = check_run(agent, k, out["messages"])
        if len(set(answers.values())) != 1:
            raise SystemExit(f"bench_agent: final answers differ for k={k}: {answers}")


def time_agents(
    emu: EmulatorProcess,
    graphs: dict[str, Any],
    ks: list[int],
    args: argparse.Namespace,
    loop: asyncio.AbstractEventLoop,
) -> dict[tuple[int, str], dict[str, Samples]]:
    """Time every (k, mode) cell for each agent; samples per tool step."""
    modes = ("invoke", "ainvoke")
    samples = {(k, mode): {agent: Samples() for agent in graphs} for k in ks for mode in modes}

    def runner(graph: Any, mode: str, k: int) -> Callable[[], None]:
        """One run of the agent, checked."""
        inputs = {"messages": [HumanMessage(script(k))]}
        expected = 2 * k + 2  # the question, k (call, result) pairs, the answer

        def check(out: dict[str, Any]) -> None:
            if len(out["messages"]) != expected:
                raise SystemExit(f"bench_agent: a run of k={k} returned {len(out['messages'])}")

        def sync() -> None:
            check(graph.invoke(inputs, config(k)))

        def aio() -> None:
            check(loop.run_until_complete(graph.ainvoke(inputs, config(k))))

        return sync if mode == "invoke" else aio

    for repeat in range(args.repeats):
        for k in ks:
            runs = math.ceil(args.budget / k)
            for mode in modes:
                run = {agent: runner(graph, mode, k) for agent, graph in graphs.items()}
                totals = {agent: [0.0, 0.0] for agent in graphs}
                gc.collect()
                # The agents take turns run by run: all see the same drift of the machine.
                for i in range(runs):
                    for agent in rotate(list(graphs), repeat + i):
                        with Timer() as timer:
                            run[agent]()
                        totals[agent][0] += timer.wall
                        totals[agent][1] += timer.cpu
                for agent, (wall, cpu) in totals.items():
                    samples[(k, mode)][agent].add(wall, cpu, runs * k)
            emu.clear_requests()
    return samples


def moonshot_baseline_error(emu: EmulatorProcess) -> str:
    """Run agent (b) once on Moonshot with thinking: the 400 it gets, as one line."""
    model = ChatOpenAI(
        model=MODEL,
        base_url=emu.base_url("moonshot"),
        api_key="x",
        temperature=1.0,
        top_p=0.95,
        extra_body={"thinking": {"type": "enabled"}},
        max_retries=0,
    )
    graph, _ = baseline_agent(model)
    try:
        graph.invoke({"messages": [HumanMessage(script(2))]}, config(2))
    except openai.BadRequestError as err:
        body = err.body if isinstance(err.body, dict) else {}
        return f"HTTP {err.status_code}: {body.get('message') or err.message}"
    return "no error (unexpected: ChatOpenAI kept reasoning_content?)"


def make_graphs(emu: EmulatorProcess, moonshot: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Agents (a) and (b) on vllm, and (a) on Moonshot when asked; with their labels."""
    base_url = emu.base_url("vllm")
    kimi = ChatKimi(base_url=base_url, backend="vllm", api_key="x", model=MODEL)
    lc_model = ChatOpenAI(model=MODEL, base_url=base_url, api_key="x", extra_body=VLLM_THINKING)
    baseline, baseline_name = baseline_agent(lc_model)
    graphs = {"kimi": create_agent_graph(kimi, [echo]), "langchain": baseline}
    labels = {
        "kimi": "create_agent_graph(ChatKimi)",
        "langchain": f"{baseline_name}(ChatOpenAI)",
    }
    if moonshot:
        moon = ChatKimi(
            base_url=emu.base_url("moonshot"), backend="moonshot", api_key="x", model=MODEL
        )
        graphs["moonshot"] = create_agent_graph(moon, [echo], thinking=True)
        labels["moonshot"] = "create_agent_graph(ChatKimi) on moonshot"
    return graphs, labels


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="1,5,20", help="comma-separated values of k")
    parser.add_argument(
        "--budget", type=int, default=40, help="tool steps per cell (runs = ceil(budget / k))"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median is reported)")
    parser.add_argument("--no-moonshot", action="store_true", help="skip the Moonshot part")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.steps.split(",") if k.strip()]
    # Loopback only: never trace to LangSmith, whatever the environment says.
    os.environ["LANGSMITH_TRACING"] = "false"
    os.environ["LANGCHAIN_TRACING_V2"] = "false"

    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    with EmulatorProcess(pin=not args.no_pin) as emu:
        print(f"bench_agent: emulator {emu.url} in a child process; {environment(emu.pinned)}")
        graphs, labels = make_graphs(emu, moonshot=not args.no_moonshot)
        print(
            f"k in {ks}, ceil({args.budget}/k) runs per cell, repeats={args.repeats} (median); "
            f"thinking on; (a) = {labels['kimi']}, (b) = {labels['langchain']}, both on vllm"
        )
        print(
            "ms/step = wall milliseconds per tool step (run / k; a run is k+1 model calls "
            "and k tool calls), CPU = this process's CPU per step; ratios = median of "
            "per-repeat ratios, (range) = lowest-highest"
        )
        check_agents({a: graphs[a] for a in AGENTS}, ks, loop)
        if "moonshot" in graphs:
            check_agents({"moonshot": graphs["moonshot"]}, ks, loop)
        print("checked: every agent makes k echo calls (1..k) and gives the same final answer")
        print()
        samples = time_agents(emu, graphs, ks, args, loop)
        moonshot_error = moonshot_baseline_error(emu) if "moonshot" in graphs else ""
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()

    headers = [
        "k  mode",
        "(a) ms/run",
        "(b) ms/run",
        "(a) ms/step",
        "(b) ms/step",
        "(a)/(b)",
        "(range)",
        "(a) CPU/step",
        "(b) CPU/step",
        "CPU (a)/(b)",
    ]
    rows = []
    ratios: list[tuple[float, float, str]] = []
    for (k, mode), cells in samples.items():
        a, b = cells["kimi"], cells["langchain"]
        ratio = paired_ratio(a.wall, b.wall)
        cpu_ratio = paired_ratio(a.cpu, b.cpu)
        ratios.append((ratio, cpu_ratio, f"k={k} {mode}"))
        rows.append(
            [
                f"{k:<2} {mode}",
                f"{a.wall_ms * k:.2f}",
                f"{b.wall_ms * k:.2f}",
                f"{a.wall_ms:.3f}",
                f"{b.wall_ms:.3f}",
                f"{ratio:.3f}",
                ratio_range(a.wall, b.wall),
                f"{a.cpu_ms:.3f}",
                f"{b.cpu_ms:.3f}",
                f"{cpu_ratio:.3f}",
            ]
        )
    print(table(headers, rows))
    worst, _, where = max(ratios)
    worst_cpu, where_cpu = max((cpu, label) for _, cpu, label in ratios)
    verdict = "MET" if worst <= GOAL else "NOT MET"
    print()
    print(
        f"worst (a)/(b) per-step wall ratio: {worst:.3f} ({where}); goal <= {GOAL:.2f}: {verdict}"
    )
    print(f"(worst client-CPU ratio: {worst_cpu:.3f} ({where_cpu}))")

    if moonshot_error:
        print()
        print(
            "(a) on moonshot, thinking on: every tool-call turn carries its reasoning_content "
            "back (Moonshot requires it); timed in the same repeats as (a) on vllm"
        )
        rows = []
        for (k, mode), cells in samples.items():
            moon, ref = cells["moonshot"], cells["kimi"]
            rows.append(
                [
                    f"{k:<2} {mode}",
                    f"{moon.wall_ms:.3f}",
                    f"{ref.wall_ms:.3f}",
                    f"{paired_ratio(moon.wall, ref.wall):.3f}",
                    ratio_range(moon.wall, ref.wall),
                    f"{moon.cpu_ms:.3f}",
                    f"{ref.cpu_ms:.3f}",
                    f"{paired_ratio(moon.cpu, ref.cpu):.3f}",
                ]
            )
        headers = [
            "k  mode",
            "moonshot ms/step",
            "vllm ms/step",
            "moonshot/vllm",
            "(range)",
            "moonshot CPU",
            "vllm CPU",
            "CPU moonshot/vllm",
        ]
        print(table(headers, rows))
        print(f"(b) is not compared on moonshot with thinking: it fails with {moonshot_error}")
    print(f"[{time.perf_counter() - started:.0f} s, {load()} at the end]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
