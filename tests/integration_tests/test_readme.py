"""The README is the manual: every Python block runs as written, top to bottom, in one
session, against real local servers.

The blocks for a real endpoint read their URLs and keys from the environment; here the
environment points them at an emulator, a `kimi-graph serve` subprocess and a
`langgraph dev` subprocess that this module starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests._postgres import PostgresServer, postgres_bindir
from tests.integration_tests.langgraph_dev import ROOT, langgraph_dev

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
ENDPOINT_VARS = (
    "KIMI_BASE_URL",
    "MOONSHOT_API_KEY",
    "KIMI_API_KEY",
    "KIMI_BACKEND",
    "KIMI_MODEL",
    "TAVILY_API_KEY",
)
#: Every server the README must cover, as its table names them.
SERVERS = (
    "Moonshot API",
    "vLLM",
    "SGLang",
    "llama.cpp",
    "OpenRouter",
    "TensorRT-LLM",
    "LMDeploy",
    "Ollama",
    "Xinference",
    "TGI",
    "DeepSpeed-MII",
    "Transformers",
)
SERVE_KEY = "readme-serve-key"


def python_blocks() -> list[tuple[int, str]]:
    """(line number, source) of every ```python block, in order."""
    text = README.read_text()
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


@pytest.fixture(scope="module")
def readme_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture(scope="module")
def readme_postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL's URL for the README's `DATABASE_URI` block, or None.

    None where PostgreSQL is not installed: the rest of the README still runs, and the
    block (guarded by `DATABASE_URI`) is skipped as it is for a reader without one.
    """
    bindir = postgres_bindir()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS}
    return {**env, **extra}


@pytest.fixture(scope="module")
def serve_url(readme_emulator: Emulator) -> Iterator[str]:
    """`kimi-graph serve` on a free port, its dispatcher the emulator."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimi_graph.cli", "serve", "--port", "0", "--tools", "none"]
        + ["--base-url", readme_emulator.base_url("moonshot"), "--backend", "moonshot"]
        + ["--api-key", SERVE_KEY],
        env=clean_env(KIMI_API_KEY="upstream-key"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("kimi-graph serve listening on http://127.0.0.1:"), first
        yield first.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def langgraph_url(
    readme_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {"KIMI_BASE_URL": readme_emulator.base_url("moonshot"), "KIMI_BACKEND": "moonshot"}
    graphs = {m: f"{ROOT / 'graphs' / m}.py:graph" for m in ("thinking", "agent", "swarm")}
    with langgraph_dev(tmp_path_factory.mktemp("readme-lg"), graphs, env) as url:
        yield url


def test_readme_names_every_server_with_a_backend() -> None:
    text = README.read_text()
    table = text[text.index("| server | launch") :]
    table = table[: table.index("\n\n")]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == set(SERVERS)
    for name, row in rows.items():
        backend = row.split("|")[3]
        assert re.search(r"`(moonshot|vllm|sglang|llamacpp|openrouter|openai)`", backend), name


def test_readme_python_blocks_run_top_to_bottom_in_one_session(
    readme_emulator: Emulator,
    serve_url: str,
    langgraph_url: str,
    readme_postgres: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in (*ENDPOINT_VARS, "DATABASE_URI"):
        monkeypatch.delenv(var, raising=False)
    workers = [readme_emulator.base_url("sglang"), readme_emulator.base_url("llamacpp")]
    env = {
        "KIMI_BASE_URL": readme_emulator.base_url("moonshot"),
        "KIMI_BACKEND": "moonshot",
        "MOONSHOT_API_KEY": "readme-key",
        "KIMI_SERVE_URL": serve_url,
        "KIMI_SERVE_API_KEY": SERVE_KEY,
        "LANGGRAPH_URL": langgraph_url,
        "KIMI_WORKER_URLS": ",".join(workers),
        "KIMI_WORKER_BACKEND": "sglang",
    }
    if readme_postgres is not None:
        env["DATABASE_URI"] = readme_postgres
    for var, value in env.items():
        monkeypatch.setenv(var, value)

    blocks = python_blocks()
    assert len(blocks) >= 15
    namespace: dict[str, Any] = {"__name__": "__main__"}
    mark = len(readme_emulator.requests)
    for line, source in blocks:
        code = compile(source, f"README.md (block at line {line})", "exec")
        exec(code, namespace)  # the README's own code, as a reader runs it

    served = readme_emulator.requests[mark:]
    assert {r.dialect for r in served} >= {"moonshot", "sglang", "llamacpp"}
    # The blocks' results, as the README's comments describe them.
    assert namespace["tasks"] and namespace["review"]
    assert [r["worker"] for r in namespace["remote_out"]["subagent_results"]] == [
        "remote-agent"
    ] * 2
    assert sorted({r["worker"] for r in namespace["pool_out"]["subagent_results"]}) == sorted(
        workers
    )
    assert namespace["roles"]  # the SDK client tied sub-agent tokens to roles
    if readme_postgres is not None:  # the PostgreSQL block ran and checkpointed its steps
        assert [r["status"] for r in namespace["pg_out"]["subagent_results"]] == ["ok"] * 2
        assert namespace["pg_steps"] > 2


def test_readme_python_blocks_are_all_found() -> None:
    text = README.read_text()
    assert len(python_blocks()) == text.count("```python\n")
