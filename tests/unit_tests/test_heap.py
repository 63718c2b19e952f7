"""`kimi_graph.heap`: an explicit opt-in, never a side effect of importing or of the CLI."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from kimi_graph.heap import freeze_heap, frozen_heap

ROOT = Path(__file__).resolve().parents[2]


def test_freeze_heap_freezes_what_is_alive() -> None:
    assert gc.get_freeze_count() == 0
    kept = [[i] for i in range(1000)]
    try:
        frozen = freeze_heap()
        assert 0 < gc.get_freeze_count() <= frozen
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


def test_frozen_heap_undoes_its_own_freeze_only() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap() as frozen:
        assert frozen > 10_000
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
    try:
        assert freeze_heap() > 10_000  # the application froze first: left as it is
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_cli_run_freezes_during_its_run_only() -> None:
    code = (
        "import gc\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: seen.append(gc.get_freeze_count()))\n"
        "from kimi_graph.cli import main\n"
        "assert main(['run', '--emulator', '--mode', 'instant', '--json', 'Say hi']) == 0\n"
        "gc.callbacks.clear()\n"
        "assert max(seen) > 10_000, max(seen)"
    )
    assert _freeze_count_after(code) == 0
