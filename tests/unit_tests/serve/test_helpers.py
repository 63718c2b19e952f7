"""Small pieces of `kimi_graph.serve` that need no server."""

from __future__ import annotations

import socket

from langchain_core.messages import AIMessage, ToolMessage

from kimi_graph.serve.runtime import bind
from kimi_graph.serve.schemas import MessageIn, public_url, to_langchain
from kimi_graph.serve.streaming import public_event
from kimi_graph.serve.threads import redact, scrub


def test_public_url_drops_credentials() -> None:
    assert public_url("http://user:pw@gpu-1:8000/v1") == "http://gpu-1:8000/v1"
    assert public_url("http://gpu-1:8000/v1") == "http://gpu-1:8000/v1"
    event = public_event({"type": "subagent", "worker": "https://k:secret@h/v1"})
    assert event["worker"] == "https://h/v1"


def test_checkpoint_urls_are_redacted() -> None:
    url = "postgresql://app:hunter2@db:5432/kimi"
    assert "hunter2" not in redact(url)
    assert redact("threads.sqlite") == "threads.sqlite"
    assert scrub("failed for hunter2 at db", url) == "failed for *** at db"


def test_history_keeps_reasoning_and_tool_calls() -> None:
    messages = to_langchain(
        [
            MessageIn(role="user", content="q"),
            MessageIn(
                role="assistant",
                content=None,
                reasoning="R",
                tool_calls=[{"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}}],
            ),
            MessageIn(role="tool", tool_call_id="c1", content="1"),
        ]
    )
    ai = messages[1]
    assert isinstance(ai, AIMessage)
    assert ai.additional_kwargs["reasoning_content"] == "R"
    assert ai.tool_calls[0]["args"] == {"x": 1}
    assert isinstance(messages[2], ToolMessage)


def test_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
