"""ChatKimi configuration errors, the model table, usage and context helpers (no server)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from kimi_graph import ChatKimi
from kimi_graph._transport.urls import redact_url
from kimi_graph.chat_models._prompt_size import prompt_token_floor
from kimi_graph.chat_models._usage import usage_metadata
from kimi_graph.model_profiles import model_spec
from kimi_graph.modes._tool_results import (
    clear_old_tool_results,
    cleared_note,
    keep_latest_tool_results,
)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BASE_URL", "KIMI_BACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.moonshot.ai/v1",
        "https://api.moonshot.ai/v1/",
        "https://api.moonshot.cn/v1",
        "https://api.moonshot.cn/v1/",
        "https://platform.moonshot.ai/v1",
        "https://platform.kimi.ai/v1",
        "https://api.kimi.com/coding/v1",
    ],
)
def test_no_key_for_any_moonshot_host_is_a_clear_error(no_env: None, url: str) -> None:
    with pytest.raises(ValueError, match="needs an API key for Moonshot's API"):
        ChatKimi(base_url=url)


def test_no_key_from_kimi_base_url_env(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_BASE_URL", "https://api.moonshot.cn/v1/")
    with pytest.raises(ValueError, match="MOONSHOT_API_KEY"):
        ChatKimi()


def test_self_hosted_needs_no_key(no_env: None) -> None:
    assert ChatKimi(base_url="http://127.0.0.1:8000/v1").kimi_backend.name == "vllm"


@pytest.mark.parametrize("url", ["api.moonshot.ai/v1", "localhost:8000/v1", "127.0.0.1:8000/v1"])
def test_base_url_without_scheme_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="has no scheme: write it as 'https://"):
        ChatKimi(base_url=url, api_key="k")


def test_base_url_error_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_BASE_URL", "api.moonshot.cn/v1")
    with pytest.raises(ValueError, match="KIMI_BASE_URL='api.moonshot.cn/v1'"):
        ChatKimi(api_key="k")


def test_url_credentials_never_appear_in_errors() -> None:
    with pytest.raises(ValueError) as info:
        ChatKimi(base_url="user:s3cret@myhost:8000/v1?token=abc", api_key="sk-live-key")
    shown = str(info.value)
    assert "s3cret" not in shown and "abc" not in shown and "sk-live-key" not in shown
    assert redact_url("https://u:p@h.example/v1?k=1#f") == "https://***@h.example/v1"
    with pytest.raises(ValueError, match="http:// or https://") as info:
        ChatKimi(base_url="ftp://u:pw@host/v1", api_key="k")
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("model", "family", "thinking"),
    [
        ("kimi-k2.5", "kimi-k2.5", "switch"),
        ("moonshotai/Kimi-K2.5", "kimi-k2.5", "switch"),
        ("my-served-name", "kimi-k2.5", "switch"),
        ("kimi-k2.6", "kimi-k2.6", "switch"),
        ("kimi-k2-thinking-turbo", "kimi-k2-thinking", "always"),
        ("moonshotai/Kimi-K2-Instruct-0905", "kimi-k2", "never"),
        ("kimi-k2-turbo-preview", "kimi-k2", "never"),
        ("kimi-k3", "kimi-k3", "always"),
        ("kimi-k3.1", "kimi-k3.1", "always"),
    ],
)
def test_model_table(model: str, family: str, thinking: str) -> None:
    spec = model_spec(model)
    assert (spec.family, spec.thinking) == (family, thinking)
    assert spec.context_tokens == (1_048_576 if family.startswith("kimi-k3") else 262_144)


def test_model_table_capabilities() -> None:
    assert model_spec("kimi-k2.6").thinking_keep and not model_spec("kimi-k2.5").thinking_keep
    assert model_spec("kimi-k3").reasoning_efforts == ("low", "high", "max")
    assert not model_spec("kimi-k3").reads_thinking_field
    assert not model_spec("kimi-k3.1").verified


def test_cached_tokens_from_either_place() -> None:
    base = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    nested = usage_metadata({**base, "prompt_tokens_details": {"cached_tokens": 7}})
    top = usage_metadata({**base, "cached_tokens": 5})
    assert nested["input_token_details"]["cache_read"] == 7
    assert top["input_token_details"]["cache_read"] == 5


def test_token_floor_never_counts_more_than_words() -> None:
    messages = [{"role": "user", "content": "it's a test, isn't it? 123456"}]
    assert prompt_token_floor(messages) == 8  # BPE: about 12
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A/b+" * 1000}}
    assert prompt_token_floor([{"role": "user", "content": [image]}]) == 0


def _loop(results: list[str]) -> list:
    messages: list = [HumanMessage("go")]
    for i, text in enumerate(results):
        call = {"id": f"c{i}", "name": "read", "args": {}}
        messages += [AIMessage("", tool_calls=[call]), ToolMessage(text, tool_call_id=f"c{i}")]
    return messages


def test_context_strategy_is_pure_and_keeps_latest_turns() -> None:
    messages = _loop(["x" * 400, "y" * 400, "z" * 400])
    assert clear_old_tool_results(messages, threshold_tokens=10_000) == messages
    out = clear_old_tool_results(messages, threshold_tokens=100, keep_turns=2)
    assert [m.content for m in out if isinstance(m, ToolMessage)] == [
        cleared_note(400),
        "y" * 400,
        "z" * 400,
    ]
    assert messages[2].content == "x" * 400  # the input is left alone
    assert out[2].tool_call_id == "c0"
    assert keep_latest_tool_results(100)(messages)[4].content == cleared_note(400)
    with pytest.raises(ValueError, match="keep_turns"):
        keep_latest_tool_results(100, keep_turns=0)
