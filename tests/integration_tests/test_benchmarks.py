"""Every benchmark of benchmarks/ starts from a `.[dev]` install: `--help` runs, imports resolve."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
BENCHMARKS_DIR = ROOT / "benchmarks"
#: Modules of this repository: the benchmarks' own helpers, the package, the test helpers.
LOCAL = {p.stem for p in BENCHMARKS_DIR.glob("*.py")} | {"kimi_graph", "tests"}


def test_benchmarks_are_found() -> None:
    assert {"bench_chat.py", "bench_agent.py", "bench_swarm.py", "bench_floor.py"} <= set(
        BENCHMARKS
    )
    assert {"openai", "langchain-core", "pytest", "langchain"} <= _declared()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_starts_with_help(name: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("usage:"), proc.stdout[:500]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distributions `pip install -e .[dev]` asks for by name (kimi-graph's metadata)."""
    names = set()
    for spec in requires("kimi-graph") or []:
        requirement, _, marker = spec.partition(";")
        if not marker or re.search(r"extra\s*==\s*[\"']dev[\"']", marker):
            names.add(_canonical(re.split(r"[\s\[<>=!~]", requirement.strip(), maxsplit=1)[0]))
    return names


def _imported(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops - LOCAL - set(sys.stdlib_module_names)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_benchmark_imports_only_declared_dependencies(name: str) -> None:
    """A module from a package that is only there transitively would break on its own."""
    owners = packages_distributions()
    declared = _declared()
    for module in sorted(_imported(ROOT / "benchmarks" / name)):
        dists = {_canonical(d) for d in owners.get(module, [])}
        assert dists & declared, (
            f"benchmarks/{name} imports {module} ({dists or 'not installed'}), "
            "which pyproject's dependencies and dev extras do not name"
        )
