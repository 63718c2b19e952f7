#!/usr/bin/env python
"""Benchmark: a swarm against an endpoint that serves K requests at a time (429 beyond).

The emulator runs with ``max_in_flight=K`` (Moonshot-style 429 + ``Retry-After``) and a
fixed latency L per answer. A swarm of N sub-agents (one model call each) runs with
``max_concurrency=N``, so the only brake is the server. The ideal wall time is
orchestrator + ceil(N / K) waves + synthesis = (2 + ceil(N/K))·L. For each run mode it
prints the records that ended ok, the wall time against that ideal, and the 429s the
shared limiter absorbed; then the same with ``max_concurrent_requests=K`` set (the
limit known in advance: no 429 at all).

Run from the repository root (about 10 seconds)::

    .venv/bin/python benchmarks/bench_ratelimit.py
    .venv/bin/python benchmarks/bench_ratelimit.py --subagents 100 --limit 10 --latency 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from typing import Any

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph._transport.ratelimit import limiter_for
from kimi_graph.emulator import Emulator, EmulatorConfig


def run_once(args: argparse.Namespace, mode: str, known: bool, tag: str) -> dict[str, Any]:
    """Run one swarm against a fresh limited emulator; return its figures."""
    config = EmulatorConfig(
        latency=args.latency, max_in_flight=args.limit, retry_after=args.retry_after
    )
    with Emulator(config) as emu:
        llm = ChatKimi(
            base_url=emu.base_url("moonshot"),
            api_key=f"bench-{tag}",
            max_retries=0,
            max_concurrent_requests=args.limit if known else None,
        )
        tasks = "\n".join(f"- question {i}" for i in range(args.subagents))
        graph = create_swarm_graph(llm, [], max_concurrency=args.subagents)
        inputs = {"messages": [("user", f"Do:\n{tasks}")]}
        started = time.perf_counter()
        out = asyncio.run(graph.ainvoke(inputs)) if mode == "ainvoke" else graph.invoke(inputs)
        wall = time.perf_counter() - started
        records = out["subagent_results"]
        ideal = (2 + math.ceil(args.subagents / args.limit)) * args.latency
        stats = limiter_for(llm.endpoint, f"Bearer bench-{tag}").stats
        return {
            "mode": mode,
            "known limit": known,
            "ok": f"{sum(r['status'] == 'ok' for r in records)}/{len(records)}",
            "wall s": round(wall, 2),
            "ideal s": round(ideal, 2),
            "wall/ideal": round(wall / ideal, 2),
            "429s": sum(r.status == 429 for r in emu.requests),
            "absorbed": stats.throttled,
            "requests": len(emu.requests),
        }


def main() -> None:
    """Print the figures of every mode, limit unknown then known."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subagents", type=int, default=30)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--retry-after", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"swarm of {args.subagents} sub-agents, server serves {args.limit} at a time, "
        f"latency {args.latency}s, Retry-After {args.retry_after}s"
    )
    rows = [
        run_once(args, mode, known, f"{mode}-{known}")
        for known in (False, True)
        for mode in ("invoke", "ainvoke")
    ]
    for row in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
