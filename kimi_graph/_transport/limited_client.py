"""HTTP clients for the OpenAI SDK that send every request through the endpoint's limiter.

`send` is the one method the OpenAI SDK calls for each request (sync and async), so
overriding it sees them all, streamed or not, while httpx keeps building transports,
proxies and pools as usual. A request holds its slot until its body is read or its
stream closed; a 429 is read, released and retried after the shared back-off (see
`kimi_graph._transport.ratelimit`), so the SDK only sees it once `max_wait` is spent.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import openai

from kimi_graph._transport.abort import AbortableTransport
from kimi_graph._transport.abort_signal import RequestAbortedError, already_aborted
from kimi_graph._transport.caps import (
    AsyncCappedStream,
    CappedStream,
    ResponseCaps,
    is_event_stream,
    meter,
    not_an_event_stream,
)
from kimi_graph._transport.openai_compat import httpx
from kimi_graph._transport.ratelimit import (
    EndpointLimiter,
    Outcome,
    RateLimitSettings,
    limiter_for,
    retry_delay,
)

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

AsyncTransport = Literal["aiohttp", "httpx"]
"""The async HTTP stack under the OpenAI SDK."""

#: The OpenAI SDK's pool defaults (langchain-openai uses the same).
CONNECTION_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0
)


class _Once:
    """Release a slot exactly once."""

    def __init__(self, limiter: EndpointLimiter) -> None:
        self._limiter = limiter
        self._done = False

    def __call__(self, outcome: Outcome = "ok", delay: float = 0.0) -> None:
        if not self._done:
            self._done = True
            self._limiter.release(outcome, delay)


class _ReleasingStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._release()


class _AsyncReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            yield part

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()


class ResponseView(Protocol[R_contra]):
    """How `send_within_limits` reads and drops a response of one HTTP stack."""

    def status(self, response: R_contra) -> int:
        """The response's status code."""
        ...

    def headers(self, response: R_contra) -> Mapping[str, str]:
        """The response's headers (any case; `retry-after` and `retry-after-ms` are read)."""
        ...

    async def discard(self, response: R_contra) -> None:
        """Close a response that is not passed on (a 429 retried here)."""
        ...


class _HttpxResponses:
    def status(self, response: Any) -> int:
        return int(response.status_code)

    def headers(self, response: Any) -> Mapping[str, str]:
        return response.headers  # type: ignore[no-any-return]

    async def discard(self, response: Any) -> None:
        await response.aclose()


_HTTPX_RESPONSES = _HttpxResponses()


