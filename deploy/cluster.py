"""The scale-out topology as plain local processes: `make cluster` / `make cluster-down`.

PostgreSQL, Redis, two Aegra instances serving the project's `langgraph.json` and an
HAProxy balancer, all on 127.0.0.1, with the versions and Aegra settings of
`deploy/cluster.env` (the compose file uses the same). The OS packages come from
Debian (`postgresql`, `redis-server`, `haproxy`, installed with apt-get when missing
and run as root); Aegra gets a venv of its own (Python >= 3.12) at
`deploy/.venv-aegra`, the project itself stays on its own venv.

    python deploy/cluster.py up [--emulator] [--instances 2]   # prints the URL
    python deploy/cluster.py down
    python deploy/cluster.py status

The model endpoint is the environment's (`KIMI_BASE_URL`, `KIMI_BACKEND`, the API keys;
`.env` at the repository root is read too); `--emulator` starts the bundled emulator
instead. Everything the cluster writes lives in one state directory
(`KIMI_CLUSTER_DIR`, default `/tmp/kimi-graph-cluster`), which `down` deletes.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
SETTINGS_FILE = DEPLOY / "cluster.env"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
AEGRA_VENV = Path(os.environ.get("AEGRA_VENV", DEPLOY / ".venv-aegra"))
STATE = Path(os.environ.get("KIMI_CLUSTER_DIR", "/tmp/kimi-graph-cluster"))
PASSED_THROUGH = (
    "KIMI_SUBAGENT_URLS",
    "KIMI_SUBAGENT_GRAPH",
    "KIMI_BASE_URL",
    "KIMI_BACKEND",
    "KIMI_MODEL",
    "MOONSHOT_API_KEY",
    "KIMI_API_KEY",
    "TAVILY_API_KEY",
)
# The environment names each Aegra instance gets besides cluster.env (the compose file
# sets the same ones).
# KIMI_SUBAGENT_URLS: the swarm graph runs its sub-agents on every instance of the cluster.
INSTANCE_ENV = ("DATABASE_URL", "REDIS_URL", "AEGRA_CONFIG", "HOST", "PORT", "KIMI_SUBAGENT_URLS")
# The names haproxy.cfg reads from its environment.
BALANCER_ENV = ("BALANCER_BIND", "AEGRA_1_ADDR", "AEGRA_2_ADDR")


class ClusterError(RuntimeError):
    """A piece of the cluster is missing or did not start; the message says which."""


def read_settings(path: Path = SETTINGS_FILE) -> dict[str, str]:
    """`KEY=VALUE` lines of an env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ClusterError(f"{path}: not KEY=VALUE: {line!r}")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


VERSION_KEYS = ("AEGRA_VERSION", "POSTGRES_VERSION", "REDIS_VERSION", "HAPROXY_VERSION")


def aegra_settings(settings: dict[str, str]) -> dict[str, str]:
    """The part of cluster.env every Aegra instance gets (all but the versions)."""
    return {k: v for k, v in settings.items() if k not in VERSION_KEYS}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- OS packages and the Aegra venv ---------------------------------------------------


def postgres_bindir(version: str) -> Path | None:
    """`/usr/lib/postgresql/<version>/bin` if it holds initdb and pg_ctl."""
    bindir = Path(f"/usr/lib/postgresql/{version}/bin")
    return bindir if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists() else None


def _package_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return done.stdout + done.stderr


def check_versions(settings: dict[str, str]) -> list[str]:
    """Pieces missing or not at cluster.env's version, as sentences (empty: all fine)."""
    problems = []
    if postgres_bindir(settings["POSTGRES_VERSION"]) is None:
        problems.append(f"PostgreSQL {settings['POSTGRES_VERSION']} (package postgresql)")
    redis = _package_version(["redis-server", "--version"])
    if f"v={settings['REDIS_VERSION']}." not in redis:
        problems.append(f"Redis {settings['REDIS_VERSION']} (package redis-server): {redis!r}")
    haproxy = _package_version(["haproxy", "-v"])
    if f"version {settings['HAPROXY_VERSION']}." not in haproxy:
        problems.append(f"HAProxy {settings['HAPROXY_VERSION']} (package haproxy): {haproxy!r}")
    return problems


