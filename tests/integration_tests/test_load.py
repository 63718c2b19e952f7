"""Load: many sequential runs stay flat; a 500-sub-agent swarm completes.

Bounded in count and time, against the local emulator only. The figures are
printed (``pytest -s``) for the closing note; the bounds are generous on purpose:
they catch leaks that grow with the number of runs, not small noise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.conftest import peak_concurrency, requests_since

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHILD = Path(__file__).with_name("load_child.py")
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def paced_emulator() -> Iterator[Emulator]:
    """An emulator with 500 ms per response, so that sub-agents overlap."""
    with Emulator(EmulatorConfig(latency=0.5)) as emu:
        yield emu


def test_thousand_sequential_runs_keep_memory_and_files_flat(emulator: Emulator) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(CHILD), emulator.base_url("moonshot"), "1000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print("\n1000 sequential instant runs:", figures)
    assert figures["runs"] == 1000
    # from run 100 to run 1000: no growth per run (a leak of 10 KiB per run would be 9 MiB)
    assert figures["rss_end_kib"] - figures["rss_warm_kib"] < 8 * 1024, figures
    assert figures["fds_end"] <= figures["fds_warm"] + 2, figures


def test_five_hundred_subagents_with_max_concurrency_100(paced_emulator: Emulator) -> None:
    llm = ChatKimi(base_url=paced_emulator.base_url("vllm"), api_key="k", max_retries=0)
    tasks = "\n".join(f"- question {i}" for i in range(500))
    graph = create_swarm_graph(llm, [], max_subagents=500, max_concurrency=100)
    mark = len(paced_emulator.requests)
    start = time.monotonic()
    out = graph.invoke({"messages": [("user", f"Do:\n{tasks}")]})
    elapsed = time.monotonic() - start
    records = out["subagent_results"]
    subs = [r for r in requests_since(paced_emulator, mark) if not r.thinking]
    peak = peak_concurrency(subs)
    print(f"\n500 sub-agents, max_concurrency=100: {elapsed:.1f} s, peak in flight {peak}")
    assert len(records) == 500
    assert all(r["status"] == "ok" for r in records), [r for r in records if r["status"] != "ok"]
    assert len({r["task"] for r in records}) == 500
    assert len(subs) == 500
    assert peak <= 100
    assert peak >= 50  # they did run side by side, not one by one
    final = out["messages"][-1]
    assert isinstance(final, AIMessage) and final.content
