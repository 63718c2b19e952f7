"""An abort reaches a `fetch_url` download: the branch returns at once and the page's
server sees the connection closed, on invoke and ainvoke.

The page trickles one byte every 2 s, so a client that only closed its socket (which
does not wake a read blocked on it) would leave the server waiting up to 2 s more.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from kimi_graph import SwarmControl, create_swarm_graph
from kimi_graph.tools import make_fetch_url
from tests.integration_tests.loopback import LoopbackServer, loopback_server
from tests.integration_tests.modes.swarm._control_run import (
    BackgroundRun,
    assign,
    running,
    wait_for,
)


@pytest.fixture
def page_server() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_abort_closes_the_fetch_url_download(kimi, emulator, page_server, how) -> None:
    nonce = uuid.uuid4().hex[:8]
    url = page_server.url(f"/trickle/2?{nonce}")
    call = json.dumps({"url": url})
    prompt = assign("reader", f"[[call fetch_url {call}]] [[then]] [[answer read]]") + assign(
        "sibling", f"[[answer sibling-done-{nonce}]]"
    )
    # loopback is refused by default: this test's page is on 127.0.0.1
    fetch = make_fetch_url(allow_private=True, timeout=60)
    store = InMemoryStore()
    control = SwarmControl(store)
    graph = create_swarm_graph(kimi(), [fetch], store=store, checkpointer=InMemorySaver())
    run = BackgroundRun(graph, prompt, how).start()
    reader = wait_for(control, run.thread_id, running("reader", steps=1))["reader"]
    page = page_server.first("/trickle/")
    time.sleep(0.3)  # the download is under way: headers and a first byte are in
    assert page.gone is None
    sent = time.monotonic()
    control.abort(run.thread_id, reader["id"], reason=f"enough-{nonce}")
    while not [e for e in run.events if e.get("event") == "aborted"]:
        assert time.monotonic() - sent < 5, run.events
        time.sleep(0.01)
    latency = time.monotonic() - sent
    records = run.records()

    assert latency < 1.0
    assert page.wait_gone() - sent < 1.0  # the server saw the download's connection close
    assert records["reader"]["status"] == "aborted"
    assert records["reader"]["error"] == f"enough-{nonce}"
    assert records["sibling"]["output"] == f"sibling-done-{nonce}"
    assert len(page_server.seen) == 1  # fetched once, never again