def install_packages(settings: dict[str, str]) -> None:
    """apt-get the Debian packages that are missing (as root), then check the versions."""
    missing = []
    if postgres_bindir(settings["POSTGRES_VERSION"]) is None:
        missing.append(f"postgresql-{settings['POSTGRES_VERSION']}")
    missing += [
        p
        for p, cmd in (("redis-server", "redis-server"), ("haproxy", "haproxy"))
        if not shutil.which(cmd)
    ]
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise ClusterError(f"install {' '.join(missing)} (Debian packages), then run again")
        print(f"installing {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env=env,
        )
    problems = check_versions(settings)
    if problems:
        raise ClusterError("not at cluster.env's version: " + "; ".join(problems))


def find_python312() -> str | None:
    """An interpreter >= 3.12 for Aegra: $AEGRA_PYTHON, python3.1x on PATH, or pyenv's."""
    candidates = [os.environ.get("AEGRA_PYTHON", "")]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in (14, 13, 12)]
    candidates += sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")), reverse=True
    )
    candidates += sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3"), reverse=True)
    for candidate in filter(None, candidates):
        probe = _package_version(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"]
        )
        if probe.strip() == "True":
            return candidate
    return None


def aegra_python(venv: Path = AEGRA_VENV) -> Path:
    """The Python of the Aegra venv."""
    return venv / "bin" / "python"


def aegra_ready(settings: dict[str, str], venv: Path = AEGRA_VENV) -> bool:
    """Whether the venv holds Aegra at cluster.env's version and the project."""
    python = aegra_python(venv)
    if not python.exists():
        return False
    probe = _package_version(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, kimi_graph; print(m.version('aegra-api'))",
        ]
    )
    return probe.strip() == settings["AEGRA_VERSION"]


def build_aegra_venv(settings: dict[str, str], venv: Path = AEGRA_VENV) -> Path:
    """Make (or reuse) the Aegra venv: aegra-api at its version plus this project."""
    if aegra_ready(settings, venv):
        return aegra_python(venv)
    base = find_python312()
    if base is None:
        raise ClusterError("Aegra needs Python >= 3.12: install python3.12 or set AEGRA_PYTHON")
    print(f"building the Aegra venv at {venv} with {base}", flush=True)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(aegra_python(venv)), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"aegra-api=={settings['AEGRA_VERSION']}", "-e", str(ROOT)], check=True)
    if not aegra_ready(settings, venv):
        raise ClusterError(f"the Aegra venv at {venv} lacks aegra-api {settings['AEGRA_VERSION']}")
    return aegra_python(venv)


# -- the processes ---------------------------------------------------------------------


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers 200, or raise naming it."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"the process behind {url} exited ({proc.returncode})")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        time.sleep(0.3)
    raise ClusterError(f"{url} did not answer within {deadline_s:g}s")


def wait_port(port: int, deadline_s: float) -> None:
    """Wait until 127.0.0.1:`port` accepts connections."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise ClusterError(f"nothing listens on 127.0.0.1:{port} after {deadline_s:g}s")


def dotenv(path: Path = ROOT / ".env") -> dict[str, str]:
    """The repository's `.env` (the model endpoint and keys), if any."""
    return read_settings(path) if path.exists() else {}


