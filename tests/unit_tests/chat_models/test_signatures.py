"""`_signatures.keep_signatures`: the signature langchain-core asks for, read once."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langchain_core.utils._signature import _signature_parameters

from kimi_graph import ChatKimi
from kimi_graph.chat_models._signatures import keep_signatures


def test_chat_kimi_answers_the_run_manager_question_from_a_kept_signature() -> None:
    llm = ChatKimi(base_url="http://127.0.0.1:9/v1", api_key="k", backend="vllm")
    for name in ("_generate", "_agenerate", "_stream", "_astream"):
        function = ChatKimi.__dict__[name]
        assert isinstance(function.__dict__.get("__signature__"), inspect.Signature)
        params = _signature_parameters(getattr(llm, name))
        assert "self" not in params
        assert params["run_manager"].default is None
    assert inspect.signature(ChatKimi._agenerate) is inspect.signature(ChatKimi._agenerate)


def test_keep_signatures_refuses_what_is_not_a_method_of_the_class() -> None:
    class Model:
        size = 3

        def go(self, x: int, *, run_manager: Any = None) -> int:
            return x

    keep_signatures(Model, "go")
    assert list(inspect.signature(Model().go).parameters) == ["x", "run_manager"]
    with pytest.raises(TypeError, match="Model.size is not a function"):
        keep_signatures(Model, "size")
    with pytest.raises(TypeError, match="Model.missing is not a function"):
        keep_signatures(Model, "missing")
