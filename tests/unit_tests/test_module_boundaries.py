"""Where shared names live: one `ASSIGN_TASK`, the demo calculator under `tools/`."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from kimi_graph._names import ASSIGN_TASK
from kimi_graph.modes.swarm import ASSIGN_TASK_TOOL

PACKAGE = Path(__file__).resolve().parents[2] / "kimi_graph"


def test_assign_task_is_defined_once() -> None:
    definitions = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^ASSIGN_TASK\s*(:[^=]*)?=", path.read_text(), re.M)
    ]
    assert definitions == ["_names.py"]


def test_the_swarm_tool_is_named_by_the_shared_constant() -> None:
    assert ASSIGN_TASK_TOOL["function"]["name"] == ASSIGN_TASK


def test_cli_render_imports_without_langgraph() -> None:
    code = (
        "import sys, kimi_graph.cli_render; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'langgraph', 'openai'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_demo_calculator_lives_under_tools() -> None:
    from kimi_graph import cli, cli_tools
    from kimi_graph.tools.calculator import calculator

    assert cli.calculator is calculator
    assert cli_tools.calculator is calculator
    assert calculator in cli_tools.demo_tools()
    assert importlib.util.find_spec("kimi_graph.arithmetic") is None
    assert calculator.invoke({"expression": "17 * 23 + 4"}) == "395"
