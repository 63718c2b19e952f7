"""The agent graph over real recorded turns: a tool call, then the answer.

The loopback server answers the first request with a recorded K3 tool call and the
second with a recorded K3 answer. The graph must run the tool the recording asked for,
send the recorded reasoning back byte for byte with the tool result, end on the
recorded answer, and count each call's usage once (streamed or not).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from kimi_graph import ChatKimi, create_agent_graph
from tests.integration_tests.replay.recordings import expected, load
from tests.integration_tests.replay.server import ReplayServer

CALLED: list[str] = []

#: (tool-call turn, answer turn) per run: non-streamed, then streamed recordings.
TURNS = {
    "invoke": ("moonshot_k3_nonstream_tool_call", "moonshot_k3_nonstream_reasoning_cached_usage"),
    "astream": (
        "moonshot_k3_stream_reasoning_tool_call",
        "moonshot_k3_stream_reasoning_usage_twice",
    ),
}


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    CALLED.append(city)
    return f"Sunny in {city}"


@pytest.mark.parametrize("run", list(TURNS))
async def test_agent_runs_the_recorded_turns(replay: ReplayServer, run: str) -> None:
    call, answer = (load(name) for name in TURNS[run])
    replay.serve(call, answer)
    CALLED.clear()
    llm = ChatKimi(
        model="kimi-k3",
        base_url=replay.base_url,
        api_key="test-key",
        backend="moonshot",
        max_retries=0,
        streaming=call.stream,
    )
    graph = create_agent_graph(llm, [get_weather])
    inputs = {"messages": [("user", "What is the weather in Paris? Use get_weather.")]}
    if run == "invoke":
        out: dict[str, Any] = await graph.ainvoke(inputs)
    else:
        out = {}
        async for mode, part in graph.astream(inputs, stream_mode=["messages", "values"]):
            if mode == "values":
                out = part
    want_call, want_answer = expected(call), expected(answer)
    assert CALLED == ["Paris"]  # the recorded arguments, {"city": "Paris"}
    assert len(replay.requests) == 2
    sent = replay.requests[1]["messages"]
    (assistant,) = [m for m in sent if m["role"] == "assistant"]
    assert assistant["reasoning_content"] == want_call.reasoning
    assert [c["id"] for c in assistant["tool_calls"]] == [i for i, _, _ in want_call.tool_calls]
    (result,) = [m for m in sent if m["role"] == "tool"]
    assert result["tool_call_id"] == want_call.tool_calls[0][0]
    assert result["content"] == "Sunny in Paris"
    final = out["messages"][-1]
    assert isinstance(final, AIMessage)
    assert final.content == want_answer.content
    assert final.additional_kwargs["reasoning_content"] == want_answer.reasoning
    turns = [m for m in out["messages"] if isinstance(m, AIMessage)]
    assert [m.usage_metadata["total_tokens"] for m in turns] == [  # type: ignore[index]
        want_call.usage["total_tokens"],  # type: ignore[index]
        want_answer.usage["total_tokens"],  # type: ignore[index]
    ]
