"""`make cluster` / `make cluster-down` for real: deploy/cluster.py starts PostgreSQL,
Redis, two Aegra instances and HAProxy on loopback, a graph of langgraph.json runs
through the balancer on both instances, and `down` leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tests.integration_tests.deploy._cluster import ROOT, require_cluster_pieces

pytestmark = pytest.mark.slow


def _script(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIMI_CLUSTER_DIR": str(state), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "cluster.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_up_serves_the_graphs_through_the_balancer_and_down_stops_it(
    tmp_path: Path,
) -> None:
    require_cluster_pieces()
    state = tmp_path / "cluster"
    up = _script("up", "--emulator", "--port", "0", state=state)
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        url = re.search(r"Aegra cluster up: (http://127\.0\.0\.1:\d+)", up.stdout)
        assert url, up.stdout
        info = json.loads((state / "cluster.json").read_text())
        assert info["url"] == url.group(1) and len(info["instances"]) == 2
        pids = [int(p.read_text()) for p in state.glob("*.pid")]
        assert sorted(p.stem for p in state.glob("*.pid")) == [
            "aegra1", "aegra2", "emulator", "haproxy", "redis",
        ]  # fmt: skip
        assert all(_alive(pid) for pid in pids)

        client = get_sync_client(url=info["url"])
        graphs = {a["graph_id"] for a in client.assistants.search(limit=20)}
        assert {"instant", "thinking", "agent", "swarm"} <= graphs
        nonce = uuid.uuid4().hex[:8]
        for _ in range(4):  # round robin: both instances take requests
            thread = client.threads.create()
            out = client.runs.wait(
                thread["thread_id"], "instant", input={"messages": [("user", f"hi {nonce}")]}
            )
            assert isinstance(out, dict) and out["messages"][-1]["type"] == "ai"
        for instance in info["instances"]:
            with urllib.request.urlopen(f"{instance}/health", timeout=5) as resp:
                assert resp.status == 200
        again = _script("up", "--emulator", "--port", "0", state=state)
        assert again.returncode == 1 and "already up" in again.stderr
    finally:
        down = _script("down", state=state)
    assert down.returncode == 0, down.stderr
    assert not state.exists()
    assert pids and not [pid for pid in pids if _alive(pid)]
