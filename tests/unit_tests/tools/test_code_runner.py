"""run_python with real child processes: limits, isolation and cleanup."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage

from kimi_graph.tools import PythonRunnerTool, code_runner, make_run_python, run_python
from kimi_graph.tools._bwrap import bwrap_problem

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="run_python needs POSIX"),
]

needs_bwrap = pytest.mark.skipif(
    bwrap_problem() is not None, reason=f"no bubblewrap sandbox here: {bwrap_problem()}"
)
ISOLATIONS = [pytest.param("bubblewrap", marks=needs_bwrap), "rlimits"]

RUNNER = make_run_python(timeout=5.0, memory_mb=256, max_output_chars=2_000)
WEAK = make_run_python(timeout=5.0, memory_mb=256, max_output_chars=2_000, isolation="rlimits")
"""The explicit opt-in to the weaker containment (no bubblewrap)."""


def _runner(isolation: str) -> PythonRunnerTool:
    return RUNNER if isolation == "bubblewrap" else WEAK


def _body(out: str) -> str:
    """The result without the note that labels the weaker isolation."""
    return "\n".join(line for line in out.splitlines() if "weaker isolation" not in line)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_dead(pids: list[int], within: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_normal_output(isolation: str) -> None:
    out = _body(
        _runner(isolation).invoke({"code": "import math\nprint(math.factorial(20))\nprint('done')"})
    )
    assert out == "Exit status: 0\n--- stdout ---\n2432902008176640000\ndone"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_no_output(isolation: str) -> None:
    assert _body(_runner(isolation).invoke({"code": "x = 1"})) == "Exit status: 0\n(no output)"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_exception_gives_traceback(isolation: str) -> None:
    out = _body(
        _runner(isolation).invoke({"code": "print('before')\ndef f():\n    return 1 / 0\nf()"})
    )
    assert out.startswith("Exit status: 1\n--- stdout ---\nbefore\n--- stderr ---\nTraceback")
    assert 'main.py", line 3, in f' in out
    assert out.endswith("ZeroDivisionError: division by zero")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_sys_exit_code_and_stderr(isolation: str) -> None:
    out = _body(
        _runner(isolation).invoke(
            {"code": "import sys\nsys.stderr.write('bad input\\n')\nsys.exit(3)"}
        )
    )
    assert out == "Exit status: 3\n--- stderr ---\nbad input"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_infinite_loop_is_killed_at_the_timeout(isolation: str) -> None:
    tool = make_run_python(isolation=isolation, timeout=1.0)
    start = time.monotonic()
    out = tool.invoke({"code": "print('started', flush=True)\nwhile True:\n    pass"})
    elapsed = time.monotonic() - start
    assert 0.9 < elapsed < 3.0
    assert out.startswith("Exit status: -9\nNote: timed out after 1s; the process was killed")
    assert "started" in out  # output written before the kill is kept


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_sleeping_program_is_killed_at_the_timeout(isolation: str) -> None:
    start = time.monotonic()
    out = make_run_python(isolation=isolation, timeout=0.5).invoke(
        {"code": "import time\ntime.sleep(30)"}
    )
    assert time.monotonic() - start < 2.5
    assert "timed out after 0.5s" in out


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_memory_bomb_is_refused(isolation: str) -> None:
    tool = make_run_python(isolation=isolation, memory_mb=128)
    out = tool.invoke({"code": "blocks = [bytearray(64 * 1024 * 1024) for _ in range(8)]"})
    assert out.startswith("Exit status: 1\nNote: memory limit of 128 MiB reached (MemoryError)")
    assert out.endswith("MemoryError")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_memory_bomb_single_allocation(isolation: str) -> None:
    out = _runner(isolation).invoke({"code": "s = 'x' * (4 * 1024 ** 3)"})
    assert "memory limit of 256 MiB reached" in out


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_output_flood_is_clipped(isolation: str) -> None:
    code = "import sys\nsys.stdout.write('START' + 'x' * 3_000_000 + 'END')"
    start = time.monotonic()
    out = make_run_python(isolation=isolation, max_output_chars=1_000).invoke({"code": code})
    assert time.monotonic() - start < 5
    assert "Note: stdout clipped: kept the first and last 500 of 3000008 bytes" in out
    assert "[... 2999008 bytes clipped ...]" in out
    assert "START" in out and out.endswith("END")
    assert len(out) < 1_300


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_stderr_flood_keeps_the_end_of_a_traceback(isolation: str) -> None:
    code = (
        "import sys\n"
        "for i in range(20000):\n"
        "    print('warning', i, file=sys.stderr)\n"
        "raise KeyError('the real error')"
    )
    out = make_run_python(isolation=isolation, max_output_chars=600).invoke({"code": code})
    assert "stderr clipped" in out
    assert out.endswith("KeyError: 'the real error'")


def test_fork_bomb_is_bounded_and_cleaned_up() -> None:
    # A bounded "bomb": 20 children that would sleep far past the timeout.
    code = (
        "import os, time\n"
        "pids = []\n"
        "for _ in range(20):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "print('pids', *pids, flush=True)\n"
        "time.sleep(60)\n"
    )
    out = make_run_python(timeout=1.5, isolation="rlimits").invoke({"code": code})
    assert "timed out after 1.5s" in out
    pids = [int(p) for p in re.search(r"pids ([\d ]+)", out).group(1).split()]
    assert len(pids) == 20
    assert _wait_dead(pids) == []


def test_background_child_does_not_outlive_the_run() -> None:
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid)\n"
    )
    start = time.monotonic()
    out = WEAK.invoke({"code": code})
    assert time.monotonic() - start < 3  # did not wait for the child's 60 s
    pid = int(out.splitlines()[-1])
    assert _wait_dead([pid]) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="the kernel does not apply RLIMIT_NPROC to root")
def test_process_limit_stops_forking() -> None:
    code = (
        "import os, time\n"
        "made = 0\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5)\n"
        "            os._exit(0)\n"
        "        made += 1\n"
        "except OSError as e:\n"
        "    print('refused after', made, type(e).__name__)\n"
    )
    out = make_run_python(timeout=3.0, max_processes=8, isolation="rlimits").invoke({"code": code})
    match = re.search(r"refused after (\d+) BlockingIOError", out)
    assert match, out
    assert int(match.group(1)) <= 8


def test_limits_are_applied_in_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend not to be root so RLIMIT_NPROC is computed and set (root ignores it).
    monkeypatch.setattr(code_runner, "_is_root", lambda: False)
    code = (
        "import resource as r\n"
        "for name in ['RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_CORE', 'RLIMIT_NPROC']:\n"
        "    print(name, *r.getrlimit(getattr(r, name)))\n"
    )
    out = make_run_python(
        timeout=2.0, memory_mb=100, file_size_mb=3, max_processes=8, isolation="rlimits"
    ).invoke({"code": code})
    limits = {
        line.split()[0]: tuple(int(v) for v in line.split()[1:])
        for line in out.split("--- stdout ---\n")[1].splitlines()
    }
    assert limits["RLIMIT_AS"] == (100 * 1024 * 1024,) * 2
    assert limits["RLIMIT_CPU"] == (3, 4)
    assert limits["RLIMIT_FSIZE"] == (3 * 1024 * 1024,) * 2
    assert limits["RLIMIT_CORE"] == (0, 0)
    nproc_soft, nproc_hard = limits["RLIMIT_NPROC"]
    assert nproc_soft == nproc_hard
    assert 8 < nproc_soft < 100_000


@pytest.mark.parametrize("tool", [RUNNER, WEAK], ids=["bubblewrap", "rlimits"])
def test_secrets_are_not_inherited(monkeypatch: pytest.MonkeyPatch, tool: PythonRunnerTool) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("PYTHONSTARTUP", "/nonexistent/evil.py")
    code = "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))"
    out = tool.invoke({"code": code})
    assert "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\nNone" in out
    assert "secret" not in out


def test_runs_in_a_fresh_temp_dir_that_is_removed() -> None:
    code = (
        "import os, pathlib\n"
        "print(os.getcwd())\n"
        "print(os.environ['HOME'] == os.getcwd())\n"
        "print(sorted(os.listdir('.')))\n"
        "pathlib.Path('sub/deeper').mkdir(parents=True)\n"
        "pathlib.Path('sub/deeper/f.txt').write_text('data')\n"
        "os.chmod('sub', 0o500)\n"
    )
    out = WEAK.invoke({"code": code})
    cwd, same_home, listing = out.split("--- stdout ---\n")[1].splitlines()
    assert Path(cwd).parent == Path(tempfile.gettempdir())
    assert Path(cwd).name.startswith("kimi-run-")
    assert same_home == "True"
    assert listing == "['main.py']"
    assert not Path(cwd).exists()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_file_size_limit(isolation: str) -> None:
    code = "with open('huge.bin', 'wb') as f:\n    f.write(b'0' * (5 * 1024 * 1024))"
    out = make_run_python(isolation=isolation, file_size_mb=1).invoke({"code": code})
    assert "Note: file size limit of 1 MiB reached" in out
    assert "OSError: [Errno 27] File too large" in out


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_stdin_is_closed(isolation: str) -> None:
    out = _runner(isolation).invoke({"code": "input('name? ')"})
    assert out.endswith("EOFError: EOF when reading a line")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_isolated_mode_ignores_cwd_modules(isolation: str) -> None:
    code = (
        "import pathlib\n"
        "pathlib.Path('json.py').write_text('raise SystemExit(9)')\n"
        "import json\n"
        "print('ok')"
    )
    assert _runner(isolation).invoke({"code": code}).endswith("ok")


def test_invalid_arguments() -> None:
    assert run_python.invoke({"code": ""}).startswith("Error: invalid arguments (code:")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_tool_call_returns_tool_message(isolation: str) -> None:
    call = {"name": "run_python", "args": {"code": "print(1)"}, "id": "c1", "type": "tool_call"}
    message = _runner(isolation).invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "success"
    assert _body(message.content) == "Exit status: 0\n--- stdout ---\n1"


def test_missing_interpreter_is_an_error_string() -> None:
    tool = PythonRunnerTool(python="/nonexistent/python3")
    assert tool.invoke({"code": "print(1)"}).startswith(
        "Error: run_python could not start the interpreter"
    )


def test_description_states_the_limits() -> None:
    tool = make_run_python(timeout=7.5, memory_mb=300)
    assert "7.5 s wall time, 300 MiB memory, 16 MiB per written file" in tool.description
    assert "10 s wall time, 256 MiB memory" in run_python.description


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_async_run_does_not_block_the_loop(isolation: str) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        out = await _runner(isolation).ainvoke(
            {"code": "import time\ntime.sleep(0.5)\nprint('slept')"}
        )
    finally:
        task.cancel()
    assert out.endswith("slept")
    assert ticks >= 10


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_async_timeout_and_concurrency(isolation: str) -> None:
    tool = make_run_python(isolation=isolation, timeout=0.5)
    results = await asyncio.gather(
        tool.ainvoke({"code": "while True: pass"}),
        tool.ainvoke({"code": "print('quick')"}),
    )
    assert "timed out after 0.5s" in results[0]
    assert results[1].endswith("quick")


needs_netns = pytest.mark.skipif(
    not code_runner._network_namespace_available(),
    reason="this host allows no unprivileged network namespaces",
)


@needs_netns
def test_network_is_isolated() -> None:
    # A server on the host's loopback: reachable from here, not from the sandbox.
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('CONNECTED')\n"
            "except OSError as e:\n"
            "    print('REFUSED', type(e).__name__)\n"
        )
        out = make_run_python(isolation="rlimits").invoke({"code": code})
    assert "REFUSED" in out
    assert "CONNECTED" not in out
    assert "not isolated" not in out


@needs_netns
def test_network_isolation_can_be_turned_off() -> None:
    with_net = make_run_python(isolate_network=False, isolation="rlimits")
    out = with_net.invoke({"code": "import socket; print(socket.gethostname() != '')"})
    assert "True" in out
