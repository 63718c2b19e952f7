"""A local `langgraph dev` server (in-memory runtime) that a benchmark starts and stops.

Not a benchmark itself; `bench_dev_scaleout.py` imports it. The server listens on
127.0.0.1 only, without a browser or reload, in a process group of its own that is
terminated (then killed) when the `with` block ends, whether or not it ended in an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from _bench import ROOT

__all__ = ["DevServer"]

START_TIMEOUT = 90.0
"""Seconds a server may take to answer `/ok` (it imports the graph first)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevServer:
    """`langgraph dev` serving `graphs` from `workdir`, on a free loopback port.

    Args:
        workdir: Its working directory: its `langgraph.json`, log (`dev.log`) and the
            in-memory runtime's `.langgraph_api` files go there.
        graphs: Graph name -> "absolute/path.py:attribute".
        env: Extra environment of the server (e.g. `KIMI_BASE_URL`).
        jobs: `--n-jobs-per-worker`: runs the server executes at once; the others queue.
        log_level: `--server-log-level` (None: the CLI's default).
        allow_blocking: Pass `--allow-blocking` (no blockbuster checks of sync I/O).
    """

    def __init__(
        self,
        workdir: Path,
        graphs: dict[str, str],
        env: dict[str, str],
        *,
        jobs: int,
        log_level: str | None = None,
        allow_blocking: bool = False,
    ) -> None:
        self.workdir = workdir
        self.graphs = graphs
        self.env = env
        self.jobs = jobs
        self.log_level = log_level
        self.allow_blocking = allow_blocking
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._proc is None:
            msg = "the langgraph dev server is not running"
            raise RuntimeError(msg)
        return self._proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log."""
        path = self.workdir / "dev.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _command(self, port: int) -> list[str]:
        cli = shutil.which("langgraph", path=str(Path(sys.executable).parent))
        if cli is None:
            msg = "langgraph-cli is not installed next to this Python (pip install -e '.[dev]')"
            raise RuntimeError(msg)
        command = [cli, "dev", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--no-browser", "--no-reload", "--n-jobs-per-worker", str(self.jobs)]
        if self.log_level:
            command += ["--server-log-level", self.log_level]
        if self.allow_blocking:
            command.append("--allow-blocking")
        return command

    def __enter__(self) -> DevServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {"dependencies": [str(ROOT)], "graphs": self.graphs, "env": {}}
        (self.workdir / "langgraph.json").write_text(json.dumps(config))
        port = _free_port()
        quiet = {
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        with (self.workdir / "dev.log").open("wb") as log:
            self._proc = subprocess.Popen(
                self._command(port),
                cwd=self.workdir,
                env={**os.environ, **quiet, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                msg = f"langgraph dev at {self.url} exited: {self.log_tail()}"
                raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(f"{self.url}/ok", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                msg = f"langgraph dev at {self.url} did not answer /ok in {START_TIMEOUT:g} s"
                raise RuntimeError(msg)
            time.sleep(0.3)

    def stop(self) -> None:
        """Terminate the server's process group; kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # anything the server left in its group
            os.killpg(proc.pid, signal.SIGKILL)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
