"""ChatKimi without a server: construction, request payloads per backend, local rules."""

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_tests.unit_tests import ChatModelUnitTests
from pydantic import BaseModel

from kimi_graph import ChatKimi
from kimi_graph.backends import detect_backend, resolve_backend

VLLM_URL = "http://127.0.0.1:9/v1"


class TestChatKimiStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatKimi]:
        return ChatKimi

    @property
    def chat_model_params(self) -> dict:
        return {"model": "kimi-k2.5", "base_url": VLLM_URL, "api_key": "test"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return (
            {"MOONSHOT_API_KEY": "api_key", "KIMI_BASE_URL": "https://api.moonshot.ai/v1"},
            {"model": "kimi-k2.5"},
            {"openai_api_key": "api_key", "openai_api_base": "https://api.moonshot.ai/v1"},
        )

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True


def _payload(llm: ChatKimi, messages: Any, **kwargs: Any) -> dict:
    return llm.wire_body(messages, **kwargs)


_SWITCH_KEYS = ("thinking", "chat_template_kwargs", "reasoning")


def _switch(body: dict) -> dict:
    return {k: body[k] for k in _SWITCH_KEYS if k in body}


def _tool_turn(reasoning: str | None) -> list:
    ai = AIMessage(
        content="",
        tool_calls=[{"id": "functions.get:0", "name": "get", "args": {"q": "x"}}],
        additional_kwargs={} if reasoning is None else {"reasoning_content": reasoning},
    )
    return [
        HumanMessage("find x"),
        ai,
        ToolMessage("result", tool_call_id="functions.get:0"),
    ]


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("https://api.moonshot.ai/v1", "moonshot"),
        ("https://api.moonshot.cn/v1", "moonshot"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("http://10.1.2.3:8000/v1", "vllm"),
        ("http://localhost:30000/v1", "vllm"),
    ],
)
def test_backend_detection(url: str, backend: str) -> None:
    assert detect_backend(url) == backend


def test_backend_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_BACKEND", "sglang")
    assert ChatKimi(base_url=VLLM_URL).kimi_backend.name == "sglang"


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown Kimi backend 'tgi'"):
        resolve_backend("tgi", None)


def test_moonshot_without_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="MOONSHOT_API_KEY"):
        ChatKimi()


def test_openai_key_never_reaches_kimi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    llm = ChatKimi(base_url=VLLM_URL)
    assert llm.openai_api_key is not None
    assert llm.openai_api_key.get_secret_value() == "EMPTY"
    assert "sk-openai" not in repr(llm)


@pytest.mark.parametrize(
    ("backend", "thinking", "expected"),
    [
        ("moonshot", True, {"thinking": {"type": "enabled"}}),
        ("moonshot", False, {"thinking": {"type": "disabled"}}),
        ("vllm", False, {"chat_template_kwargs": {"thinking": False}}),
        ("sglang", True, {"chat_template_kwargs": {"thinking": True}}),
        (
            "llamacpp",
            False,
            {"chat_template_kwargs": {"thinking": False, "enable_thinking": False}},
        ),
        ("openrouter", False, {"reasoning": {"effort": "none"}}),
        ("openrouter", True, {"reasoning": {"enabled": True}}),
    ],
)
def test_thinking_switch_per_backend(backend: str, thinking: bool, expected: dict) -> None:
    llm = ChatKimi(base_url=VLLM_URL, api_key="k", backend=backend)
    assert _switch(_payload(llm, "hi", thinking=thinking)) == expected
    # the field and .bind give the same result as the per-call kwarg
    field = ChatKimi(base_url=VLLM_URL, api_key="k", backend=backend, thinking=thinking)
    assert _switch(_payload(field, "hi")) == expected


def test_thinking_switch_merges_user_template_kwargs() -> None:
    llm = ChatKimi(base_url=VLLM_URL, extra_body={"chat_template_kwargs": {"x": 1}, "top_k": 20})
    body = _payload(llm, "hi", thinking=False)
    assert body["chat_template_kwargs"] == {"x": 1, "thinking": False}
    assert body["top_k"] == 20


def test_openrouter_model_id_prefixed() -> None:
    llm = ChatKimi(base_url="https://openrouter.ai/api/v1", api_key="k")
    assert _payload(llm, "hi")["model"] == "moonshotai/kimi-k2.5"


def test_instant_only_models_get_no_switch() -> None:
    llm = ChatKimi(base_url=VLLM_URL, model="kimi-k2-0905-preview")
    assert _switch(_payload(llm, "hi")) == {}


def test_thinking_only_model_refuses_instant() -> None:
    llm = ChatKimi(base_url=VLLM_URL, model="kimi-k2-thinking")
    with pytest.raises(ValueError, match="always thinks"):
        _payload(llm, "hi", thinking=False)


