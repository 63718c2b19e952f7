"""run_python's bubblewrap sandbox, tried as an attacker would.

Each test runs a real program in the real sandbox and checks from the host that the
escape did not happen. Probes stay on this machine: the network tests listen on the
host's loopback and on a UNIX socket in a temp dir, and check the sandbox cannot
reach them. Bombs run only inside the tool's limits, under pytest's outer timeout.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_graph.tools import _bwrap as bwrap
from kimi_graph.tools import make_run_python
from kimi_graph.tools._cgroup import RunCgroup

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        bwrap.bwrap_problem() is not None,
        reason=f"no bubblewrap sandbox here: {bwrap.bwrap_problem()}",
    ),
]

ROOT = Path(__file__).parents[3]
TOOL = make_run_python(timeout=5.0, max_output_chars=20_000)


def _stdout(out: str) -> str:
    assert "--- stdout ---\n" in out, out
    return out.split("--- stdout ---\n", 1)[1].split("\n--- stderr ---", 1)[0]


def _host_pids_with(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_none_with(marker: str, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := _host_pids_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _process_limit_holds() -> bool:
    """A cgroup can be made, or the kernel applies RLIMIT_NPROC (not the host's root)."""
    if os.geteuid() != 0:
        return True
    group = RunCgroup.create(max_pids=8, memory_bytes=64 * 1024 * 1024)
    if group is None:
        return False
    group.close()
    return True


needs_process_limit = pytest.mark.skipif(
    not _process_limit_holds(),
    reason="root without a writable cgroup: the process limit is not enforced (results say so)",
)


@pytest.fixture
def host_sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated host process the sandbox must not be able to signal."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def test_runs_as_an_unprivileged_user_without_capabilities() -> None:
    code = (
        "import os\n"
        "print(os.getuid(), os.getgid(), os.geteuid())\n"
        "caps = [l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm'))]\n"
        "print(*[l.split()[1] for l in caps])\n"
        "try:\n"
        "    os.unshare(os.CLONE_NEWUSER)\n"
        "    print('NEW USERNS')\n"
        "except (OSError, AttributeError) as e:\n"
        "    print('no userns', type(e).__name__)\n"
    )
    lines = _stdout(TOOL.invoke({"code": code})).splitlines()
    assert lines[0] == "65534 65534 65534"
    assert lines[1] == "0000000000000000 0000000000000000"
    assert lines[2].startswith("no userns")


def test_cannot_kill_or_stop_the_agent_or_host_processes(host_sleeper) -> None:
    me, other = os.getpid(), host_sleeper.pid
    code = (
        "import os, signal\n"
        "print('ppid', os.getppid())\n"
        f"for pid in (os.getppid(), {me}, {other}):\n"
        "    for sig in (signal.SIGSTOP, signal.SIGKILL):\n"
        "        try:\n"
        "            os.kill(pid, sig)\n"
        "            print('SIGNALLED', pid, sig)\n"
        "        except OSError as e:\n"
        "            print('refused', pid, type(e).__name__)\n"
        "print('visible', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)\n"  # everything it may signal: only its own sandbox
        "except OSError as e:\n"
        "    print('kill -1', type(e).__name__)\n"
    )
    out = TOOL.invoke({"code": code})
    # The agent (this process) is still running, and the host process too.
    assert host_sleeper.poll() is None
    assert "ppid 1" in out  # its parent is the sandbox's own init
    assert f"SIGNALLED {me}" not in out and f"SIGNALLED {other}" not in out
    assert f"refused {me} ProcessLookupError" in out
    assert f"refused {other} ProcessLookupError" in out
    visible = re.search(r"visible \[([\d, ]+)\]", out)
    assert visible, out
    assert all(int(pid) <= 10 for pid in visible.group(1).split(", "))  # its own PIDs only


def test_cannot_write_outside_its_tmp(tmp_path: Path) -> None:
    # (tmp_path is under the host's /tmp: inside, that path is in its own private /tmp)
    targets = ["/usr/kimi-escape", "/etc/kimi-escape", "/root/kimi-escape", "/kimi-escape"]
    targets += [str(ROOT / "kimi-escape"), sys.prefix + "/x", "/proc/kimi-escape"]
    code = (
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "        with open(path, 'w') as f:\n"
        "            f.write('pwned')\n"
        "        print('WROTE', path)\n"
        "    except OSError as e:\n"
        "        print('refused', path, type(e).__name__)\n"
        "open('/tmp/mine.txt', 'w').write('ok')\n"
        "print('own tmp', open('/tmp/mine.txt').read())\n"
    )
    out = TOOL.invoke({"code": code})
    assert "own tmp ok" in out
    for target in targets:
        # a checkout under the host's /tmp is, inside, a path in its own private /tmp
        if not target.startswith("/tmp/"):
            assert f"WROTE {target}" not in out
        assert not Path(target).exists(), target
    assert list(tmp_path.iterdir()) == []


def test_cannot_read_root_only_or_dotenv_files(tmp_path: Path) -> None:
    secret = f"sk-secret-{uuid.uuid4().hex}"
    env_file = tmp_path / ".env"
    env_file.write_text(f"MOONSHOT_API_KEY={secret}\n")
    env_file.chmod(0o600)
    root_only = tmp_path / "root-only.txt"
    root_only.write_text(secret)
    root_only.chmod(0o400)
    paths = [str(env_file), str(root_only), str(ROOT / ".env"), "/etc/shadow", "/etc/passwd"]
    paths += [str(Path.home() / ".bash_history"), "/proc/1/environ", f"/proc/{os.getpid()}/environ"]
    code = (
        "import os\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        print('READ', path, open(path, 'rb').read()[:200])\n"
        "    except OSError as e:\n"
        "        print('refused', path, type(e).__name__)\n"
        f"home = {str(Path.home())!r}\n"
        "print('home listing', os.path.isdir(home) and os.listdir(home))\n"
    )
    out = TOOL.invoke({"code": code})
    assert secret not in out
    for path in paths:
        if path != "/proc/1/environ":  # its own pid 1 is the sandbox's init: harmless
            assert f"refused {path}" in out, out
    listing = re.search(r"home listing (.*)", out).group(1)
    # The home dir exists only as the way to a mount point of the interpreter, if at all.
    home = Path.home().resolve()
    expected = {
        Path(d).relative_to(home).parts[0]
        for d in bwrap.interpreter_dirs(sys.executable)
        if home in Path(d).parents
    }
    assert listing == "False" or set(ast.literal_eval(listing)) == expected, listing


def test_no_network_and_no_host_unix_sockets(tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex
    with (
        socket.socket() as tcp,
        socket.socket(socket.AF_UNIX) as unix,
        socket.socket(socket.AF_UNIX) as abstract,
    ):
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        unix_path = str(tmp_path / "host.sock")
        unix.bind(unix_path)
        unix.listen()
        abstract.bind(f"\0kimi-test-{nonce}")
        abstract.listen()
        # reachable from the host itself
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        code = (
            "import socket\n"
            "print('interfaces', socket.if_nameindex())\n"
            "attempts = [\n"
            f"    (socket.AF_INET, ('127.0.0.1', {port})),\n"
            f"    (socket.AF_INET6, ('::1', {port})),\n"
            f"    (socket.AF_UNIX, {unix_path!r}),\n"
            f"    (socket.AF_UNIX, '\\0kimi-test-{nonce}'),\n"
            "    (socket.AF_UNIX, '/run/docker.sock'),\n"
            "    (socket.AF_UNIX, '/var/run/postgresql/.s.PGSQL.5432'),\n"
            "]\n"
            "for family, address in attempts:\n"
            "    s = socket.socket(family)\n"
            "    s.settimeout(2)\n"
            "    try:\n"
            "        s.connect(address)\n"
            "        print('CONNECTED', repr(address))\n"
            "    except OSError as e:\n"
            "        print('refused', repr(address), type(e).__name__)\n"
            "    finally:\n"
            "        s.close()\n"
        )
        out = TOOL.invoke({"code": code})
    assert "CONNECTED" not in out
    assert out.count("refused") == 6, out
    assert "interfaces [(1, 'lo')]" in out


def test_concurrent_runs_cannot_see_or_tamper_with_each_other() -> None:
    nonce = uuid.uuid4().hex
    victim = (
        "import time\n"
        f"open('/tmp/victim-{nonce}.txt', 'w').write('original')\n"
        "time.sleep(2.5)\n"
        f"print('victim sees', open('/tmp/victim-{nonce}.txt').read())\n"
    )
    attacker = (
        "import os, time\n"
        "time.sleep(0.8)\n"
        "hits = []\n"
        f"skip = {bwrap.interpreter_dirs(sys.executable)!r}\n"  # read-only, and large
        "for top in ('/tmp', '/proc', '/dev/shm'):\n"
        "    for root, dirs, files in os.walk(top):\n"
        "        if root in skip or (root.startswith('/proc/') and root.count('/') > 3):\n"
        "            dirs[:] = []\n"
        f"        hits += [os.path.join(root, f) for f in files if {nonce!r} in f]\n"
        "for hit in hits:\n"
        "    try:\n"
        "        open(hit, 'w').write('tampered')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('attacker found', hits)\n"
    )

    async def both() -> list[str]:
        return await asyncio.gather(
            TOOL.ainvoke({"code": victim}), TOOL.ainvoke({"code": attacker})
        )

    victim_out, attacker_out = asyncio.run(both())
    assert "victim sees original" in victim_out
    assert "attacker found []" in attacker_out


def test_setsid_children_die_with_the_run() -> None:
    marker = f"kimi-leftover-{uuid.uuid4().hex}"
    code = (
        "import os, subprocess, sys\n"
        "for _ in range(3):\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
        f"{marker!r}], start_new_session=True)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', "
        f"{marker!r}])\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('started')\n"
    )
    start = time.monotonic()
    out = TOOL.invoke({"code": code})
    assert "started" in out
    assert time.monotonic() - start < 4  # did not wait for the 60 s sleepers
    assert _wait_none_with(marker) == []


def test_everything_dies_at_the_timeout() -> None:
    marker = f"kimi-timeout-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', "
        f"{marker!r}], start_new_session=True)\n"
        "print('sleeping', flush=True)\n"
        "time.sleep(60)\n"
    )
    out = make_run_python(timeout=1.5).invoke({"code": code})
    assert "timed out after 1.5s" in out
    assert "sleeping" in out
    assert _wait_none_with(marker) == []


@needs_process_limit
def test_process_limit_holds_even_for_root() -> None:
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
    out = make_run_python(timeout=3.0, max_processes=8).invoke({"code": code})
    match = re.search(r"refused after (\d+) BlockingIOError", out)
    assert match, out
    assert int(match.group(1)) <= 8


@needs_process_limit
def test_fork_bomb_is_contained_and_cleaned_up() -> None:
    marker = f"kimi-bomb-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        f"MARK = {marker!r}\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    tool = make_run_python(timeout=2.0, max_processes=16)
    before = len(list(Path("/proc").glob("[0-9]*")))
    out = tool.invoke({"code": code})
    assert "timed out after 2s" in out
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        after = len(list(Path("/proc").glob("[0-9]*")))
        if after <= before + 5:
            break
        time.sleep(0.1)
    assert after <= before + 5, (before, after)


def test_memory_bomb_in_many_processes_is_bounded() -> None:
    code = (
        "import os\n"
        "for _ in range(4):\n"
        "    os.fork()\n"
        "try:\n"
        "    hog = bytearray(512 * 1024 * 1024)\n"
        "    print('ALLOCATED')\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    out = make_run_python(timeout=5.0, memory_mb=128, max_processes=32).invoke({"code": code})
    assert "ALLOCATED" not in out
    assert "refused" in out


def test_private_tmp_is_size_limited() -> None:
    code = (
        "import os\n"
        "written = 0\n"
        "try:\n"
        "    for i in range(100):\n"
        "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
        "            f.write(b'0' * (1024 * 1024))\n"
        "        written += 1\n"
        "except OSError as e:\n"
        "    print('stopped after', written, 'MiB', e.errno)\n"
    )
    out = make_run_python(tmp_mb=8, file_size_mb=2).invoke({"code": code})
    match = re.search(r"stopped after (\d+) MiB 28", out)  # ENOSPC
    assert match, out
    assert int(match.group(1)) <= 8


def test_sees_only_usr_and_the_interpreter() -> None:
    code = "import os\nprint(sorted(os.listdir('/')))\nprint(os.listdir('/tmp'))"
    out = _stdout(TOOL.invoke({"code": code})).splitlines()
    top = set(ast.literal_eval(out[0]))
    assert {"usr", "tmp", "proc", "dev"} <= top
    assert not top & {"etc", "home", "var", "run", "srv", "opt", "mnt", "boot"} - {
        Path(d).parts[1] for d in bwrap.interpreter_dirs(sys.executable)
    }
    # an interpreter installed under /tmp is mounted there too (read-only)
    under_tmp = {
        Path(d).parts[2] for d in bwrap.interpreter_dirs(sys.executable) if d.startswith("/tmp/")
    }
    assert set(ast.literal_eval(out[1])) == {"main.py", *under_tmp}


def test_refuses_when_bwrap_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    bwrap.bwrap_problem.cache_clear()
    try:
        out = TOOL.invoke({"code": "print('RAN')"})
        weak = make_run_python(isolation="rlimits").invoke({"code": "print('RAN')"})
    finally:
        monkeypatch.undo()
        bwrap.bwrap_problem.cache_clear()
    assert out.startswith("Error: run_python refused to run the program: bubblewrap (bwrap)")
    assert "apt-get install bubblewrap" in out and "isolation='rlimits'" in out
    assert "RAN" not in out
    assert "Note: weaker isolation (isolation='rlimits')" in weak and "RAN" in weak


def test_refuses_an_interpreter_whose_prefix_holds_a_dotenv(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path)], check=True)
    (tmp_path / ".env").write_text("SECRET=1\n")
    tool = make_run_python()
    tool.python = str(tmp_path / "bin" / "python")
    out = tool.invoke({"code": "print('RAN')"})
    assert out.startswith("Error: run_python refused to run the program:")
    assert ".env" in out and "RAN" not in out


