"""The live view's keys in a real terminal: `kimi-graph run --mode swarm --emulator` in
tmux, driven with `send-keys` and read with `capture-pane`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]

pytestmark = pytest.mark.slow


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a command in a detached tmux session; yield a function capturing its screen."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    name = f"kg-{uuid.uuid4().hex[:8]}"
    sessions: list[str] = []

    def start(command: str) -> str:
        script = tmp_path / "run.sh"
        script.write_text(f"{command}\necho EXITED $?\nsleep 600\n")
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "50", f"sh {script}"],
            check=True,
        )
        sessions.append(name)
        return name

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _screen(session: str) -> str:
    out = subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session, "-S", "-200"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def _keys(session: str, *keys: str, literal: bool = False) -> None:
    extra = ["-l"] if literal else []
    subprocess.run(["tmux", "send-keys", "-t", session, *extra, *keys], check=True)
    time.sleep(0.3)


def _until(session: str, ready: Callable[[str], bool], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = _screen(session)
        if ready(screen):
            return screen
        assert time.monotonic() < deadline, screen
        time.sleep(0.2)


def test_steer_cancel_and_abort_from_the_keys(tmux, tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex[:6]
    prompt = (
        _assign("alpha", '[[latency 1]] [[loop calculator {"expression": "1+1"}]]')
        + _assign("beta", '[[latency 1]] [[loop calculator {"expression": "2+2"}]]')
        + _assign("gamma", "[[latency 30]] [[answer never]]")
    )
    (tmp_path / "prompt.txt").write_text(prompt)
    python = sys.executable
    session = tmux(
        f"cd {ROOT} && PYTHONPATH={ROOT} {python} -m kimi_graph.cli run --mode swarm "
        f'--emulator "$(cat {tmp_path / "prompt.txt"})"'
    )
    screen = _until(session, lambda s: "keys: up/down select" in s and "alpha  step 2" in s)
    assert "> ..   alpha" in screen  # the first sub-agent is selected
    _keys(session, "s")
    _keys(session, f"[[answer steered-{nonce}]]", literal=True)
    assert f"steer alpha: [[answer steered-{nonce}]]_" in _screen(session)
    _keys(session, "Enter")
    _until(session, lambda s: "ok   alpha" in s)
    _keys(session, "Down")
    _keys(session, "c")
    _keys(session, "Down")
    _keys(session, "a")
    screen = _until(session, lambda s: "EXITED" in s)

    assert "EXITED 0" in screen
    assert f"<- [alpha] result: steered-{nonce}" in screen
    assert "CNCL beta" in screen and "<- [beta] cancelled:" in screen
    assert "ABRT gamma" in screen and "<- [gamma] aborted:" in screen
    assert "3 sub-agents, 0 failed" in screen
