"""bench_dev_scaleout and its `langgraph dev` servers: they run, and no process outlives them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
AGENT = f"{BENCHMARKS / 'scaleout' / 'agent.py'}:graph"
#: An address nothing listens on: the servers never call their model in these tests.
NO_MODEL = {"KIMI_BASE_URL": "http://127.0.0.1:9/v1", "KIMI_BACKEND": "vllm", "KIMI_API_KEY": "k"}


@pytest.fixture
def dev_server_class(monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _dev_server import DevServer

    return DevServer


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_dev_server_serves_the_graph_and_is_gone_after_an_error(
    dev_server_class: type, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="the benchmark failed"):
        with dev_server_class(tmp_path, {"agent": AGENT}, NO_MODEL, jobs=3) as server:
            pid = server.pid
            assert server.url.startswith("http://127.0.0.1:")
            request = urllib.request.Request(
                f"{server.url}/assistants/search",
                data=json.dumps({"graph_id": "agent"}).encode(),
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as resp:
                assert [a["graph_id"] for a in json.loads(resp.read())] == ["agent"]
            assert _group_alive(pid)
            msg = "the benchmark failed"
            raise RuntimeError(msg)
    assert not _group_alive(pid), "a process of the server's group outlived it"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.pid


def test_a_dev_server_that_cannot_load_its_graph_is_named_and_stopped(
    dev_server_class: type, tmp_path: Path
) -> None:
    missing = f"{tmp_path / 'missing.py'}:graph"
    server = dev_server_class(tmp_path, {"agent": missing}, NO_MODEL, jobs=1)
    with pytest.raises(RuntimeError, match=r"langgraph dev at http://127\.0\.0\.1:\d+ exited"):
        server.__enter__()
    assert "missing.py" in server.log_tail(100_000)
    assert server._proc is None  # stopped and reaped


def test_the_benchmark_runs_both_setups_with_every_record_ok(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_dev_scaleout.py"),
            *("--n", "3", "--latency", "0.05", "--settle", "0", "--jobs", "2"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^(one process|two dev servers)\s+3\s.*\s(\d+/3)$", proc.stdout, re.M)
    }
    assert rows == {"one process": "3/3", "two dev servers": "3/3"}, proc.stdout
    assert re.search(r"N = 3: wall \d+\.\d+, CPU of all processes \d+\.\d+", proc.stdout)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_a_terminated_benchmark_stops_its_servers_and_emulator(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "bench_dev_scaleout.py"), "--n", "3", "--latency", "5"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once both servers answer
        urls = re.findall(r"http://127\.0\.0\.1:\d+", first)
        assert len(urls) == 3, first
        emulator = urls[0]
        assert all(_answers(u) for u in urls[1:])
        proc.terminate()  # mid warm-up: the sub-agents wait 5 s per model call
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not any(_answers(u) for u in urls[1:]), "a langgraph dev server outlived the benchmark"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{emulator}/_emulator/health", timeout=2)
