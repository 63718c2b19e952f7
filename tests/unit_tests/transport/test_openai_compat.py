"""The langchain-openai helpers copied into kimi_graph._transport.openai_compat."""

from __future__ import annotations

import socket
import sys

import openai
import pytest

from kimi_graph._transport.openai_compat import create_usage_metadata, httpx, resolve_socket_options


def test_httpx_is_the_one_the_sdk_is_built_on() -> None:
    assert issubclass(openai.DefaultHttpxClient, httpx.Client)


def test_explicit_socket_options_pass_verbatim() -> None:
    option = (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    assert resolve_socket_options([option]) == (option,)
    assert resolve_socket_options([]) == ()


def test_default_socket_options_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGCHAIN_OPENAI_TCP_KEEPALIVE", "0")
    assert resolve_socket_options(None) == ()
    monkeypatch.setenv("LANGCHAIN_OPENAI_TCP_KEEPALIVE", "1")
    options = resolve_socket_options(None)
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options


@pytest.mark.skipif(sys.platform != "linux", reason="TCP_KEEPIDLE is option 4 on Linux")
def test_bad_keepalive_setting_falls_back_to_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGCHAIN_OPENAI_TCP_KEEPIDLE", "soon")
    monkeypatch.setenv("LANGCHAIN_OPENAI_TCP_KEEPCNT", "5")
    options = resolve_socket_options(None)
    assert (socket.IPPROTO_TCP, 4, 60) in options
    assert (socket.IPPROTO_TCP, 6, 5) in options


def test_usage_metadata_with_details() -> None:
    usage = create_usage_metadata(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3},
        }
    )
    assert usage["input_tokens"] == 10
    assert usage["output_tokens"] == 5
    assert usage["total_tokens"] == 15
    assert usage.get("input_token_details") == {"cache_read": 4}
    assert usage.get("output_token_details") == {"reasoning": 3}


def test_usage_metadata_fills_missing_counts() -> None:
    usage = create_usage_metadata({"prompt_tokens": 7, "completion_tokens": None})
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (7, 0, 7)
    assert usage.get("input_token_details") == {}
