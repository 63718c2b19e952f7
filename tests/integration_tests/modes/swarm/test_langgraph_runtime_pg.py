"""The LangGraph Server path of issue 21 on a multi-instance runtime: two `langgraph-api`
instances on the MIT `langgraph-runtime-pg` runtime over one PostgreSQL and one Redis,
the bundled emulator as the model (see `_langgraph_pg.py`; skipped without its venv).

- The swarm as a run of the server, its sub-agents as runs of both instances: none is
  refused with 400 "Cannot specify both configurable and context" (inside a server run
  the branch config carries the server's own keys).
- Sub-agents spread over both instances by URL list: none ends "without a final answer"
  (with two instances the client's stream may miss a run's end; the result is then read
  from the remote thread's state), each executes once.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_sync_client

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.modes.swarm._aegra import assign
from tests.integration_tests.modes.swarm._langgraph_pg import LanggraphPg, start_langgraph_pg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lgpg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanggraphPg]:
    with Emulator(EmulatorConfig()) as emu:
        yield from start_langgraph_pg(emu, tmp_path_factory.mktemp("lgpg") / "cluster")


def _executions(server: LanggraphPg, nonce: str) -> collections.Counter[str]:
    """Model calls per sub-agent task (one per execution of its run)."""
    return collections.Counter(
        r.last_user.split(" [[")[0]
        for r in server.emulator.requests
        if r.last_user.startswith("say hello") and nonce in r.last_user
    )


def _check(records: list[dict[str, Any]], tasks: list[str], runs: collections.Counter[str]) -> None:
    assert [r["status"] for r in records] == ["ok"] * len(tasks), [r["error"] for r in records]
    for record in records:
        assert record["output"].strip(), record
    assert set(runs) == {t.split(" [[")[0] for t in tasks}  # none lost
    assert max(runs.values()) == 1, runs  # each executed once


def test_swarm_as_a_run_of_langgraph_api_pg_spreads_its_subagents(lgpg: LanggraphPg) -> None:
    nonce = uuid.uuid4().hex[:8]
    tasks = [f"say hello {i}-{nonce} [[latency 0.3]]" for i in range(8)]
    script = "".join(assign(f"r{i}", t) for i, t in enumerate(tasks))
    client = get_sync_client(url=lgpg.urls[0], api_key=None)
    thread = client.threads.create()
    progress, final = [], None
    for chunk in client.runs.stream(
        thread["thread_id"],
        "swarm",
        input={"messages": [{"role": "user", "content": script}]},
        stream_mode=["custom", "values"],
        stream_subgraphs=True,
    ):
        assert chunk.event != "error", chunk.data
        if chunk.event.startswith("custom") and chunk.data.get("type") == "subagent":
            progress.append(chunk.data)
        elif chunk.event == "values":
            final = chunk.data
    assert final is not None
    records = final["subagent_results"]
    assert not [r for r in records if "configurable" in str(r["error"])]  # the 400 of issue 21
    _check(records, tasks, _executions(lgpg, nonce))
    assert {r["worker"] for r in records} == set(lgpg.urls)  # both instances
    finished = [e for e in progress if e["event"] == "finish"]
    assert len(finished) == len(tasks) and all(e["usage"]["total_tokens"] > 0 for e in finished)


def test_no_subagent_result_is_lost_over_two_instances(lgpg: LanggraphPg) -> None:
    nonce = uuid.uuid4().hex[:8]
    tasks = [f"say hello {i}-{nonce} [[latency 0.2]]" for i in range(40)]
    script = "".join(assign(f"r{i}", t) for i, t in enumerate(tasks))
    local = ChatKimi(base_url=lgpg.emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    remotes = [RemoteGraph("agent", url=u, name=f"lg{i}") for i, u in enumerate(lgpg.urls)]
    graph = create_swarm_graph(
        local, subagent_graph=remotes, checkpointer=InMemorySaver(), max_concurrency=40
    )
    out = graph.invoke({"messages": [("user", script)]}, {"configurable": {"thread_id": nonce}})
    records = out["subagent_results"]
    _check(records, tasks, _executions(lgpg, nonce))
    for record in records:  # each answer is its own task's
        assert record["task"].split(" [[")[0].split()[-1] in record["output"], record
    assert {r["worker"] for r in records} == {"lg0", "lg1"}
