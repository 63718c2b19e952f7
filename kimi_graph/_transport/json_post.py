"""Chat completions posted as the JSON ChatKimi built, and read back as JSON.

langchain-openai calls `client.with_raw_response.create(**payload)` of the OpenAI
SDK's `chat.completions` resource for a whole (not streamed) answer. The SDK then
runs the payload through its type transform and builds a pydantic `ChatCompletion`
from the response, which langchain-openai turns straight back into a dict: about a
third of the client CPU of a model call, paid by every sub-agent of a swarm.

`JsonCompletions` stands in for that resource. A whole answer is posted with the
SDK client's own `post(path, cast_to=httpx.Response, body=..., options=...)` (the
SDK's documented way to call an endpoint as raw JSON), so everything below the
request is the SDK's as before: base URL, auth and default headers, `extra_headers`
and `extra_query`, time-outs, `max_retries` and its back-off, the error types and
messages (`openai.APIStatusError` subclasses, `APIConnectionError`,
`APITimeoutError`), and the HTTP client with the endpoint's rate limiter and response
caps. Only the transform and the pydantic round trip are skipped: the body is sent as
it was built, and the response is read with `json.loads`. Streams and anything else
go to the SDK's resource unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

import openai
from openai._base_client import make_request_options

from kimi_graph._transport.lean_post import LeanPoster
from kimi_graph._transport.lean_response import read_json
from kimi_graph._transport.openai_compat import httpx

__all__ = ["AsyncJsonCompletions", "JsonCompletions", "RawJsonResponse"]

_PATH = "/chat/completions"

#: The arguments of `create` that steer the request rather than fill the body.
_REQUEST_ARGUMENTS = ("extra_headers", "extra_query", "extra_body", "timeout")

#: What `chat.completions.create` asks of the SDK's auth: the bearer key (openai 3
#: names it per request; older SDKs, without the argument, always send it).
_SECURITY: dict[str, Any] = (
    {"security": {"bearer_auth": True}}
    if "security" in inspect.signature(make_request_options).parameters
    else {}
)


class RawJsonResponse:
    """What langchain-openai reads of a raw response: `parse()`, `headers`, `http_response`."""

    def __init__(self, response: httpx.Response) -> None:
        """Wrap a response whose body has been read.

        Args:
            response: The HTTP response of the SDK's `post`.
        """
        self.http_response = response

    @property
    def headers(self) -> httpx.Headers:
        """The response's headers."""
        return self.http_response.headers

    def parse(self) -> Any:
        """The body as JSON, read as the SDK reads it (see `lean_response.read_json`)."""
        response = self.http_response
        content_type = response.headers.get("content-type", "*")
        return read_json(response.content, content_type, lambda: response.text)


def _split(payload: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The JSON body and the SDK's request options of `create(**payload)`."""
    extra = {key: payload[key] for key in _REQUEST_ARGUMENTS if key in payload}
    body = {
        key: value for key, value in payload.items() if key not in extra and not _omitted(value)
    }
    if extra.get("extra_body"):
        body.update(extra["extra_body"])
    options = make_request_options(
        extra_headers=extra.get("extra_headers"),
        extra_query=extra.get("extra_query"),
        timeout=extra.get("timeout", openai.NOT_GIVEN),
        **_SECURITY,
    )
    return body, options


def _omitted(value: Any) -> bool:
    return isinstance(value, openai.NotGiven | openai.Omit)


def _raw(payload: dict[str, Any]) -> bool:
    """Whether `create(**payload)` is posted as JSON here (a whole answer)."""
    return not payload.get("stream")


class _SyncRaw:
    def __init__(self, owner: JsonCompletions) -> None:
        self._owner = owner

    def create(self, **payload: Any) -> Any:
        owner = self._owner
        if not _raw(payload):
            return owner.sdk.with_raw_response.create(**payload)
        body, options = _split(payload)
        response = owner.client.post(_PATH, cast_to=httpx.Response, body=body, options=options)
        return RawJsonResponse(response)


class _AsyncRaw:
    def __init__(self, owner: AsyncJsonCompletions) -> None:
        self._owner = owner

    async def create(self, **payload: Any) -> Any:
        owner = self._owner
        if not _raw(payload):
            return await owner.sdk.with_raw_response.create(**payload)
        body, options = _split(payload)
        if owner.lean is not None:
            lean = await owner.lean.post(_PATH, body, options)
            if lean is not None:
                return lean
        response = await owner.client.post(
            _PATH, cast_to=httpx.Response, body=body, options=options
        )
        return RawJsonResponse(response)


class JsonCompletions:
    """`client.chat.completions` whose whole answers are posted and read as JSON.

    `with_raw_response.create(**payload)` of a request that does not stream posts the
    body as it is; `create` and streamed requests are the SDK resource's own.
    """

    def __init__(self, client: openai.OpenAI) -> None:
        """Wrap `client.chat.completions`.

        Args:
            client: The OpenAI SDK client whose `post` sends the requests.
        """
        self.client = client
        self.sdk = client.chat.completions
        self.with_raw_response = _SyncRaw(self)

    def create(self, **payload: Any) -> Any:
        """The SDK resource's `create` (streams, and the parsed `ChatCompletion`)."""
        return self.sdk.create(**payload)


class AsyncJsonCompletions:
    """The async `JsonCompletions`, over an `openai.AsyncOpenAI` client.

    On ChatKimi's own aiohttp pool a whole answer is posted by `LeanPoster`
    (`kimi_graph._transport.lean_post`): the SDK's headers, URL, retries and errors
    without its per-request `httpx.Request`. Where that cannot apply (the httpx
    transport, a user's `http_async_client`, a proxy, an API-key function, ...), it
    is posted through the SDK client's `post()` as `JsonCompletions` does.
    """

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        """Wrap `client.chat.completions`.

        Args:
            client: The async OpenAI SDK client whose `post` sends the requests.
        """
        self.client = client
        self.sdk = client.chat.completions
        self.lean = LeanPoster.for_client(client)
        self.with_raw_response = _AsyncRaw(self)

    async def create(self, **payload: Any) -> Any:
        """The SDK resource's `create` (streams, and the parsed `ChatCompletion`)."""
        return await self.sdk.create(**payload)