def test_signal_of_the_program_is_reported() -> None:
    out = TOOL.invoke({"code": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"})
    assert out.startswith(f"Exit status: -{int(signal.SIGTERM)}\nNote: killed by SIGTERM")


def test_memory_of_the_whole_run_is_bounded() -> None:
    code = (
        "import os, time\n"
        "for _ in range(4):\n"
        "    os.fork()\n"  # 16 processes
        "try:\n"
        "    hog = b'x' * (100 * 1024 * 1024)\n"  # touched, so resident
        "    print('ALLOCATED', flush=True)\n"
        "    time.sleep(1.5)\n"
        "except MemoryError:\n"
        "    print('refused', flush=True)\n"
    )
    tool = make_run_python(timeout=8.0, memory_mb=160, tmp_mb=64, max_processes=32)
    out = tool.invoke({"code": code})
    if "no cgroup could be made here" in out:
        pytest.skip("no cgroup here: memory is limited per process only (the result says so)")
    # 224 MiB for the whole run: at most two 100 MiB processes at once, not sixteen
    assert out.count("ALLOCATED") <= 2, out
    assert "memory limit of the whole run (224 MiB) reached: the kernel killed" in out


def test_without_a_cgroup_the_result_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from kimi_graph.tools import _cgroup

    monkeypatch.setattr(_cgroup, "_ROOT", tmp_path)  # nothing to make groups in
    out = TOOL.invoke({"code": "print('ran')"})
    assert "Note: no cgroup could be made here: memory is limited per process" in out
    assert out.endswith("ran")


@needs_process_limit
def test_leftover_groups_of_killed_runs_are_removed() -> None:
    from kimi_graph.tools import _cgroup

    places = _cgroup._places(8, 64 * 1024 * 1024)
    if not places:
        pytest.skip("no cgroup can be made here (non-root)")
    leftovers = [parent / "kimi-run-leftover-test" for parent, _ in places]
    for group in leftovers:
        group.mkdir()  # as a run killed with SIGKILL would leave it, an hour ago
        past = time.time() - 3600
        os.utime(group, (past, past))
    out = TOOL.invoke({"code": "print('ran')"})
    assert out.endswith("ran")
    assert [g for g in leftovers if g.exists()] == []
