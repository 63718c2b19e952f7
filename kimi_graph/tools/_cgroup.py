"""A cgroup per `run_python` run: one process and memory limit for the whole run.

Resource limits (`resource.setrlimit`) hold per process, and the kernel does not
apply ``RLIMIT_NPROC`` to processes of the host's root, not even inside a user
namespace. Where this process may create cgroups (root on a host with cgroup v1
``pids``/``memory`` hierarchies, or a cgroup v2 tree whose ``pids`` and ``memory``
controllers are enabled below the current group), each run gets a group of its
own with ``pids.max`` and a memory limit, and the sandbox joins it before it starts
(a small ``sh`` launcher writes its own pid into the group, then ``exec``s). When
the run ends, whatever is left in the group is killed and the group removed.

Where no cgroup can be made, `RunCgroup.create` returns None and the caller says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunCgroup"]

_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "kimi-run-"
STALE_AFTER = 300.0
"""Seconds after which an empty group of ours is a leftover (its owner was killed)."""
# Joins every group given, then runs the rest of the command line in place.
_LAUNCHER = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do '
    'echo $$ > "$1" || { echo "sandbox setup failed: cannot join $1" >&2; exit 125; }; '
    'shift; n=$((n - 1)); done; exec "$@"'
)


@dataclass
class RunCgroup:
    """The cgroup directories (one per hierarchy) of one run."""

    dirs: tuple[Path, ...]

    @classmethod
    def create(cls, *, max_pids: int, memory_bytes: int) -> RunCgroup | None:
        """Make the run's group(s) with their limits, or return None where not allowed.

        Args:
            max_pids: Most processes and threads alive at once in the whole run.
            memory_bytes: Most memory (including its tmpfs pages) of the whole run.

        Returns:
            The group, or None if no cgroup with both limits can be made here.
        """
        name = f"{_PREFIX}{uuid.uuid4().hex[:12]}"
        made: list[Path] = []
        try:
            for parent, settings in _places(max_pids, memory_bytes):
                _remove_leftovers(parent)
                group = parent / name
                group.mkdir()
                made.append(group)
                for file, value in settings.items():
                    (group / file).write_text(value)
        except OSError:
            RunCgroup(tuple(made)).close()
            return None
        if not made:
            return None
        return cls(tuple(made))

    def launcher(self, argv: list[str]) -> list[str]:
        """``argv`` prefixed so that it runs inside this group from its first instruction."""
        procs = [str(d / "cgroup.procs") for d in self.dirs]
        return ["/bin/sh", "-c", _LAUNCHER, "sh", str(len(procs)), *procs, *argv]

    def oom_kills(self) -> int:
        """Processes of the run the kernel killed for going over the memory limit."""
        kills = 0
        for group in self.dirs:
            for name in ("memory.oom_control", "memory.events"):  # cgroup v1, v2
                with contextlib.suppress(OSError, ValueError):
                    for line in (group / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            kills += int(value)
        return kills

    def close(self) -> None:
        """Kill whatever is left in the group, then remove it."""
        deadline = time.monotonic() + 5
        for group in reversed(self.dirs):
            while group.exists():
                for pid in _pids(group):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    group.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left for the kernel to empty; nothing else uses the name
                    time.sleep(0.02)


def _remove_leftovers(parent: Path) -> None:
    """Remove empty groups of earlier runs whose process died before it could."""
    now = time.time()
    with contextlib.suppress(OSError):
        for group in parent.glob(f"{_PREFIX}*"):
            with contextlib.suppress(OSError):
                # a live run's group is not empty (rmdir fails) or younger than this
                if now - group.stat().st_mtime > STALE_AFTER:
                    group.rmdir()


def _pids(group: Path) -> list[int]:
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and ``""`` for the v2 tree."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _places(max_pids: int, memory_bytes: int) -> list[tuple[Path, dict[str, str]]]:
    """Where to make the groups, and what to write into each."""
    own = _own_paths()
    pids = {"pids.max": str(max_pids)}
    v1_memory = {"memory.limit_in_bytes": str(memory_bytes)}
    v1 = [("pids", pids), ("memory", v1_memory)]
    if all(c in own and (_ROOT / c / "cgroup.procs").exists() for c, _ in v1):
        return [(_ROOT / c / own[c].lstrip("/"), settings) for c, settings in v1]
    if "" in own and (_ROOT / "cgroup.controllers").exists():
        parent = _ROOT / own[""].lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            return []
        if {"pids", "memory"} <= set(enabled):
            return [(parent, {**pids, "memory.max": str(memory_bytes), "memory.swap.max": "0"})]
    return []
