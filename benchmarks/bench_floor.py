"""The framework's floor per sub-agent: client CPU of a ladder of layers, each adding one thing.

Each sub-agent makes one tool call (our `calculator`) and two model calls. Layers:
1 bare LangGraph (Send -> branch -> compiled 3-node subgraph, trivial nodes); 2 + the
prebuilt `ToolNode`; 3 + a langchain-core chat model with no I/O in the model node
(3b: our `create_agent_graph` over it as the subgraph); 4 our `create_swarm_graph`
with that model; 5 our swarm with `ChatKimi` against the emulator (L = 0, in its own
process); 6 the HTTP floor, two raw requests per sub-agent (aiohttp; the openai SDK),
async only. So 1-3 is what LangGraph and langchain-core cost
on this CPU before any of our code, 4 - 3 what our code adds, 5 - 4 what HTTP adds.

CPU is this process's `process_time` per sub-agent (the swarm rows include the
orchestrator's and synthesis's calls, 2 per run), median and min-max over the repeats,
garbage collection enabled; "gc" is the share of that CPU spent in collections, timed
through `gc.callbacks`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _bench import EmulatorProcess, environment, table
from _floor_layers import LAYERS, Layer, http_layers, swarm_layers


class GcClock:
    """CPU seconds spent in garbage collection while installed (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """Start or stop the clock (`gc.callbacks` calls this around each collection)."""
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _sample(n: int, run: Callable[[], int]) -> tuple[float, float]:
    gc.collect()
    with GcClock() as clock:
        cpu = time.process_time()
        ok = run()
        cpu = time.process_time() - cpu
    if ok != n:
        msg = f"only {ok}/{n} sub-agents finished with one tool call and an answer"
        raise SystemExit(msg)
    return 1000 * cpu / n, clock.seconds / cpu if cpu else 0.0


async def _asample(n: int, arun: Callable[[int], Awaitable[int]]) -> tuple[float, float]:
    gc.collect()
    with GcClock() as clock:
        cpu = time.process_time()
        ok = await arun(n)
        cpu = time.process_time() - cpu
    if ok != n:
        msg = f"only {ok}/{n} sub-agents finished with one tool call and an answer"
        raise SystemExit(msg)
    return 1000 * cpu / n, clock.seconds / cpu if cpu else 0.0


def _cell(samples: list[tuple[float, float]]) -> list[str]:
    if not samples:
        return ["-", "-"]
    cpu = [c for c, _ in samples]
    share = statistics.median(g for _, g in samples)
    return [f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f})", f"{share:.0%}"]


def measure(
    name: str, layer: Layer, sizes: list[int], repeats: int, *, sync: bool
) -> tuple[list[list[str]], dict[int, float]]:
    """Rows of one layer (one per N), and its median ainvoke CPU ms per sub-agent by N."""
    run, arun = layer

    async def amain() -> dict[int, list[tuple[float, float]]]:
        await arun(2)  # warm up: imports, pools, caches
        try:
            return {n: [await _asample(n, arun) for _ in range(repeats)] for n in sizes}
        finally:
            aclose = getattr(arun, "aclose", None)  # a raw client's pool (layer 6)
            if aclose is not None:
                await aclose()

    asamples = asyncio.run(amain())
    ssamples: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
    if sync:
        run(2)
        ssamples = {n: [_sample(n, lambda n=n: run(n)) for _ in range(repeats)] for n in sizes}
    rows = [[name, str(n), *_cell(asamples[n]), *_cell(ssamples[n])] for n in sizes]
    medians = {n: statistics.median(c for c, _ in asamples[n]) for n in sizes}
    return rows, medians


HEADERS = ["layer", "N", "ainvoke ms/sub-agent (min-max)", "gc", "invoke ms/sub-agent", "gc"]


def main() -> None:
    """Run the ladder and print its table and the differences between layers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300", help="sub-agent counts (default 100,300)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (>= 5)")
    parser.add_argument(
        "--layers", default="1,2,3,4,5,6", help="which layers to run, by number (default all)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    wanted = set(args.layers.split(","))
    rows: list[list[str]] = []
    medians: dict[str, dict[int, float]] = {}

    def run_layers(layers: dict[str, Callable[[], Layer]], *, sync: bool = True) -> None:
        for name, factory in layers.items():
            if name.split()[0].rstrip("ab") not in wanted:
                continue
            key = name.split()[0]
            layer_rows, medians[key] = measure(name, factory(), sizes, args.repeats, sync=sync)
            rows.extend(layer_rows)
            print(table(HEADERS, layer_rows), flush=True)

    print(environment(False))
    run_layers({**LAYERS, **swarm_layers(None)})
    if wanted & {"5", "6"}:
        with EmulatorProcess(pin=not args.no_pin, latency=0.0) as emu:
            print(environment(emu.pinned))
            url = emu.base_url("moonshot")
            run_layers({k: v for k, v in swarm_layers(url).items() if k.startswith("5")})
            run_layers(http_layers(url), sync=False)
    print("\nall layers, ainvoke and invoke, CPU ms per sub-agent (gc enabled):")
    print(table(HEADERS, rows))
    diffs_wanted = (
        ("3b", "3", "our agent graph"),
        ("4", "3b", "our swarm around it"),
        ("4", "3", "our code"),
        ("5", "4", "HTTP + ChatKimi"),
    )
    for a, b, what in diffs_wanted:
        if a in medians and b in medians:
            diffs = ", ".join(f"N={n}: {medians[a][n] - medians[b][n]:+.2f}" for n in sizes)
            print(f"ainvoke {a} - {b} ({what}): {diffs} ms/sub-agent")


if __name__ == "__main__":
    main()
