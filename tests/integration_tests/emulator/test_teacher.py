"""The emulator as a teacher: a newcomer's plain prompts get sensible results (HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.tools import tool

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator
from kimi_graph.emulator.teacher import arithmetic_expression, listed_items, named_thing
from kimi_graph.modes import create_graph
from kimi_graph.tools import run_python
from kimi_graph.tools.calculator import calculator

TEACHER_TIMEOUT = 60


@tool
def get_weather(city: str) -> str:
    """The current weather of a city.

    Args:
        city: The city's name.
    """
    return f"Sunny in {city}"


@tool
def square(n: int) -> int:
    """The square of a number.

    Args:
        n: The number.
    """
    return n * n


def calls_of(llm: ChatKimi, tools: list[Any], prompt: str) -> list[tuple[str, dict]]:
    message = llm.bind_tools(tools).invoke(prompt)
    return [(c["name"], c["args"]) for c in message.tool_calls]


@pytest.fixture
def llm(kimi: Callable[..., ChatKimi]) -> ChatKimi:
    return kimi("moonshot")


# ---------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [("2+3*4", "14"), ("What is 2+3*4?", "14"), ("compute (10-4)/4", "1.5")],
)
def test_arithmetic_is_answered_directly(llm: ChatKimi, prompt: str, answer: str) -> None:
    assert llm.invoke(prompt).content == answer


def test_run_python_gets_the_whole_expression(llm: ChatKimi) -> None:
    calls = calls_of(llm, [run_python], "Compute 2+3*4 with run_python")
    assert calls == [("run_python", {"code": "print(2+3*4)"})]


def test_an_offered_calculator_computes_a_plain_question(llm: ChatKimi) -> None:
    calls = calls_of(llm, [calculator, run_python], "What is 2+3*4?")
    assert calls == [("calculator", {"expression": "2+3*4"})]


def test_the_agent_loop_computes_14_with_the_calculator(kimi: Callable[..., ChatKimi]) -> None:
    graph = create_graph("agent", model=kimi("vllm"), tools=[calculator])
    out = graph.invoke({"messages": [("user", "What is 2+3*4?")]})
    tool_results = [m.content for m in out["messages"] if m.type == "tool"]
    assert tool_results == ["14"]
    assert out["messages"][-1].content == "Based on the tool results: 14"


def test_a_quoted_expression_goes_to_the_calculator(llm: ChatKimi) -> None:
    calls = calls_of(llm, [calculator], 'Use the calculator on "3 * 4 * 2" for the builds')
    assert calls == [("calculator", {"expression": "3 * 4 * 2"})]


def test_without_a_calculator_the_model_answers_itself(llm: ChatKimi) -> None:
    message = llm.bind_tools([get_weather]).invoke("What is 2+3*4?")
    assert message.tool_calls == []
    assert message.content == "14"


# ---------------------------------------------------------------------- arguments


def test_weather_in_paris_and_rome_is_two_parallel_calls(llm: ChatKimi) -> None:
    calls = calls_of(llm, [get_weather], "What's the weather in Paris and Rome?")
    assert calls == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]


def test_a_longer_list_keeps_its_order(llm: ChatKimi) -> None:
    calls = calls_of(llm, [get_weather], "weather in New York, Paris and San Francisco today")
    assert [args["city"] for _, args in calls] == ["New York", "Paris", "San Francisco"]


def test_one_city_is_the_city_not_the_sentence(llm: ChatKimi) -> None:
    assert calls_of(llm, [get_weather], "How is the weather in Oslo today?") == [
        ("get_weather", {"city": "Oslo"})
    ]


def test_quoted_strings_are_arguments(llm: ChatKimi) -> None:
    calls = calls_of(llm, [get_weather], 'get_weather for "Buenos Aires" and "Lima"')
    assert calls == [("get_weather", {"city": "Buenos Aires"}), ("get_weather", {"city": "Lima"})]


def test_numbers_fan_out_to_a_numeric_tool(llm: ChatKimi) -> None:
    calls = calls_of(llm, [square], "square 3 and 4")
    assert calls == [("square", {"n": 3}), ("square", {"n": 4})]


def test_a_range_is_not_a_list(llm: ChatKimi) -> None:
    assert calls_of(llm, [square], "square a number between 3 and 7") == [("square", {"n": 3})]


def test_spelled_arguments_win_over_a_list(llm: ChatKimi) -> None:
    calls = calls_of(llm, [get_weather], "get_weather(city='Oslo') and then Rome and Paris")
    assert calls == [("get_weather", {"city": "Oslo"})]


def test_parallel_tool_calls_false_keeps_the_first(llm: ChatKimi) -> None:
    message = llm.bind_tools([get_weather], parallel_tool_calls=False).invoke(
        "weather in Paris and Rome"
    )
    assert [c["args"] for c in message.tool_calls] == [{"city": "Paris"}]


def test_directives_still_decide(llm: ChatKimi) -> None:
    prompt = 'weather in Paris and Rome [[call get_weather {"city": "Lima"}]]'
    assert calls_of(llm, [get_weather], prompt) == [("get_weather", {"city": "Lima"})]


def test_the_agent_runs_both_calls_and_answers_from_them(kimi: Callable[..., ChatKimi]) -> None:
    graph = create_graph("agent", model=kimi("sglang"), tools=[get_weather])
    out = graph.invoke({"messages": [("user", "weather in Paris and Rome")]})
    assert out["messages"][-1].content == "Based on the tool results: Sunny in Paris; Sunny in Rome"


# ---------------------------------------------------------------------- honesty


def test_canned_answers_say_they_come_from_the_emulator(llm: ChatKimi) -> None:
    text = llm.invoke("Tell me a story about a lighthouse").content
    assert text.startswith('Here is my answer to "Tell me a story about a lighthouse": ')
    assert "K2.5 emulator" in text
    assert "KIMI_BASE_URL" in text


def test_the_emulator_note_in_every_dialect(emulator: Emulator, kimi: Callable[..., Any]) -> None:
    for dialect in ("vllm", "raw", "openrouter"):
        assert "emulator" in kimi(dialect).invoke("Hello").content


# ---------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is 2+3*4?", "2+3*4"),
        ("(10 - 4) / 4, please", "(10 - 4) / 4"),
        ("see (2+3) now", "(2+3)"),
        ("version 3.12 of Python", None),
        ("call me at 555-1234", "555-1234"),
        ("no numbers", None),
    ],
)
def test_arithmetic_expression(text: str, expected: str | None) -> None:
    assert arithmetic_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Use Paris and Rome", ["Paris", "Rome"]),
        ("salt and pepper", []),
        ("between 1 and 10", []),
        ("compare run_python and calculator", []),
        ('"a b" and "c"', ["a b", "c"]),
        ("Paris and Paris", []),
    ],
)
def test_listed_items(text: str, expected: list[str]) -> None:
    assert listed_items(text, exclude=frozenset({"run_python", "calculator"})) == expected


def test_named_thing() -> None:
    assert named_thing("weather in Paris") == "Paris"
    assert named_thing('look up "x y" in Rome') == "x y"
    assert named_thing("hello there") is None
