"""`bench_swarm --tools --paired`: one invocation prints the with/without-checkpointer ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration_tests._postgres import postgres_bindir

ROOT = Path(__file__).resolve().parents[2]


def _paired(tmp_path: Path, *args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_swarm.py"), "--tools", "--no-pin"]
        + ["--tool-sizes", "3", "--latency", "0.05", "--paired", "2", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = proc.stdout.strip().splitlines()[-1]
    return row.split("  ")


def _ratios(row: list[str]) -> list[tuple[float, float]]:
    spans = [re.fullmatch(r"(\d+\.\d\d)–(\d+\.\d\d)", cell.strip()) for cell in row]
    return [(float(m[1]), float(m[2])) for m in spans if m]


@pytest.mark.parametrize("checkpointer", ["sqlite", "memory"])
def test_paired_rows_print_both_ratios_and_every_record_ok(
    tmp_path: Path, checkpointer: str
) -> None:
    row = [cell for cell in _paired(tmp_path, "--checkpointer", checkpointer) if cell.strip()]
    assert row[0].strip() == "3" and row[1].strip() == checkpointer
    ratios = _ratios(row)
    assert len(ratios) == 2  # invoke, ainvoke
    assert all(0 < low <= high for low, high in ratios)
    assert row[-1].strip() == "3/3"  # every run of every pair: 3 sub-agents, 1 tool call each


def test_paired_postgres_pipeline_makes_its_tables_first(tmp_path: Path) -> None:
    """`setup()` cannot run in pipeline mode: the benchmark makes the tables beforehand."""
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed")
    args = ("--checkpointer", "postgres", "--pg-conn", "pipeline")
    row = [cell for cell in _paired(tmp_path, *args) if cell.strip()]
    assert row[1].strip() == "postgres pipeline"
    assert len(_ratios(row)) == 2
    assert row[-1].strip() == "3/3"


def test_memory_checkpointer_needs_paired(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_swarm.py"), "--tools"]
        + ["--checkpointer", "memory"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--checkpointer memory is for --paired runs only" in proc.stderr