async def send_within_limits(
    endpoint: str,
    settings: RateLimitSettings,
    authorization: str | None,
    send: Callable[[], Awaitable[R]],
    view: ResponseView[R],
) -> tuple[R, Callable[..., None] | None]:
    """Send one request through the endpoint's shared limiter (async, any HTTP stack).

    The request waits for a slot; a 429 is discarded, its slot released as throttled,
    and the request sent again first in the queue after `retry_delay`, as long as
    `max_wait` allows. Any error or cancellation while sending releases the slot.

    Args:
        endpoint: The endpoint without credentials (the limiter's key).
        settings: The rate-limit settings; when off, `send` is awaited once, bare.
        authorization: The request's `Authorization` header (hashed into the key).
        send: Sends the request once and returns its response (body not yet read).
        view: Reads the status and headers of such a response and closes it.

    Returns:
        The response, and the function that releases its slot (call it once with the
        outcome, `"ok"` or `"other"`, when the body is read or dropped); None when the
        limiter is off.
    """
    if not settings.enabled:
        return await send(), None
    limiter = limiter_for(endpoint, authorization)
    deadline = time.monotonic() + settings.max_wait
    attempt = 0
    while True:
        await limiter.aacquire(settings.max_concurrent, front=attempt > 0)
        release = _Once(limiter)
        try:
            response = await send()
        except BaseException:
            release("other")
            raise
        if view.status(response) == 429 and settings.max_wait > 0:
            delay = retry_delay(view.headers(response), attempt, settings)
            if time.monotonic() + delay <= deadline:
                try:
                    await view.discard(response)
                finally:
                    release("throttled", delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
        return response, release


class RateLimitedClient(openai.DefaultHttpxClient):
    """A sync OpenAI SDK client whose requests share the endpoint's limiter."""

    def __init__(
        self,
        *,
        endpoint: str,
        settings: RateLimitSettings,
        caps: ResponseCaps | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._kimi_endpoint = endpoint
        self._kimi_settings = settings
        self._kimi_caps = caps or ResponseCaps()

    def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        """Send `request` once a slot is free; absorb 429s within `max_wait`.

        The body is read within the response caps (`kimi_graph._transport.caps`).
        """
        settings = self._kimi_settings
        started = time.monotonic()
        if not settings.enabled:
            response = super().send(request, stream=True, **kwargs)
            return self._kimi_finish(request, response, stream, started)
        limiter = limiter_for(self._kimi_endpoint, request.headers.get("authorization"))
        deadline = time.monotonic() + settings.max_wait
        attempt = 0
        while True:
            if already_aborted():  # an aborted sub-agent's retry takes no slot of the others
                msg = f"request to {self._kimi_endpoint} not sent: its work was aborted"
                raise RequestAbortedError(msg)
            limiter.acquire(settings.max_concurrent, front=attempt > 0)
            release = _Once(limiter)
            try:
                response = super().send(request, stream=True, **kwargs)
            except BaseException:
                release("other")
                raise
            if response.status_code == 429 and settings.max_wait > 0:
                delay = retry_delay(response.headers, attempt, settings)
                if time.monotonic() + delay <= deadline:
                    response.close()
                    release("throttled", delay)
                    attempt += 1
                    time.sleep(delay)
                    continue
            outcome: Outcome = "ok" if response.status_code < 400 else "other"
            response.stream = _ReleasingStream(response.stream, partial(release, outcome))
            return self._kimi_finish(request, response, stream, started)

    def _kimi_finish(self, request: Any, response: Any, stream: bool, started: float) -> Any:
        counter = meter(self._kimi_caps, self._kimi_endpoint, request, started)
        response.stream = CappedStream(response.stream, counter)
        try:
            if _wants_events(request, stream) and not _events_or_error(response):
                body = response.read()
                raise not_an_event_stream(self._kimi_endpoint, response, body)
            if not stream:
                response.read()
        except BaseException:
            response.close()
            raise
        return response


class _AsyncLimited(httpx.AsyncClient):
    """`send` through the endpoint's limiter; mixed into an async client of the SDK."""

    def __init__(
        self,
        *,
        endpoint: str,
        settings: RateLimitSettings,
        caps: ResponseCaps | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._kimi_endpoint = endpoint
        self._kimi_settings = settings
        self._kimi_caps = caps or ResponseCaps()

    async def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        """Send `request` once a slot is free; absorb 429s within `max_wait`.

        The body is read within the response caps (`kimi_graph._transport.caps`).
        """
        started = time.monotonic()
        response, release = await send_within_limits(
            self._kimi_endpoint,
            self._kimi_settings,
            request.headers.get("authorization"),
            partial(super().send, request, stream=True, **kwargs),
            _HTTPX_RESPONSES,
        )
        if release is not None:
            outcome: Outcome = "ok" if response.status_code < 400 else "other"
            response.stream = _AsyncReleasingStream(response.stream, partial(release, outcome))
        return await self._kimi_finish(request, response, stream, started)

    async def _kimi_finish(self, request: Any, response: Any, stream: bool, started: float) -> Any:
        counter = meter(self._kimi_caps, self._kimi_endpoint, request, started)
        response.stream = AsyncCappedStream(response.stream, counter)
        try:
            if _wants_events(request, stream) and not _events_or_error(response):
                body = await response.aread()
                raise not_an_event_stream(self._kimi_endpoint, response, body)
            if not stream:
                await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response


def _wants_events(request: Any, stream: bool) -> bool:
    """Whether the SDK streams this request as server-sent events (``"stream": true``)."""
    if not stream or request.method != "POST":
        return False
    try:
        body = json.loads(request.content or b"{}")
    except (ValueError, TypeError):
        return False
    return isinstance(body, dict) and body.get("stream") is True


def _events_or_error(response: Any) -> bool:
    """An event stream, or an error status (the SDK reports those itself)."""
    return response.status_code != 200 or is_event_stream(response)


class RateLimitedAsyncClient(_AsyncLimited, openai.DefaultAsyncHttpxClient):
    """An async OpenAI SDK client (httpx transport) sharing the endpoint's limiter."""


class RateLimitedAioHttpClient(_AsyncLimited, openai.DefaultAioHttpClient):
    """An async OpenAI SDK client (aiohttp transport) sharing the endpoint's limiter.

    aiohttp's pool costs the client about half the CPU per request of httpx's, whose
    pool checks every idle connection on each request (O(connections)); that is what a
    swarm of a hundred concurrent sub-agents pays for.
    """


def _client_kwargs(base_url: str | None, timeout: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"timeout": timeout}
    if base_url:
        kwargs["base_url"] = base_url
    return kwargs


def build_sync_client(
    base_url: str | None,
    endpoint: str,
    timeout: Any,
    socket_options: tuple[Any, ...],
    settings: RateLimitSettings,
    caps: ResponseCaps | None = None,
) -> RateLimitedClient:
    """Return a sync client for the OpenAI SDK that goes through the shared limiter.

    Its transport is `AbortableTransport`: a request made under an `ABORT_SIGNAL` is
    closed in flight when the signal fires. With a proxy set in the environment and
    no socket options, httpx's own transport is kept (it honours the proxy).

    Args:
        base_url: The API base URL.
        endpoint: The base URL without credentials (the limiter's key).
        timeout: An `httpx.Timeout` or seconds.
        socket_options: Socket options for the transport (as langchain-openai sets).
        settings: The rate-limit settings.
        caps: The bounds on one response (None: the defaults).
    """
    kwargs = _client_kwargs(base_url, timeout)
    if socket_options or not _environment_proxies():
        # an abort closes its requests in flight (see `kimi_graph._transport.abort`);
        # a proxy from the environment is left to httpx's own transport, as before
        kwargs["transport"] = AbortableTransport(
            socket_options=list(socket_options) or None, limits=CONNECTION_LIMITS
        )
    return RateLimitedClient(endpoint=endpoint, settings=settings, caps=caps, **kwargs)


def _environment_proxies() -> bool:
    """Whether httpx would route requests through a proxy named in the environment."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def build_async_client(
    base_url: str | None,
    endpoint: str,
    timeout: Any,
    socket_options: tuple[Any, ...],
    settings: RateLimitSettings,
    transport: AsyncTransport = "aiohttp",
    caps: ResponseCaps | None = None,
) -> RateLimitedAsyncClient | RateLimitedAioHttpClient:
    """Return an async client for the OpenAI SDK that goes through the shared limiter.

    Args:
        base_url: The API base URL.
        endpoint: The base URL without credentials (the limiter's key).
        timeout: An `httpx.Timeout` or seconds.
        socket_options: Socket options for the transport (as langchain-openai sets);
            they need the httpx transport, which is then used.
        settings: The rate-limit settings.
        transport: "aiohttp" (default) or "httpx".
        caps: The bounds on one response (None: the defaults).
    """
    kwargs = _client_kwargs(base_url, timeout)
    if transport == "aiohttp" and not socket_options:
        return RateLimitedAioHttpClient(endpoint=endpoint, settings=settings, caps=caps, **kwargs)
    if socket_options:
        kwargs["transport"] = httpx.AsyncHTTPTransport(
            socket_options=list(socket_options), limits=CONNECTION_LIMITS
        )
    return RateLimitedAsyncClient(endpoint=endpoint, settings=settings, caps=caps, **kwargs)
