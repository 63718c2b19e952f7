"""Where shared names live: one `ASSIGN_TASK`, the demo tools under `tools/`, no cycles."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from kimi_graph.modes.swarm._plan import ASSIGN_TASK_TOOL
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK

PACKAGE = Path(__file__).resolve().parents[2] / "kimi_graph"


def test_assign_task_is_defined_once() -> None:
    definitions = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^ASSIGN_TASK\s*(:[^=]*)?=", path.read_text(), re.M)
    ]
    assert definitions == ["modes/swarm/_prompts.py"]


def test_the_swarm_tool_is_named_by_the_shared_constant() -> None:
    assert ASSIGN_TASK_TOOL["function"]["name"] == ASSIGN_TASK


def test_cli_render_imports_without_langgraph() -> None:
    code = (
        "import sys, kimi_graph.cli._render; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'langgraph', 'openai'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_demo_tools_live_under_tools() -> None:
    from kimi_graph.tools.calculator import calculator
    from kimi_graph.tools.demo import demo_tools

    assert calculator in demo_tools()
    assert importlib.util.find_spec("kimi_graph.arithmetic") is None
    assert importlib.util.find_spec("kimi_graph.cli_tools") is None
    assert calculator.invoke({"expression": "17 * 23 + 4"}) == "395"


def _imports(path: Path) -> set[str]:
    """Modules of kimi_graph that `path` imports at module level (not lazily, not for types)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("kimi_graph")
        ):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kimi_graph"))
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_chat_model_package_has_no_import_cycle() -> None:
    """The chat model and its transport import each other one way only."""
    graph = {
        _module_name(path): _imports(path)
        for sub in ("chat_models", "_transport")
        for path in (PACKAGE / sub).glob("*.py")
    }
    for module, imported in graph.items():
        for other in imported:
            assert module not in graph.get(other, set()), f"{module} <-> {other}"


def test_the_transport_does_not_import_the_chat_model() -> None:
    for path in (PACKAGE / "_transport").glob("*.py"):
        assert not [m for m in _imports(path) if m.startswith("kimi_graph.chat_models")], path
