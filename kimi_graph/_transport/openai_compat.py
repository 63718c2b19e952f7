"""Private helpers of langchain-openai that kimi-graph relies on, copied here.

langchain-openai keeps these under `_`-prefixed names, which may change in any
release; a copy ties us only to the public `BaseChatOpenAI` and to the behaviour
below. Adapted from langchain-openai 1.7.4 (`langchain_openai/_compat.py`,
`langchain_openai/chat_models/_client_utils.py` and `chat_models/base.py`),
MIT License, Copyright (c) LangChain, Inc.

- `httpx`: the httpx module the installed openai SDK is built on (`httpx2` from
  openai 3, `httpx` before), for transports and clients handed to the SDK.
- `resolve_socket_options`: `http_socket_options` of `BaseChatOpenAI` as the tuple
  the client builders take (None: the TCP keepalive defaults and the
  `LANGCHAIN_OPENAI_TCP_*` environment variables langchain-openai documents).
- `create_usage_metadata`: an OpenAI `usage` object as LangChain's `UsageMetadata`
  (the service-tier variant is left out: no Kimi server reports a tier).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import openai
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata

__all__ = [
    "SocketOption",
    "as_raw_body",
    "create_usage_metadata",
    "httpx",
    "resolve_socket_options",
]

logger = logging.getLogger(__name__)


def _sdk_uses_httpx2() -> bool:
    """Whether the installed openai SDK is built on `httpx2` (openai >= 3)."""
    match = re.match(r"\D*(\d+)", str(getattr(openai, "__version__", "")))
    return match is not None and int(match.group(1)) >= 3


if TYPE_CHECKING:
    # Checked against the SDK's own types: openai 3 (what `.[dev]` installs) uses httpx2.
    import httpx2 as httpx
elif _sdk_uses_httpx2():
    import httpx2 as httpx
else:
    import httpx


SocketOption = tuple[int, int, int]
"""`(level, option, value)` as `socket.setsockopt` takes it."""

# socket.TCP_KEEPIDLE etc. are absent on darwin/win32: the raw UAPI constants.
_LINUX_TCP_KEEPIDLE = 4
_LINUX_TCP_KEEPINTVL = 5
_LINUX_TCP_KEEPCNT = 6
_LINUX_TCP_USER_TIMEOUT = 18
_DARWIN_TCP_KEEPALIVE = 0x10
_DARWIN_TCP_KEEPINTVL = 0x101
_DARWIN_TCP_KEEPCNT = 0x102


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        logger.warning("Invalid value for %s=%r (not an int); using %d.", name, raw, default)
        return default
    if value < 0:
        logger.warning("Invalid value for %s=%r (negative); using %d.", name, raw, default)
        return default
    return value


def _filter_supported(opts: list[SocketOption]) -> list[SocketOption]:
    """Drop the options this platform rejects (all kept if no probe socket can be made)."""
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except Exception:  # pytest-socket's SocketBlockedError is a RuntimeError
        return list(opts)
    try:
        supported: list[SocketOption] = []
        for level, name, value in opts:
            try:
                probe.setsockopt(level, name, value)
            except OSError:
                logger.debug("Socket option %s unsupported on %s", (level, name), sys.platform)
                continue
            supported.append((level, name, value))
        return supported
    finally:
        probe.close()


def _default_socket_options() -> tuple[SocketOption, ...]:
    """TCP keepalive defaults (dead peers surface in about two minutes), or `()`."""
    if os.environ.get("LANGCHAIN_OPENAI_TCP_KEEPALIVE", "1") == "0":
        return ()
    keepidle = _int_env("LANGCHAIN_OPENAI_TCP_KEEPIDLE", 60)
    keepintvl = _int_env("LANGCHAIN_OPENAI_TCP_KEEPINTVL", 10)
    keepcnt = _int_env("LANGCHAIN_OPENAI_TCP_KEEPCNT", 3)
    user_timeout_ms = _int_env("LANGCHAIN_OPENAI_TCP_USER_TIMEOUT_MS", 120000)
    opts: list[SocketOption] = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    if sys.platform == "linux":
        opts += [
            (socket.IPPROTO_TCP, _LINUX_TCP_KEEPIDLE, keepidle),
            (socket.IPPROTO_TCP, _LINUX_TCP_KEEPINTVL, keepintvl),
            (socket.IPPROTO_TCP, _LINUX_TCP_KEEPCNT, keepcnt),
            (socket.IPPROTO_TCP, _LINUX_TCP_USER_TIMEOUT, user_timeout_ms),
        ]
    elif sys.platform == "darwin":
        opts += [
            (socket.IPPROTO_TCP, _DARWIN_TCP_KEEPALIVE, keepidle),
            (socket.IPPROTO_TCP, _DARWIN_TCP_KEEPINTVL, keepintvl),
            (socket.IPPROTO_TCP, _DARWIN_TCP_KEEPCNT, keepcnt),
        ]
    return tuple(_filter_supported(opts))


def resolve_socket_options(value: Sequence[SocketOption] | None) -> tuple[SocketOption, ...]:
    """Return `http_socket_options` as a tuple (hashable, so it can key a client cache).

    Args:
        value: The model's `http_socket_options`: None for the defaults, an empty
            sequence to set none, or the options to set verbatim.

    Returns:
        The options, `()` meaning none.
    """
    if value is None:
        return _default_socket_options()
    return tuple(value)


def create_usage_metadata(usage: dict[str, Any]) -> UsageMetadata:
    """Convert an OpenAI-style `usage` object to LangChain's `UsageMetadata`.

    Args:
        usage: `prompt_tokens`, `completion_tokens`, `total_tokens` and the optional
            `prompt_tokens_details` / `completion_tokens_details`.

    Returns:
        The usage metadata; cached prompt tokens as `input_token_details["cache_read"]`,
        reasoning tokens as `output_token_details["reasoning"]`.
    """
    input_tokens = usage.get("prompt_tokens") or 0
    output_tokens = usage.get("completion_tokens") or 0
    total = usage.get("total_tokens")
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    input_details = InputTokenDetails()
    if prompt.get("audio_tokens") is not None:
        input_details["audio"] = prompt["audio_tokens"]
    if prompt.get("cached_tokens") is not None:
        input_details["cache_read"] = prompt["cached_tokens"]
    if prompt.get("cache_write_tokens") is not None:
        input_details["cache_creation"] = prompt["cache_write_tokens"]
    output_details = OutputTokenDetails()
    if completion.get("audio_tokens") is not None:
        output_details["audio"] = completion["audio_tokens"]
    if completion.get("reasoning_tokens") is not None:
        output_details["reasoning"] = completion["reasoning_tokens"]
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total if total is not None else input_tokens + output_tokens,
        input_token_details=input_details,
        output_token_details=output_details,
    )


#: Arguments of the OpenAI SDK's `chat.completions.create` that change what the SDK
#: does (how it reads the response, which headers and time-out it uses), not the body.
_SDK_ARGUMENTS = frozenset(
    {"model", "messages", "stream", "extra_body", "extra_headers", "extra_query", "timeout"}
)


def as_raw_body(payload: dict[str, Any]) -> dict[str, Any]:
    """Move a chat-completions payload's body fields into `extra_body` (in place).

    The OpenAI SDK merges `extra_body` into the JSON body as it is, but runs every
    typed argument through its type transform first: about 1 ms a request for the
    tools' schemas alone and ~0.4 ms a message, O(n^2) over a long tool loop or a
    swarm's synthesis. The payload LangChain builds is already wire-ready, so only
    the arguments that steer the SDK itself stay typed; `messages` is left empty.
    Values already in `extra_body` win, as they would on the wire.

    Args:
        payload: What `BaseChatOpenAI._get_request_payload` returns.

    Returns:
        The same dict: SDK arguments, and the rest of the body in `extra_body`.
    """
    body = {key: payload.pop(key) for key in list(payload) if key not in _SDK_ARGUMENTS}
    payload["extra_body"] = {
        **body,
        **(payload.get("extra_body") or {}),
        "messages": payload.get("messages", []),
    }
    payload["messages"] = []
    return payload
