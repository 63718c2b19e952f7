"""LangChain's standard chat-model suite, run over HTTP against the emulator."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator


class _EmulatedKimi(ChatModelIntegrationTests):
    dialect = "moonshot"
    backend = "moonshot"

    @pytest.fixture(autouse=True)
    def _bind_emulator(self, emulator: Emulator) -> None:
        type(self)._base_url = emulator.base_url(self.dialect)

    @property
    def chat_model_class(self) -> type[ChatKimi]:
        return ChatKimi

    @property
    def chat_model_params(self) -> dict:
        # The standard params ask for temperature 0, which Moonshot's K2.5 rejects:
        # ChatKimi sends the fixed value instead.
        return {
            "model": "kimi-k2.5",
            "base_url": self._base_url,
            "backend": self.backend,
            "api_key": "test-key",
            "temperature": None,
        }

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        # Moonshot allows only tool_choice auto/none while thinking: ChatKimi turns
        # thinking off for a call that forces a tool (forced_tool_choice option).
        return True


class TestMoonshotThinking(_EmulatedKimi):
    pass


class TestMoonshotInstant(_EmulatedKimi):
    @property
    def chat_model_params(self) -> dict:
        return {**super().chat_model_params, "thinking": False}


class TestVLLM(_EmulatedKimi):
    dialect = "vllm"
    backend = "vllm"


class TestRawServer(_EmulatedKimi):
    dialect = "raw"
    backend = "vllm"


_OFFLINE = (
    "downloads its image from the internet; tests are offline (test_image_parts covers images)"
)
_JSON_MODE = (
    "the emulator's JSON mode cannot follow key names given in prose; json_schema and "
    "function calling are covered by test_structured_output"
)


def _expected_failure(name: str, reason: str, raises: type[Exception] | None = None) -> Any:
    """A fresh wrapper of a standard test carrying an xfail mark (the base stays unmarked)."""
    base = getattr(ChatModelIntegrationTests, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        base(self, *args, **kwargs)

    wrapper.__name__ = name
    wrapper.__signature__ = inspect.signature(base)  # type: ignore[attr-defined]
    return pytest.mark.xfail(reason=reason, raises=raises, strict=True)(wrapper)


for _suite in (TestMoonshotThinking, TestMoonshotInstant, TestVLLM, TestRawServer):
    _suite.test_image_inputs = _expected_failure("test_image_inputs", _OFFLINE)
    _suite.test_json_mode = _expected_failure("test_json_mode", _JSON_MODE)
