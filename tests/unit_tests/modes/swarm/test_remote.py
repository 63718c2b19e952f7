"""The pure parts of remote sub-agents: the thread key, the URL order after a refusal,
and the deployment a run's settings name (the HTTP side is tested on real Aegra and
langgraph-api instances under tests/integration_tests/modes/swarm/)."""

from __future__ import annotations

import time

import httpx
import pytest

from kimi_graph.context import KimiContext
from kimi_graph.modes.swarm._remote import (
    POOL_SHARDS,
    SUBAGENT_GRAPH_ENV,
    SUBAGENT_URLS_ENV,
    RemoteDeployment,
    deployment_graphs,
    subagent_thread_id,
)


def test_thread_key_is_stable_and_distinct() -> None:
    key = subagent_thread_id("swarm-1", "subagent:abc", "call_0")
    assert key == subagent_thread_id("swarm-1", "subagent:abc", "call_0")
    assert key != subagent_thread_id("swarm-2", "subagent:abc", "call_0")
    assert key != subagent_thread_id("swarm-1", "subagent:abd", "call_0")
    assert key != subagent_thread_id("swarm-1", "subagent:abc", "call_1")


def test_a_refusing_url_goes_last_until_retry_after() -> None:
    dep = RemoteDeployment(("http://a/", "http://b", "http://c"), retry_after=0.2)
    assert dep.urls == ("http://a", "http://b", "http://c")
    assert dep.order("http://b") == ["http://b", "http://a", "http://c"]
    dep.mark_down("http://b")
    assert dep.order("http://b") == ["http://a", "http://c", "http://b"]
    time.sleep(0.25)
    assert dep.order("http://b")[0] == "http://b"
    dep.mark_down("http://a")
    dep.mark_up("http://a")
    assert dep.order("http://a")[0] == "http://a"


def test_a_deployment_needs_a_url() -> None:
    with pytest.raises(ValueError, match="at least one URL"):
        RemoteDeployment(())


def test_no_setting_no_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SUBAGENT_URLS_ENV, raising=False)
    assert deployment_graphs(KimiContext()) == ()


def test_env_names_the_deployment_and_its_key_goes_there_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SUBAGENT_URLS_ENV, " http://127.0.0.1:9001 , http://127.0.0.1:9002/ ")
    monkeypatch.setenv("LANGGRAPH_API_KEY", "secret-key")
    monkeypatch.delenv(SUBAGENT_GRAPH_ENV, raising=False)
    graphs = deployment_graphs(KimiContext())
    assert [g.url for g in graphs] == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    assert {g.assistant_id for g in graphs} == {"agent"}
    assert graphs[0].deployment is graphs[1].deployment  # one failover set
    assert graphs[0].deployment.headers == {"x-api-key": "secret-key"}
    assert deployment_graphs(KimiContext()) == graphs  # the same objects each run

    # a run's own URLs win, and never get the environment's key
    run = KimiContext(subagent_urls=["http://127.0.0.1:9003"], subagent_assistant="mine")
    (graph,) = deployment_graphs(run)
    assert (graph.url, graph.assistant_id) == ("http://127.0.0.1:9003", "mine")
    assert graph.deployment.headers == {}


def test_env_names_the_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SUBAGENT_URLS_ENV, "http://127.0.0.1:9001")
    monkeypatch.setenv(SUBAGENT_GRAPH_ENV, "researcher")
    assert deployment_graphs(KimiContext())[0].assistant_id == "researcher"


@pytest.mark.parametrize(
    ("context", "env", "message"),
    [
        (KimiContext(subagent_urls=["127.0.0.1:1"]), None, "KimiContext.subagent_urls="),
        (KimiContext(), "ftp://127.0.0.1:1", f"{SUBAGENT_URLS_ENV}="),
    ],
)
def test_a_bad_url_is_named_with_its_source(
    monkeypatch: pytest.MonkeyPatch, context: KimiContext, env: str | None, message: str
) -> None:
    if env:
        monkeypatch.setenv(SUBAGENT_URLS_ENV, env)
    with pytest.raises(ValueError, match=message):
        deployment_graphs(context)


def test_context_wants_a_list_of_urls() -> None:
    with pytest.raises(ValueError, match="subagent_urls must be a list"):
        KimiContext(subagent_urls="http://127.0.0.1:1")  # type: ignore[arg-type]
    assert KimiContext(subagent_urls=["http://x"]).subagent_urls == ("http://x",)


@pytest.mark.parametrize("bad", ["", 3])
def test_a_subagent_mark_must_be_a_non_empty_string(bad: object) -> None:
    with pytest.raises(ValueError, match="KimiContext.subagent_id must be a non-empty string"):
        KimiContext(subagent_id=bad)  # type: ignore[arg-type]
    assert KimiContext(subagent_id="r1/call_0").subagent_id == "r1/call_0"


async def test_a_loops_runs_spread_over_pools_and_a_run_keeps_its_own() -> None:
    dep = RemoteDeployment(("http://127.0.0.1:9",), headers={"x-api-key": "secret"})
    threads = [subagent_thread_id("swarm", f"subagent:{i}", f"call_{i}") for i in range(64)]
    clients = [dep.client(t) for t in threads]
    assert [dep.client(t) for t in threads] == clients  # a run's requests share a pool
    assert len({id(c) for c in clients}) > POOL_SHARDS // 2
    assert len({id(c) for c in clients}) <= POOL_SHARDS
    assert all(c.headers["x-api-key"] == "secret" for c in clients)
    await dep.close_client()
    assert all(c.is_closed for c in clients)
    assert dep.client(threads[0]) is not clients[0]
    await dep.close_client()


async def test_the_pools_of_a_loop_cost_little_cpu_to_make() -> None:
    """They share one TLS context: a default httpx client loads the CA file (~20 ms) each."""
    dep = RemoteDeployment(("http://127.0.0.1:9",))
    dep.client("warm-up")  # the shared context
    await dep.close_client()
    start = time.process_time()
    made = {id(dep.client(f"thread-{i}")) for i in range(4 * POOL_SHARDS)}
    shards = time.process_time() - start
    assert len(made) > POOL_SHARDS // 2
    await dep.close_client()
    start = time.process_time()
    for _ in range(2):
        await httpx.AsyncClient().aclose()
    two_default = time.process_time() - start
    assert shards < two_default, (shards, two_default)
