"""1,000 sequential instant-mode runs in one process; prints memory and open files.

Usage: python load_child.py BASE_URL RUNS

Prints one JSON line: RSS (KiB) and open file descriptors after the warm-up run,
after 10% of the runs, and at the end, plus the seconds taken.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

from kimi_graph import ChatKimi, create_instant_graph


def rss_kib() -> int:
    """Resident set size of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def main() -> None:
    base_url, runs = sys.argv[1], int(sys.argv[2])
    graph = create_instant_graph(
        ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
    )
    figures: dict[str, float] = {}
    start = time.monotonic()
    for i in range(runs):
        out = graph.invoke({"messages": [("user", f"Say hello number {i}.")]})
        assert out["messages"][-1].content, out
        if i in (0, runs // 10 - 1):
            gc.collect()
            label = "first" if i == 0 else "warm"
            figures[f"rss_{label}_kib"], figures[f"fds_{label}"] = rss_kib(), open_fds()
    gc.collect()
    figures["rss_end_kib"], figures["fds_end"] = rss_kib(), open_fds()
    figures["seconds"] = round(time.monotonic() - start, 2)
    figures["runs"] = runs
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
