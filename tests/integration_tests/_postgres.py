"""A real PostgreSQL server for tests: a fresh cluster in a temp dir on a free port.

The binaries come from the OS packages (``initdb``/``pg_ctl`` on ``PATH`` or in
``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so as
root the cluster belongs to, and the server runs as, the unprivileged ``nobody``.
The server listens on 127.0.0.1 only, with its UNIX socket inside the temp dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Start with `start()`, stop (and delete everything) with `stop()`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kimi-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")  # KeyError where there is no such user
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        """A libpq URL of the ``postgres`` database, for the ``postgres`` superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"},
            check=False,
            **self._as,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            msg = f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}\n{log}"
            raise RuntimeError(msg)

    def start(self) -> None:
        """Create the cluster and start the server; wait until it accepts connections.

        A port taken between choosing it and the server's bind is retried on another.
        """
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
        )  # fmt: skip
        for attempt in range(3):
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c fsync=off -c max_connections=50"
            )
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                    "-w", "-t", "60", "start",
                )  # fmt: skip
                return
            except RuntimeError:
                if attempt == 2 or "already in use" not in self.log.read_text():
                    raise
                self.port = _free_port()

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
