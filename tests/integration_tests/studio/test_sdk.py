"""Studio for real: `langgraph dev` serves the four graphs of `graphs/` (and a test-only
swarm whose sub-agent asks a person) against the emulator, driven with `langgraph_sdk`.

One server for the module. Everything goes over HTTP: SDK -> `langgraph dev` (a
subprocess) -> the emulator (in this process), whose request log the tests read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.langgraph_dev import ROOT, langgraph_dev

pytestmark = pytest.mark.slow

MODES = ("instant", "thinking", "agent", "swarm")
STREAM_MODES = ["values", "messages", "updates", "custom"]
SETTINGS = {"thinking", "base_url", "backend", "model", "max_steps", "max_subagents"}


@pytest.fixture(scope="module")
def studio_emulator() -> Iterator[Emulator]:
    """The server's model endpoint; its own, so its request log holds only this module."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture(scope="module")
def studio_url(
    studio_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "KIMI_BASE_URL": studio_emulator.base_url("moonshot"),
        "KIMI_BACKEND": "moonshot",
        "MOONSHOT_API_KEY": "studio-test-key",
    }
    graphs = {mode: f"{ROOT / 'graphs' / mode}.py:graph" for mode in MODES}
    graphs["swarm_hitl"] = f"{Path(__file__).parent / 'studio_hitl_graph.py'}:graph"
    workdir: Path = tmp_path_factory.mktemp("studio")
    with langgraph_dev(workdir, graphs, env) as url:
        yield url


@pytest.fixture
def client(studio_url: str) -> SyncLangGraphClient:
    return get_sync_client(url=studio_url)


def assign(role: str, task: str) -> str:
    return f"[[call assign_task {json.dumps({'role': role, 'task': task})}]]"


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def stream(client: SyncLangGraphClient, graph: str, inputs: Any, **kwargs: Any) -> tuple:
    """One thread, one streamed run (all four modes, subgraphs); (thread_id, parts)."""
    thread = client.threads.create()
    parts = list(
        client.runs.stream(
            thread["thread_id"],
            graph,
            input=inputs,
            stream_mode=STREAM_MODES,
            stream_subgraphs=True,
            **kwargs,
        )
    )
    errors = [p.data for p in parts if p.event == "error"]
    assert not errors, errors
    return thread["thread_id"], parts


def by_event(parts: list[Any], prefix: str) -> list[Any]:
    return [p for p in parts if p.event.split("|")[0] == prefix]


def requests_with(emulator: Emulator, text: str) -> list[Any]:
    return [r for r in emulator.requests if text in r.last_user]


# ------------------------------------------------------------------ schemas


@pytest.mark.parametrize("mode", MODES)
def test_assistant_schema_shows_the_per_run_settings(
    client: SyncLangGraphClient, mode: str
) -> None:
    (assistant,) = client.assistants.search(graph_id=mode)
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    context = schemas["context_schema"]
    assert context is not None, schemas
    properties = context["properties"]
    assert set(properties) >= SETTINGS
    assert all(p.get("description") for p in properties.values()), properties
    assert "messages" in schemas["input_schema"]["properties"]
    if mode == "swarm":
        assert "subagent_results" in schemas["output_schema"]["properties"]


# ------------------------------------------------------------------ one streamed run per graph


def test_instant_streams_tokens_without_reasoning(
    client: SyncLangGraphClient, studio_emulator: Emulator
) -> None:
    nonce = uuid.uuid4().hex[:8]
    thread_id, parts = stream(client, "instant", user(f"What is 2+3*4? {nonce}"))
    tokens = [m for p in by_event(parts, "messages/partial") for m in p.data]
    assert tokens and all("reasoning_content" not in m["additional_kwargs"] for m in tokens)
    assert by_event(parts, "updates")[-1].data["model"]["messages"][-1]["type"] == "ai"
    (request,) = requests_with(studio_emulator, nonce)
    assert request.thinking is False and request.stream is True
    state = client.threads.get_state(thread_id)
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]


def test_thinking_streams_reasoning_then_answer(
    client: SyncLangGraphClient, studio_emulator: Emulator
) -> None:
    nonce = uuid.uuid4().hex[:8]
    thread_id, parts = stream(client, "thinking", user(f"[[answer 14-{nonce}]]"))
    tokens = [m for p in by_event(parts, "messages/partial") for m in p.data]
    reasoning = [m for m in tokens if m["additional_kwargs"].get("reasoning_content")]
    assert reasoning and reasoning[0]["content"] == ""  # reasoning streams before the answer
    (request,) = requests_with(studio_emulator, nonce)
    assert request.thinking is True
    final = client.threads.get_state(thread_id)["values"]["messages"][-1]
    assert final["content"] == f"14-{nonce}" == tokens[-1]["content"]
    assert (
        final["additional_kwargs"]["reasoning_content"]
        == reasoning[-1]["additional_kwargs"]["reasoning_content"]
    )


