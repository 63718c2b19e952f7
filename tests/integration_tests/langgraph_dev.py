"""Start a real `langgraph dev` server (in-memory runtime) on 127.0.0.1 for a test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def langgraph_dev(
    workdir: Path, graphs: dict[str, str], env: dict[str, str], *, jobs: int = 10
) -> Iterator[str]:
    """Serve `graphs` (name -> "path.py:attr") with `langgraph dev`; yield its URL."""
    cli = shutil.which("langgraph", path=str(Path(os.sys.executable).parent))
    if cli is None:
        pytest.skip("langgraph-cli is not installed (pip install -e '.[dev]')")
    config = {"dependencies": [str(ROOT)], "graphs": graphs, "env": {}}
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    quiet = {
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "PYTHONPATH": str(ROOT),
    }
    log = (workdir / "dev.log").open("w")
    proc = subprocess.Popen(
        [
            cli,
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-browser",
            "--no-reload",
            "--n-jobs-per-worker",
            str(jobs),
        ],
        cwd=workdir,
        env={**os.environ, **quiet, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(workdir / 'dev.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("langgraph dev did not start within 90 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
