"""The server's memory of the reasoning of tool-call turns it produced."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from kimi_graph.serve.reasoning_memory import ReasoningMemory


def _turn(reasoning: str | None = None, call_id: str = "get_weather_0") -> AIMessage:
    kwargs = {"reasoning_content": reasoning} if reasoning else {}
    return AIMessage(
        "",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": call_id}],
        additional_kwargs=kwargs,
    )


def test_restores_per_caller_and_conversation() -> None:
    memory = ReasoningMemory()
    asked = [HumanMessage("Weather in Paris?")]
    memory.remember("key-a", asked, _turn("R1"))
    back = [*asked, _turn(), ToolMessage("sunny", tool_call_id="get_weather_0")]
    assert memory.restore("key-b", back) == 0  # another caller
    other = [HumanMessage("Lyon?"), _turn(), ToolMessage("x", tool_call_id="get_weather_0")]
    assert memory.restore("key-a", other) == 0  # same call id, another conversation
    assert memory.restore("key-a", back) == 1
    assert back[1].additional_kwargs["reasoning_content"] == "R1"


def test_is_bounded_and_skips_turns_without_reasoning_or_calls() -> None:
    memory = ReasoningMemory(max_entries=2)
    memory.remember("k", [HumanMessage("x")], AIMessage("plain answer"))
    memory.remember("k", [HumanMessage("x")], _turn(None))
    assert len(memory) == 0
    for i in range(3):
        memory.remember("k", [HumanMessage(str(i))], _turn(f"R{i}"))
    assert len(memory) == 2
    assert memory.restore("k", [HumanMessage("0"), _turn()]) == 0  # the oldest went first
    assert memory.restore("k", [HumanMessage("2"), _turn()]) == 1


def test_restore_hashes_nothing_without_a_turn_to_restore(monkeypatch) -> None:
    from kimi_graph.serve import reasoning_memory

    memory = ReasoningMemory()
    long_chat = [HumanMessage("x" * 10_000), AIMessage("an answer")] * 20
    memory.remember("k", [HumanMessage("Weather?")], _turn("R1"))
    digests: list[object] = []
    real = reasoning_memory._digest
    monkeypatch.setattr(reasoning_memory, "_digest", lambda *a: digests.append(a) or real(*a))
    assert memory.restore("k", long_chat) == 0
    assert memory.restore("k", [*long_chat, _turn("kept")]) == 0  # has its reasoning
    assert digests == []  # every message would have been hashed before
    assert ReasoningMemory().restore("k", [*long_chat, _turn()]) == 0  # nothing remembered
    assert digests == []
    back = [HumanMessage("Weather?"), _turn(), ToolMessage("sunny", tool_call_id="get_weather_0")]
    assert memory.restore("k", [*back, *long_chat]) == 1  # the turn is found; the tail unhashed
    assert back[1].additional_kwargs["reasoning_content"] == "R1"
    assert len(digests) == 1 + 2 + 1  # the caller, two messages, the turn's key
