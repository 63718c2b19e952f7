"""An abort closes the sub-agent's model request in flight, on invoke as on ainvoke.

The server (the emulator) is the witness: it records when each request ended, which
for a request still waiting out its latency, or still streaming, is when the client
closed it. The sync path's abandoned thread must not finish its call, nor retry it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from kimi_graph import ChatKimi, SwarmControl, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.modes.swarm._control_run import (
    BackgroundRun,
    assign,
    running,
    wait_for,
)

HOW = pytest.mark.parametrize("how", ["invoke", "ainvoke"])
LATENCY = 8.0
"""Seconds the stuck sub-agent's model call waits before its first byte."""


@tool
def step(tag: str) -> str:
    """Do one short step of work on `tag`."""
    time.sleep(0.1)
    return f"{tag} stepped"


def _with(emulator: Emulator, marker: str) -> list[Any]:
    """The sub-agents' requests (instant; the orchestrator and synthesis think) naming `marker`."""
    return [
        r for r in emulator.requests if not r.thinking and marker in str(r.body.get("messages"))
    ]


def _wait_in_flight(emulator: Emulator, marker: str, *, streaming: bool = False) -> Any:
    """The request naming `marker`, once the server has it (and, streaming, sends it)."""
    deadline = time.monotonic() + 20
    while True:
        found = _with(emulator, marker)
        if found and (not streaming or found[0].status == 200):
            return found[0]
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.01)


def _closed(emulator: Emulator, marker: str) -> Any:
    """The request naming `marker` once the server saw it end (2 s at most)."""
    deadline = time.monotonic() + 2
    while True:
        (request,) = _with(emulator, marker)  # the log holds copies: read it again
        if request.finished is not None or time.monotonic() > deadline:
            return request
        time.sleep(0.01)


def _aborted_at(run: BackgroundRun, sent: float) -> float:
    """Seconds from `sent` until the branch reported `aborted`."""
    while not [e for e in run.events if e.get("event") == "aborted"]:
        assert time.monotonic() - sent < 5, run.events
        time.sleep(0.01)
    return time.monotonic() - sent


@HOW
def test_abort_closes_the_model_request_in_flight(kimi, emulator, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    slow, sib = f"SLOW-{nonce}", f"SIB-{nonce}"
    prompt = assign("stuck", f"[[latency {LATENCY:g}]] {slow} [[answer never]]") + assign(
        "sibling",
        f'[[call step {{"tag": "{sib}"}}]] [[then]] [[call step {{"tag": "{sib}"}}]] '
        f"[[then]] [[answer sibling-done-{nonce}]]",
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    # the SDK retries twice: a retry after the abort must not reach the server
    worker = kimi(max_retries=2)
    graph = create_swarm_graph(
        kimi(), [step], worker_model=worker, store=store, checkpointer=InMemorySaver()
    )
    run = BackgroundRun(graph, prompt, how).start()
    stuck = wait_for(control, run.thread_id, running("stuck", steps=0))["stuck"]
    _wait_in_flight(emulator, slow)
    sent = time.monotonic()
    control.abort(run.thread_id, stuck["id"], reason=f"now-{nonce}")
    latency = _aborted_at(run, sent)
    records = run.records()

    assert latency < 1.0
    # the server saw the request closed, long before its latency ran out
    request = _closed(emulator, slow)
    assert request.finished is not None, "the request was never closed"
    assert request.finished - sent < 1.0
    assert request.finished - request.started < LATENCY / 2
    assert records["stuck"]["status"] == "aborted"
    assert records["stuck"]["error"] == f"now-{nonce}"
    assert records["sibling"]["status"] == "ok"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    time.sleep(2.0)  # the SDK's retry back-off (0.5 s, then 1 s) has passed
    assert len(_with(emulator, slow)) == 1  # no retry, no further call


@pytest.fixture(scope="module")
def trickling() -> Iterator[Emulator]:
    """An emulator that streams one word every 0.25 s."""
    with Emulator(EmulatorConfig(token_delay=0.25, chunk_words=1)) as emu:
        yield emu


@HOW
def test_abort_closes_a_streamed_answer_mid_body(kimi, trickling, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    slow = f"STREAM-{nonce}"
    words = " ".join(f"w{i}" for i in range(80))  # 20 s of body
    prompt = assign("streamer", f"{slow} [[answer {words}]]") + assign(
        "sibling", f"[[answer sibling-done-{nonce}]]"
    )
    store = InMemoryStore()
    control = SwarmControl(store)
    worker = ChatKimi(
        base_url=trickling.base_url("moonshot"),
        backend="moonshot",
        api_key="test-key",
        max_retries=2,
        streaming=True,
    )
    graph = create_swarm_graph(
        kimi(), [step], worker_model=worker, store=store, checkpointer=InMemorySaver()
    )
    run = BackgroundRun(graph, prompt, how).start()
    streamer = wait_for(control, run.thread_id, running("streamer", steps=0))["streamer"]
    request = _wait_in_flight(trickling, slow, streaming=True)
    assert request.stream
    time.sleep(0.6)  # a few words are through
    sent = time.monotonic()
    control.abort(run.thread_id, streamer["id"])
    latency = _aborted_at(run, sent)
    records = run.records()

    assert latency < 1.0
    request = _closed(trickling, slow)
    assert request.finished is not None, "the stream was never closed"
    assert request.finished - sent < 1.0
    assert records["streamer"]["status"] == "aborted"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    time.sleep(2.0)
    assert len(_with(trickling, slow)) == 1


def test_the_pooled_sync_client_serves_on_after_aborts(kimi, emulator) -> None:
    """Aborted requests leave no broken connection in the shared sync pool."""
    nonce = uuid.uuid4().hex[:8]
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(
        kimi(), [step], worker_model=kimi(), store=store, checkpointer=InMemorySaver()
    )
    prompt = "".join(
        assign(f"stuck{i}", f"[[latency {LATENCY:g}]] SLOW{i}-{nonce} [[answer never]]")
        for i in range(3)
    )
    run = BackgroundRun(graph, prompt, "invoke").start()
    by_role = wait_for(
        control,
        run.thread_id,
        lambda s: all(running(f"stuck{i}", steps=0)(s) for i in range(3)),
    )
    for i in range(3):
        _wait_in_flight(emulator, f"SLOW{i}-{nonce}")
    for i in range(3):
        control.abort(run.thread_id, by_role[f"stuck{i}"]["id"])
    records = run.records()
    assert {r["status"] for r in records.values()} == {"aborted"}
    # the same pooled client (same settings), from several threads at once
    model = kimi()
    answers = model.batch([f"[[answer after-{i}-{nonce}]]" for i in range(6)])
    assert [a.text for a in answers] == [f"after-{i}-{nonce}" for i in range(6)]
