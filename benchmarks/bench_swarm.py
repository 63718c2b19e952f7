#!/usr/bin/env python
"""Benchmark: the agent swarm's wall time against its critical path, and against peers.

One run starts the K2.5 emulator in a child process with a fixed latency L per model
call (``--latency``, default 1 s; Moonshot dialect) and runs one job: a request listing N
independent questions, which the orchestrator fans out to N sub-agents (one model call
each, no tools) before the synthesis step answers. For N in ``--sizes`` (default 1, 10,
100) and ``--big`` (default 1,000 with ``max_concurrency=100``) it prints:

* wall / critical path, for ``graph.invoke`` and ``graph.ainvoke``. The critical path is
  orchestrator + ceil(N / max_concurrency) sub-agent calls + synthesis = (2 + waves)·L.
  Goal: <= 1.10 at N = 100.
* the sub-agent phase's speed-up over the same sub-tasks run one after another through
  the agent graph (timed on 3 of them, times N). The phase is read from the emulator's
  request log: first sub-agent request received to last one answered. Goal: >= 0.9·N up
  to the concurrency bound.
* the same job through a peer that fans out in LangGraph: ``create_agent`` whose
  ``assign_task`` tool runs the sub-agent (parallel tool calls in one turn), invoke and
  ainvoke; and the floor of the HTTP client itself: the same 1 + N + 1 calls with the
  raw ``openai`` async client.
* wall / raw floor: the swarm's wall time over the raw client's for the same calls.
* dispatch: from the plan's answer to the first sub-agent request, plus the spread of
  the sub-agents' sends (server clock): the client CPU each branch spends before its
  request leaves, serialised by the GIL (threads) or the event loop (tasks).
  Each sub-agent is a nested agent subgraph (checkpointable, streamable, interruptible).
* framework overhead per sub-agent, with an in-process model that answers instantly
  (no HTTP): (swarm(N=100) - swarm(N=2)) / 98, less one direct call of that model.
* peak memory per sub-agent (tracemalloc, the N=100 swarm over HTTP, ainvoke).

Run from the repository root (about 2 minutes)::

    .venv/bin/python benchmarks/bench_swarm.py
    .venv/bin/python benchmarks/bench_swarm.py --latency 0.5 --sizes 1,10 --big 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from _bench import EmulatorProcess, environment, table  # also puts the repo root on sys.path
from _swarm_paired import PAIRED_CHECKPOINTERS, PAIRED_HEADERS, paired_rows
from _swarm_scale import CHECKPOINTERS, census_tables, scale_rows
from _swarm_scale import HEADERS as SCALE_HEADERS
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from kimi_graph import ChatKimi, create_agent_graph, create_swarm_graph

GOAL_RATIO = 1.10
GOAL_SPEEDUP = 0.9


def job(n: int) -> dict[str, Any]:
    """The request: N independent questions, one sub-agent each.

    The emulator's `[[call ...]]` directives script the orchestrator's plan, so that
    every N (1 included) fans out the same way for the swarm and for the peer.
    """
    calls = "".join(
        f"[[call assign_task {json.dumps({'role': 'worker', 'task': f'question number {i}'})}]]"
        for i in range(n)
    )
    return {"messages": [HumanMessage(f"Answer each question independently. {calls}")]}


class InstantModel(BaseChatModel):
    """A model that answers at once, in process: isolates the framework's own cost."""

    @property
    def _llm_type(self) -> str:
        return "instant-fake"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        return ChatResult(generations=[ChatGeneration(message=AIMessage("done"))])

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        return self._generate(messages)

    def bind_tools(self, tools: Any, **kwargs: Any) -> InstantModel:
        """Ignore tools: the benchmark's sub-agents have none."""
        return self


def _phase(records: list[dict[str, Any]]) -> tuple[float, int]:
    """First sub-agent request received to last answered, from the emulator's log."""
    subs = [r for r in records if not r["thinking"]]
    if not subs:
        return 0.0, 0
    return max(r["finished"] for r in subs) - min(r["started"] for r in subs), len(subs)