@pytest.mark.parametrize(("thinking", "temperature"), [(True, 1.0), (False, 0.6)])
def test_moonshot_fixed_sampling_sent_by_default(thinking: bool, temperature: float) -> None:
    payload = _payload(ChatKimi(api_key="k"), "hi", thinking=thinking)
    assert (payload["temperature"], payload["top_p"]) == (temperature, 0.95)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.2}, "temperature=1"),
        ({"top_p": 0.5}, "top_p=0.95"),
        ({"presence_penalty": 0.5}, "presence_penalty=0"),
        ({"n": 2}, "n=1"),
    ],
)
def test_moonshot_rejects_other_sampling_before_any_request(kwargs: dict, match: str) -> None:
    llm = ChatKimi(api_key="k", max_retries=0, **kwargs)
    with pytest.raises(ValueError, match=match):
        llm.invoke("hi")


def test_moonshot_instant_temperature_is_checked_per_mode() -> None:
    llm = ChatKimi(api_key="k", temperature=0.6)
    assert _payload(llm, "hi", thinking=False)["temperature"] == 0.6
    with pytest.raises(ValueError, match="temperature=1"):
        _payload(llm, "hi", thinking=True)


def test_self_hosted_sampling_is_left_to_the_user() -> None:
    payload = _payload(ChatKimi(base_url=VLLM_URL, temperature=0.3), "hi")
    assert payload["temperature"] == 0.3
    assert "top_p" not in payload


def get(q: str) -> str:
    """Look something up."""
    return q


@pytest.mark.parametrize("choice", ["required", "any", "get"])
def test_moonshot_thinking_tool_choice_rules(choice: str) -> None:
    strict = ChatKimi(api_key="k", forced_tool_choice="error")
    with pytest.raises(ValueError, match="while thinking is on"):
        strict.bind_tools([get], tool_choice=choice).invoke("hi")
    bound = ChatKimi(api_key="k").bind_tools([get], tool_choice=choice)
    with pytest.warns(UserWarning, match="thinking is off"):
        payload = _payload(ChatKimi(api_key="k"), "hi", **bound.kwargs)
    assert payload["tool_choice"]
    assert payload["thinking"] == {"type": "disabled"}
    assert payload["temperature"] == 0.6


def test_moonshot_writes_reasoning_back_on_tool_turns() -> None:
    payload = _payload(ChatKimi(api_key="k"), _tool_turn("I should call get."))
    assistant = payload["messages"][1]
    assert assistant["reasoning_content"] == "I should call get."
    assert "reasoning" not in assistant


def test_moonshot_missing_reasoning_becomes_empty_in_thinking_mode() -> None:
    payload = _payload(ChatKimi(api_key="k"), _tool_turn(None))
    assert payload["messages"][1]["reasoning_content"] == ""
    instant = _payload(ChatKimi(api_key="k"), _tool_turn(None), thinking=False)
    assert "reasoning_content" not in instant["messages"][1]


def test_vllm_writes_reasoning_back_under_both_names() -> None:
    payload = _payload(ChatKimi(base_url=VLLM_URL), _tool_turn("plan"))
    assert payload["messages"][1]["reasoning"] == "plan"
    assert payload["messages"][1]["reasoning_content"] == "plan"


def test_openrouter_returns_reasoning_details_verbatim() -> None:
    details = [{"type": "reasoning.text", "text": "plan", "format": "unknown", "index": 0}]
    msgs = _tool_turn("plan")
    msgs[1].additional_kwargs["reasoning_details"] = details
    llm = ChatKimi(base_url="https://openrouter.ai/api/v1", api_key="k")
    assistant = _payload(llm, msgs)["messages"][1]
    assert assistant["reasoning_details"] == details
    assert assistant["reasoning"] == "plan"


def test_reasoning_blocks_in_list_content_are_sent_back() -> None:
    ai = AIMessage(
        content=[{"type": "reasoning", "reasoning": "plan"}, {"type": "text", "text": "ok"}],
        tool_calls=[{"id": "functions.get:0", "name": "get", "args": {}}],
    )
    msgs = [HumanMessage("x"), ai, ToolMessage("r", tool_call_id="functions.get:0")]
    assistant = _payload(ChatKimi(api_key="k"), msgs)["messages"][1]
    assert assistant["reasoning_content"] == "plan"
    assert assistant["content"] == "ok"


class Answer(BaseModel):
    value: int


def test_structured_output_method_per_backend() -> None:
    moonshot = ChatKimi(api_key="k").with_structured_output(Answer)
    bound = moonshot.first  # type: ignore[attr-defined]
    assert bound.kwargs["tool_choice"]["function"]["name"] == "Answer"
    kwargs = {k: v for k, v in bound.kwargs.items() if k != "ls_structured_output_format"}
    payload = _payload(ChatKimi(api_key="k"), "hi", **kwargs)
    assert payload["tool_choice"] == "auto"  # thinking on: the tool cannot be forced
    assert "Respond by calling the `Answer` tool" in payload["messages"][0]["content"]
    vllm = ChatKimi(base_url=VLLM_URL).with_structured_output(Answer)
    assert "response_format" in vllm.first.kwargs  # type: ignore[attr-defined]


def test_messages_skip_the_sdk_transform_but_reach_the_wire() -> None:
    payload = ChatKimi(base_url=VLLM_URL)._get_request_payload("hi")
    assert payload["messages"] == []
    assert payload["extra_body"]["messages"] == [{"role": "user", "content": "hi"}]
