"""A whole chat completion posted straight on the aiohttp session of ChatKimi's own pool.

`JsonCompletions` (`kimi_graph._transport.json_post`) posts the body ChatKimi built
through the OpenAI SDK client's `post()`. For every request the SDK then merges and
normalises its headers into an `httpx.Request`, parses the URL three times, and
wraps aiohttp's response in an `httpx.Response`: about half the client CPU of a
model call, although headers and URL are the same for every call of one client.

`LeanPoster` sends the same request with less work:

- What does not change per call is taken from the SDK itself, once per client and
  per (retry count, `extra_headers`, `extra_query`, `timeout`): the SDK's own
  `_build_request` gives the URL (base URL, `default_query`, `extra_query`), every
  header (auth, `default_headers`, the platform headers, `x-stainless-retry-count`,
  `x-stainless-read-timeout`, `extra_headers`, and the HTTP client's own) and the
  time-outs. Only `Content-Length` is left to aiohttp, which sets it for the body.
- The body is serialised as the SDK serialises it (`openapi_dumps`) and posted on
  the `aiohttp.ClientSession` of the pool's transport (the SDK's vendored
  httpx-aiohttp transport), with the same arguments that transport passes.
- Everything around the request is the SDK's or the pool's, shared rather than
  copied: the endpoint's rate limiter (`send_within_limits`, as the pool's `send`),
  the response caps (`meter`), aiohttp errors mapped to httpx's by the transport's
  own `map_aiohttp_exceptions`, and the SDK's retry loop rules: `max_retries`,
  `_should_retry`, `_sleep_for_retry` (its back-off and `retry-after` headers),
  `APITimeoutError` / `APIConnectionError` raised from the mapped error, and status
  errors made by `_make_status_error_from_response`. An `httpx.Request` or
  `httpx.Response` is only made on those error paths.

Where the lean path cannot apply, `LeanPoster.for_client` returns None (or `post`
returns None for one request) and the caller posts through the SDK's `post()` as
before: an HTTP client that is not ChatKimi's own aiohttp pool (`async_transport=
"httpx"`, a user's `http_async_client`, socket options), a proxy, an SDK client
with its own auth machinery (an API-key function, workload identity, a provider)
or a client type other than `openai.AsyncOpenAI`, cookies kept by the pool, an SDK
without the private functions used here, or a redirect (the SDK follows it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai

from kimi_graph._transport.caps import ResponseCaps, meter
from kimi_graph._transport.lean_response import LeanJsonResponse
from kimi_graph._transport.limited_client import RateLimitedAioHttpClient, send_within_limits
from kimi_graph._transport.openai_compat import httpx
from kimi_graph._transport.ratelimit import RateLimitSettings

try:  # private SDK functions (openai >= 3); without them the SDK's `post()` is used
    from openai._base_client import get_platform
    from openai._base_client import log as sdk_log
    from openai._httpx2 import request_exceptions, timeout_exceptions
    from openai._models import FinalRequestOptions
    from openai._utils import asyncify
    from openai._utils._json import openapi_dumps
except ImportError:  # pragma: no cover - an older SDK
    _SDK_READY = False
else:
    _SDK_READY = all(
        hasattr(openai.AsyncOpenAI, name)
        for name in (
            "_build_request",
            "_should_retry",
            "_sleep_for_retry",
            "_make_status_error_from_response",
        )
    )

__all__ = ["LeanPoster"]

#: httpx's logger: its INFO line per request ("HTTP Request: POST ... 200 OK") is kept.
_httpx_log = logging.getLogger(httpx.__name__)

#: Template entries kept per client before the cache starts over.
_MAX_TEMPLATES = 64

#: Headers of the SDK's request that depend on its body (aiohttp sets them for ours).
_BODY_HEADERS = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class _Template:
    """What the SDK would send for one kind of request, bar the body."""

    options: Any
    url: str
    headers: tuple[tuple[str, str], ...]
    timeout: aiohttp.ClientTimeout
    extensions: dict[str, Any]
    authorization: str | None
    transport: Any
    """The pool's transport for the URL (the vendored aiohttp transport)."""
    map_errors: Any
    """Its module's `map_aiohttp_exceptions`."""


class _Redirect(Exception):
    """A 3xx with a Location: the SDK's `post()` follows it."""


