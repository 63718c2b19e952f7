"""Errors in OpenAI's shape: `{"error": {"message", "type", "code"}}` with an HTTP status.

```
ApiError                    a request the server answers with an error status
  400 invalid_request_error   bad JSON, a field out of range, `tools` on agent/swarm
  401 invalid_api_key         a missing or wrong bearer key (`--api-key`)
  404 model_not_found         a model that is not one of the four
  408 request_timeout         a body that did not arrive in time
  413 request_too_large       a body over the size limit
  415 unsupported_media_type  a body that is not `application/json`
  429 rate_limit_exceeded     the upstream model server's 429, passed on
  502 upstream_error          the upstream server failed, could not be reached, or
                              answered 200 with an error or an unusable body
  503 server_busy             the server runs its maximum of runs
  504 timeout                 the run took longer than the per-request timeout
```
"""

from __future__ import annotations

import re
from typing import Any

import openai
from starlette.responses import JSONResponse

from kimi_graph._transport.endpoint import MalformedResponseError

NO_CHUNKS = frozenset({"No generation chunks were returned", "No generations found in stream."})
"""langchain-core's errors for a stream that produced nothing (`stream`, `agenerate`)."""

__all__ = [
    "NO_CHUNKS",
    "ApiError",
    "TYPE_OF_STATUS",
    "from_exception",
]

TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answered as an OpenAI-shaped JSON body with an HTTP status.

    Args:
        status: The HTTP status.
        message: What went wrong, for the client (never a key or a URL credential).
        code: A short machine-readable code, e.g. `"model_not_found"`.
        param: The request field at fault, if any.
        headers: Extra response headers (e.g. `retry-after` of an upstream 429).
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"error": {"message", "type", "code", "param"}}`."""
        return {
            "error": {
                "message": self.message,
                "type": TYPE_OF_STATUS.get(self.status, "server_error"),
                "code": self.code,
                "param": self.param,
            }
        }

    def response(self) -> JSONResponse:
        """This error as a Starlette response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _upstream_detail(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message:
            return message
    return err.message


def from_exception(err: BaseException, endpoint: str) -> ApiError:
    """Translate an exception raised by a graph run into an `ApiError`.

    Upstream statuses the client can act on are passed on (429 with its `retry-after`,
    400/404/413/422 as 400); other upstream failures become 502, upstream timeouts 504.
    Messages never carry the upstream URL, so no credential in it can leak.

    Args:
        err: The exception.
        endpoint: The endpoint being served, named in the message (e.g. `kimi-swarm`).
    """
    if isinstance(err, ApiError):
        return err
    if isinstance(err, openai.APIStatusError):
        detail = _upstream_detail(err)
        status = err.status_code
        if status == 429:
            retry = err.response.headers.get("retry-after") if err.response else None
            return ApiError(
                429,
                f"{endpoint}: the upstream model server is rate limiting: {detail}",
                "rate_limit_exceeded",
                headers={"retry-after": retry} if retry else None,
            )
        if status in (400, 404, 413, 422):
            return ApiError(
                400, f"{endpoint}: the upstream model server refused the request: {detail}"
            )
        return ApiError(
            502,
            f"{endpoint}: the upstream model server answered {status}: {detail}",
            "upstream_error",
        )
    if isinstance(err, MalformedResponseError):
        detail = re.sub(r"^Malformed response from \S+: ", "", str(err))  # no upstream URL
        return ApiError(
            502,
            f"{endpoint}: the upstream model server answered 200 with an unusable body: {detail}",
            "upstream_error",
        )
    if isinstance(err, ValueError) and str(err) in NO_CHUNKS:
        # langchain-core's words for a streamed call whose 200 was not an event
        # stream (a JSON error body, an HTML page): the upstream's fault.
        return ApiError(
            502,
            f"{endpoint}: the upstream model server answered a stream with no chunks "
            "(a 200 that is not an event stream)",
            "upstream_error",
        )
    if isinstance(err, openai.APITimeoutError):
        return ApiError(504, f"{endpoint}: the upstream model server timed out", "timeout")
    if isinstance(err, openai.APIConnectionError):
        return ApiError(
            502, f"{endpoint}: cannot reach the upstream model server", "upstream_unreachable"
        )
    return ApiError(500, f"{endpoint}: internal error ({type(err).__name__})", "internal_error")
