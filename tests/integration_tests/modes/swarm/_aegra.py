"""A two-instance Aegra cluster (deploy/cluster.py) whose model is an emulator of the
test process, so a test can count each sub-agent's model calls."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_graph.emulator import Emulator
from tests.integration_tests.deploy._cluster import require_cluster_pieces


@dataclass
class AegraCluster:
    """The running cluster and the emulator its instances call."""

    cluster: Any
    emulator: Emulator

    @property
    def urls(self) -> list[str]:
        return list(self.cluster.instance_urls)

    @property
    def balancer(self) -> str:
        return str(self.cluster.url)

    def kill9(self, index: int) -> None:
        """`kill -9` Aegra instance `index` (0-based)."""
        self.cluster.kill(f"aegra{index + 1}", signal.SIGKILL)

    def restart(self, index: int) -> None:
        """Start instance `index` again if it is down."""
        if not (self.cluster.state / f"aegra{index + 1}.pid").exists():
            self.cluster.start_aegra(index)


def start_cluster(emulator: Emulator, state: Path) -> Iterator[AegraCluster]:
    """Start the cluster (or skip naming what is missing); stop all of it afterwards."""
    module = require_cluster_pieces()
    cluster = module.Cluster(state=state, instances=2, venv=module.AEGRA_VENV)
    cluster.model_env = {
        "KIMI_BASE_URL": emulator.base_url("vllm"),
        "KIMI_BACKEND": "vllm",
        "KIMI_API_KEY": "emulator",
    }
    cluster.up()
    try:
        yield AegraCluster(cluster, emulator)
    finally:
        cluster.down()


def assign(role: str, task: str) -> str:
    """An orchestrator script line: one `assign_task` call."""
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"