@dataclass
class Cluster:
    """One cluster's ports, state directory and processes."""

    state: Path = STATE
    instances: int = 2
    settings: dict[str, str] = field(default_factory=read_settings)
    venv: Path = AEGRA_VENV
    postgres_port: int = 0
    redis_port: int = 0
    balancer_port: int = 0
    aegra_ports: list[int] = field(default_factory=list)
    model_env: dict[str, str] = field(default_factory=dict)
    config: Path = ROOT / "langgraph.json"
    """The graphs every instance serves (AEGRA_CONFIG); a benchmark may serve its own."""

    def __post_init__(self) -> None:
        self.postgres_port = self.postgres_port or free_port()
        self.redis_port = self.redis_port or free_port()
        self.balancer_port = self.balancer_port or free_port()
        self.aegra_ports = self.aegra_ports or [free_port() for _ in range(self.instances)]

    # urls
    @property
    def database_url(self) -> str:
        """The libpq URL of the `aegra` database."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/aegra?sslmode=disable"

    @property
    def redis_url(self) -> str:
        """Redis, database 0."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def url(self) -> str:
        """The balancer's URL: what clients use."""
        return f"http://127.0.0.1:{self.balancer_port}"

    @property
    def instance_urls(self) -> list[str]:
        """Each Aegra instance's own URL (a URL list needs no balancer)."""
        return [f"http://127.0.0.1:{port}" for port in self.aegra_ports]

    # bookkeeping
    def _pidfile(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        log = (self.state / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._pidfile(name).write_text(str(proc.pid))
        return proc

    def save(self) -> None:
        """Write the ports and URLs to `cluster.json` in the state directory."""
        info = {
            "url": self.url,
            "instances": self.instance_urls,
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "postgres_port": self.postgres_port,
        }
        (self.state / "cluster.json").write_text(json.dumps(info, indent=2))

    # pieces
    def _as_postgres_user(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        nobody = pwd.getpwnam("nobody")
        return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def start_postgres(self) -> None:
        """Run initdb and pg_ctl start (as `nobody` when root), then create the `aegra` database."""
        bindir = postgres_bindir(self.settings["POSTGRES_VERSION"])
        if bindir is None:
            raise ClusterError(f"PostgreSQL {self.settings['POSTGRES_VERSION']} is not installed")
        # Its own directory outside the state directory: a server running as `nobody` must
        # reach it, which a private parent (a test's tmp_path) would forbid.
        pg = Path(tempfile.mkdtemp(prefix="kimi-cluster-pg-"))
        (self.state / "postgres.dir").write_text(str(pg))
        as_user = self._as_postgres_user()
        if as_user:
            os.chown(pg, int(as_user["user"]), int(as_user["group"]))  # type: ignore[call-overload]
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}

        def run(*argv: str) -> None:
            done = subprocess.run(
                [str(bindir / argv[0]), *argv[1:]],
                capture_output=True,
                text=True,
                cwd=pg,
                env=env,
                timeout=120,
                check=False,
                **as_user,  # type: ignore[arg-type]
            )
            if done.returncode:
                log = (pg / "server.log").read_text() if (pg / "server.log").exists() else ""
                raise ClusterError(f"{argv[0]} failed: {done.stderr.strip()}\n{log[-2000:]}")

        run(
            "initdb",
            "-D",
            str(pg / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-p {self.postgres_port} -c listen_addresses=127.0.0.1 -k {pg} -c max_connections=300"
        )
        run(
            "pg_ctl",
            "-D",
            str(pg / "data"),
            "-l",
            str(pg / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        run("createdb", "-h", "127.0.0.1", "-p", str(self.postgres_port), "-U", "postgres", "aegra")

    def stop_postgres(self) -> None:
        """Stop PostgreSQL at once (`pg_ctl stop -m immediate`) and delete its files."""
        bindir = postgres_bindir(self.settings["POSTGRES_VERSION"])
        where = self.state / "postgres.dir"
        if not where.exists():
            return
        pg = Path(where.read_text())
        if bindir is not None and (pg / "data" / "postmaster.pid").exists():
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(pg / "data"), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
                **self._as_postgres_user(),  # type: ignore[arg-type]
            )
        shutil.rmtree(pg, ignore_errors=True)

    def start_redis(self) -> None:
        """redis-server on 127.0.0.1, no persistence."""
        argv = [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.state),
        ]  # fmt: skip
        self._spawn("redis", argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        wait_port(self.redis_port, 30)

    def instance_env(self, index: int) -> dict[str, str]:
        """The environment of Aegra instance `index` (0-based)."""
        return {
            "PATH": f"{aegra_python(self.venv).parent}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/tmp"),
            **aegra_settings(self.settings),
            "KIMI_SUBAGENT_URLS": ",".join(self.instance_urls),
            **self.model_env,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "AEGRA_CONFIG": str(self.config),
            "HOST": "127.0.0.1",
            "PORT": str(self.aegra_ports[index]),
        }

    def start_aegra(self, index: int) -> subprocess.Popen[bytes]:
        """Aegra instance `index` (uvicorn, one process); waits for its /health."""
        argv = [
            str(aegra_python(self.venv)), "-m", "uvicorn", "aegra_api.main:app",
            "--host", "127.0.0.1", "--port", str(self.aegra_ports[index]), "--no-access-log",
        ]  # fmt: skip
        proc = self._spawn(f"aegra{index + 1}", argv, self.instance_env(index))
        wait_http(f"{self.instance_urls[index]}/health", 120, proc)
        return proc

    def balancer_env(self) -> dict[str, str]:
        """The environment haproxy.cfg reads."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BALANCER_BIND": f"127.0.0.1:{self.balancer_port}",
        }
        for i, port in enumerate(self.aegra_ports[:2]):
            env[f"AEGRA_{i + 1}_ADDR"] = f"127.0.0.1:{port}"
        return env

    def start_balancer(self) -> None:
        """HAProxy with deploy/haproxy.cfg."""
        if len(self.aegra_ports) != 2:
            raise ClusterError("haproxy.cfg names two instances; the balancer needs --instances 2")
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(HAPROXY_CFG)], self.balancer_env())
        wait_http(f"{self.url}/health", 30)

    def start_emulator(self) -> None:
        """The bundled emulator (this project's Python) as the model of every instance."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "kimi_graph.cli",
            "emulate",
            "--port",
            str(port),
            "--dialect",
            "vllm",
        ]
        self._spawn("emulator", argv, {**os.environ, "PYTHONPATH": str(ROOT)})
        wait_port(port, 30)
        self.model_env = {
            "KIMI_BASE_URL": f"http://127.0.0.1:{port}/vllm/v1",
            "KIMI_BACKEND": "vllm",
            "KIMI_API_KEY": "emulator",
        }

    def up(self, *, emulator: bool = False) -> None:
        """Start every piece; on a failure stop what started and raise."""
        if (self.state / "cluster.json").exists():
            raise ClusterError(f"a cluster is already up in {self.state} (make cluster-down first)")
        self.state.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.state, 0o755)
        try:
            if emulator:
                self.start_emulator()
            elif not self.model_env:
                env = {**dotenv(), **os.environ}
                self.model_env = {k: env[k] for k in PASSED_THROUGH if env.get(k)}
            self.start_postgres()
            self.start_redis()
            for index in range(len(self.aegra_ports)):
                self.start_aegra(index)
            if len(self.aegra_ports) == 2:
                self.start_balancer()
            self.save()
        except BaseException:
            self.down()
            raise

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Signal the process group of `name` (e.g. `aegra2`); SIGKILL after 10 s."""
        pidfile = self._pidfile(name)
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        break
                os.kill(pid, 0)  # raises ProcessLookupError once it is gone
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
        pidfile.unlink()

    def down(self) -> None:
        """Stop every process of the state directory, then delete it."""
        for name in ("haproxy", *(f"aegra{i}" for i in range(1, 10)), "redis", "emulator"):
            self.kill(name)
        self.stop_postgres()
        shutil.rmtree(self.state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """`up`, `down` or `status` of the local cluster."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument(
        "--emulator", action="store_true", help="serve the bundled emulator as the model"
    )
    parser.add_argument("--instances", type=int, default=2, help="Aegra instances (default: 2)")
    parser.add_argument(
        "--port", type=int, default=2026, help="the balancer's port (default: 2026; 0: any free)"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            Cluster(state=STATE).down()
            print(f"cluster in {STATE} stopped")
            return 0
        if args.action == "status":
            info = STATE / "cluster.json"
            print(info.read_text() if info.exists() else f"no cluster in {STATE}")
            return 0
        settings = read_settings()
        install_packages(settings)
        venv = build_aegra_venv(settings)
        cluster = Cluster(
            state=STATE,
            instances=args.instances,
            settings=settings,
            venv=venv.parent.parent,
            balancer_port=args.port,
        )
        cluster.up(emulator=args.emulator)
    except ClusterError as err:
        print(f"cluster: {err}", file=sys.stderr)
        return 1
    print(f"Aegra cluster up: {cluster.url}  (instances: {' '.join(cluster.instance_urls)})")
    print("Stop it with: make cluster-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