class LeanPoster:
    """Posts whole chat completions of one SDK client on its aiohttp session."""

    def __init__(self, client: openai.AsyncOpenAI, pool: RateLimitedAioHttpClient) -> None:
        """Post for `client`, whose HTTP client is `pool` (see `for_client`).

        Args:
            client: The SDK client.
            pool: Its HTTP client, ChatKimi's own aiohttp pool.
        """
        self._client = client
        self._pool = pool
        self._endpoint: str = pool._kimi_endpoint
        self._settings: RateLimitSettings = pool._kimi_settings
        self._caps: ResponseCaps = pool._kimi_caps
        self._templates: dict[Any, _Template | None] = {}  # None: declined (a proxy)
        self._state: tuple[Any, ...] = ()

    @classmethod
    def for_client(cls, client: Any) -> LeanPoster | None:
        """A poster for `client`, or None where only the SDK's `post()` applies.

        Args:
            client: The SDK client of `AsyncJsonCompletions`.
        """
        if not _SDK_READY or type(client) is not openai.AsyncOpenAI:
            return None
        pool = getattr(client, "_client", None)
        if not isinstance(pool, RateLimitedAioHttpClient):
            return None
        plain_auth = (
            getattr(client, "_provider_runtime", None) is None
            and getattr(client, "workload_identity", None) is None
            and getattr(client, "_api_key_provider", None) is None
            and getattr(client, "_idempotency_header", None) is None
            and client.custom_auth is None
        )
        if not plain_auth or pool.auth is not None or any(pool.event_hooks.values()):
            return None
        return cls(client, pool)

    def _client_state(self) -> tuple[Any, ...]:
        """What the cached templates were built from (a change empties the cache)."""
        client = self._client
        return (
            client.api_key,
            client.organization,
            client.project,
            client._custom_headers,
            client._custom_query,
            client.timeout,
            client.base_url,
        )

    async def _template(
        self, retries_taken: int, options: Mapping[str, Any], key: Any
    ) -> _Template | None:
        """The request the SDK would build for these options (cached when `key` is)."""
        client = self._client
        if client._platform is None:
            client._platform = await asyncify(get_platform)()
        state = self._client_state()
        if state != self._state or len(self._templates) >= _MAX_TEMPLATES:
            self._templates = {}
            self._state = state
        if key is not None and key in self._templates:
            found = self._templates[key]
            if found is None:
                return None
            sdk_log.debug(
                "Building HTTP request: method=%s retries_taken=%i", "POST", retries_taken
            )
            return found
        final = FinalRequestOptions.construct(method="post", json_data={}, **options)
        request = client._build_request(final, retries_taken=retries_taken)
        transport = self._pool._transport_for_url(request.url)
        map_errors = _aiohttp_errors(transport)
        if map_errors is None:
            if key is not None:
                self._templates[key] = None  # asked once: the SDK's post() from now on
            return None
        timeout = request.extensions.get("timeout", {})
        headers = tuple(
            (name, value) for name, value in request.headers.items() if name not in _BODY_HEADERS
        )
        template = _Template(
            options=final,
            url=str(request.url),
            headers=headers,
            timeout=aiohttp.ClientTimeout(
                sock_connect=timeout.get("connect"),
                sock_read=timeout.get("read"),
                connect=timeout.get("pool"),
            ),
            extensions=dict(request.extensions),
            authorization=request.headers.get("authorization"),
            transport=transport,
            map_errors=map_errors,
        )
        if key is not None:
            self._templates[key] = template
        return template

    @staticmethod
    def _session(template: _Template) -> aiohttp.ClientSession:
        transport = template.transport
        if not isinstance(transport.client, aiohttp.ClientSession):
            transport.client = transport.get_client()  # as the transport does
        session: aiohttp.ClientSession = transport.client
        return session

    async def post(
        self, path: str, body: Any, options: Mapping[str, Any]
    ) -> LeanJsonResponse | None:
        """Post `body` to `path` as the SDK's `post(path, body=..., options=...)` would.

        Args:
            path: The path under the base URL.
            body: The JSON body.
            options: `make_request_options(...)` of the request (headers, query,
                time-out, security).

        Returns:
            The response (2xx, body read), or None when this request must go through
            the SDK's `post()` instead (nothing was sent, or a redirect was answered).

        Raises:
            openai.APIStatusError: The SDK's error for the status, after its retries.
            openai.APITimeoutError: The time-out, after the SDK's retries.
            openai.APIConnectionError: Any other transport error, after the retries.
        """
        if self._pool.is_closed or self._pool.cookies:
            return None
        options = {"url": path, **options}
        key = _freeze(options)
        content = openapi_dumps(body)
        client = self._client
        max_retries = client.max_retries
        for retries_taken in range(max_retries + 1):
            template = await self._template(retries_taken, options, _with(key, retries_taken))
            if template is None:
                return None
            remaining = max_retries - retries_taken

            def make_request(template: _Template = template) -> httpx.Request:
                return httpx.Request(
                    "POST",
                    template.url,
                    headers=list(template.headers),
                    content=content,
                    extensions=template.extensions,
                )

            sdk_log.debug("Sending HTTP Request: %s", "POST")
            try:
                status, headers, data = await self._send(template, content, make_request)
            except _Redirect:
                return None
            except timeout_exceptions() as err:
                sdk_log.debug("Encountered a timeout exception: %s", type(err).__name__)
                if remaining > 0:
                    await self._sleep(retries_taken, max_retries, template, None)
                    continue
                sdk_log.debug("Raising timeout error")
                raise openai.APITimeoutError(request=make_request()) from err
            except openai.OpenAIError:
                raise
            except request_exceptions() as err:
                sdk_log.debug("Encountered exception: %s", type(err).__name__)
                if remaining > 0:
                    await self._sleep(retries_taken, max_retries, template, None)
                    continue
                sdk_log.debug("Raising connection error")
                raise openai.APIConnectionError(request=make_request()) from err
            sdk_log.debug("HTTP Response: %s %i", "POST", status)
            sdk_log.debug("request_id: %s", headers.get("x-request-id"))
            if 200 <= status < 300:
                return LeanJsonResponse(status, headers, data, make_request)
            sdk_log.debug("Encountered an HTTP status error: %i", status)
            response = httpx.Response(
                status, headers=list(headers.items()), content=data, request=make_request()
            )
            if remaining > 0 and client._should_retry(response):
                await self._sleep(retries_taken, max_retries, template, response)
                continue
            sdk_log.debug("Re-raising status error")
            raise client._make_status_error_from_response(response) from None
        msg = "could not resolve response (should never happen)"  # as the SDK says
        raise AssertionError(msg)

    async def _sleep(
        self, retries_taken: int, max_retries: int, template: _Template, response: Any
    ) -> None:
        await self._client._sleep_for_retry(
            retries_taken=retries_taken,
            max_retries=max_retries,
            options=template.options,
            response=response,
        )

    async def _send(
        self, template: _Template, content: bytes, make_request: Any
    ) -> tuple[int, Any, bytes]:
        """Send once through the limiter; read the body within the caps."""
        started = time.monotonic()
        session = self._session(template)
        map_errors = template.map_errors

        async def send() -> aiohttp.ClientResponse:
            with map_errors():
                response = await session.request(
                    "POST",
                    template.url,
                    headers=template.headers,
                    data=content,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=template.timeout,
                    server_hostname=template.extensions.get("sni_hostname"),
                )
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                "POST",
                template.url,
                "HTTP/1.1",
                response.status,
                response.reason or httpx.codes.get_reason_phrase(response.status),
            )
            return response

        response, release = await send_within_limits(
            self._endpoint, self._settings, template.authorization, send, _AIOHTTP_RESPONSES
        )
        status = response.status
        try:
            if 300 <= status < 400 and "location" in response.headers:
                raise _Redirect
            counter = meter(self._caps, self._endpoint, make_request, started)
            parts: list[bytes] = []
            with map_errors():
                counter.check_time()
                async for part in response.content.iter_any():
                    counter.add(part)
                    parts.append(part)
        except BaseException:
            response.close()
            if release is not None:
                release("other")
            raise
        response.release()
        if release is not None:
            release("ok" if status < 400 else "other")
        return status, response.headers, b"".join(parts)


