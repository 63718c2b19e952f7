"""`kimi_graph.heap.freeze_heap`: an explicit opt-in, never a side effect of importing."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from kimi_graph.heap import freeze_heap

ROOT = Path(__file__).resolve().parents[2]


def test_freeze_heap_freezes_what_is_alive() -> None:
    assert gc.get_freeze_count() == 0
    kept = [[i] for i in range(1000)]
    try:
        frozen = freeze_heap()
        assert frozen == gc.get_freeze_count()
        assert frozen >= len(kept)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def _freeze_count_after(code: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport gc; print(gc.get_freeze_count())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_importing_and_building_graphs_freezes_nothing() -> None:
    code = (
        "from kimi_graph import ChatKimi, create_swarm_graph\n"
        "import kimi_graph.heap\n"
        "m = ChatKimi(base_url='http://127.0.0.1:9/v1', api_key='k', backend='vllm')\n"
        "create_swarm_graph(m, [])"
    )
    assert _freeze_count_after(code) == 0


def test_cli_run_freezes_its_startup_heap() -> None:
    code = (
        "from kimi_graph.cli import main\n"
        "assert main(['run', '--emulator', '--mode', 'instant', '--json', 'Say hi']) == 0"
    )
    assert _freeze_count_after(code) > 10_000
