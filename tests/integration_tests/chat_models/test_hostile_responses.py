"""Hostile or broken servers: each answer is a clear error naming the server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.endpoint import MalformedResponseError


def _completion(message: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "kimi-k2.5",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extra,
    }


def _call(call_id: Any, args: str = "{}") -> dict[str, Any]:
    call = {"type": "function", "function": {"name": "get_weather", "arguments": args}}
    if call_id is not None:
        call["id"] = call_id
    return call


BODIES: dict[str, tuple[str, bytes]] = {
    "no-choices": ("application/json", json.dumps({**_completion({}), "choices": []}).encode()),
    "null-message": ("application/json", json.dumps(_completion(None)).encode()),
    "not-json": ("application/json", b"<html>upstream proxy error</html>"),
    "not-json-text": ("text/html", b"<html>upstream proxy error</html>"),
    "json-list": ("application/json", b"[1, 2, 3]"),
    "no-id": (
        "application/json",
        json.dumps(
            _completion({"role": "assistant", "content": "", "tool_calls": [_call(None)]})
        ).encode(),
    ),
    "duplicate-ids": (
        "application/json",
        json.dumps(
            _completion(
                {"role": "assistant", "content": "", "tool_calls": [_call("a"), _call("a")]}
            )
        ).encode(),
    ),
}


class _Hostile:
    """A loopback server answering every POST /<case>/v1/chat/completions with a bad body."""

    def __init__(self) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                case = self.path.strip("/").split("/")[0]
                kind, body = BODIES[case]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[_Hostile]:
    server = _Hostile()
    yield server
    server.close()


@pytest.mark.parametrize("case", sorted(BODIES))
@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_malformed_200_is_a_clear_error(hostile: _Hostile, case: str, run: str) -> None:
    base = f"http://127.0.0.1:{hostile.port}/{case}/v1"
    llm = ChatKimi(base_url=base, api_key="k", backend="vllm", max_retries=0)
    with pytest.raises(MalformedResponseError) as info:
        if run == "invoke":
            llm.invoke("hi")
        else:
            await llm.ainvoke("hi")
    assert base in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("run", ["invoke", "ainvoke", "stream"])
async def test_connection_error_names_the_url_without_credentials(run: str) -> None:
    port = _closed_port()
    llm = ChatKimi(
        base_url=f"http://alice:s3cret-pw@127.0.0.1:{port}/v1", api_key="k", max_retries=0
    )
    with pytest.raises(openai.APIConnectionError) as info:
        if run == "invoke":
            llm.invoke("hi")
        elif run == "ainvoke":
            await llm.ainvoke("hi")
        else:
            list(llm.stream("hi"))
    text = str(info.value)
    # the credentials left the URL when the model was made (a Basic auth header)
    assert f"http://127.0.0.1:{port}/v1" in text
    assert "s3cret-pw" not in text and "alice" not in text


def test_a_server_that_never_answers_times_out_naming_it() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (backlog) and never answers
    try:
        port = silent.getsockname()[1]
        llm = ChatKimi(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        assert llm.request_timeout.connect == 10.0 and llm.request_timeout.read == 300.0
        fast = ChatKimi(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=0.3
        )
        with pytest.raises(openai.APITimeoutError) as info:
            fast.invoke("hi")
        assert f"127.0.0.1:{port}/v1" in str(info.value)
    finally:
        silent.close()


@pytest.mark.parametrize("mode", ["instant", "thinking", "agent", "swarm"])
def test_empty_conversation_is_refused_before_any_request(kimi, emulator, mode: str) -> None:
    from kimi_graph import create_graph

    mark = len(emulator.requests)
    with pytest.raises(ValueError, match="refused before any request"):
        create_graph(mode, model=kimi("moonshot")).invoke({"messages": []})
    with pytest.raises(ValueError, match="refused before any request"):
        kimi("vllm").invoke([])
    assert len(emulator.requests) == mark


def test_credentials_in_base_url_stay_out_of_records_events_and_checkpoints(emulator) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from kimi_graph import create_swarm_graph

    secret = "pa55-word-xyz"
    port = _closed_port()
    broken = ChatKimi(
        base_url=f"http://bob:{secret}@127.0.0.1:{port}/v1", api_key="k", max_retries=0
    )
    good = ChatKimi(base_url=emulator.base_url("moonshot"), api_key="k", max_retries=0)
    saver = InMemorySaver()
    graph = create_swarm_graph(good, [], worker_model=[broken], checkpointer=saver)
    config = {"configurable": {"thread_id": "creds"}}
    seen: list[str] = []
    for part in graph.stream(
        {"messages": [("user", "Do:\n- question a\n- question b")]},
        config,
        stream_mode=["custom", "values", "updates"],
    ):
        seen.append(repr(part))
    state = graph.get_state(config)
    records = state.values["subagent_results"]
    assert records and all(r["status"] == "error" for r in records)
    # the credentials left the URL when the model was made (a Basic auth header)
    assert all(f"http://127.0.0.1:{port}" in r["error"] for r in records)
    blob = "\n".join(seen) + repr(state) + repr(list(saver.list(config)))
    assert f"127.0.0.1:{port}" in blob
    assert secret not in blob and "bob:" not in blob


@pytest.mark.parametrize("mode", ["instant", "swarm"])
def test_cli_output_hides_url_credentials(
    mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kimi_graph.cli import main

    port = _closed_port()
    monkeypatch.setenv("KIMI_BASE_URL", f"http://carol:hunter2-pw@127.0.0.1:{port}/v1")
    monkeypatch.setenv("KIMI_API_KEY", "sk-secret-key-123")
    assert main(["run", "--mode", mode, "--no-color", "hello"]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"http://127.0.0.1:{port}" in text  # the credentials left the URL
    for secret in ("hunter2-pw", "carol", "sk-secret-key-123"):
        assert secret not in text


@pytest.mark.parametrize("run", ["stream", "astream"])
async def test_read_timeout_is_per_chunk_so_flowing_streams_are_not_cut(run: str) -> None:
    from kimi_graph.emulator import Emulator, EmulatorConfig

    # 0.15 s between chunks, ~20 chunks: the whole stream lasts far longer than the
    # 0.6 s read timeout, which bounds only the silence between two chunks.
    with Emulator(EmulatorConfig(token_delay=0.15, chunk_words=1)) as emu:
        llm = ChatKimi(base_url=emu.base_url("vllm"), api_key="k", max_retries=0, timeout=0.6)
        prompt = "[[answer " + " ".join(f"w{i}" for i in range(20)) + "]]"
        if run == "stream":
            chunks = list(llm.stream(prompt, thinking=False))
        else:
            chunks = [c async for c in llm.astream(prompt, thinking=False)]
        text = "".join(c.text for c in chunks)
        assert text.split() == [f"w{i}" for i in range(20)]
        assert len([r for r in emu.requests if r.status == 200]) == 1
