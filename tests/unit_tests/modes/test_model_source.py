"""Per-run models: the key stays with its origin; lazy models say what to set."""

from __future__ import annotations

import pytest

from kimi_graph import ChatKimi, KimiContext
from kimi_graph.modes._model import ModelSource, derive_kimi


def test_key_is_kept_for_the_same_origin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("KIMI_API_KEY", raising=False)
    base = ChatKimi(base_url="http://127.0.0.1:8000/v1", api_key="secret-key", backend="vllm")
    same = derive_kimi(base, KimiContext(model="other", base_url="http://127.0.0.1:8000/v2"))
    assert same.openai_api_key.get_secret_value() == "secret-key"
    elsewhere = derive_kimi(base, KimiContext(base_url="http://127.0.0.1:9000/v1"))
    assert elsewhere.openai_api_key.get_secret_value() == "EMPTY"
    assert elsewhere.model_name == base.model_name


def test_context_overrides_are_cached_per_endpoint() -> None:
    base = ChatKimi(base_url="http://127.0.0.1:8000/v1", api_key="k", backend="vllm")
    source = ModelSource(base)
    assert source.get(KimiContext()) is base
    one = source.get(KimiContext(model="m2"))
    assert one is source.get(KimiContext(model="m2")) and one.model_name == "m2"


def test_other_models_refuse_endpoint_overrides() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    source = ModelSource(FakeListChatModel(responses=["x"]))
    with pytest.raises(ValueError, match="only apply to a ChatKimi"):
        source.get(KimiContext(base_url="http://127.0.0.1:1/v1"))


def test_derived_model_keeps_every_setting_and_drops_headers_elsewhere() -> None:
    base = ChatKimi(
        base_url="http://127.0.0.1:8000/v1",
        api_key="secret-key",
        backend="vllm",
        max_retries=7,
        rate_limit_max_wait=12.0,
        default_headers={"X-Team": "t"},
    )
    same = derive_kimi(base, KimiContext(model="m2"))
    assert same.max_retries == 7 and same.rate_limit_max_wait == 12.0
    assert same.default_headers == {"X-Team": "t"}
    other = derive_kimi(base, KimiContext(base_url="http://127.0.0.1:9000/v1"))
    assert other.max_retries == 7 and other.default_headers is None
    assert other.backend is None  # detected anew for the new host


def test_cache_is_bounded() -> None:
    from kimi_graph.modes._model import MAX_MODELS_PER_GRAPH

    source = ModelSource(ChatKimi(base_url="http://127.0.0.1:8000/v1", api_key="k", backend="vllm"))
    for i in range(MAX_MODELS_PER_GRAPH + 5):
        source.get(KimiContext(model=f"m{i}"))
    assert len(source._cache) == MAX_MODELS_PER_GRAPH
