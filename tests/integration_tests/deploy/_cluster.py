"""Load deploy/cluster.py (a script, not a package) and start a cluster for a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def load_cluster_module() -> ModuleType:
    """deploy/cluster.py as a module."""
    name = "kimi_graph_deploy_cluster"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def require_cluster_pieces() -> ModuleType:
    """The module, or a skip naming the missing piece (PostgreSQL, Redis, HAProxy, Aegra)."""
    cluster = load_cluster_module()
    settings = cluster.read_settings()
    problems = cluster.check_versions(settings)
    if problems:
        pytest.skip("cluster pieces missing: " + "; ".join(problems))
    if not cluster.aegra_ready(settings):
        pytest.skip(f"no Aegra venv at {cluster.AEGRA_VENV} (make aegra-venv)")
    return cluster