def test_agent_streams_a_tool_round_trip(client: SyncLangGraphClient) -> None:
    nonce = uuid.uuid4().hex[:8]
    script = f'[[call run_python {{"code": "print(6 * 7, \\"{nonce}\\")"}}]]'
    thread_id, parts = stream(client, "agent", user(script))
    nodes = [node for p in by_event(parts, "updates") for node in p.data]
    assert nodes[:3] == ["agent", "tools", "agent"], nodes
    values = by_event(parts, "values")
    assert len(values) >= 4  # input, tool call, tool result, answer
    state = client.threads.get_state(thread_id)
    tool_message = next(m for m in state["values"]["messages"] if m["type"] == "tool")
    assert f"42 {nonce}" in tool_message["content"]
    assert state["next"] == []


def test_swarm_streams_subagents_under_their_namespace(
    client: SyncLangGraphClient, studio_emulator: Emulator
) -> None:
    nonce = uuid.uuid4().hex[:8]
    thread_id, parts = stream(client, "swarm", user(f"Compare:\n- Rust {nonce}\n- Go {nonce}"))
    progress = [p.data for p in by_event(parts, "custom") if p.data.get("type") == "subagent"]
    starts = {e["namespace"]: e["role"] for e in progress if e["event"] == "start"}
    assert len(starts) == 2 and all(ns.startswith("subagent:") for ns in starts)
    assert {e["namespace"] for e in progress if e["event"] == "finish"} == set(starts)
    # The sub-agents' own steps arrive under their namespace ("updates|subagent:<id>").
    sub_updates = {p.event.split("|", 1)[1] for p in by_event(parts, "updates") if "|" in p.event}
    assert sub_updates == set(starts)
    # Their tokens stream too: the metadata says which namespace each message run is in.
    namespaces = {
        meta["metadata"].get("langgraph_checkpoint_ns", "").split("|")[0].split(":")[0]
        for p in by_event(parts, "messages/metadata")
        for meta in p.data.values()
    }
    assert "subagent" in namespaces, namespaces
    assert len(requests_with(studio_emulator, f"Rust {nonce}")) == 3  # orchestrator, sub, synth

    state = client.threads.get_state(thread_id)
    records = state["values"]["subagent_results"]
    assert sorted(r["status"] for r in records) == ["ok", "ok"]
    assert all(r["usage"]["total_tokens"] > 0 for r in records)
    final = state["values"]["messages"][-1]
    assert final["type"] == "ai" and final["response_metadata"]["swarm"]["subagents"] == 2


def test_sdk_client_follows_one_subagents_tokens(client: SyncLangGraphClient) -> None:
    """What the README tells SDK users: `messages-tuple` + subgraphs, keyed by namespace."""
    nonce = uuid.uuid4().hex[:8]
    roles: dict[str, str] = {}
    text: dict[str, str] = {}
    for part in client.runs.stream(
        None,
        "swarm",
        input=user(assign("alpha", f"say a-{nonce}") + assign("beta", f"say b-{nonce}")),
        stream_mode=["messages-tuple", "custom"],
        stream_subgraphs=True,
    ):
        mode, _, namespace = part.event.partition("|")
        if mode == "custom" and part.data.get("type") == "subagent":
            roles[part.data["namespace"]] = part.data["role"]
        elif mode == "messages" and namespace:
            chunk, _metadata = part.data
            text[namespace] = text.get(namespace, "") + chunk["content"]
    assert {roles[ns] for ns in text} == {"alpha", "beta"}
    by_role = {roles[ns]: t for ns, t in text.items()}
    assert f"a-{nonce}" in by_role["alpha"] and f"b-{nonce}" not in by_role["alpha"]
    assert f"b-{nonce}" in by_role["beta"]


# ------------------------------------------------------------------ per-run settings


