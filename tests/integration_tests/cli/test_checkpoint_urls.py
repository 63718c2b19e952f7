"""`kimi-graph run --checkpoint` with a database URL: PostgreSQL is used, others refused.

No output ever shows the URL's password. The PostgreSQL server is a real one of the
test session (`postgres_url`, trust authentication: the password is not checked).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "Pg-PW-never-printed"
pytestmark = pytest.mark.slow


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "kimi_graph.cli", "run", *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _with_password(url: str, database: str | None = None) -> str:
    url = url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    if database is not None:
        url = url.replace("/postgres?", f"/{database}?")
    return url


def test_a_postgresql_url_is_a_postgresql_checkpoint(postgres_url: str) -> None:
    url = _with_password(postgres_url)
    first = _cli("--emulator", "--checkpoint", url, "--thread", "pg-cli-1", "hello there")
    assert first.returncode == 0, first.stderr
    assert "thread pg-cli-1 in postgresql://***@127.0.0.1:" in first.stdout + first.stderr
    again = _cli("--emulator", "--checkpoint", url, "--thread", "pg-cli-1")
    assert again.returncode == 1
    assert "nothing to resume on thread pg-cli-1 in postgresql://***@127.0.0.1:" in again.stderr
    # the run was stored in that database, not in a file named like the URL
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("pg-cli-1",)
        ).fetchone()
    assert rows is not None and rows[0] > 0
    for proc in (first, again):
        assert PASSWORD not in proc.stdout + proc.stderr
    assert not [p for p in ROOT.iterdir() if p.name.startswith("postgres")]


def test_a_database_that_cannot_be_opened_is_a_clear_error(postgres_url: str) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = f"postgresql://user:{PASSWORD}@127.0.0.1:{port}/db?sslmode=disable"
    for url in (_with_password(postgres_url, "no_such_db"), closed):
        proc = _cli("--emulator", "--checkpoint", url, "hello")
        assert proc.returncode == 1
        assert "kimi-graph: error: PostgreSQL checkpoint postgresql://***@127.0.0.1:" in (
            proc.stderr
        ), proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr


def test_another_database_url_is_refused_without_its_password() -> None:
    proc = _cli("--checkpoint", f"mysql://user:{PASSWORD}@127.0.0.1:1/db", "hello")
    assert proc.returncode == 1
    assert "takes a SQLite file path or a postgresql:// URL" in proc.stderr
    assert "'mysql://***@127.0.0.1:1/db' is a mysql:// URL" in proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert not (ROOT / "mysql:").exists()
