"""Scale-out: a local swarm whose sub-agents are runs of a `langgraph dev` server
(`subagent_graph=RemoteGraph(...)`). The sub-agents' model calls reach the server's
model endpoint, not the local one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.langgraph_dev import ROOT, langgraph_dev

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_emulator() -> Iterator[Emulator]:
    """The model endpoint of the LangGraph server (not the local one)."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture(scope="module")
def agent_server(
    server_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {"KIMI_BASE_URL": server_emulator.base_url("vllm"), "KIMI_BACKEND": "vllm"}
    workdir: Path = tmp_path_factory.mktemp("langgraph-dev")
    with langgraph_dev(
        workdir, {"agent": str(ROOT / "graphs" / "agent.py") + ":graph"}, env
    ) as url:
        yield url


def _assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_subagents_run_on_a_langgraph_server(
    emulator: Emulator, server_emulator: Emulator, agent_server: str, mode: str
) -> None:
    nonce = uuid.uuid4().hex[:8]
    script = "".join(_assign(f"r{i}", f"say hello {i}-{nonce}") for i in range(3))
    local = ChatKimi(base_url=emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    remote = RemoteGraph("agent", url=agent_server, name="remote-agent")
    graph = create_swarm_graph(local, subagent_graph=remote, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"scale-{nonce}"}}
    inputs = {"messages": [("user", script)]}
    local_mark, server_mark = len(emulator.requests), len(server_emulator.requests)
    out = graph.invoke(inputs, config) if mode == "invoke" else await graph.ainvoke(inputs, config)

    records = out["subagent_results"]
    assert [r["status"] for r in records] == ["ok"] * 3, records
    assert all(r["worker"] == "remote-agent" for r in records)
    assert all(nonce in r["output"] for r in records)
    server_calls = [r for r in server_emulator.requests[server_mark:] if nonce in r.last_user]
    assert len(server_calls) == 3 and all(r.dialect == "vllm" for r in server_calls)
    local_calls = emulator.requests[local_mark:]
    assert not [r for r in local_calls if r.last_user.startswith("say hello")]
    assert len(local_calls) == 2  # the orchestrator and the synthesis only
    assert all(r["usage"]["total_tokens"] > 0 for r in records)
