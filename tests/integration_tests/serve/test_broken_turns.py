"""`serve` errors and broken turns (issue 16.5): 400/502, not 500; cut runs leave valid threads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from kimi_graph import ChatKimi, create_graph
from kimi_graph.emulator import Emulator
from kimi_graph.modes._repair import INTERRUPTED
from kimi_graph.serve import ServeConfig, ServerThread, create_app
from tests.integration_tests.serve_helpers import (
    UPSTREAM_KEY,
    CannedUpstream,
    served,
    served_on,
    wait_for,
)

USER = [{"role": "user", "content": "hi"}]


@tool
async def slow_lookup(query: str) -> str:
    """Look something up (slowly)."""
    await asyncio.sleep(60)
    return "never"


SLOW_ASK = 'Look it up. [[call slow_lookup {"query": "x"}]]'


def _post(url: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/chat/completions",
        content=body if isinstance(body, bytes) else json.dumps(body),
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


def test_deep_nesting_and_odd_tool_arguments_are_400s(emulator: Emulator) -> None:
    with served(emulator) as srv:
        mark = len(emulator.requests)
        deep = b'{"model": "kimi-instant", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = _post(srv.base_url, deep)
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["error"]["message"]
        for arguments in ([1, 2], 7, None, True):
            turn = {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": arguments},
                    }
                ],
            }
            body = {
                "model": "kimi-instant",
                "messages": [*USER, turn, {"role": "tool", "tool_call_id": "c1", "content": "1"}],
            }
            response = _post(srv.base_url, body)
            if arguments is None:  # absent arguments mean {} (as OpenAI's SDKs send them)
                assert response.status_code == 200
                continue
            assert response.status_code == 400, arguments
            assert "must be a JSON string" in response.json()["error"]["message"]
        assert len(emulator.requests[mark:]) == 1


def test_bad_thread_ids_are_400s_before_the_run(emulator: Emulator, tmp_path: Path) -> None:
    with served(emulator, checkpoint=str(tmp_path / "t.sqlite")) as srv:
        mark = len(emulator.requests)
        for thread_id in ("café", "a\r\nX-Evil: 1", "tab\there", "", "x" * 201):
            response = _post(
                srv.base_url, {"model": "kimi-instant", "messages": USER, "thread_id": thread_id}
            )
            assert response.status_code == 400, thread_id
            assert response.json()["error"]["param"] == "thread_id"
        raw = httpx.post(
            f"{srv.base_url}/chat/completions",
            json={"model": "kimi-instant", "messages": USER},
            headers={"x-thread-id": "caf\xe9".encode("latin-1")},  # type: ignore[dict-item]
        )
        assert raw.status_code == 400 and raw.json()["error"]["param"] == "x-thread-id"
        assert emulator.requests[mark:] == []
        ok = _post(srv.base_url, {"model": "kimi-instant", "messages": USER, "thread_id": "ok-1"})
        assert ok.status_code == 200 and ok.headers["x-thread-id"] == "ok-1"


def test_an_upstream_200_carrying_an_error_is_a_502() -> None:
    body = {"error": {"message": "engine overloaded", "type": "server_error"}}
    with CannedUpstream(body) as upstream, served_on(upstream.base_url) as srv:
        for stream in (False, True):
            response = _post(
                srv.base_url, {"model": "kimi-thinking", "messages": USER, "stream": stream}
            )
            assert response.status_code == 502, stream
            error = response.json()["error"]
            assert error["code"] == "upstream_error"
            assert "kimi-thinking" in error["message"]
            if not stream:  # a stream's reader sees no chunks; the body is not surfaced yet
                assert "engine overloaded" in error["message"]
            assert upstream.base_url not in error["message"]


def test_only_system_messages_is_a_400(emulator: Emulator) -> None:
    with served(emulator) as srv:
        mark = len(emulator.requests)
        for role in ("system", "developer"):
            response = _post(
                srv.base_url,
                {"model": "kimi-agent", "messages": [{"role": role, "content": "Be brief."}]},
            )
            assert response.status_code == 400
            assert "only system messages" in response.json()["error"]["message"]
        assert emulator.requests[mark:] == []


def test_a_run_cut_in_a_tool_call_leaves_the_thread_valid(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Timeout while the tool runs: the call is answered "interrupted"; the next turn works."""
    config = ServeConfig(
        base_url=emulator.base_url("moonshot"),
        backend="moonshot",
        upstream_api_key=UPSTREAM_KEY,
        max_retries=0,
        timeout=1.5,
        checkpoint=str(tmp_path / "threads.sqlite"),
    )
    with ServerThread(create_app(config, tools=[slow_lookup])) as srv:
        cut = _post(
            srv.base_url,
            {
                "model": "kimi-agent",
                "messages": [{"role": "user", "content": SLOW_ASK}],
                "thread_id": "t1",
            },
        )
        assert cut.status_code == 504
        # The server answered the call in the thread itself, not only in what it sends.
        with SqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
            saved = saver.get_tuple({"configurable": {"thread_id": "t1"}})
        assert saved is not None
        kept = saved.checkpoint["channel_values"]["messages"]
        assert isinstance(kept[-1], ToolMessage) and kept[-1].content == INTERRUPTED
        assert isinstance(kept[-2], AIMessage) and kept[-2].tool_calls
        mark = len(emulator.requests)
        after = _post(
            srv.base_url,
            {
                "model": "kimi-agent",
                "messages": [{"role": "user", "content": "What is 2+2?"}],
                "thread_id": "t1",
            },
        )
        assert after.status_code == 200, after.text
        (record,) = emulator.requests[mark:]
        assert record.status == 200
        roles = [
            (m["role"], m.get("content")) for m in record.body["messages"] if m["role"] != "system"
        ]
        assert roles[1][0] == "assistant" and roles[2] == ("tool", INTERRUPTED)
        assert roles[3] == ("user", "What is 2+2?")

        # A client that hangs up mid-tool (streamed) leaves it valid too.
        body = {
            "model": "kimi-agent",
            "messages": [{"role": "user", "content": SLOW_ASK}],
            "thread_id": "t2",
            "stream": True,
        }
        with httpx.stream(
            "POST", f"{srv.base_url}/chat/completions", json=body, timeout=30
        ) as response:
            for line in response.iter_lines():
                if "reasoning_content" in line:
                    break
        runs = srv.app.state.kimi.runs
        wait_for(lambda: runs.active == 0, "the cut run to unwind")
        mark = len(emulator.requests)
        after = _post(
            srv.base_url,
            {
                "model": "kimi-agent",
                "messages": [{"role": "user", "content": "What is 3+3?"}],
                "thread_id": "t2",
            },
        )
        assert after.status_code == 200, after.text
        assert emulator.requests[mark].status == 200


async def test_the_graphs_repair_a_history_cut_in_a_tool_call(emulator: Emulator) -> None:
    """Without serve: a checkpointed agent cancelled mid-tool answers its next turn."""
    model = ChatKimi(
        base_url=emulator.base_url("moonshot"), api_key="k", backend="moonshot", max_retries=0
    )
    graph = create_graph("agent", model=model, tools=[slow_lookup], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "g1"}}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(graph.ainvoke({"messages": [HumanMessage(SLOW_ASK)]}, config), 1.5)
    state = await graph.aget_state(config)
    last = state.values["messages"][-1]
    assert isinstance(last, AIMessage) and last.tool_calls  # the cut left it unanswered
    mark = len(emulator.requests)
    result = await graph.ainvoke({"messages": [HumanMessage("What is 2+2?")]}, config)
    assert result["messages"][-1].content == "4"
    (record,) = emulator.requests[mark:]
    assert record.status == 200
    tools = [m for m in record.body["messages"] if m["role"] == "tool"]
    assert [t["content"] for t in tools] == [INTERRUPTED]
    # The thread itself is unchanged: the repair is of what is sent.
    assert not any(isinstance(m, ToolMessage) for m in result["messages"])
