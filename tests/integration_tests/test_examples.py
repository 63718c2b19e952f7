"""The examples and `kimi-graph demo` run offline on the emulator and exit 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kimi_graph.emulator import Emulator, EmulatorConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND")
TASK_LINE = re.compile(r"^task = .*$", re.MULTILINE)

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


#: What each notebook prints when it runs top to bottom against the test's emulator.
NOTEBOOKS = {
    "quickstart.ipynb": ["answer:    14", "blocks:    ['reasoning', 'text']", "22 C in Oslo"],
    "agent_approval.ipynb": [
        "waiting for approval: {'action': 'cancel_order', 'order_id': 'B-7'}",
        "cancelled so far: []",
        "cancelled: ['B-7']",
    ],
    "swarm_progress.ipynb": [
        "[finish] researcher",
        "streamed chunks per sub-agent",
        "run usage:",
        "steered: ['",
    ],
    "compose_into_app.ipynb": ["-> ['tools']", "Ada: ", "shipped on Monday", "reasoning:"],
    "worker_pool.ipynb": ["3 sub-agents on", "/sglang/v1", "/llamacpp/v1"],
}


def load_notebook(path: Path) -> dict:
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    return notebook


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = load_notebook(EXAMPLES / name)
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [], f"{name}: strip the outputs before committing"
        assert cell["execution_count"] is None
    assert all("execution" not in cell["metadata"] for cell in notebook["cells"])


@pytest.fixture(scope="module")
def notebook_emulator() -> Iterator[Emulator]:
    """The endpoint the notebooks run against (its own, so its request log is theirs)."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


def notebook_env(name: str, emu: Emulator) -> dict[str, str]:
    """The environment a reader sets for a real endpoint, pointed at the emulator."""
    if name == "worker_pool.ipynb":  # dispatcher on "vLLM", workers on two other servers
        return {
            "KIMI_BASE_URL": emu.base_url("vllm"),
            "KIMI_BACKEND": "vllm",
            "KIMI_API_KEY": "notebook-key",
            "KIMI_WORKER_URLS": f"{emu.base_url('sglang')},{emu.base_url('llamacpp')}",
            "KIMI_WORKER_BACKEND": "sglang",
        }
    return {
        "KIMI_BASE_URL": emu.base_url("moonshot"),
        "KIMI_BACKEND": "moonshot",
        "MOONSHOT_API_KEY": "notebook-key",
    }


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(
    name: str, notebook_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in notebook_env(name, notebook_emulator).items():
        monkeypatch.setenv(var, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    mark = len(notebook_emulator.requests)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream"
    )
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    for expected in NOTEBOOKS[name]:
        assert expected in printed, printed
    served = notebook_emulator.requests[mark:]
    assert served, "the notebook did not use the endpoint from the environment"
    if name == "worker_pool.ipynb":
        assert {r.dialect for r in served} == {"vllm", "sglang", "llamacpp"}
    else:
        assert {r.dialect for r in served} == {"moonshot"}


#: Other plans a real model may make (a notebook's task line swapped for another): the
#: notebook's own checks must hold for them too, not only for the emulator's plan.
OTHER_PLANS = [
    ("swarm_progress.ipynb", "What is the capital of Norway? Answer in one word."),
    (
        "swarm_progress.ipynb",
        "Compare three capitals:\n"
        + "\n".join(f'- get_population for "{c}"' for c in ("Oslo", "Lima", "Rome")),
    ),
    ("worker_pool.ipynb", "Summarise each region's sales:\n- region 1"),
    (
        "worker_pool.ipynb",
        "Summarise each region's sales:\n" + "\n".join(f"- region {i}" for i in range(1, 6)),
    ),
]


def _run_notebook(notebook: nbformat.NotebookNode) -> str:
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream"
    )


@pytest.mark.parametrize(("name", "task"), OTHER_PLANS)
def test_notebook_checks_hold_for_other_plans(
    name: str, task: str, notebook_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in notebook_env(name, notebook_emulator).items():
        monkeypatch.setenv(var, value)
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code" and TASK_LINE.search(c.source)]
    assert len(cells) == 1, f"{name}: one cell should set `task`"
    cells[0].source = TASK_LINE.sub(lambda _: f"task = {task!r}", cells[0].source, count=1)
    mark = len(notebook_emulator.requests)
    _run_notebook(notebook)
    # The swapped task is what the orchestrator was asked (and the checks above held).
    assert task in [r.last_user for r in notebook_emulator.requests[mark:]]


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
