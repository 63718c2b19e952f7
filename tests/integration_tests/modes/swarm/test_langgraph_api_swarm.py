"""The swarm as a run of LangGraph Server (`langgraph dev`: langgraph-api, in-memory
runtime) with its sub-agents as runs of the same server. Inside a server run the branch
config carries the server's own `configurable` keys; langgraph-api answers 400 "Cannot
specify both configurable and context" to a run given both, so the sub-agent runs must
carry their settings in `context` only.

Only the in-memory runtime is tested: the multi-instance one (`langgraph-runtime-pg`,
on PyPI) is not part of the dev dependencies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.langgraph_dev import ROOT, langgraph_dev
from tests.integration_tests.modes.swarm._aegra import assign

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Emulator]]:
    with Emulator(EmulatorConfig()) as emu:
        env = {"KIMI_BASE_URL": emu.base_url("vllm"), "KIMI_BACKEND": "vllm", "KIMI_API_KEY": "k"}
        graphs = {name: f"{ROOT / 'graphs' / name}.py:graph" for name in ("agent", "swarm")}
        workdir: Path = tmp_path_factory.mktemp("langgraph-api")
        with langgraph_dev(workdir, graphs, env, jobs=20) as url:
            yield url, emu


def test_swarm_run_on_langgraph_api_runs_its_subagents_on_the_server(
    server: tuple[str, Emulator],
) -> None:
    url, emu = server
    nonce = uuid.uuid4().hex[:8]
    script = "".join(assign(f"r{i}", f"say hello {i}-{nonce}") for i in range(4))
    client = get_sync_client(url=url, api_key=None)
    thread = client.threads.create()
    progress, final = [], None
    for chunk in client.runs.stream(
        thread["thread_id"],
        "swarm",
        input={"messages": [{"role": "user", "content": script}]},
        context={"subagent_urls": [url]},
        stream_mode=["custom", "values"],
        stream_subgraphs=True,
    ):
        if chunk.event.startswith("custom") and chunk.data.get("type") == "subagent":
            progress.append(chunk.data)
        elif chunk.event == "values":
            final = chunk.data
    assert final is not None, progress
    records = final["subagent_results"]
    assert [r["status"] for r in records] == ["ok"] * 4, [r["error"] for r in records]
    assert all(nonce in r["output"] and r["worker"] == url for r in records)
    calls = [
        r for r in emu.requests if r.last_user.startswith("say hello") and nonce in r.last_user
    ]
    assert len(calls) == 4  # one execution each, on the server's model endpoint
    assert len([e for e in progress if e["event"] == "finish"]) == 4
    # every sub-agent is a run of its own thread on the server
    sub_threads = {
        t["thread_id"]
        for t in client.threads.search(limit=100)
        if t["thread_id"] != thread["thread_id"]
        and any(nonce in str(m.get("content")) for m in (t.get("values") or {}).get("messages", []))
    }
    assert len(sub_threads) == 4


def test_a_bad_subagent_url_is_named(server: tuple[str, Emulator]) -> None:
    url, _ = server
    client = get_sync_client(url=url, api_key=None)
    thread = client.threads.create()
    run = client.runs.wait(
        thread["thread_id"],
        "swarm",
        input={"messages": [{"role": "user", "content": assign("r", "say hello")}]},
        context={"subagent_urls": ["localhost:1"]},
        raise_error=False,
    )
    assert "KimiContext.subagent_urls='localhost:1' has no scheme" in str(run)
