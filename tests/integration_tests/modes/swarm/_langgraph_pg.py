"""Two LangGraph Server instances (`langgraph-api` on the MIT `langgraph-runtime-pg`
runtime) over one PostgreSQL and one Redis, all on 127.0.0.1, for a test.

`langgraph-runtime-pg` pins `langgraph-api==0.11.1`, older than the dev dependencies,
so it lives in a venv of its own: `$LANGGRAPH_PG_VENV` or `deploy/.venv-langgraph-pg`
(`make langgraph-pg-venv`). Without it the tests skip, naming the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kimi_graph.emulator import Emulator
from tests.integration_tests.deploy._cluster import ROOT, load_cluster_module

VENV = Path(os.environ.get("LANGGRAPH_PG_VENV", ROOT / "deploy" / ".venv-langgraph-pg"))
PROBE = (
    "import importlib.metadata as m, langgraph_runtime_pg, kimi_graph; "
    "print(m.version('langgraph-api'), m.version('langgraph-runtime-pg'))"
)


def venv_python() -> Path:
    """The venv's Python, or a skip naming how to make the venv."""
    python = VENV / "bin" / "python"
    done = (
        subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=60)
        if python.exists()
        else None
    )
    if done is None or done.returncode:
        why = done.stderr.strip().splitlines()[-1] if done is not None and done.stderr else ""
        pytest.skip(
            f"no langgraph-api + langgraph-runtime-pg venv at {VENV} ({why or 'missing'}): "
            "make langgraph-pg-venv"
        )
    return python


@dataclass
class LanggraphPg:
    """The running instances (URLs), the cluster pieces under them and their emulator."""

    cluster: Any
    emulator: Emulator
    python: Path
    ports: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def env(self) -> dict[str, str]:
        graphs = {name: f"{ROOT / 'graphs' / name}.py:graph" for name in ("agent", "swarm")}
        return {
            "PATH": f"{self.python.parent}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(ROOT),
            "LANGGRAPH_RUNTIME_EDITION": "pg",
            "DATABASE_URI": self.cluster.database_url,
            "REDIS_URI": self.cluster.redis_url,
            "LANGSERVE_GRAPHS": json.dumps(graphs),
            "N_JOBS_PER_WORKER": "50",
            "LOG_LEVEL": "WARNING",
            "LANGSMITH_TRACING": "false",
            "KIMI_SUBAGENT_URLS": ",".join(self.urls),
            "KIMI_BASE_URL": self.emulator.base_url("vllm"),
            "KIMI_BACKEND": "vllm",
            "KIMI_API_KEY": "emulator",
        }

    def start(self, index: int) -> None:
        log = (self.cluster.state / f"langgraph{index + 1}.log").open("ab")
        argv = [
            str(self.python), "-m", "uvicorn", "langgraph_api.server:app",
            "--host", "127.0.0.1", "--port", str(self.ports[index]), "--no-access-log",
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        self.cluster_module.wait_http(f"{self.urls[index]}/ok", 120, proc)

    @property
    def cluster_module(self) -> Any:
        return load_cluster_module()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def start_langgraph_pg(emulator: Emulator, state: Path) -> Iterator[LanggraphPg]:
    """PostgreSQL, Redis and two instances (or a skip naming what is missing); all stopped
    afterwards."""
    python = venv_python()
    module = load_cluster_module()
    settings = module.read_settings()
    problems = [p for p in module.check_versions(settings) if "HAProxy" not in p]
    if problems:
        pytest.skip("cluster pieces missing: " + "; ".join(problems))
    cluster = module.Cluster(state=state, instances=0, settings=settings)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    server = LanggraphPg(cluster, emulator, python, [module.free_port(), module.free_port()])
    try:
        cluster.start_postgres()
        cluster.start_redis()
        for index in range(2):
            server.start(index)
        yield server
    finally:
        server.stop()
        cluster.down()