def _aiohttp_errors(transport: Any) -> Any:
    """The error mapping of the vendored aiohttp transport, or None for any other.

    None too for a transport through a proxy or a Unix socket (the SDK's `post()`
    sends those).
    """
    module = sys.modules.get(type(transport).__module__)
    map_errors = getattr(module, "map_aiohttp_exceptions", None)
    if map_errors is None or getattr(transport, "proxy", True) is not None:
        return None
    if not hasattr(transport, "get_client") or getattr(transport, "uds", None):
        return None
    return map_errors


class _AiohttpResponses:
    def status(self, response: aiohttp.ClientResponse) -> int:
        return response.status

    def headers(self, response: aiohttp.ClientResponse) -> Mapping[str, str]:
        return response.headers

    async def discard(self, response: aiohttp.ClientResponse) -> None:
        response.close()


_AIOHTTP_RESPONSES = _AiohttpResponses()


class _Unhashable(Exception):
    pass


def _freeze(value: Any) -> Any:
    """A hashable copy of request options, or None when one is not hashable."""
    try:
        return _frozen(value)
    except _Unhashable:
        return None


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ("map", tuple((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("seq", tuple(_frozen(item) for item in value))
    try:
        hash(value)
    except TypeError as err:
        raise _Unhashable from err
    return (type(value), value)


def _with(key: Any, retries_taken: int) -> Any:
    return None if key is None else (retries_taken, key)
