"""`run_python`: run a Python program in a sandbox with resource limits.

By default (``isolation="bubblewrap"``) each run gets a bubblewrap sandbox of its
own (see `kimi_graph.tools._bwrap` for what is and is not in it): own PID, mount,
network, IPC and user namespaces, uid 65534 without capabilities (on the host too
when the agent is root: `kimi_graph.tools._hostuser`), no keyring calls, only
``/usr`` and the interpreter read-only, a size-limited private ``/tmp`` as its
working directory. The limits below are set inside it; when the run ends or times
out the whole sandbox dies with it, children that called ``setsid()`` included.
When ``bwrap`` is missing or refused by the kernel, the tool refuses to run and
says so. The program's own exit status comes from the sandbox's init on a channel
the program cannot write (`kimi_graph.tools._runstatus`), and at most
`DEFAULT_MAX_SANDBOXES` runs are sandboxed at once (`set_max_concurrent_sandboxes`).

Limits: per process (`resource.setrlimit`: address space, CPU, file size, open
files, processes), the size of its ``/tmp``, the wall-clock kill, and where a
cgroup can be made (`kimi_graph.tools._cgroup`) one process and memory limit for
the whole run (``max_processes`` + 3 tasks, ``memory_mb + tmp_mb`` MiB). Where none
can be made the result says so: memory is then bounded per process only.

``isolation="rlimits"`` is an explicit opt-in to the older, weaker containment,
and every result of such a tool says so. How one run is contained there:

- a fresh temporary working directory (also ``HOME`` and ``TMPDIR``), deleted
  after the run;
- an environment built from a small allow-list (``PATH``, ``LANG``, ``LC_ALL``,
  ``HOME``, ``TMPDIR``), so API keys and tokens of the parent are not inherited;
  the interpreter runs in isolated mode (``-I``: no ``PYTHON*`` variables, no user
  site-packages);
- stdin is ``/dev/null``;
- limits set with `resource.setrlimit` by a small wrapper that then ``exec``s the
  program (no ``preexec_fn``, which is unsafe in threaded parents): address space
  (memory), CPU seconds, size of written files, open files, no core dumps, and
  processes/threads of the user (`RLIMIT_NPROC`, which the kernel does not apply
  to root);
- a wall-clock timeout after which the whole process group is killed; the group
  is also killed when the program exits, so background children do not survive
  it;
- stdout and stderr are read continuously, but only the first and last
  ``max_output_chars / 2`` bytes of each are kept.

- no network, where the system allows unprivileged namespaces: the program runs
  under ``unshare -rn`` in a network namespace of its own, whose only interface is
  a loopback that is down (``isolate_network=True``, the default; where ``unshare``
  is missing or refused, the run goes on with the host's network and its result
  says so).

Not contained there: reads of files the host user can read, signals to the host
user's processes. A process that starts its own session (``setsid``) leaves the
process group and is not killed. In both modes this is a process sandbox, not a
VM: for untrusted code at scale, run it inside a container or VM as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from kimi_graph.modes._control_hook import on_abort
from kimi_graph.tools._bwrap import (
    COVERED_PROC_FILES,
    SANDBOX_HOME,
    bwrap_argv,
    bwrap_problem,
    interpreter_dirs,
)
from kimi_graph.tools._cgroup import RunCgroup
from kimi_graph.tools._errors import SandboxError, format_validation_error
from kimi_graph.tools._hostuser import host_launch
from kimi_graph.tools._runstatus import WRAPPER, Mode, RunStatus, read_status
from kimi_graph.tools._seccomp import keyring_filter
from kimi_graph.tools._slots import DEFAULT_MAX_SANDBOXES, sandbox_slots

__all__ = [
    "DEFAULT_MAX_SANDBOXES",
    "PythonRunnerTool",
    "RunPythonInput",
    "make_run_python",
    "run_python",
    "set_max_concurrent_sandboxes",
]

DEFAULT_TIMEOUT = 10.0
"""Wall-clock seconds before the process group is killed."""
DEFAULT_MEMORY_MB = 256
"""Address-space limit of the child, in MiB."""
DEFAULT_MAX_OUTPUT_CHARS = 10_000
"""Characters of stdout and of stderr kept (each)."""
DEFAULT_FILE_SIZE_MB = 16
"""Largest file the child may write, in MiB."""
DEFAULT_MAX_PROCESSES = 32
"""Extra processes/threads the child may create (not enforced for root)."""
DEFAULT_TMP_MB = 64
"""Size of the sandbox's private ``/tmp`` (its working directory), in MiB."""
MAX_CODE_CHARS = 100_000

