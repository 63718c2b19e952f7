"""One call's rules, decided once (issue 15, item 3): `plan_call` and the body it shapes.

`wire_body` builds the exact JSON body without sending anything, so these tests need
no server; what the server does with the body is tested against the emulator in
tests/integration_tests/chat_models/.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

import kimi_graph.chat_models as chat_models
from kimi_graph import ChatKimi
from kimi_graph.backends import BACKENDS
from kimi_graph.chat_models._call_plan import CallSettings, plan_call

MOONSHOT = "http://127.0.0.1:9/v1"  # never contacted: wire_body sends nothing
VLLM = "http://127.0.0.1:9/v1"


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


def _kimi(backend: str = "moonshot", **kwargs: object) -> ChatKimi:
    return ChatKimi(base_url=MOONSHOT, backend=backend, api_key="k", **kwargs)


def _settings(model: str, backend: str = "moonshot", **kwargs: object) -> CallSettings:
    return CallSettings(model=model, endpoint=MOONSHOT, backend=BACKENDS[backend], **kwargs)


def test_forced_tool_choice_gets_one_outcome_whatever_the_route() -> None:
    """bind_tools(tool_choice="any") and model_kwargs={"tool_choice": ...} agree."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = _kimi(model="kimi-k2.6")
        via_bind = llm.bind_tools([get_weather], tool_choice="any")
        body_bind = via_bind.wire_body("hi", **via_bind.kwargs)  # type: ignore[attr-defined]
        via_kwargs = _kimi(model="kimi-k2.6", model_kwargs={"tool_choice": "required"})
        body_kwargs = via_kwargs.wire_body("hi", tools=body_bind["tools"])
    for body in (body_bind, body_kwargs):
        assert body["thinking"] == {"type": "disabled"}
        assert body["tool_choice"] == "required"
        assert body["temperature"] == 0.6  # instant mode's fixed value
    assert sum("thinking is off" in str(w.message) for w in caught) == 2  # once per instance
    strict = _kimi(
        model="kimi-k2.6", forced_tool_choice="error", model_kwargs={"tool_choice": "required"}
    )
    with pytest.raises(ValueError, match="forced_tool_choice='error'"):
        strict.wire_body("hi", tools=body_bind["tools"])


def test_plan_is_decided_once_and_frozen() -> None:
    plan = plan_call(_settings("kimi-k3"), {"thinking": False})
    assert (plan.thinking, plan.effort) == (True, "low")
    assert dict(plan.request_fields) == {"reasoning_effort": "low"}
    assert plan.metadata()["reasoning_effort"] == "low"
    assert [n.kind for n in plan.notes] == ["instant_mapped"]
    with pytest.raises(AttributeError):
        plan.thinking = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model", "backend", "kwargs", "fields", "thinking"),
    [
        ("kimi-k2.6", "moonshot", {}, {"thinking": {"type": "enabled"}}, True),
        (
            "kimi-k2.6",
            "moonshot",
            {"reasoning_effort": "none"},
            {"thinking": {"type": "disabled"}},
            False,
        ),
        (
            "kimi-k2.6",
            "moonshot",
            {"reasoning_effort": "minimal"},
            {"thinking": {"type": "disabled"}},
            False,
        ),
        (
            "kimi-k2.6",
            "moonshot",
            {"reasoning_effort": "medium"},
            {"thinking": {"type": "enabled"}},
            True,
        ),
        ("kimi-k3", "moonshot", {}, {}, True),
        ("kimi-k3", "moonshot", {"reasoning_effort": "max"}, {"reasoning_effort": "max"}, True),
        ("kimi-k3", "moonshot", {"reasoning_effort": "none"}, {"reasoning_effort": "low"}, True),
        (
            "kimi-k3.1-pro-highspeed",
            "moonshot",
            {"thinking": False},
            {"reasoning_effort": "low"},
            True,
        ),
        (
            "kimi-k3",
            "vllm",
            {"thinking": False},
            {"chat_template_kwargs": {"thinking": False}},
            False,
        ),
        (
            "kimi-k3",
            "sglang",
            {"reasoning_effort": "high"},
            {"chat_template_kwargs": {"thinking": True}, "reasoning_effort": "high"},
            True,
        ),
        ("kimi-k2.7-code", "moonshot", {}, {}, True),
        ("moonshot-v1-8k", "moonshot", {}, {}, False),
        (
            "kimi-k2.5",
            "vllm",
            {"thinking": False},
            {"chat_template_kwargs": {"thinking": False}},
            False,
        ),
    ],
)
def test_thinking_and_effort_per_model_and_server(model, backend, kwargs, fields, thinking) -> None:
    plan = plan_call(_settings(model, backend), kwargs)
    assert dict(plan.request_fields) == fields
    assert plan.thinking is thinking


