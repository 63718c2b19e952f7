"""Endpoint safety of ChatKimi: default timeouts, credential-free URLs, clear errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import openai

from kimi_graph._transport.openai_compat import httpx

CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection to the server."""
READ_TIMEOUT = 300.0
"""Seconds without a byte from the server (per read: a stream that keeps sending
tokens is never cut; a non-streamed answer must arrive within it)."""


class HashableTimeout(httpx.Timeout):
    """An `httpx.Timeout` that hashes, so langchain-openai's client cache still applies."""

    def __hash__(self) -> int:
        return hash((self.connect, self.read, self.write, self.pool))


DEFAULT_TIMEOUT = HashableTimeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
"""ChatKimi's default `timeout`: connect 10 s; read, write and pool 300 s."""


def scrub(text: str, *secrets: str | None) -> str:
    """Replace every non-empty secret in `text` by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: Any) -> tuple[str, ...]:
    """The user name and password inside a URL, if any (to scrub them from text)."""
    if url is None:
        return ()
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return ()
    return tuple(s for s in (parts.username, parts.password) if s)


class MalformedResponseError(ValueError):
    """The server answered 200 with a body that is not a usable chat completion."""


def require_messages(messages: Sequence[Any], endpoint: str) -> None:
    """Refuse an empty conversation before any request is made.

    Raises:
        ValueError: When `messages` is empty or holds only system messages.
    """
    if not any(getattr(m, "type", None) != "system" for m in messages):
        what = "only system messages" if messages else "no messages"
        msg = (
            f"ChatKimi got {what} to send to {endpoint}: pass at least one user message "
            "(an empty conversation is refused before any request)."
        )
        raise ValueError(msg)


def _name_endpoint(err: openai.APIConnectionError, endpoint: str, secrets: tuple[str, ...]) -> None:
    """Put the (credential-free) endpoint into a connection error's message, in place."""
    cause = err.__cause__
    detail = scrub(str(cause), *secrets) if cause is not None else ""
    if endpoint in err.message:
        return
    kind = "Request timed out" if isinstance(err, openai.APITimeoutError) else "Connection error"
    message = f"{kind}: cannot reach {endpoint}"
    if detail and detail not in message:
        message += f" ({type(cause).__name__}: {detail})"
    err.message = message
    err.args = (message,)


def _not_json(endpoint: str, err: json.JSONDecodeError) -> MalformedResponseError:
    preview = err.doc[:120] if isinstance(err.doc, str) else ""
    return MalformedResponseError(
        f"Malformed response from {endpoint}: the body is not JSON ({err.msg}): {preview!r}"
    )


@contextlib.contextmanager
def endpoint_errors(endpoint: str, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Name the endpoint in connection errors and unreadable bodies (sync)."""
    try:
        yield
    except openai.APIConnectionError as err:
        _name_endpoint(err, endpoint, secrets)
        raise
    except json.JSONDecodeError as err:
        raise _not_json(endpoint, err) from err


@contextlib.asynccontextmanager
async def aendpoint_errors(endpoint: str, secrets: tuple[str, ...] = ()) -> AsyncIterator[None]:
    """Name the endpoint in connection errors and unreadable bodies (async)."""
    try:
        yield
    except openai.APIConnectionError as err:
        _name_endpoint(err, endpoint, secrets)
        raise
    except json.JSONDecodeError as err:
        raise _not_json(endpoint, err) from err
