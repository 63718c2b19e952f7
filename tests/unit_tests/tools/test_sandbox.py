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
import threading
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


# -- issue 16: the sandbox as root, /dev, keyrings, exit status, concurrency ------------


def _parents() -> dict[int, int]:
    """Each live process's parent, read in one pass over ``/proc``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants_ids(root: int) -> dict[int, tuple[bytes, list[str], list[str]]]:
    """Command line, Uid and Gid fields of each live descendant of ``root``."""
    parents = _parents()
    found = {}
    for pid in parents:
        ancestor, hops = parents.get(pid, 0), 0
        while ancestor > 1 and ancestor != root and hops < 64:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor != root:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        uid = next(line for line in status if line.startswith("Uid:")).split()[1:]
        gid = next(line for line in status if line.startswith("Gid:")).split()[1:]
        found[pid] = (cmdline, uid, gid)
    return found


def test_runs_as_an_unprivileged_host_user_even_when_the_agent_is_root() -> None:
    """Seen from the host, bwrap and the program have uid/gid 65534 (all four ids)."""
    code = "import time\nprint('up', flush=True)\ntime.sleep(3)\n"
    runner = make_run_python(timeout=20.0)
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(runner.invoke({"code": code})))
    thread.start()
    seen: dict[int, tuple[bytes, list[str], list[str]]] = {}
    while thread.is_alive():
        seen.update(_descendants_ids(os.getpid()))
        time.sleep(0.05)
    thread.join()
    assert result and "up" in result[0], result
    programs = [v for v in seen.values() if v[0].endswith(b"utf8\x00/tmp/main.py\x00")]
    sandboxes = [v for v in seen.values() if v[0].split(b"\x00")[0].endswith(b"bwrap")]
    commands = sorted({v[0].split(b"\x00")[0].decode(errors="replace") for v in seen.values()})
    assert programs and sandboxes, f"the sandbox was never seen from the host; seen: {commands}"
    uid = "65534" if os.geteuid() == 0 else str(os.geteuid())
    gid = "65534" if os.geteuid() == 0 else str(os.getegid())
    for _, uids, gids in programs + sandboxes:
        assert uids == [uid] * 4, uids
        assert gids == [gid] * 4, gids


PROC_SYS_FILES = (
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/vm/drop_caches",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sysrq-trigger",
)
ROOT_ONLY_PROC_FILES = ("/proc/keys", "/proc/key-users", "/proc/slabinfo", "/proc/timer_list")


def test_proc_sys_is_read_only_and_root_only_proc_files_are_unreadable() -> None:
    code = (
        "import os\n"
        f"for path in {PROC_SYS_FILES!r}:\n"
        "    try:\n"
        "        fd = os.open(path, os.O_WRONLY)\n"  # never written to
        "        os.close(fd)\n"
        "        print('WRITABLE', path)\n"
        "    except OSError as e:\n"
        "        print('refused', path, e.errno)\n"
        f"for path in {ROOT_ONLY_PROC_FILES!r}:\n"
        "    try:\n"
        "        print('READ', path, len(open(path).read()))\n"
        "    except OSError as e:\n"
        "        print('unreadable', path, e.errno)\n"
        "for line in open('/proc/self/mountinfo'):\n"
        "    if line.split()[4] == '/proc/sys':\n"
        "        print('mount', line.split()[5].split(',')[0])\n"
    )
    out = _stdout(TOOL.invoke({"code": code}))
    assert "WRITABLE" not in out and "READ " not in out, out
    for path in PROC_SYS_FILES:
        assert f"refused {path} " in out
    for path in ROOT_ONLY_PROC_FILES:
        assert f"unreadable {path} " in out
    assert "mount ro" in out  # a read-only mount, not only permissions


def test_dev_is_read_only_and_dev_shm_is_sized() -> None:
    code = (
        "import os\n"
        "try:\n"
        "    open('/dev/fill-me', 'wb')\n"
        "    print('DEV WRITABLE')\n"
        "except OSError as e:\n"
        "    print('dev refused', e.errno)\n"
        "with open('/dev/null', 'wb') as f:\n"
        "    f.write(b'x')\n"
        "print('null ok')\n"
        "n = 0\n"
        "try:\n"
        "    with open('/dev/shm/fill', 'wb') as f:\n"
        "        for n in range(1, 64):\n"
        "            f.write(b'x' * 1024 * 1024)\n"
        "            f.flush()\n"
        "except OSError as e:\n"
        "    print('shm stopped after', n - 1, 'MiB', e.errno)\n"
    )
    out = make_run_python(tmp_mb=8, file_size_mb=32).invoke({"code": code})
    assert "DEV WRITABLE" not in out
    assert "dev refused 30" in out  # EROFS
    assert "null ok" in out
    match = re.search(r"shm stopped after (\d+) MiB 28", out)  # ENOSPC
    assert match, out
    assert int(match.group(1)) <= 8


def _libc():  # type: ignore[no-untyped-def]
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def test_keyrings_are_out_of_reach() -> None:
    """A key the agent holds in its session keyring cannot be read, found or added to."""
    import ctypes
    import platform

    numbers = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(platform.machine())
    if numbers is None:
        pytest.skip("no system call numbers for this architecture (the results say so)")
    add_key, request_key, keyctl = numbers
    libc = _libc()
    desc = f"kimi-test-{uuid.uuid4().hex[:8]}".encode()
    secret = b"AGENT-KEY-SECRET"
    key = libc.syscall(add_key, b"user", desc, secret, len(secret), -3)  # @s
    if key < 0:
        pytest.skip(f"this process cannot add a key (errno {ctypes.get_errno()})")
    try:
        buf = ctypes.create_string_buffer(64)
        assert libc.syscall(keyctl, 11, key, buf, 64) == len(secret)  # the agent can read it
        code = (
            "import ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "buf = ctypes.create_string_buffer(64)\n"
            f"for name, args in [('read', ({keyctl}, 11, {key}, buf, 64)),\n"
            f"                   ('search', ({request_key}, b'user', {desc!r}, None, 0)),\n"
            f"                   ('add', ({add_key}, b'user', b'x', b'y', 1, -3)),\n"
            f"                   ('join', ({keyctl}, 1, None))]:\n"
            "    r = libc.syscall(*args)\n"
            "    print(name, r, ctypes.get_errno(), buf.raw.rstrip(bytes(1)))\n"
        )
        out = TOOL.invoke({"code": code})
        assert "AGENT-KEY-SECRET" not in out, out
        for name in ("read", "search", "add", "join"):
            assert f"{name} -1 1 b''" in out, out  # EPERM from the seccomp filter
    finally:
        libc.syscall(keyctl, 3, key)  # KEYCTL_REVOKE
        libc.syscall(keyctl, 9, key, -3)  # KEYCTL_UNLINK from @s


def test_the_program_exit_is_reported_as_it_was() -> None:
    """Exit codes that look like sandbox failures or kills are the program's own."""
    fake_setup = TOOL.invoke(
        {"code": "import sys\nprint('sandbox setup failed: faked', file=sys.stderr)\nsys.exit(125)"}
    )
    assert fake_setup.startswith("Exit status: 125\n--- stderr ---\nsandbox setup failed: faked")
    fake_kill = TOOL.invoke({"code": "raise SystemExit(137)"})
    assert fake_kill == "Exit status: 137\n(no output)"
    real_kill = TOOL.invoke({"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"})
    assert real_kill.startswith(f"Exit status: -{int(signal.SIGKILL)}\nNote: killed by SIGKILL")


