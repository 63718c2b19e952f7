"""A swarm killed mid-wave resumes from its SQLite checkpoint without re-running
the sub-agents that had finished."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kimi_graph.emulator import Emulator

CHILD = Path(__file__).with_name("swarm_child.py")
ROOT = Path(__file__).parents[2]


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def _finished_branches(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT COUNT(DISTINCT task_id) FROM writes WHERE channel = 'subagent_results'"
            ).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    return int(row[0])


def _child(emulator: Emulator, db: Path, thread: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(CHILD), emulator.base_url("moonshot"), str(db), thread, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _requests_per_role(emulator: Emulator, nonce: str, roles: list[str]) -> dict[str, int]:
    subs = [r for r in emulator.requests if not r.thinking and nonce in r.last_user]
    return {role: sum(f"{role}-{nonce}" in r.last_user for r in subs) for role in roles}


@pytest.mark.slow
def test_killed_swarm_resumes_without_rerunning_finished_subagents(emulator, tmp_path) -> None:
    nonce = uuid.uuid4().hex[:8]
    roles = ["fast1", "fast2", "slow1", "slow2"]
    script = "".join(
        _assign(
            role,
            f'weather in "{role}-{nonce}"' + (" [[fault hang 60 x1]]" if "slow" in role else ""),
        )
        for role in roles
    )
    db = tmp_path / "swarm.sqlite"
    thread = f"durable-{nonce}"

    child = _child(emulator, db, thread, "start", script)
    try:
        deadline = time.monotonic() + 60
        while _finished_branches(db) < 2:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the fast sub-agents never finished"
            time.sleep(0.05)
        before = _requests_per_role(emulator, nonce, roles)
        # the slow sub-agents are still waiting on their first answer
        assert before == {"fast1": 2, "fast2": 2, "slow1": 1, "slow2": 1}
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    orchestrator_calls = sum(
        1
        for r in emulator.requests
        if r.thinking and nonce in r.last_user and r.body.get("tool_choice") != "none"
    )
    resumed = _child(emulator, db, thread, "resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])

    after = _requests_per_role(emulator, nonce, roles)
    assert after["fast1"] == before["fast1"] and after["fast2"] == before["fast2"]
    assert after["slow1"] == before["slow1"] + 2 and after["slow2"] == before["slow2"] + 2
    assert orchestrator_calls == sum(
        1
        for r in emulator.requests
        if r.thinking and nonce in r.last_user and r.body.get("tool_choice") != "none"
    ), "the orchestrator ran again"
    records = {r["role"]: r for r in result["results"]}
    assert sorted(records) == roles
    assert all(r["status"] == "ok" for r in records.values())
    assert f"Sunny in slow1-{nonce}" in records["slow1"]["output"]