def _dispatch(records: list[dict[str, Any]]) -> str:
    """Plan answered -> first sub-agent request, and the spread of the sub-agents' sends."""
    plans = [r for r in records if r["thinking"] and r["body"].get("tool_choice") != "none"]
    subs = [r for r in records if not r["thinking"]]
    if not plans or not subs:
        return "-"
    first = min(r["started"] for r in subs)
    spread = max(r["started"] for r in subs) - first
    return f"{(first - plans[0]['finished']) * 1000:.0f} + {spread * 1000:.0f} ms"


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def _atimed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def peer_graph(boss: ChatKimi, worker: ChatKimi) -> Any:
    """A LangGraph peer: LangChain's stock agent whose tool runs a sub-agent."""

    @tool
    def assign_task(role: str, task: str) -> str:
        """Start a sub-agent on one self-contained sub-task."""
        return worker.invoke([SystemMessage(f"You are {role}."), HumanMessage(task)]).text

    @tool
    async def assign_task_async(role: str, task: str) -> str:
        """Start a sub-agent on one self-contained sub-task."""
        reply = await worker.ainvoke([SystemMessage(f"You are {role}."), HumanMessage(task)])
        return reply.text

    assign_task.coroutine = assign_task_async.coroutine
    return create_agent(boss, [assign_task])