Isolation = Literal["bubblewrap", "rlimits"]
"""``"bubblewrap"``: a sandbox of namespaces; ``"rlimits"``: limits only (weaker)."""

_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class RunPythonInput(BaseModel):
    """Arguments of `run_python`."""

    code: str = Field(
        description=(
            "A complete Python 3 program. Print what you want to see; the value of the "
            "last expression is not shown."
        ),
        min_length=1,
        max_length=MAX_CODE_CHARS,
    )


class PythonRunnerTool(BaseTool):
    """Run Python code in a subprocess with time, memory and output limits.

    See the module docstring for what is and is not contained.

    Instantiate:
        ```python
        from kimi_graph.tools import make_run_python

        runner = make_run_python(timeout=5.0, memory_mb=128)
        print(runner.invoke({"code": "print(2 ** 100)"}))
        ```
    """

    name: str = "run_python"
    description: str = (
        "Run a self-contained Python 3 program in a fresh sandboxed process and return "
        "its exit status, stdout and stderr. Use it for calculations, data processing "
        "and checking code. Print the results you need. Nothing persists between "
        "calls (variables, files); the working directory is a new empty temporary "
        "directory; there is no stdin and no network access. Limits: "
        "{timeout:g} s wall time, {memory} MiB memory, {files} MiB per written file; "
        "long output is clipped."
    )
    args_schema: type[BaseModel] = RunPythonInput
    handle_tool_error: bool = True
    handle_validation_error: Any = format_validation_error

    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    """Wall-clock seconds before the whole process group is killed."""
    memory_mb: int = Field(default=DEFAULT_MEMORY_MB, gt=0)
    """Address-space limit (`RLIMIT_AS`) in MiB."""
    max_output_chars: int = Field(default=DEFAULT_MAX_OUTPUT_CHARS, gt=0)
    """Characters kept of stdout and of stderr (each); the middle is clipped."""
    file_size_mb: int = Field(default=DEFAULT_FILE_SIZE_MB, ge=0)
    """Largest file the program may write (`RLIMIT_FSIZE`) in MiB."""
    max_processes: int = Field(default=DEFAULT_MAX_PROCESSES, ge=1)
    """Extra processes/threads the program may create (`RLIMIT_NPROC`)."""
    python: str = Field(default_factory=lambda: sys.executable)
    """The interpreter to run; by default the one running this code."""
    isolate_network: bool = True
    """With ``isolation="rlimits"``: a network namespace of its own, where possible."""
    isolation: Isolation = "bubblewrap"
    """How the run is contained; ``"rlimits"`` is the weaker opt-in, labelled in results."""
    tmp_mb: int = Field(default=DEFAULT_TMP_MB, gt=0)
    """Size of the sandbox's private ``/tmp`` (and ``/dev/shm``) in MiB."""

    def model_post_init(self, context: Any, /) -> None:
        """Fill the limits into the description the model sees."""
        super().model_post_init(context)
        if "{timeout" in self.description:
            self.description = self.description.format(
                timeout=self.timeout, memory=self.memory_mb, files=self.file_size_mb
            )

    def _run(self, code: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        return self.execute(code).render(self)

    async def _arun(
        self, code: str, run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> str:
        # The run is supervised in a worker thread; if this task is cancelled, the
        # thread still kills the child at the timeout and removes the directory.
        result = await asyncio.to_thread(self.execute, code)
        return result.render(self)

    def execute(self, code: str) -> RunResult:
        """Run ``code`` and collect its result.

        Args:
            code: The Python program.

        Returns:
            The exit status, captured output and what, if anything, stopped it.

        Raises:
            SandboxError: If the sandbox cannot be set up (bubblewrap missing or
                refused, interpreter not found) or the child cannot be started.
        """
        if os.name != "posix":
            msg = "Error: run_python is only available on POSIX systems (Linux, macOS)."
            raise SandboxError(msg)
        python = shutil.which(self.python)
        if python is None:  # the sandbox would only say so on stderr
            msg = f"Error: run_python could not start the interpreter: {self.python} not found"
            raise SandboxError(msg)
        with sandbox_slots.hold(self.timeout) as held:
            if not held:
                msg = (
                    f"Error: run_python refused to run the program: {sandbox_slots.limit} "
                    f"sandboxes are already running in this process and none finished within "
                    f"{self.timeout:g}s. Wait for earlier runs, or run fewer programs at once."
                )
                raise SandboxError(msg)
            if self.isolation == "bubblewrap":
                return self._execute_bwrap(code, os.path.abspath(python))
            return self._execute_rlimits(code)

    def _execute_bwrap(self, code: str, python: str) -> RunResult:
        problem = bwrap_problem()
        if problem is not None:
            msg = (
                f"Error: run_python refused to run the program: {problem}, so it cannot be "
                "sandboxed. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), "
                "or build the tool with isolation='rlimits' to accept weaker isolation."
            )
            raise SandboxError(msg)
        try:
            dirs = interpreter_dirs(python)
        except ValueError as e:
            msg = f"Error: run_python refused to run the program: {e}"
            raise SandboxError(msg) from e
        mib = 1024 * 1024
        cgroup: RunCgroup | None = None
        fds: list[int] = []
        status_fd = -1
        try:
            launch = host_launch(dirs)
            code_fd = _code_fd(code)
            fds.append(code_fd)
            seccomp = keyring_filter()
            seccomp_fd = _code_fd(seccomp) if seccomp is not None else None
            if seccomp_fd is not None:
                fds.append(seccomp_fd)
            blank_fds = tuple(_code_fd(b"") for _ in COVERED_PROC_FILES)
            fds += blank_fds
            status_fd, status_w = os.pipe()
            fds.append(status_w)
            inner = self._wrapper_args(f"{SANDBOX_HOME}/main.py", status_w, "spawn")
            argv = [
                *launch.prefix,
                *bwrap_argv(
                    python=python,
                    extra_dirs=dirs,
                    code_fd=code_fd,
                    tmp_bytes=self.tmp_mb * mib,
                    inner=inner,
                    sources=launch.sources,
                    seccomp_fd=seccomp_fd,
                    blank_fds=blank_fds,
                ),
            ]
            cgroup = RunCgroup.create(
                # the outer bwrap, the sandbox's init and the program, plus the extra
                max_pids=self.max_processes + 3,
                memory_bytes=(self.memory_mb + self.tmp_mb) * mib,
            )
            if cgroup is not None:
                argv = cgroup.launcher(argv)
            proc = self._start(argv, cwd="/", env=_minimal_env(SANDBOX_HOME), fds=tuple(fds))
            _close_all(fds)
            result = self._supervise(proc)
            result.oom_kills = cgroup.oom_kills() if cgroup is not None else 0
            result.status = read_status(status_fd)
            status_fd = -1
        except ValueError as e:  # bwrap removed since the probe, or no way to drop root
            msg = f"Error: run_python refused to run the program: {e}"
            raise SandboxError(msg) from e
        finally:
            _close_all(fds)
            if status_fd >= 0:
                os.close(status_fd)
            if cgroup is not None:
                cgroup.close()
        result.whole_run_limits = cgroup is not None
        result.keyring_filtered = seccomp_fd is not None
        return self._judge(result)

    def _execute_rlimits(self, code: str) -> RunResult:
        workdir = tempfile.mkdtemp(prefix="kimi-run-")
        status_fd, status_w = os.pipe()
        try:
            script = Path(workdir, "main.py")
            script.write_text(code, encoding="utf-8")
            argv = [self.python, *self._wrapper_args(str(script), status_w, "exec")]
            if self.isolate_network and _network_namespace_available():
                argv = [_UNSHARE, "-rn", "--", *argv]
            try:
                proc = self._start(argv, cwd=workdir, env=_minimal_env(workdir), fds=(status_w,))
            finally:
                os.close(status_w)
            result = self._supervise(proc)
            result.status = read_status(status_fd)
            status_fd = -1
            if result.status.started:  # the wrapper became the program: its exit is the program's
                result.status.exit = result.returncode
            return self._judge(result)
        finally:
            if status_fd >= 0:
                os.close(status_fd)
            _remove_tree(workdir)

    def _wrapper_args(self, program: str, status_fd: int, mode: Mode) -> list[str]:
        return ["-I", "-c", WRAPPER, json.dumps(self._limits()), program, str(status_fd), mode]

    def _judge(self, result: RunResult) -> RunResult:
        """Take the program's exit from the wrapper's channel, or name a sandbox failure."""
        status = result.status
        if status.setup_failed is not None:
            msg = f"Error: run_python could not apply its limits: {status.setup_failed}"
            raise SandboxError(msg)
        if status.exit is not None:
            result.returncode = status.exit
        elif not status.started and not result.timed_out:
            detail = result.stderr.text().strip() or f"exit status {result.returncode}"
            msg = f"Error: run_python could not set up the sandbox: {detail}"
            raise SandboxError(msg)
        return result

    def _start(
        self, argv: list[str], *, cwd: str, env: dict[str, str], fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                pass_fds=fds,
            )
        except OSError as e:
            msg = f"Error: run_python could not start the interpreter: {e}"
            raise SandboxError(msg) from e

    def _supervise(self, proc: subprocess.Popen[bytes]) -> RunResult:
        try:
            # an aborted swarm sub-agent kills its program at once (not at the timeout)
            with on_abort(lambda: _kill_group(proc.pid)):
                return _supervise(proc, self.timeout, self.max_output_chars)
        except BaseException:  # e.g. KeyboardInterrupt: never leave the child running
            _kill_group(proc.pid)
            proc.wait()
            raise

    def _limits(self) -> dict[str, tuple[int, int]]:
        mib = 1024 * 1024
        cpu = math.ceil(self.timeout) + 1
        limits = {
            "RLIMIT_AS": (self.memory_mb * mib, self.memory_mb * mib),
            "RLIMIT_CPU": (cpu, cpu + 1),
            "RLIMIT_FSIZE": (self.file_size_mb * mib, self.file_size_mb * mib),
            "RLIMIT_NOFILE": (256, 256),
            "RLIMIT_CORE": (0, 0),
        }
        if self.isolation == "bubblewrap":
            # Counted per user namespace: the sandbox's init and the program, plus the extra.
            limits["RLIMIT_NPROC"] = (self.max_processes + 2, self.max_processes + 2)
            return limits
        nproc = _current_task_count()
        if nproc is not None:
            limit = nproc + self.max_processes
            limits["RLIMIT_NPROC"] = (limit, limit)
        return limits


@dataclass
class _Capture:
    """Keep the first and last ``limit / 2`` bytes of a stream and count the rest."""

    limit: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            keep = self.limit - self.limit // 2
            if len(self.tail) > keep:
                del self.tail[: len(self.tail) - keep]

    @property
    def clipped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.clipped:
            return f"{head}\n[... {self.clipped} bytes clipped ...]\n{tail}"
        return head + tail


@dataclass
class RunResult:
    """What one `run_python` call produced."""

    returncode: int
    stdout: _Capture
    stderr: _Capture
    timed_out: bool
    elapsed: float
    whole_run_limits: bool | None = None
    """Bubblewrap runs: whether a cgroup held the process and memory limits as a whole."""
    oom_kills: int = 0
    """Processes killed for going over the whole run's memory limit (cgroup)."""
    status: RunStatus = field(default_factory=RunStatus)
    """What the wrapper reported on its private channel."""
    keyring_filtered: bool | None = None
    """Bubblewrap runs: whether the seccomp filter refusing the keyring calls was loaded."""

    def notes(self, tool: PythonRunnerTool) -> list[str]:
        """Explain why the program stopped and what was clipped."""
        notes = []
        err = bytes(self.stderr.head + self.stderr.tail)
        if self.oom_kills:
            notes.append(
                f"memory limit of the whole run ({tool.memory_mb + tool.tmp_mb} MiB) reached: "
                f"the kernel killed {self.oom_kills} process(es)"
            )
        if self.timed_out:
            notes.append(f"timed out after {tool.timeout:g}s; the process was killed")
        elif self.status.exit is None:
            notes.append(
                f"the sandbox stopped (status {self.returncode}) before the program's own exit "
                "status was known"
            )
        elif self.returncode < 0 and not (self.oom_kills and self.returncode == -signal.SIGKILL):
            notes.append(_signal_note(-self.returncode, tool))
        elif self.returncode != 0 and b"MemoryError" in err:
            notes.append(f"memory limit of {tool.memory_mb} MiB reached (MemoryError)")
        if b"[Errno 27]" in err or b"File too large" in err:
            notes.append(f"file size limit of {tool.file_size_mb} MiB reached")
        for name, capture in (("stdout", self.stdout), ("stderr", self.stderr)):
            if capture.clipped:
                notes.append(
                    f"{name} clipped: kept the first and last {capture.limit // 2} of "
                    f"{capture.total} bytes"
                )
        if self.whole_run_limits is False:
            notes.append("no cgroup could be made here: memory is limited per process")
        if self.keyring_filtered is False:
            notes.append("no seccomp filter for this architecture: the keyring calls are allowed")
        if tool.isolation == "rlimits":
            notes.append(
                "weaker isolation (isolation='rlimits'): no sandbox; the program could read "
                "the host user's files and signal its processes"
            )
            if tool.isolate_network and not _network_namespace_available():
                notes.append("the network was not isolated (no network namespaces on this host)")
        return notes

    def render(self, tool: PythonRunnerTool) -> str:
        """Format the result for the model."""
        lines = [f"Exit status: {self.returncode}"]
        lines += [f"Note: {note}" for note in self.notes(tool)]
        out, err = self.stdout.text(), self.stderr.text()
        if out:
            lines += ["--- stdout ---", out.rstrip("\n")]
        if err:
            lines += ["--- stderr ---", err.rstrip("\n")]
        if not out and not err:
            lines.append("(no output)")
        return "\n".join(lines)


def make_run_python(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    file_size_mb: int = DEFAULT_FILE_SIZE_MB,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    isolate_network: bool = True,
    isolation: Isolation = "bubblewrap",
    tmp_mb: int = DEFAULT_TMP_MB,
) -> PythonRunnerTool:
    """Build a `run_python` tool with its own limits.

    Args:
        timeout: Wall-clock seconds before the process group is killed; CPU time is
            limited to about the same.
        memory_mb: Address-space limit of the program in MiB.
        max_output_chars: Characters kept of stdout and of stderr (each).
        file_size_mb: Largest file the program may write, in MiB.
        max_processes: Extra processes/threads the program may create (with
            ``isolation="rlimits"``, not enforced when running as root).
        isolate_network: With ``isolation="rlimits"``: run without network (a
            network namespace of its own) where the host allows it.
        isolation: ``"bubblewrap"`` (default): a sandbox of its own, refused with
            an error where bubblewrap is missing; ``"rlimits"``: the explicit,
            weaker opt-in (limits only), labelled as such in every result.
        tmp_mb: Size of the sandbox's private ``/tmp`` in MiB (bubblewrap only).

    Returns:
        A configured `PythonRunnerTool` named ``"run_python"``.
    """
    return PythonRunnerTool(
        timeout=timeout,
        memory_mb=memory_mb,
        max_output_chars=max_output_chars,
        file_size_mb=file_size_mb,
        max_processes=max_processes,
        isolate_network=isolate_network,
        isolation=isolation,
        tmp_mb=tmp_mb,
    )


run_python = make_run_python()
"""The default `run_python` tool: 10 s, 256 MiB, 10,000 characters of output."""


# -- helpers ----------------------------------------------------------------------


_UNSHARE = shutil.which("unshare") or "unshare"


@functools.lru_cache(maxsize=1)
def _network_namespace_available() -> bool:
    """Whether `unshare -rn` works here (user and network namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    try:
        probe = subprocess.run(
            [_UNSHARE, "-rn", "--", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def set_max_concurrent_sandboxes(limit: int) -> None:
    """Set how many `run_python` sandboxes may run at once in this process.

    Runs over the cap wait for a free slot for up to their own time-out, then are
    refused with a message saying why. The default is `DEFAULT_MAX_SANDBOXES`.

    Args:
        limit: Sandboxes allowed at once (at least 1).

    Raises:
        ValueError: If ``limit`` is below 1.
    """
    sandbox_slots.set_limit(limit)


def _close_all(fds: list[int]) -> None:
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())


def _code_fd(code: str | bytes) -> int:
    """An anonymous in-memory file holding ``code``, positioned at its start."""
    fd = os.memfd_create("kimi-run-main.py", 0)  # no MFD_CLOEXEC: passed to bwrap
    try:
        data = code.encode("utf-8") if isinstance(code, str) else code
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _minimal_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": _SAFE_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _is_root() -> bool:
    return os.geteuid() == 0


def _current_task_count() -> int | None:
    """Count the tasks (processes and threads) of this user, as `RLIMIT_NPROC` does."""
    if _is_root() or not Path("/proc/self/task").is_dir():
        return None  # root ignores RLIMIT_NPROC; elsewhere there is no cheap count
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Check for exit without reaping, so the process group id stays reserved."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return proc.poll() is not None
    try:
        info = waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _supervise(proc: subprocess.Popen[bytes], timeout: float, max_chars: int) -> RunResult:
    start = time.monotonic()
    deadline = start + timeout
    captures: dict[int, _Capture] = {}
    streams: list[IO[bytes]] = [s for s in (proc.stdout, proc.stderr) if s is not None]
    timed_out = False
    exited = False
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            os.set_blocking(stream.fileno(), False)
            selector.register(stream.fileno(), selectors.EVENT_READ)
            captures[stream.fileno()] = _Capture(max_chars)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not exited:
                timed_out = True
                _kill_group(proc.pid)
                exited = True
                # Give the pipes a moment to deliver what was written before the kill.
                deadline = time.monotonic() + 0.5
                continue
            if remaining <= 0:
                break  # a process outside the group still holds the pipes
            if not exited and _has_exited(proc):
                exited = True
                _kill_group(proc.pid)  # background children must not outlive the run
            for key, _ in selector.select(timeout=min(max(remaining, 0), 0.05)):
                fd = int(key.fd)
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    captures[fd].add(data)
                else:
                    selector.unregister(fd)
    # The pipes are closed; wait for the exit itself (a program may close them early).
    while not exited:
        if _has_exited(proc):
            exited = True
        elif time.monotonic() >= deadline:
            timed_out = exited = True
        else:
            time.sleep(0.02)
    # Not reaped yet, so the group id is still ours: kill stragglers or the timed-out run.
    _kill_group(proc.pid)
    returncode = proc.wait()
    for stream in streams:
        stream.close()
    stdout, stderr = captures.values()
    return RunResult(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        elapsed=time.monotonic() - start,
    )


def _signal_note(signum: int, tool: PythonRunnerTool) -> str:
    name = _signal_name(signum)
    if signum == getattr(signal, "SIGXCPU", None):
        return f"killed by {name}: CPU time limit reached"
    if signum == getattr(signal, "SIGXFSZ", None):
        return f"killed by {name}: file size limit of {tool.file_size_mb} MiB reached"
    if signum == signal.SIGKILL:
        return f"killed by {name} (possibly out of memory; the limit is {tool.memory_mb} MiB)"
    if signum == signal.SIGSEGV:
        return f"crashed with {name} (possibly the memory limit of {tool.memory_mb} MiB)"
    return f"killed by {name}"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _remove_tree(path: str) -> None:
    """Delete the working directory even if the program made parts of it read-only."""
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                Path(root, name).chmod(0o700)
    shutil.rmtree(path, ignore_errors=True)
