"""A swarm killed mid-wave resumes from its checkpoint (SQLite, and PostgreSQL on a
real server the test starts) without re-running the sub-agents that had finished.

Only the public API is used: the checkpointer's `get_tuple` (its pending writes
show which sub-agents finished) and the emulator's request log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kimi_graph.emulator import Emulator
from tests.integration_tests.modes.swarm.swarm_child import open_saver

CHILD = Path(__file__).with_name("swarm_child.py")
ROOT = Path(__file__).parents[4]


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def _finished_branches(store: str, thread: str) -> int:
    """Sub-agents whose result is in the checkpoint (pending writes of the current step)."""
    try:
        with open_saver(store, setup=False) as saver:
            saved = saver.get_tuple({"configurable": {"thread_id": thread}})
    except Exception:  # tables not created yet (either backend)
        return 0
    if saved is None:
        return 0
    return len(
        {task for task, channel, _ in saved.pending_writes or [] if channel == "subagent_results"}
    )


def _child(emulator: Emulator, store: str, thread: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(CHILD), emulator.base_url("moonshot"), store, thread, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _requests_per_role(emulator: Emulator, nonce: str, roles: list[str]) -> dict[str, int]:
    subs = [r for r in emulator.requests if not r.thinking and nonce in r.last_user]
    return {role: sum(f"{role}-{nonce}" in r.last_user for r in subs) for role in roles}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the child checkpoints: a SQLite file, or the test's PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "swarm.sqlite")


@pytest.mark.slow
def test_killed_swarm_resumes_without_rerunning_finished_subagents(emulator, store: str) -> None:
    nonce = uuid.uuid4().hex[:8]
    roles = ["fast1", "fast2", "slow1", "slow2"]
    script = "".join(
        _assign(
            role,
            f'weather in "{role}-{nonce}"' + (" [[fault hang 60 x1]]" if "slow" in role else ""),
        )
        for role in roles
    )
    thread = f"durable-{nonce}"

    child = _child(emulator, store, thread, "start", script)
    try:
        deadline = time.monotonic() + 60
        while _finished_branches(store, thread) < 2:
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
    resumed = _child(emulator, store, thread, "resume")
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
