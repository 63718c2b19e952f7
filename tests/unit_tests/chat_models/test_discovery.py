"""Reading a model list (`_discovery`): Moonshot's capability fields, vLLM's length."""

from __future__ import annotations

import pytest

from kimi_graph.chat_models._discovery import (
    capabilities,
    discovery_enabled,
    effective_spec,
    parse_model_list,
)
from kimi_graph.model_profiles import model_spec

MOONSHOT_ITEM = {
    "id": "kimi-k3",
    "object": "model",
    "context_length": 1_048_576,
    "supports_reasoning": True,
    "supports_image_in": True,
    "supports_video_in": False,
    "supports_tool_use": True,
    "supports_thinking_type": "only",
    "think_efforts": {
        "support": True,
        "valid_efforts": ["low", "high", "max"],
        "default_effort": "max",
    },
}


def test_moonshot_fields() -> None:
    (found,) = parse_model_list([MOONSHOT_ITEM]).values()
    assert found.context_length == 1_048_576
    assert found.thinking_type == "only"
    assert found.efforts == ("low", "high", "max")
    assert found.default_effort == "max"
    assert (found.image_input, found.video_input, found.tool_use) == (True, False, True)


def test_vllm_and_plain_lists() -> None:
    found = parse_model_list(
        [
            {"id": "served", "object": "model", "max_model_len": 131_072},
            {"id": "plain", "object": "model", "owned_by": "vllm"},
        ]
    )
    assert found["served"].context_length == 131_072
    assert found["plain"].context_length is None and found["plain"].thinking_type is None


@pytest.mark.parametrize(
    "item",
    [
        None,
        "kimi-k3",
        {"object": "model"},
        {"id": ""},
        {"id": 3},
    ],
)
def test_malformed_items_are_skipped(item: object) -> None:
    assert parse_model_list([item, MOONSHOT_ITEM]).keys() == {"kimi-k3"}


def test_odd_values_are_unknown_not_guessed() -> None:
    (found,) = parse_model_list(
        [
            {
                "id": "m",
                "context_length": -1,
                "supports_thinking_type": "sometimes",
                "supports_image_in": "yes",
                "think_efforts": {"support": "true", "valid_efforts": "max"},
            }
        ]
    ).values()
    assert found.context_length is None and found.thinking_type is None
    assert found.image_input is None and found.efforts is None


def test_effort_support_false_means_no_efforts() -> None:
    (found,) = parse_model_list(
        [
            {
                "id": "m",
                "think_efforts": {"support": False, "valid_efforts": [], "default_effort": None},
            }
        ]
    ).values()
    assert found.efforts == ()


def test_server_overrides_table() -> None:
    spec = model_spec("my-served-name")
    found = parse_model_list([{**MOONSHOT_ITEM, "id": "my-served-name"}])
    merged = effective_spec(spec, found["my-served-name"])
    assert merged.thinking == "always" and merged.context_tokens == 1_048_576
    assert effective_spec(spec, None) is spec
    caps = capabilities("moonshotai/My-Served-Name", spec, found)
    assert caps.source == "server" and "thinking" in caps.overridden
    assert caps.as_dict()["context_tokens"] == 1_048_576
    assert capabilities("other", spec, found).source == "table"


def test_switch_defaults_to_moonshot_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIMI_DISCOVER_CAPABILITIES", raising=False)
    assert discovery_enabled(None, "https://api.moonshot.ai/v1") is True
    assert discovery_enabled(None, "https://api.moonshot.cn/v1") is True
    assert discovery_enabled(None, "http://127.0.0.1:8000/v1") is False
    assert discovery_enabled(False, "https://api.moonshot.ai/v1") is False
    assert discovery_enabled(True, "http://127.0.0.1:8000/v1") is True
    monkeypatch.setenv("KIMI_DISCOVER_CAPABILITIES", "off")
    assert discovery_enabled(None, "https://api.moonshot.ai/v1") is False


def test_profile_overrides_only_what_the_server_said() -> None:
    spec = model_spec("kimi-k3")
    found = parse_model_list([MOONSHOT_ITEM])
    profile = capabilities("kimi-k3", spec, found).profile_overrides()
    assert profile == {
        "max_input_tokens": 1_048_576,
        "reasoning_output": True,
        "image_inputs": True,
        "image_url_inputs": True,
        "video_inputs": False,
        "tool_calling": True,
        "reasoning_effort_levels": ["low", "high", "max"],
        "reasoning_effort_default": "max",
    }
    assert capabilities("kimi-k3", spec, {}).profile_overrides() == {}
    plain = parse_model_list([{"id": "kimi-k3", "supports_thinking_type": "no"}])
    caps = capabilities("kimi-k3", spec, plain)
    assert caps.profile_overrides() == {"reasoning_output": False}
    assert (caps.thinking, caps.reasoning_efforts, caps.from_server) == ("never", (), ("thinking",))
