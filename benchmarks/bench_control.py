#!/usr/bin/env python
"""Benchmark: what `SwarmControl` costs a swarm, and how fast an abort lands.

One run starts the K2.5 emulator in a child process (latency ``--latency`` per model
call) and measures:

* **control overhead**: the same swarm of N tool-using sub-agents (``--n``, default
  300; each calls one tool, then answers: two model calls) run with ``graph.ainvoke``
  without a store, and as a controllable run (a store and a ``thread_id``: the
  command feed reads commands and writes each sub-agent's status), with an
  ``InMemoryStore`` and, given ``--postgres URL``, a ``PostgresStore``. The runs are
  interleaved over ``--repeats`` repeats (the order rotating) and the ratio is the
  median of the per-repeat ratios (the goal is on wall time; the client's CPU ratio is
  shown beside it, less sensitive to a busy machine). Goals: <= 1.05 (in memory),
  <= 1.10 (PostgreSQL).
* **abort latency**: ``--aborts`` sub-agents (default 20) each stuck in a model call
  that takes a minute; each is aborted in turn through ``SwarmControl.abort`` and the
  time from the command to its ``aborted`` progress event is taken, on ``invoke`` and
  on ``ainvoke``, and from the command to the end of its model request as the
  emulator saw it (the client closed it). Goal: max < 1 s.

Run from the repository root (about a minute)::

    .venv/bin/python benchmarks/bench_control.py
    .venv/bin/python benchmarks/bench_control.py --n 100 --repeats 2 --postgres postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from _bench import (
    EmulatorProcess,
    Timer,
    environment,
    paired_ratio,
    ratio_range,
    rotate,
    table,
)
from langchain_core.tools import tool
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from kimi_graph import ChatKimi, SwarmControl, create_swarm_graph

GOAL_MEMORY = 1.05
GOAL_POSTGRES = 1.10
GOAL_ABORT_S = 1.0


@tool
def tick(i: int) -> str:
    """One unit of work."""
    return f"ticked {i}"


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def overhead_prompt(n: int) -> str:
    """N sub-agents, each one tool call then an answer."""
    return "".join(
        _assign("worker", f'[[call tick {{"i": {i}}}]] [[then]] [[answer done {i}]]')
        for i in range(n)
    )


def run_once(model: ChatKimi, n: int, store: BaseStore | None) -> tuple[float, float]:
    """Wall and client-CPU seconds of one `ainvoke` of the N-sub-agent swarm.

    With a store the run is controllable (a store and a `thread_id`).
    """
    graph = create_swarm_graph(model, [tick], store=store, max_subagents=n, max_concurrency=n)
    config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:8]}"}}
    inputs = {"messages": [("user", overhead_prompt(n))]}
    with Timer() as timer:
        out = asyncio.run(graph.ainvoke(inputs, config))
    statuses = [r["status"] for r in out["subagent_results"]]
    if statuses.count("ok") != n:
        msg = f"the swarm did not finish cleanly: {statuses.count('ok')}/{n} ok"
        raise RuntimeError(msg)
    return timer.wall, timer.cpu


def overhead(model: ChatKimi, n: int, repeats: int, postgres: str | None) -> list[list[str]]:
    """Rows of the overhead table."""
    stores: dict[str, Callable[[], Any]] = {"in-memory store": InMemoryStore}
    pg_cm: Any = None
    if postgres:
        from langgraph.store.postgres import PostgresStore

        pg_cm = PostgresStore.from_conn_string(postgres)
        pg_store = pg_cm.__enter__()
        pg_store.setup()
        stores["PostgresStore"] = lambda: pg_store
    try:
        run_once(model, min(n, 20), None)  # warm-up: pools, imports
        makers: dict[str, Callable[[], Any]] = {"no store": lambda: None, **stores}
        walls: dict[str, list[float]] = {k: [] for k in makers}
        cpus: dict[str, list[float]] = {k: [] for k in makers}
        for repeat in range(repeats):  # a different run goes first in each repeat
            for name in rotate(list(makers), repeat):
                wall, cpu = run_once(model, n, makers[name]())
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        if pg_cm is not None:
            pg_cm.__exit__(None, None, None)
    base, base_cpu = walls["no store"], cpus["no store"]
    rows = [["no store", f"{statistics.median(base):.2f}", "1.00", "-", "1.00", "-"]]
    for name in stores:
        goal = GOAL_POSTGRES if name == "PostgresStore" else GOAL_MEMORY
        ratio = paired_ratio(walls[name], base)
        rows.append(
            [
                name,
                f"{statistics.median(walls[name]):.2f}",
                f"{ratio:.3f}",
                ratio_range(walls[name], base),
                f"{paired_ratio(cpus[name], base_cpu):.3f}",
                f"<= {goal:.2f} {'ok' if ratio <= goal else 'MISSED'}",
            ]
        )
    return rows


def abort_latencies(
    model: ChatKimi, count: int, how: str, emu: EmulatorProcess
) -> tuple[list[float], list[float]]:
    """Seconds from each `abort` to its `aborted` event, `count` sub-agents in turn.

    Also, from the emulator's log, seconds from each `abort` to the end of the aborted
    sub-agent's model request as the server saw it (the client closed it).
    """
    store = InMemoryStore()
    control = SwarmControl(store)
    nonce = uuid.uuid4().hex[:6]
    prompt = "".join(
        _assign(f"stuck-{i}", f"[[latency 60]] stuck {nonce} {i} [[answer never]]")
        for i in range(count)
    )
    graph = create_swarm_graph(model, [tick], store=store, max_subagents=count)
    thread = f"abort-{nonce}-{how}"
    config = {"configurable": {"thread_id": thread}}
    seen: dict[str, float] = {}
    lock = threading.Lock()

    def take(chunk: Any) -> None:
        if chunk.get("event") == "aborted":
            with lock:
                seen[chunk["subagent_id"]] = time.perf_counter()

    def main() -> None:
        inputs = {"messages": [("user", prompt)]}
        if how == "invoke":
            for chunk in graph.stream(inputs, config, stream_mode="custom"):
                take(chunk)
        else:

            async def amain() -> None:
                async for chunk in graph.astream(inputs, config, stream_mode="custom"):
                    take(chunk)

            asyncio.run(amain())

    runner = threading.Thread(target=main, daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while True:
        subs = control.list(thread)
        if len(subs) == count and all(s["status"] == "running" for s in subs):
            break
        if time.monotonic() > deadline:
            msg = f"the stuck sub-agents never all ran: {subs}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    time.sleep(0.3)  # every model call is in flight
    latencies = []
    sent_at: dict[str, float] = {}
    for sub in subs:
        sent = time.perf_counter()
        sent_at[sub["role"]] = time.monotonic()  # the emulator's clock
        control.abort(thread, sub["id"], reason="benchmark")
        while sub["id"] not in seen:
            if time.perf_counter() - sent > 10:
                msg = f"{sub['id']} was not aborted within 10 s"
                raise RuntimeError(msg)
            time.sleep(0.002)
        latencies.append(seen[sub["id"]] - sent)
    runner.join(60)
    time.sleep(0.5)
    closed = []
    for record in emu.requests():
        if record["thinking"]:  # the orchestrator's and the synthesis's
            continue
        role = next((r for r in sent_at if f"{nonce} {r[6:]} [[" in record["last_user"]), None)
        if role is not None and record["finished"] is not None:
            closed.append(record["finished"] - sent_at[role])
    return latencies, closed


def main() -> None:
    """Parse the arguments, run the measurements, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="sub-agents of the overhead run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator s per call")
    parser.add_argument("--aborts", type=int, default=20, help="aborts per path")
    parser.add_argument(
        "--postgres", default=None, help="PostgreSQL URL for the PostgresStore row (optional)"
    )
    args = parser.parse_args()

    with EmulatorProcess(latency=args.latency) as emu:
        model = ChatKimi(
            base_url=emu.base_url("moonshot"), backend="moonshot", api_key="bench", max_retries=0
        )
        print(environment(emu.pinned))
        print(
            f"\nControl overhead: N={args.n} tool-using sub-agents, ainvoke, latency "
            f"{args.latency:g} s, {args.repeats} repeats (median wall s; ratio to no store)"
        )
        rows = overhead(model, args.n, args.repeats, args.postgres)
        if not args.postgres:
            rows.append(["PostgresStore", "-", "-", "-", "-", "skipped (pass --postgres URL)"])
        print(table(["run", "wall s", "wall ratio", "range", "cpu ratio", "goal"], rows))
        emu.clear_requests()
        print(f"\nAbort latency: {args.aborts} sub-agents stuck in a model call, aborted in turn")
        abort_rows = []
        for how in ("invoke", "ainvoke"):
            lat, closed = abort_latencies(model, args.aborts, how, emu)
            worst = max(lat)
            abort_rows.append(
                [
                    how,
                    f"{1000 * statistics.median(lat):.0f}",
                    f"{1000 * worst:.0f}",
                    f"< {GOAL_ABORT_S:g} s {'ok' if worst < GOAL_ABORT_S else 'MISSED'}",
                    f"{len(closed)}/{len(lat)}",
                    f"{1000 * statistics.median(closed):.0f}" if closed else "-",
                    f"{1000 * max(closed):.0f}" if closed else "-",
                ]
            )
        headers = ["path", "median ms", "max ms", "goal", "closed", "median ms", "max ms"]
        print(table(headers, abort_rows))
        print(
            "(closed: aborted requests the server saw closed while in flight, and the time "
            "from the abort until it did)"
        )


if __name__ == "__main__":
    main()