async def raw_floor(base_url: str, n: int) -> float:
    """The same 1 + N + 1 calls with the raw async openai client (the HTTP floor)."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    thinking = {"thinking": {"type": "enabled"}}
    instant = {"thinking": {"type": "disabled"}}

    async def call(text: str, extra: dict[str, Any]) -> Any:
        return await client.chat.completions.create(
            model="kimi-k2.5", messages=[{"role": "user", "content": text}], extra_body=extra
        )

    await call("warm up", instant)
    start = time.perf_counter()
    await call("plan", thinking)
    await asyncio.gather(*(call(f"question number {i}", instant) for i in range(n)))
    await call("synthesize", thinking)
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def framework_overhead(emu: EmulatorProcess) -> tuple[float, float]:
    """Per-sub-agent cost of the swarm itself (ms), invoke and ainvoke, no HTTP in branches."""
    boss = ChatKimi(base_url=emu.base_url("moonshot"), backend="moonshot", api_key="k")
    fake = InstantModel()
    graph = create_swarm_graph(boss, [], worker_model=fake, max_subagents=1000, max_concurrency=100)
    direct = [SystemMessage("You are x."), HumanMessage("q")]

    def best(fn: Callable[[], Any], k: int = 7) -> float:
        return min(_timed(fn) for _ in range(k))

    for n in (2, 100):
        graph.invoke(job(n))
    sync = (best(lambda: graph.invoke(job(100))) - best(lambda: graph.invoke(job(2)))) / 98
    sync -= best(lambda: [fake.invoke(direct) for _ in range(100)]) / 100

    async def run() -> float:
        async def abest(fn: Callable[[], Awaitable[Any]], k: int = 7) -> float:
            return min([await _atimed(fn) for _ in range(k)])

        for n in (2, 100):
            await graph.ainvoke(job(n))
        big = await abest(lambda: graph.ainvoke(job(100)))
        small = await abest(lambda: graph.ainvoke(job(2)))
        calls = await abest(lambda: asyncio.gather(*(fake.ainvoke(direct) for _ in range(100))))
        return (big - small) / 98 - calls / 100

    return sync * 1000, asyncio.run(run()) * 1000


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call")
    parser.add_argument("--sizes", default="1,10,100", help="sub-agent counts")
    parser.add_argument("--big", type=int, default=1000, help="a larger N (0: skip)")
    parser.add_argument("--big-concurrency", type=int, default=100)
    parser.add_argument("--peer-max", type=int, default=100, help="largest N for the peer")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument(
        "--tools",
        action="store_true",
        help="instead: tool-using sub-agents (one tool call, two model calls each) at "
        "--tool-sizes, with --checkpointer; prints CPU per sub-agent and the raw floor",
    )
    parser.add_argument(
        "--tool-sizes",
        default="10,100,300,1000:200",
        help="N or N:max_concurrency for --tools (default 10,100,300,1000:200)",
    )
    parser.add_argument(
        "--checkpointer",
        choices=sorted({*CHECKPOINTERS, *PAIRED_CHECKPOINTERS}),
        default="none",
        help="none, sqlite or postgres; with --paired also memory (InMemorySaver)",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="with --tools and a --checkpointer: instead of timing, count what one run "
        "stores per sub-agent (checkpoints, writes, reads, bytes by channel, saver CPU)",
    )
    parser.add_argument(
        "--freeze-heap",
        action="store_true",
        help="with --tools: kimi_graph.heap.freeze_heap() after the first warm-up",
    )
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="REPEATS",
        help="with --tools and a --checkpointer: instead, REPEATS interleaved pairs of "
        "the same job without and with the checkpointer in one process; prints the "
        "with/without wall ratio (min-max) on invoke and ainvoke",
    )
    parser.add_argument(
        "--pg-conn",
        default="single",
        help="with --paired and --checkpointer postgres: how the saver connects: "
        "single (from_conn_string), pipeline (from_conn_string(pipeline=True)) or pool:K "
        "(a psycopg_pool pool of K connections); default single",
    )
    args = parser.parse_args()
    if args.checkpointer not in CHECKPOINTERS and not args.paired:
        parser.error(f"--checkpointer {args.checkpointer} is for --paired runs only")
    if args.paired and args.tools and args.checkpointer != "none":
        with EmulatorProcess(pin=not args.no_pin, latency=args.latency) as emu:
            print(environment(emu.pinned))
            print(f"latency L = {args.latency:g} s; tool-using sub-agents; paired runs\n")
            sizes = [
                (int(s.split(":")[0]), int(s.split(":")[1]) if ":" in s else int(s))
                for s in args.tool_sizes.split(",")
                if s
            ]
            rows = paired_rows(
                emu.base_url("moonshot"), sizes, args.checkpointer, args.pg_conn, args.paired
            )
            print(table(PAIRED_HEADERS, rows))
        return
    if args.census and args.tools and args.checkpointer != "none":
        with EmulatorProcess(pin=not args.no_pin, latency=args.latency) as emu:
            print(environment(emu.pinned))
            for size in args.tool_sizes.split(","):
                n = int(size.split(":")[0])
                print(census_tables(emu.base_url("moonshot"), n, args.checkpointer) + "\n")
        return
    if args.tools:
        with EmulatorProcess(pin=not args.no_pin, latency=args.latency) as emu:
            print(environment(emu.pinned))
            frozen = "; startup heap frozen" if args.freeze_heap else ""
            print(f"latency L = {args.latency:g} s; tool-using sub-agents{frozen}\n")
            sizes = [
                (int(s.split(":")[0]), int(s.split(":")[1]) if ":" in s else int(s))
                for s in args.tool_sizes.split(",")
                if s
            ]
            rows = scale_rows(
                emu.base_url("moonshot"),
                sizes,
                args.latency,
                args.checkpointer,
                freeze_heap=args.freeze_heap,
            )
            print(table(SCALE_HEADERS, rows))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.big:
        sizes.append(args.big)
    lat = args.latency

    with EmulatorProcess(pin=not args.no_pin, latency=lat) as emu:
        print(environment(emu.pinned))
        print(f"latency L = {lat:g} s per model call; Moonshot dialect; sub-agents: 1 call each\n")
        url = emu.base_url("moonshot")
        boss = ChatKimi(base_url=url, backend="moonshot", api_key="k", max_retries=0)
        worker = boss.bind(thinking=False)
        agent = create_agent_graph(boss, [], thinking=False)
        peer = peer_graph(boss, worker)  # type: ignore[arg-type]

        # Sequential baseline: the sub-tasks one after another through the agent graph.
        one_task = {"messages": [HumanMessage("question number 0")]}
        samples = [_timed(lambda: agent.invoke(one_task)) for _ in range(3)]
        per_task = sum(samples) / len(samples)

        rows = []
        loop = asyncio.new_event_loop()
        for n in sizes:
            conc = args.big_concurrency if n == args.big else max(n, 1)
            graph = create_swarm_graph(boss, [], max_subagents=max(n, 1), max_concurrency=conc)
            waves = math.ceil(n / conc)
            critical = (2 + waves) * lat
            results: dict[str, float] = {}
            emu.clear_requests()
            results["invoke"] = _timed(lambda: graph.invoke(job(n)))  # noqa: B023
            log = emu.requests()
            phase, subs = _phase(log)
            dispatch = _dispatch(log)
            emu.clear_requests()
            results["ainvoke"] = loop.run_until_complete(_atimed(lambda: graph.ainvoke(job(n))))  # noqa: B023
            log = emu.requests()
            phase_a, subs_a = _phase(log)
            dispatch_a = _dispatch(log)
            assert subs == subs_a == n, f"expected {n} sub-agent calls, saw {subs}/{subs_a}"
            speedup = n * per_task / min(phase, phase_a)
            peer_s = peer_a = float("nan")
            if n <= args.peer_max:
                peer_s = _timed(lambda: peer.invoke(job(n)))  # noqa: B023
                peer_a = loop.run_until_complete(_atimed(lambda: peer.ainvoke(job(n))))  # noqa: B023
            floor = loop.run_until_complete(raw_floor(url, n)) if conc >= n else float("nan")
            rows.append(
                [
                    f"{n}" + (f" (c={conc})" if conc < n else ""),
                    f"{critical:.2f}",
                    f"{results['invoke']:.2f} ({results['invoke'] / critical:.2f})",
                    f"{results['ainvoke']:.2f} ({results['ainvoke'] / critical:.2f})",
                    f"{speedup:.1f} (goal {GOAL_SPEEDUP * min(n, conc):.1f})",
                    f"{peer_s / critical:.2f} / {peer_a / critical:.2f}",
                    f"{floor / critical:.2f}",
                    f"{results['invoke'] / floor:.2f} / {results['ainvoke'] / floor:.2f}",
                    f"{dispatch} / {dispatch_a}",
                ]
            )
        headers = [
            "N",
            "critical s",
            "invoke s (ratio)",
            "ainvoke s (ratio)",
            "phase speed-up",
            "peer ratio inv/ainv",
            "raw HTTP floor",
            "wall/floor inv/ainv",
            "plan->1st send + send spread inv / ainv",
        ]
        print(table(headers, rows))
        print(
            f"\nsequential agent-graph sub-task: {per_task * 1000:.0f} ms (L = {lat * 1000:.0f} ms)"
        )

        # Peak memory per sub-agent, N = 100 over HTTP.
        graph = create_swarm_graph(boss, [], max_subagents=100, max_concurrency=100)
        loop.run_until_complete(graph.ainvoke(job(2)))
        tracemalloc.start()
        loop.run_until_complete(graph.ainvoke(job(2)))
        small = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        loop.run_until_complete(graph.ainvoke(job(100)))
        big = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        loop.close()
        per_agent_kib = (big - small) / 98 / 1024
        print(f"peak memory per sub-agent (N=100 vs N=2, ainvoke): {per_agent_kib:.1f} KiB")

        sync_ms, async_ms = framework_overhead(emu)
        print(
            "framework overhead per sub-agent (in-process model, no HTTP): "
            f"invoke {sync_ms:.2f} ms, ainvoke {async_ms:.2f} ms"
        )
        print(
            f"goal: wall/critical <= {GOAL_RATIO} at N=100; the 'raw HTTP floor' column is "
            "the openai client alone making the same calls, the part no framework can remove"
        )
        print(json.dumps({"latency": lat, "sequential_task_s": round(per_task, 4)}))


if __name__ == "__main__":
    main()
