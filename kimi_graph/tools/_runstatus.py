"""The wrapper that starts a `run_python` program, and its private status channel.

The program's own exit status must be reported as it was, and a failure of the
sandbox told apart from it, by a channel the program cannot write to. Exit codes
and stderr cannot be that channel: a program may print "sandbox setup failed" and
exit 125, or ``exit(137)`` like a process killed by SIGKILL.

So the wrapper (a short trusted script run by the same interpreter) writes JSON
lines to a pipe of its own whose descriptor is close-on-exec, so the program never
holds it:

- ``{"setup_failed": "..."}`` when applying the limits or starting the program
  failed;
- ``{"started": pid}`` once the program runs;
- ``{"exit": code}`` with the program's own status (negative: killed by that
  signal), in the sandbox (``mode="spawn"``) only.

In the bubblewrap sandbox the wrapper is the PID namespace's init (``bwrap
--as-pid-1``): the kernel delivers to an init only the signals it handles, and it
handles none (``SIGINT`` is put back to its default), so the program cannot kill
it; it makes itself non-dumpable, so the program cannot ``ptrace`` it or open its
descriptors through ``/proc/1/fd``. It reaps orphans, and when the program ends
it reports the status and exits, which kills whatever the program left running.

With ``isolation="rlimits"`` (``mode="exec"``) it replaces itself with the
program, as before; ``started`` is written just before, and the exit status is the
one the parent waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["WRAPPER", "RunStatus", "read_status"]

WRAPPER = """\
import json, os, resource, signal, sys
limits, program, fd, mode = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.set_inheritable(fd, False)
def report(**what):
    os.write(fd, (json.dumps(what) + "\\n").encode())
argv = [sys.executable, "-I", "-u", "-X", "utf8", program]
try:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if mode == "spawn":
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0: no ptrace, no /proc/1/fd
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")
    for name, (soft, hard) in limits.items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        _, cur_hard = resource.getrlimit(kind)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(kind, (soft, hard))
    os.environ.pop("PWD", None)  # set by bwrap's --chdir; the program sees only the allow-list
    if mode == "exec":
        report(started=os.getpid())
        os.execv(sys.executable, argv)
    pid = os.posix_spawn(sys.executable, argv, os.environ)
except Exception as e:
    report(setup_failed=repr(e))
    sys.exit(125)
report(started=pid)
while True:
    try:
        done, status = os.wait()
    except ChildProcessError:
        os._exit(0)
    if done == pid:
        report(exit=os.waitstatus_to_exitcode(status))
        os._exit(0)
"""
"""The wrapper's source; argv: limits (JSON), program path, status fd, mode."""

Mode = Literal["spawn", "exec"]


@dataclass
class RunStatus:
    """What the wrapper said about one run."""

    started: bool = False
    """The program was started."""
    exit: int | None = None
    """The program's own exit status (negative: killed by that signal), if reported."""
    setup_failed: str | None = None
    """Why the wrapper could not start the program, if it could not."""


def read_status(fd: int) -> RunStatus:
    """Read everything the wrapper wrote, once every writer has closed the pipe.

    Args:
        fd: The read end of the status pipe (closed here).

    Returns:
        What the wrapper reported; unknown lines are ignored.
    """
    chunks = []
    try:
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break  # a writer still holds it (the run was killed): take what is there
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    status = RunStatus()
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            item = json.loads(line)
            if "started" in item:
                status.started = True
            if isinstance(item.get("exit"), int):
                status.exit = item["exit"]
            if isinstance(item.get("setup_failed"), str):
                status.setup_failed = item["setup_failed"]
    return status
