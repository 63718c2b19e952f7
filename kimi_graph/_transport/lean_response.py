"""The response of a lean post (`kimi_graph._transport.lean_post`), read as the SDK reads it.

langchain-openai reads three things of a raw response: `parse()`, `headers` and, on
an error, `http_response`. `LeanJsonResponse` gives them from aiohttp's status,
headers and body without making an `httpx.Response` (made only when
`http_response` is asked for, or to decode a compressed body). `read_json` is the
SDK's reading of a body, shared with `json_post.RawJsonResponse`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kimi_graph._transport.openai_compat import httpx

__all__ = ["LeanJsonResponse", "read_json"]


class _ResponseHeaders(Mapping[str, str]):
    """Response headers read as `httpx.Headers` reads them.

    Names in any case; iterated in lower case; a repeated header is its values
    joined by ", ".
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw  # aiohttp's CIMultiDictProxy

    def __getitem__(self, key: str) -> str:
        values = self._raw.getall(key, None)
        if not values:
            raise KeyError(key)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name.lower() for name in self._raw))

    def __len__(self) -> int:
        return len({name.lower() for name in self._raw})

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._raw


class LeanJsonResponse:
    """What langchain-openai reads of a raw response: `parse()`, `headers`, `http_response`.

    The same reading as `json_post.RawJsonResponse`; the `httpx.Response` is only made
    when asked for (or to decode a compressed body).
    """

    def __init__(self, status: int, headers: Any, body: bytes, request: Any) -> None:
        """Hold a response whose body was read.

        Args:
            status: The HTTP status.
            headers: aiohttp's response headers.
            body: The body as received (not decoded).
            request: Makes the `httpx.Request` the response is for.
        """
        self._status = status
        self._raw_headers = headers
        self._body = body
        self._request = request
        self._response: httpx.Response | None = None
        self.headers = _ResponseHeaders(headers)

    @property
    def http_response(self) -> httpx.Response:
        """The response as the SDK would have returned it (made on first access)."""
        if self._response is None:
            response = httpx.Response(
                self._status,
                headers=list(self._raw_headers.items()),
                content=self._body,
                request=self._request(),
            )
            self._response = response
        return self._response

    def _content(self) -> bytes:
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return self._body
        return self.http_response.content  # httpx decodes gzip, deflate, br, zstd

    def parse(self) -> Any:
        """The body as JSON, read as the SDK reads it (see `read_json`)."""
        return read_json(
            self._content(),
            self.headers.get("content-type", "*"),
            lambda: self.http_response.text,
        )


def read_json(content: bytes, content_type: str, text: Callable[[], str]) -> Any:
    """A response body as JSON, read as the SDK reads it.

    Args:
        content: The (decoded) body.
        content_type: The `Content-Type` header ("*" when absent).
        text: The body as text (the SDK's answer for a body that is not JSON).

    Raises:
        json.JSONDecodeError: A body labelled JSON that is not (the SDK raises it
            too; ChatKimi names the endpoint). Any other body that is not JSON is
            returned as text, as the SDK returns it.
    """
    if content_type.split(";")[0].endswith("json"):
        return json.loads(content)
    try:
        return json.loads(content)
    except ValueError:
        return text()
