"""Shared helpers of the benchmarks in ``tools/``: an out-of-process emulator, timing, tables.

Not a benchmark itself; ``bench_chat.py`` and ``bench_agent.py`` import it (``tools/`` is on
``sys.path`` when either script runs).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
"""The repository root; put on ``sys.path`` so ``kimi_graph`` imports without installing it."""
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 1.05
"""ChatKimi (or the Kimi agent graph) may cost at most 5% more than the baseline."""

_SERVER_CODE = """
import os, sys
cpu = int(sys.argv[1])
latency = float(sys.argv[2])
if cpu >= 0 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {cpu})
from kimi_graph.emulator import EmulatorConfig, serve
serve(
    EmulatorConfig(host="127.0.0.1", port=0, latency=latency, token_delay=0.0),
    on_ready=lambda url: print(url, flush=True),
)
"""


def _cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


class EmulatorProcess:
    """The K2.5 emulator in a child process, so that its CPU is not the client's.

    With ``pin=True`` and at least two CPUs, the server runs on the last CPU and this
    (client) process on the others, so the two never compete for a core.
    """

    def __init__(self, *, pin: bool = True, latency: float = 0.0) -> None:
        cpus = _cpus()
        self.latency = latency
        self.pinned = pin and len(cpus) >= 2 and hasattr(os, "sched_setaffinity")
        self._server_cpu = cpus[-1] if self.pinned else -1
        self._client_cpus = set(cpus[:-1]) if self.pinned else set(cpus)
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        """The server process's id (for its CPU time, see `cpu_seconds`)."""
        if self._proc is None:
            msg = "the emulator is not running"
            raise RuntimeError(msg)
        return self._proc.pid

    def base_url(self, dialect: str) -> str:
        """OpenAI ``base_url`` of one dialect, e.g. ``http://127.0.0.1:PORT/vllm/v1``."""
        return f"{self.url}/{dialect}/v1"

    def __enter__(self) -> EmulatorProcess:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CODE, str(self._server_cpu), str(self.latency)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the emulator did not start (said {line!r})")
        self.url = line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_emulator/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise
                time.sleep(0.05)
        if self.pinned:
            os.sched_setaffinity(0, self._client_cpus)
        return self

    def requests(self) -> list[dict]:
        """The server's request log (see `kimi_graph.emulator.RequestRecord`)."""
        with urllib.request.urlopen(f"{self.url}/_emulator/requests", timeout=30) as resp:
            return json.loads(resp.read())

    def clear_requests(self) -> None:
        """Empty the server's request log (it grows with every call)."""
        req = urllib.request.Request(f"{self.url}/_emulator/requests", method="DELETE")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, its live descendants and its reaped children (Linux /proc)."""
    total, todo, seen = 0.0, [pid], set()
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        one = todo.pop()
        if one in seen:
            continue
        seen.add(one)
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{one}/task/{one}/children").read_text().split()
        except OSError:
            continue  # ended meanwhile
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        todo += [int(c) for c in children]
    return total


@dataclass
class Samples:
    """Repeated measurements of one (mode, client) cell, per call.

    Attributes:
        wall: Wall-clock milliseconds per call, one value per repeat.
        cpu: Client-process CPU milliseconds per call, one value per repeat.
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall_s: float, cpu_s: float, calls: int) -> None:
        """Record one repeat of ``calls`` calls that took ``wall_s``/``cpu_s`` seconds."""
        self.wall.append(1000.0 * wall_s / calls)
        self.cpu.append(1000.0 * cpu_s / calls)

    @property
    def wall_ms(self) -> float:
        """Median wall milliseconds per call."""
        return statistics.median(self.wall)

    @property
    def cpu_ms(self) -> float:
        """Median client CPU milliseconds per call."""
        return statistics.median(self.cpu)


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of per-repeat ratios: robust to the machine drifting between repeats."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def ratio_range(numerator: Sequence[float], denominator: Sequence[float]) -> str:
    """Lowest and highest per-repeat ratio, e.g. ``0.97-1.08``: how noisy the median is."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


class Timer:
    """Wall (``perf_counter``) and client CPU (``process_time``) time of a block."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def rotate(items: Sequence[str], shift: int) -> list[str]:
    """``items`` rotated by ``shift``, so that no client always runs first in a repeat."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def environment(pinned: bool) -> str:
    """One line about the machine and the versions measured."""
    from importlib.metadata import version

    pkgs = ("openai", "httpx", "langchain-core", "langchain-openai", "langgraph", "langchain")
    versions = []
    for name in pkgs:
        try:
            versions.append(f"{name} {version(name)}")
        except Exception:  # a missing package is just not listed
            continue
    where = "emulator and client pinned to separate CPUs" if pinned else "no CPU pinning"
    return (
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({where}, {load()}); " + ", ".join(versions)
    )


def load() -> str:
    """The 1-minute load average: above ~1 on two CPUs, something else competes for them."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    return f"load average {os.getloadavg()[0]:.2f}"