async def test_run_context_turns_thinking_off_and_caps_subagents(
    studio_url: str, studio_emulator: Emulator
) -> None:
    client = get_client(url=studio_url)
    nonce = uuid.uuid4().hex[:8]
    task = "Compare:\n" + "".join(f"- item{i} {nonce}\n" for i in range(3))
    thread = await client.threads.create()
    out = await client.runs.wait(
        thread["thread_id"],
        "swarm",
        input=user(task),
        context={"thinking": False, "max_subagents": 2},
    )
    orchestrator = [r for r in requests_with(studio_emulator, "Compare:") if nonce in r.last_user]
    assert orchestrator and all(r.thinking is False for r in orchestrator)
    ran = [
        r
        for r in studio_emulator.requests
        if r.last_user.startswith("item") and nonce in r.last_user
    ]
    assert len(ran) == 2  # the third assign_task was refused, never sent to the model
    records = out["subagent_results"]
    assert sorted(r["status"] for r in records) == ["error", "ok", "ok"]
    refused = next(r for r in records if r["status"] == "error")
    assert "at most 2" in refused["error"]

    # The same graph without context: thinking is back on for the next run.
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "thinking", input=user(f"Hi {nonce}-again"))
    (request,) = requests_with(studio_emulator, f"{nonce}-again")
    assert request.thinking is True


@pytest.mark.parametrize("mode", MODES)
async def test_each_graph_runs_on_k3_from_the_run_context(
    studio_url: str, studio_emulator: Emulator, mode: str
) -> None:
    """Studio's per-run model picker: kimi-k3 (always reasons, effort instead of a switch)."""
    client = get_client(url=studio_url)
    nonce = uuid.uuid4().hex[:8]
    task = {
        "instant": f"What is 3*5? {nonce}",
        "thinking": f"What is 3*5? {nonce}",
        "agent": f'[[call run_python {{"code": "print(3 * 5, \\"{nonce}\\")"}}]]',
        "swarm": f"Compare:\n- left {nonce}\n- right {nonce}\n",
    }[mode]
    mark = len(studio_emulator.requests)
    thread = await client.threads.create()
    out = await client.runs.wait(
        thread["thread_id"], mode, input=user(task), context={"model": "kimi-k3"}
    )
    assert out["messages"][-1]["type"] == "ai" and out["messages"][-1]["content"]
    records = [r for r in studio_emulator.requests[mark:] if r.body.get("model") == "kimi-k3"]
    assert records and all(r.status == 200 for r in records)
    assert all("thinking" not in r.body and r.thinking for r in records)  # K3 always reasons
    if mode == "swarm":
        assert [r["status"] for r in out["subagent_results"]] == ["ok", "ok"]
    if mode == "instant":
        (request,) = records
        assert request.body["reasoning_effort"] == "low"  # instant on hosted K3


# ------------------------------------------------------------------ human in the loop


def test_subagent_interrupt_is_resumed_through_the_sdk(
    client: SyncLangGraphClient, studio_emulator: Emulator
) -> None:
    nonce = uuid.uuid4().hex[:8]
    script = assign("asker", f'[[call ask_human {{"question": "go-{nonce}?"}}]]') + assign(
        "weather", f'weather in "Oslo-{nonce}"'
    )
    thread = client.threads.create()
    thread_id = thread["thread_id"]
    parts = list(
        client.runs.stream(
            thread_id,
            "swarm_hitl",
            input=user(script),
            stream_mode=["updates"],
            stream_subgraphs=True,
        )
    )
    interrupts = [
        p.data["__interrupt__"] for p in by_event(parts, "updates") if "__interrupt__" in p.data
    ]
    assert interrupts and interrupts[-1][0]["value"] == {"question": f"go-{nonce}?"}

    paused = client.threads.get_state(thread_id)
    assert paused["next"] == ["subagent"]
    assert [i["value"] for i in paused["interrupts"]] == [{"question": f"go-{nonce}?"}]
    weather_task = f'weather in "Oslo-{nonce}"'
    weather = [r for r in studio_emulator.requests if r.last_user == weather_task]
    assert len(weather) == 2  # the sibling finished (tool call, answer) before the pause

    client.runs.wait(thread_id, "swarm_hitl", command={"resume": f"yes-{nonce}"})
    assert [r for r in studio_emulator.requests if r.last_user == weather_task] == weather

    final = client.threads.get_state(thread_id)
    assert final["next"] == [] and not final["interrupts"]
    records = {r["role"]: r for r in final["values"]["subagent_results"]}
    assert records["asker"]["status"] == "ok" and f"yes-{nonce}" in records["asker"]["output"]
    assert records["weather"]["status"] == "ok"
    assert final["values"]["messages"][-1]["type"] == "ai"
