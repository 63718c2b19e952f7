"""Forwarding a remote sub-agent's commands over HTTP, against a loopback server that
records what it is sent: the store item, the failover to the next instance, and the
API-key rule (`LANGGRAPH_API_KEY` only to the URLs of the environment)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kimi_graph.context import KimiContext
from kimi_graph.modes.swarm._commands import cancel_remote_runs
from kimi_graph.modes.swarm._remote import (
    SUBAGENT_GRAPH_ENV,
    SUBAGENT_URLS_ENV,
    RemoteDeployment,
    RemoteSubagentGraph,
    deployment_graphs,
)
from kimi_graph.modes.swarm._remote_control import CommandForwarder


class Recorder(ThreadingHTTPServer):
    """A loopback server answering the SDK's store and runs calls, recording each."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self, body: Any) -> None:
        length = int(self.headers.get("content-length") or 0)
        sent = json.loads(self.rfile.read(length)) if length else None
        self.server.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "json": sent}
        )
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self._answer({})

    def do_GET(self) -> None:
        self._answer([])

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_command_becomes_an_item_of_the_remote_thread(recorder: Recorder) -> None:
    refusing = _closed_port()
    deployment = RemoteDeployment((refusing, recorder.url), headers={"x-api-key": "given"})
    graph = RemoteSubagentGraph("agent", deployment, refusing, "remote")
    forwarder = CommandForwarder(graph, "remote-thread-1", "r1/call_0")

    assert forwarder.put("k1", {"action": "cancel", "subagent": "r1/call_0", "text": "why"})
    (put,) = recorder.seen  # the refusing instance was skipped
    assert put["method"] == "PUT" and put["path"] == "/store/items"
    assert put["json"]["namespace"] == ["kimi_graph", "control", "remote-thread-1"]
    assert put["json"]["key"] == "k1"
    assert put["json"]["value"] == {"action": "cancel", "subagent": "r1/call_0", "text": "why"}
    assert put["headers"]["x-api-key"] == "given"  # the RemoteGraph's own key


def test_no_instance_takes_it_is_false_not_a_crash() -> None:
    refusing = _closed_port()
    graph = RemoteSubagentGraph("agent", RemoteDeployment((refusing,)), refusing, "remote")
    assert not CommandForwarder(graph, "t", "r1/x").put("k", {"action": "steer"})


def test_the_env_key_goes_to_env_urls_only(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGGRAPH_API_KEY", "env-secret")
    monkeypatch.setenv("LANGSMITH_API_KEY", "smith-secret")
    monkeypatch.delenv(SUBAGENT_GRAPH_ENV, raising=False)
    # a run's own URLs (KimiContext.subagent_urls): no key of the environment
    (graph,) = deployment_graphs(KimiContext(subagent_urls=(recorder.url,)))
    assert CommandForwarder(graph, "t1", "r1/a").put("k", {"action": "steer"})
    assert "x-api-key" not in recorder.seen[-1]["headers"]
    assert cancel_remote_runs(graph, {"configurable": {"thread_id": "t1"}}) == 0
    assert recorder.seen[-1]["path"].startswith("/threads/t1/runs")  # the cancel's own request
    assert "x-api-key" not in recorder.seen[-1]["headers"]
    # the URLs of the environment (KIMI_SUBAGENT_URLS) get LANGGRAPH_API_KEY
    monkeypatch.setenv(SUBAGENT_URLS_ENV, recorder.url + "/")
    (graph,) = deployment_graphs(KimiContext())
    assert CommandForwarder(graph, "t2", "r1/b").put("k", {"action": "steer"})
    assert recorder.seen[-1]["headers"]["x-api-key"] == "env-secret"
    # the abort's cancel of the remote run carries it too (no reserved-header error)
    assert cancel_remote_runs(graph, {"configurable": {"thread_id": "t2"}}) == 0
    assert recorder.seen[-1]["path"].startswith("/threads/t2/runs")
    assert recorder.seen[-1]["headers"]["x-api-key"] == "env-secret"
