"""`kimi-graph run` as a user runs it: real subprocesses, a real pty, a real emulator."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND", "NO_COLOR")
CLI = [sys.executable, "-m", "kimi_graph.cli"]
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SWARM_TASK = (
    "Plan a trip:\n"
    "- scout: weather in Paris and Rome\n"
    "- budget: compute 3 * 120 with run_python\n"
    "- logistics-coordinator-for-the-long-trip: a haiku about trains"
)
# No task may name web_search or fetch_url (or say "search"/"fetch"): `run` offers them,
# and they would reach the internet.
pytestmark = pytest.mark.slow


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.update(extra)
    return out


def assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


@pytest.fixture(scope="module")
def emulate() -> Iterator[str]:
    """`kimi-graph emulate` in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [*CLI, "emulate", "--port", "0"],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("Kimi K2.5 emulator listening on "), first
        yield first.split()[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()


def endpoint_env(url: str) -> dict[str, str]:
    return env(KIMI_BASE_URL=f"{url}/moonshot/v1", MOONSHOT_API_KEY="k", KIMI_BACKEND="moonshot")


def requests_log(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_emulator/requests", timeout=10) as resp:
        return json.loads(resp.read())


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------- the swarm view on a pty


def run_in_pty(argv: list[str], columns: int, timeout: float = 120) -> str:
    """Run `argv` with its stdout on a pseudo-terminal `columns` wide; return the output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        argv,
        env=env(COLUMNS=str(columns), LINES="40"),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                pytest.fail(f"no output for {timeout}s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=timeout) == 0, proc.stderr.read()  # type: ignore[union-attr]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()  # type: ignore[union-attr]
    return b"".join(chunks).decode()


def screen_lines(raw: str) -> list[str]:
    """Each written line as it shows: after its last carriage return, styles removed."""
    return [CSI.sub("", row.split("\r")[-1]) for row in raw.replace("\r\n", "\n").split("\n")]


@pytest.mark.parametrize("columns", [60, 120])
def test_swarm_view_fits_the_terminal(columns: int) -> None:
    raw = run_in_pty([*CLI, "run", "--emulator", "-m", "swarm", SWARM_TASK], columns)
    lines = screen_lines(raw)
    too_long = [line for line in lines if len(line) > columns]
    assert not too_long, too_long
    assert "\x1b[" in raw  # a terminal: styles and the live block redrawn in place
    # the live block ends as one line per sub-agent, in plan order, with its outcome
    final = [line for line in lines if line.startswith("  ok ")]
    roles = [line.split()[1] for line in final[-3:]]
    assert roles[:2] == ["scout", "budget"]
    assert roles[2].startswith("logistics-")
    budget = next(line for line in final if line.split()[1] == "budget")
    assert "step 2" in budget
    # while running, a sub-agent's line showed its current tool call
    assert any("budget" in line and "calling run_python(" in line for line in lines)
    # results name their sub-agent, in plan order
    results = [line for line in lines if line.lstrip().startswith("<- [")]
    assert [r.split("]")[0].split("[")[1][:5] for r in results] == ["scout", "budge", "logis"]
    at = next(i for i, line in enumerate(lines) if line.startswith("done in"))
    summary = " ".join(lines[at : at + 3])
    assert "critical steps 4" in summary  # orchestrator, budget's 2 steps, synthesis
    assert re.search(r"tokens [\d,]+ in \([\d,]+ cached\), [\d,]+ out", summary)


def test_width_option_when_piped() -> None:
    proc = subprocess.run(
        [*CLI, "run", "--emulator", "--width", "50", "-m", "swarm", SWARM_TASK],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 50
    # piped: one line per sub-agent step that calls a tool, named
    assert "  [budget] step 1 -> run_python(" in proc.stdout


# ---------------------------------------------------------------------- --json


def test_json_lines_of_a_swarm(emulate: str) -> None:
    proc = subprocess.run(
        [*CLI, "run", "--json", "-m", "swarm", SWARM_TASK],
        env=endpoint_env(emulate),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    events = json_lines(proc.stdout)
    assert events[0] == {"type": "task", "text": SWARM_TASK}
    final = events[-1]
    assert final["type"] == "final"
    assert final["answer"].startswith("Based on the tool results: ")
    assert final["reasoning"].startswith("The user asks")
    assert [r["role"][:5] for r in final["records"]] == ["scout", "budge", "logis"] or sorted(
        r["role"][:5] for r in final["records"]
    ) == ["budge", "logis", "scout"]
    assert {r["status"] for r in final["records"]} == {"ok"}
    usage = final["usage"]
    assert set(usage) == {"input", "output", "cached", "total"}
    assert usage["input"] > usage["cached"] > 0
    assert usage["total"] == usage["input"] + usage["output"]
    per_record = sum(r["usage"]["input_tokens"] for r in final["records"])
    assert usage["input"] > per_record  # the orchestrator and synthesis count too
    assert final["critical_steps"] >= 3
    kinds = {e["type"] for e in events}
    assert {"reasoning", "answer", "tool_call", "tool_result", "subagent"} <= kinds
    steps = [e for e in events if e["type"] == "subagent_step" and e["role"] == "budget"]
    assert steps[0]["tool_calls"] == [{"name": "run_python", "args": {"code": "print(3 * 120)"}}]
    starts = [e for e in events if e["type"] == "subagent" and e["event"] == "start"]
    assert len(starts) == 3 and all(e["namespace"].startswith("subagent:") for e in starts)


def test_json_of_thinking_mode(emulate: str) -> None:
    proc = subprocess.run(
        [*CLI, "run", "--json", "What is 2+3*4?"],
        env=endpoint_env(emulate),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    final = json_lines(proc.stdout)[-1]
    assert final["answer"] == "14"
    assert final["records"] == [] and final["critical_steps"] is None
    assert final["usage"]["output"] > 0


# ---------------------------------------------------------------------- crash and resume


def wait_for_saved_record(db: Path, thread: str, polls: int = 600) -> None:
    """Wait (at most `polls` x 50 ms) until a sub-agent record of `thread` is saved."""
    query = (
        "SELECT count(*) FROM writes WHERE thread_id = ? AND checkpoint_ns = '' "
        "AND channel = 'subagent_results'"
    )
    for _ in range(polls):
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            try:
                if conn.execute(query, (thread,)).fetchone()[0]:
                    return
            except sqlite3.OperationalError:  # the table is not made yet
                pass
        time.sleep(0.05)
    pytest.fail("the fast sub-agent's record was never saved")


def test_a_killed_swarm_resumes_from_its_checkpoint(emulate: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    task = assign("fast", "What is 40+2?") + assign("slow", "wait [[fault hang 120 x1]]")
    base = [*CLI, "run", "--json", "--checkpoint", str(db), "--thread", "crash-1"]
    proc = subprocess.Popen(
        [*base, "-m", "swarm", task],
        env=endpoint_env(emulate),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(json.loads(line))
            event = seen[-1]
            if event["type"] == "subagent" and event["event"] == "finish":
                assert event["role"] == "fast"
                break
        else:
            pytest.fail(f"the run ended before the fast sub-agent finished: {seen}")
        # LangGraph saves a finished task's writes in the background: kill only once
        # the fast sub-agent's record is in the file.
        wait_for_saved_record(db, "crash-1")
    finally:
        proc.kill()  # SIGKILL mid-run: the slow sub-agent is still waiting
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    assert not any(e["type"] == "final" for e in seen)

    # A task for the unfinished thread is refused, with the way out.
    refused = subprocess.run(
        [*base, "another task"],
        env=endpoint_env(emulate),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "has an unfinished run" in refused.stderr

    # The same command without the task resumes (the mode comes from the thread).
    resumed = subprocess.run(
        base,
        env=endpoint_env(emulate),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    events = json_lines(resumed.stdout)
    starts = [e["role"] for e in events if e["type"] == "subagent" and e["event"] == "start"]
    # The slow sub-agent runs again. The fast one's branch may be entered again, but
    # its nested graph is finished in the checkpoint: it makes no new model call.
    assert "slow" in starts
    final = events[-1]
    assert final["type"] == "final" and final["thread_id"] == "crash-1"
    records = {r["role"]: r for r in final["records"]}
    assert records["fast"]["output"] == "42"
    assert records["slow"]["status"] == "ok"
    fast_calls = [r for r in requests_log(emulate) if r["last_user"] == "What is 40+2?"]
    assert len(fast_calls) == 1

    # Nothing left to resume.
    again = subprocess.run(
        base, env=endpoint_env(emulate), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 1
    assert "nothing to resume on thread crash-1" in again.stderr


def test_thread_without_checkpoint_is_a_usage_error() -> None:
    proc = subprocess.run(
        [*CLI, "run", "--thread", "x", "hi"],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--thread needs --checkpoint" in proc.stderr


# ---------------------------------------------------------------------- a fast --help


def test_help_imports_no_langchain() -> None:
    code = (
        "import sys; from kimi_graph.cli._parser import build_parser; build_parser(serve=False)"
        ".format_help(); print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'langgraph', 'openai', 'aiohttp', 'starlette', 'pydantic')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    shown = subprocess.run(
        [*CLI, "--help"], env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0
    assert "serve the four modes as an OpenAI-compatible endpoint" in shown.stdout
