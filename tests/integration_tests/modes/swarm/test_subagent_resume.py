"""A swarm killed while a sub-agent is between steps resumes that sub-agent from its
last finished step: every tool call with a side effect happens once."""

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

CHILD = Path(__file__).with_name("subagent_child.py")
ROOT = Path(__file__).parents[4]


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the child checkpoints: a SQLite file, or the test's PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "swarm.sqlite")


def _child(emulator: Emulator, db: str, ledger: Path, thread: str, *args: str, hold: str = ""):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOLD": hold}
    cmd = [sys.executable, str(CHILD), emulator.base_url("moonshot"), db, thread, str(ledger)]
    return subprocess.Popen(
        [*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.slow
def test_killed_swarm_resumes_a_subagent_mid_way_and_pays_once(emulator, tmp_path, store) -> None:
    nonce = uuid.uuid4().hex[:8]
    a1, a2, b1 = f"A1-{nonce}", f"A2-{nonce}", f"B1-{nonce}"
    script = _assign(
        "buyer-a",
        f'pay [[call pay {{"item": "{a1}"}}]] [[then]] [[call pay {{"item": "{a2}"}}]]',
    ) + _assign("buyer-b", f'pay [[call pay {{"item": "{b1}"}}]]')
    db, ledger, thread = store, tmp_path / "ledger.txt", f"pay-{nonce}"

    def sub_requests(item: str) -> int:
        return sum(1 for r in emulator.requests if not r.thinking and item in r.last_user)

    child = _child(emulator, db, ledger, thread, "start", script, hold=a2)
    try:
        deadline = time.monotonic() + 60
        # buyer-a paid A1 and is blocked inside its second tool step; buyer-b is done
        while not (Path(str(ledger) + ".held").exists() and b1 in _lines(ledger)):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the sub-agents never got there"
            time.sleep(0.05)
        time.sleep(0.3)  # let buyer-b's branch write its result
        assert _lines(ledger) in ([a1, b1], [b1, a1])
        before_a, before_b = sub_requests(a1), sub_requests(b1)
        assert before_a == 2 and before_b == 2
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    resumed = _child(emulator, db, ledger, thread, "resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    records = {r["role"]: r for r in json.loads(out.strip().splitlines()[-1])["results"]}

    assert sorted(_lines(ledger)) == sorted([a1, a2, b1]), "a tool call ran twice or never"
    assert sub_requests(b1) == before_b, "the finished sub-agent ran again"
    assert sub_requests(a1) == before_a + 1, "buyer-a did not resume from its last step"
    assert records["buyer-a"]["status"] == "ok" and records["buyer-b"]["status"] == "ok"
    assert records["buyer-a"]["tool_calls"] == 2
