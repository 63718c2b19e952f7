"""The examples and `kimi-graph demo` run offline on the emulator and exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND")

#: What each example prints when it works.
EXPECTED = {
    "quickstart.py": ["answer:    14", "tool calls: [('get_weather'", "name='Ada' age=36"],
    "agent_in_existing_app.py": ["[lookup_order] shipped on Monday", "summary: Ada:"],
    "swarm_research.py": ["sub-agent finish", "[ok] analyst", "'subagents': 4"],
}

pytestmark = pytest.mark.slow


def offline_env() -> dict[str, str]:
    """The environment without any endpoint: the examples start their own emulator."""
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_script_runs_offline(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=offline_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for expected in EXPECTED[name]:
        assert expected in proc.stdout, proc.stdout


def load_notebook(path: Path) -> dict:
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    return notebook


def test_notebook_is_clean_nbformat4() -> None:
    notebook = load_notebook(EXAMPLES / "quickstart.ipynb")
    assert notebook["cells"]
    for cell in notebook["cells"]:
        assert cell["cell_type"] == "code"
        assert cell["outputs"] == []
        assert cell["execution_count"] is None


def test_notebook_cells_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    notebook = load_notebook(EXAMPLES / "quickstart.ipynb")
    namespace: dict = {"__name__": "__main__"}
    try:
        for index, cell in enumerate(notebook["cells"]):
            source = "".join(cell["source"])
            exec(compile(source, f"quickstart.ipynb[cell {index}]", "exec"), namespace)
    finally:
        emu = namespace.get("emu")
        if emu is not None:
            emu.stop()
    assert len(namespace["result"]["subagent_results"]) == 3


def test_demo_runs_all_four_modes_offline() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kimi_graph.cli", "demo"],
        env=offline_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for index, mode in enumerate(["instant", "thinking", "agent", "swarm"], start=1):
        assert f"== {index}/4 {mode} mode ==" in out
    assert "bundled K2.5 emulator" in out
    assert "thinking: The user asks" in out  # reasoning shown
    assert "-> calculator(" in out and "<- calculator: 391" in out  # agent tools
    assert "<- run_python: Exit status: 0" in out
    assert "sub-agents 4/4 done, 0 failed" in out  # swarm progress
    assert "[synthesis]" in out
    assert "\033[" not in out  # not a terminal: plain text
    assert proc.stderr == ""
    assert elapsed < 30