@pytest.mark.parametrize(
    ("model", "backend", "settings", "kwargs", "match"),
    [
        ("kimi-k3", "moonshot", {}, {"reasoning_effort": "medium"}, "takes reasoning_effort"),
        (
            "kimi-k2.6",
            "moonshot",
            {},
            {"reasoning_effort": "ultra"},
            "has no reasoning_effort 'ultra'",
        ),
        ("kimi-k2.6", "moonshot", {}, {"reasoning_effort": 3}, "must be a string"),
        (
            "kimi-k2.6",
            "moonshot",
            {},
            {"thinking": True, "reasoning_effort": "none"},
            "contradicts",
        ),
        (
            "kimi-k2.6",
            "moonshot",
            {"thinking": False, "thinking_set": True, "reasoning_effort": "high"},
            {},
            "contradicts",
        ),
        ("kimi-k2.7-code", "moonshot", {}, {"thinking": False}, "no instant mode"),
        ("kimi-k2-thinking", "vllm", {}, {"thinking": False}, "always thinks"),
        ("moonshot-v1-8k", "moonshot", {}, {"reasoning_effort": "high"}, "does not reason"),
        ("kimi-k3", "moonshot", {"thinking_keep": "all"}, {}, "does not read thinking.keep"),
    ],
)
def test_values_the_model_cannot_take(model, backend, settings, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match) as info:
        plan_call(_settings(model, backend, **settings), kwargs)
    assert model in str(info.value) or "reasoning_effort must" in str(info.value)


def test_effort_on_a_model_without_efforts_is_noted() -> None:
    plan = plan_call(_settings("kimi-k2.7-code"), {"reasoning_effort": "high"})
    assert (plan.thinking, plan.effort, dict(plan.request_fields)) == (True, None, {})
    assert "always reasons and reads no effort" in plan.metadata()["kimi_notes"][0]


def test_call_options_override_the_instance() -> None:
    settings = _settings("kimi-k3", reasoning_effort="high")
    assert plan_call(settings, {}).effort == "high"
    assert plan_call(settings, {"reasoning_effort": "max"}).effort == "max"
    off = _settings("kimi-k2.6", thinking=False, thinking_set=True)
    assert plan_call(off, {"reasoning_effort": "high"}).thinking is True
    effort_only = _settings("kimi-k2.6", reasoning_effort="none")
    assert plan_call(effort_only, {}).thinking is False
    assert plan_call(effort_only, {"thinking": True}).thinking is True


def test_k3_temperature_is_refused_locally_and_never_sent() -> None:
    assert "temperature" not in _kimi(model="kimi-k3").wire_body("hi")
    assert _kimi(model="kimi-k3", temperature=1.0).wire_body("hi")["temperature"] == 1.0
    with pytest.raises(ValueError, match="only with temperature=1; got temperature=0.5"):
        _kimi(model="kimi-k3", temperature=0.5).wire_body("hi")
    with pytest.raises(ValueError, match="only with temperature=1"):
        _kimi(model="kimi-k3").wire_body("hi", temperature=0.2)
    # Self-hosted servers fix nothing.
    assert _kimi("vllm", model="kimi-k3", temperature=0.5).wire_body("hi")["temperature"] == 0.5


def test_reasoning_sent_back_per_plan() -> None:
    history = [
        HumanMessage("a"),
        AIMessage("b", additional_kwargs={"reasoning_content": "r1"}),
        HumanMessage("c"),
        AIMessage("d"),
        HumanMessage("e"),
    ]

    def sent(llm: ChatKimi) -> list[object]:
        body = llm.wire_body(history)
        return [
            m.get("reasoning_content", "-") for m in body["messages"] if m["role"] == "assistant"
        ]

    assert sent(_kimi(model="kimi-k3")) == ["r1", ""]
    assert sent(_kimi(model="kimi-k3.1-pro")) == ["r1", ""]
    assert sent(_kimi(model="kimi-k2.7-code-highspeed")) == ["r1", ""]
    assert sent(_kimi(model="kimi-k2.6", thinking_keep="all")) == ["r1", ""]
    assert sent(_kimi(model="kimi-k2.6")) == ["r1", "-"]
    assert sent(_kimi(model="kimi-k2.5")) == ["r1", "-"]


def test_no_branch_on_backend_names_in_the_chat_model() -> None:
    """Server differences are `Backend` flags, not `backend.name == "..."` tests."""
    package = Path(chat_models.__file__).parent
    offenders = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Compare)
                and any(
                    isinstance(side, ast.Attribute) and side.attr == "name"
                    for side in (node.left, *node.comparators)
                )
                and any(isinstance(side, ast.Constant) for side in (node.left, *node.comparators))
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
