"""The bubblewrap command line that confines one `run_python` run.

`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``) builds the
sandbox out of Linux namespaces; this module only decides what goes into it:

- every namespace of its own (``--unshare-all --unshare-user``): PID (the program
  sees and signals only its own processes, and all of them die when the run ends),
  network (no interface but a loopback that is down; abstract UNIX sockets are per
  network namespace), IPC, UTS and, where the kernel allows it, cgroup;
- a user namespace in which the program is uid/gid 65534 with no capabilities
  (``--cap-drop ALL``), and may not make further user namespaces
  (``--disable-userns``); when the agent is root, ``bwrap`` itself runs as the
  host's uid/gid 65534 (`kimi_graph.tools._hostuser`), so the program is no
  host root underneath and ``/proc/sys`` and root-only ``/proc`` files are out of
  its reach;
- a seccomp filter refusing the keyring calls (`kimi_graph.tools._seccomp`), and
  ``/proc/keys`` and ``/proc/key-users`` covered by unreadable files;
- a mount view of its own: ``/usr`` and the interpreter's install prefixes
  read-only, the host's top-level ``/bin``, ``/lib``... links, a fresh ``/proc`` and
  a minimal, read-only ``/dev`` (its ``/dev/shm`` is sized like ``/tmp``), and a
  size-limited private ``tmpfs`` at ``/tmp`` that is its
  working directory and ``HOME``; the rest of the tree is read-only. Nothing else
  of the host: no ``/etc``, ``/home``, ``/root``, ``/run``, ``/var``, no project
  directory (so no ``.env``), no host UNIX sockets;
- ``--die-with-parent`` and ``--new-session`` (no terminal injection);
- ``--as-pid-1``: the wrapper of `kimi_graph.tools._runstatus` is the PID
  namespace's init and reports the program's exit on a channel of its own.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

from kimi_graph.tools._hostuser import host_launch

__all__ = [
    "COVERED_PROC_FILES",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "bwrap_argv",
    "bwrap_problem",
    "interpreter_dirs",
]

SANDBOX_UID = 65534
"""The program's uid inside the sandbox (``nobody``)."""
SANDBOX_GID = 65534
"""The program's gid inside the sandbox (``nogroup``)."""
SANDBOX_HOME = "/tmp"
"""Working directory, ``HOME`` and ``TMPDIR`` of the program inside the sandbox."""

COVERED_PROC_FILES = ("/proc/keys", "/proc/key-users")
"""World-readable ``/proc`` files about the host's keys, covered by unreadable ones."""

_TOP_LEVEL_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_PROBE_PREFIXES = (
    "import sys, json; print(json.dumps(sorted({sys.prefix, sys.base_prefix, "
    "sys.exec_prefix, sys.base_exec_prefix})))"
)


def bwrap_executable() -> str | None:
    """The path of ``bwrap`` on ``PATH``, or None."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox a program here, or None when it can.

    Runs ``true`` once in the same kind of sandbox (namespaces, uid mapping) and
    caches the answer for the process.

    Returns:
        None, or a sentence naming the problem (missing, or refused by the kernel).
    """
    exe = bwrap_executable()
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        launch = host_launch(())
    except ValueError as e:
        return str(e)
    argv = [
        *launch.prefix,
        exe,
        *_namespace_flags(),
        *_system_mounts(),
        "--",
        "/usr/bin/env",
        "true",
    ]
    try:
        probe = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not be started: {e}"
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", "replace").strip() or f"exit {probe.returncode}"
        return f"bubblewrap cannot create a sandbox on this host ({detail})"
    return None


