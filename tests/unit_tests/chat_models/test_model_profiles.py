"""The capability table (issue 15, item 1) and LangChain's model profile (item 4)."""

from __future__ import annotations

import pytest

from kimi_graph import ChatKimi
from kimi_graph.backends import BACKENDS
from kimi_graph.chat_models import DEFAULT_MODEL, DEFAULT_SELF_HOSTED_MODEL
from kimi_graph.chat_models._profile import kimi_profile
from kimi_graph.model_profiles import model_spec, normalise_model_id, retired_on

LOOPBACK = "http://127.0.0.1:9/v1"  # never contacted


@pytest.mark.parametrize(
    ("model", "family", "thinking", "context"),
    [
        ("kimi-k3", "kimi-k3", "always", 1_048_576),
        ("kimi-k3.1-pro", "kimi-k3.1", "always", 1_048_576),
        ("kimi-k3.1-pro-highspeed", "kimi-k3.1", "always", 1_048_576),
        ("kimi-k2.7-code", "kimi-k2.7-code", "always", 262_144),
        ("kimi-k2.7-code-highspeed", "kimi-k2.7-code", "always", 262_144),
        ("kimi-k2.6", "kimi-k2.6", "switch", 262_144),
        ("kimi-k2-6", "kimi-k2.6", "switch", 262_144),
        ("moonshotai/Kimi-K2.6", "kimi-k2.6", "switch", 262_144),
        ("accounts/fireworks/models/kimi-k2p5", "kimi-k2.5", "switch", 262_144),
        ("moonshotai/kimi-k2.5:free", "kimi-k2.5", "switch", 262_144),
        ("Kimi-K3-1-Pro", "kimi-k3.1", "always", 1_048_576),
        ("kimi-k2-0905-preview", "kimi-k2", "never", 262_144),
    ],
)
def test_current_family_and_spellings(model, family, thinking, context) -> None:
    spec = model_spec(model)
    assert (spec.family, spec.thinking, spec.context_tokens) == (family, thinking, context)


def test_normalised_ids() -> None:
    assert normalise_model_id("moonshotai/Kimi-K2.6") == "kimi-k2.6"
    assert normalise_model_id("kimi-k2-6") == "kimi-k2.6"
    assert normalise_model_id("kimi-k2-0905-preview") == "kimi-k2-0905-preview"
    assert normalise_model_id("kimi-k2-thinking") == "kimi-k2-thinking"


def test_non_kimi_ids_on_the_platform_only() -> None:
    hosted = model_spec("moonshot-v1-32k", hosted=True)
    assert (hosted.kimi, hosted.thinking, hosted.sampling) == (False, "never", None)
    assert not model_spec("some-other-model", hosted=True).kimi
    assert model_spec("my-served-name").family == "kimi-k2.5"  # self-hosted: K2.5 weights


def test_retired_dates() -> None:
    assert retired_on("kimi-k2.5") == "2026-08-31"
    assert retired_on("moonshot-v1-8k") == "2026-08-31"
    assert retired_on("kimi-k2-thinking-turbo") == "2026-05-25"
    assert retired_on("kimi-k2.6") is None and retired_on("kimi-k3") is None


def test_default_model_per_server(monkeypatch) -> None:
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    assert DEFAULT_MODEL == "kimi-k2.6"
    hosted = ChatKimi(base_url=LOOPBACK, backend="moonshot", api_key="k")
    assert hosted.model_name == DEFAULT_MODEL
    assert ChatKimi(base_url="https://api.moonshot.ai/v1", api_key="k").model_name == "kimi-k2.6"
    self_hosted = ChatKimi(base_url=LOOPBACK, backend="vllm", api_key="k")
    assert self_hosted.model_name == DEFAULT_SELF_HOSTED_MODEL == "kimi-k2.5"
    monkeypatch.setenv("KIMI_MODEL", "served-k25")
    assert ChatKimi(base_url=LOOPBACK, backend="vllm", api_key="k").model_name == "served-k25"


@pytest.mark.parametrize(
    ("model", "backend", "expected"),
    [
        (
            "kimi-k3",
            "moonshot",
            {
                "max_input_tokens": 1_048_576,
                "reasoning_output": True,
                "tool_calling": True,
                "structured_output": False,
                "image_inputs": False,
                "reasoning_effort_levels": ["low", "high", "max"],
                "reasoning_effort_default": "max",
            },
        ),
        (
            "kimi-k3",
            "vllm",
            {"structured_output": True, "reasoning_effort_levels": ["none", "low", "high", "max"]},
        ),
        (
            "kimi-k2.6",
            "moonshot",
            {
                "max_input_tokens": 262_144,
                "image_inputs": True,
                "structured_output": False,
                "temperature": False,
                "reasoning_effort_levels": ["none", "high"],
            },
        ),
        ("kimi-k2.5", "vllm", {"structured_output": True, "temperature": True}),
        ("moonshot-v1-8k", "moonshot", {"reasoning_output": False}),
    ],
)
def test_profile_from_the_table(model, backend, expected) -> None:
    profile = kimi_profile(model, BACKENDS[backend])
    assert {k: profile.get(k) for k in expected} == expected


def test_chat_kimi_profile_and_summarization_middleware() -> None:
    from langchain.agents.middleware import SummarizationMiddleware

    llm = ChatKimi(base_url=LOOPBACK, backend="moonshot", model="kimi-k3", api_key="k")
    assert llm.profile is not None and llm.profile["max_input_tokens"] == 1_048_576
    middleware = SummarizationMiddleware(model=llm, trigger=("fraction", 0.8))
    assert middleware.model is llm
    own = ChatKimi(base_url=LOOPBACK, backend="vllm", api_key="k", profile={"max_input_tokens": 8})
    assert own.profile == {"max_input_tokens": 8}