def test_the_program_cannot_reach_the_status_channel() -> None:
    """It cannot kill, stop or interrupt the reporting init, nor open its descriptors."""
    code = (
        "import os, signal, sys\n"
        "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP):\n"
        "    os.kill(1, sig)\n"
        "for path in ('/proc/1/fd', '/proc/1/mem', '/proc/1/environ'):\n"
        "    try:\n"
        "        what = os.listdir(path) if path.endswith('fd') else open(path).read(1)\n"
        "        print('OPENED', path, what)\n"
        "    except OSError as e:\n"
        "        print('refused', path, e.errno)\n"
        "print('fds', sorted(int(f) for f in os.listdir('/proc/self/fd')))\n"
        "sys.exit(3)\n"
    )
    out = TOOL.invoke({"code": code})
    assert out.startswith("Exit status: 3\n"), out
    assert "OPENED" not in out
    fds = re.search(r"fds \[([\d, ]*)\]", out)
    assert fds, out
    assert {int(f) for f in fds.group(1).split(", ")} <= {0, 1, 2, 3}  # 3: listdir's own


def test_a_sandbox_failure_is_an_error_not_a_program_exit() -> None:
    # 1 MiB of address space: the wrapper cannot start the interpreter of the program
    out = make_run_python(memory_mb=1).invoke({"code": "print('RAN')"})
    assert out.startswith("Error: run_python could not apply its limits: ")
    assert "RAN" not in out and "Exit status" not in out


def test_sandboxes_at_once_are_capped() -> None:
    from kimi_graph.tools import code_runner
    from kimi_graph.tools._slots import DEFAULT_MAX_SANDBOXES, sandbox_slots

    assert sandbox_slots.limit == DEFAULT_MAX_SANDBOXES == 4
    code = "import time\nprint('span', time.time())\ntime.sleep(1.0)\nprint('span', time.time())\n"
    runner = make_run_python(timeout=20.0)
    code_runner.set_max_concurrent_sandboxes(2)
    try:

        async def five() -> list[str]:
            return await asyncio.gather(*(runner.ainvoke({"code": code}) for _ in range(5)))

        outs = asyncio.run(five())
    finally:
        code_runner.set_max_concurrent_sandboxes(DEFAULT_MAX_SANDBOXES)
    spans = []
    for out in outs:
        times = [float(t) for t in re.findall(r"span ([\d.]+)", out)]
        assert len(times) == 2, out
        spans.append((times[0], times[1]))
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2, spans  # never more than two at once, and the cap was reached


def test_a_run_waits_for_a_slot_then_is_refused() -> None:
    from kimi_graph.tools._slots import sandbox_slots

    sandbox_slots.set_limit(1)
    try:
        with sandbox_slots.hold(0) as held:
            assert held
            started = time.monotonic()
            out = make_run_python(timeout=0.5).invoke({"code": "print('RAN')"})
            waited = time.monotonic() - started
    finally:
        sandbox_slots.set_limit(4)
    assert out.startswith("Error: run_python refused to run the program: 1 sandboxes are already")
    assert "RAN" not in out
    assert 0.4 < waited < 3