@functools.lru_cache(maxsize=16)
def interpreter_dirs(python: str) -> tuple[str, ...]:
    """The directories an interpreter needs, besides ``/usr``.

    Asks the interpreter (trusted: it is the host's) for its install prefixes and
    keeps those outside ``/usr``, as real paths. A prefix that is ``/``, the home
    directory or one of its parents, or that holds a ``.env`` file is refused: it
    would expose too much.

    Args:
        python: Absolute path of the interpreter.

    Returns:
        The directories to mount read-only, sorted.

    Raises:
        ValueError: If the interpreter cannot be asked, or a prefix is refused.
    """
    try:
        probe = subprocess.run(
            [python, "-I", "-c", _PROBE_PREFIXES],
            capture_output=True,
            timeout=30,
            check=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        )
        prefixes = [str(p) for p in json.loads(probe.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        msg = f"cannot ask {python} for its install prefix: {e}"
        raise ValueError(msg) from e
    home = Path.home().resolve()
    dirs: set[str] = set()
    for prefix in prefixes:
        real = Path(prefix).resolve()
        if real == Path("/usr") or Path("/usr") in real.parents:
            continue
        if real == Path("/") or real == home or real in home.parents:
            msg = f"the interpreter's prefix {real} would expose the host's files"
            raise ValueError(msg)
        if (real / ".env").exists():
            msg = f"the interpreter's prefix {real} holds a .env file"
            raise ValueError(msg)
        dirs.add(str(real))
    executable = Path(python).resolve()
    if not any(Path(d) in executable.parents for d in {*dirs, "/usr"}):
        dirs.add(str(executable))  # an interpreter outside its prefixes: mount the file
    return tuple(sorted(dirs))


def bwrap_argv(
    *,
    python: str,
    extra_dirs: tuple[str, ...],
    code_fd: int,
    tmp_bytes: int,
    inner: list[str],
    sources: dict[str, str] | None = None,
    seccomp_fd: int | None = None,
    blank_fds: tuple[int, ...] = (),
) -> list[str]:
    """The ``bwrap`` command line for one run (after any `host_launch` prefix).

    Args:
        python: The interpreter, as it will be called inside (same path as outside).
        extra_dirs: Directories (or files) to mount read-only at the same path,
            from `interpreter_dirs`.
        sources: Where ``bwrap`` binds each of ``extra_dirs`` from (the staging
            paths of `host_launch`); by default the directory itself.
        seccomp_fd: A file descriptor holding the seccomp program to load
            (`kimi_graph.tools._seccomp.keyring_filter`), or None for none.
        blank_fds: One empty file descriptor per entry of `COVERED_PROC_FILES`,
            copied over it as an unreadable file; empty: not covered.
        code_fd: A file descriptor to read the program from; it becomes
            ``/tmp/main.py`` (the caller passes it with ``pass_fds``).
        tmp_bytes: Size of the private ``/tmp`` (and of ``/dev/shm``).
        inner: The command to run inside, after the interpreter's path.

    Returns:
        The argv to start.

    Raises:
        ValueError: If bubblewrap is not installed.
    """
    exe = bwrap_executable()
    if exe is None:
        msg = "bubblewrap (bwrap) is not installed"
        raise ValueError(msg)
    argv = [exe, *_namespace_flags(), *_system_mounts()]
    size = str(tmp_bytes)
    argv += ["--size", size, "--tmpfs", "/dev/shm"]
    argv += ["--remount-ro", "/dev"]  # after /dev/shm, which stays writable and sized
    argv += ["--size", size, "--perms", "1777", "--tmpfs", SANDBOX_HOME]
    # After /tmp, so that an interpreter installed under /tmp (a CI checkout) stays visible.
    for path in extra_dirs:
        argv += ["--ro-bind", (sources or {}).get(path, path), path]
    argv += ["--perms", "0644", "--file", str(code_fd), f"{SANDBOX_HOME}/main.py"]
    for fd, covered in zip(blank_fds, COVERED_PROC_FILES, strict=False):
        argv += ["--perms", "0000", "--ro-bind-data", str(fd), covered]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    # The root itself is bwrap's tmpfs: read-only, so only the size-limited /tmp is writable.
    argv += ["--remount-ro", "/", "--chdir", SANDBOX_HOME, "--as-pid-1", "--", python, *inner]
    return argv


def _namespace_flags() -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]


def _system_mounts() -> list[str]:
    mounts = ["--ro-bind", "/usr", "/usr"]
    for name in _TOP_LEVEL_LINKS:
        path = Path("/", name)
        if path.is_symlink():
            mounts += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            mounts += ["--ro-bind", str(path), str(path)]
    mounts += ["--proc", "/proc", "--dev", "/dev"]
    # The sysctl tree read-only as a mount too, not only by permissions.
    mounts += ["--ro-bind", "/proc/sys", "/proc/sys"]
    return mounts
