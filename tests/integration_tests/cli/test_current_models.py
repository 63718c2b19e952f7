"""`kimi-graph run --model kimi-k3` (issue 15, item 2): every mode, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration_tests.langgraph_dev import ROOT

CLI = [sys.executable, "-m", "kimi_graph.cli"]
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND", "KIMI_MODEL")


def _env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    return out


@pytest.mark.parametrize("dialect", ["moonshot", "vllm"])
@pytest.mark.parametrize("mode", ["instant", "thinking", "agent", "swarm"])
def test_every_mode_runs_on_k3(mode: str, dialect: str) -> None:
    proc = subprocess.run(
        [*CLI, "run", "--emulator", "--dialect", dialect, "--model", "kimi-k3", "--json"]
        + ["--mode", mode, "What is 2+3*4?"],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["answer"] == "14"
    hosted_instant = mode == "instant" and dialect == "moonshot"
    assert ("no instant mode" in proc.stderr) is hosted_instant
