"""Safe by default: what a request must be before any route sees it, and where to bind.

A browser lets any web page send a "simple request" (`Content-Type: text/plain`,
no preflight) to a server on the operator's machine, and DNS rebinding lets it name the
server by a host of its own. So:

- `POST` bodies must be JSON (`Content-Type: application/json`): 415 otherwise.
- The `Host` header must name the server: loopback names by default, plus the bound
  address and the hosts given with `--allowed-host` (`*` allows any): 400 otherwise.
- `serve` refuses a non-loopback bind without an API key, unless told so explicitly
  (`check_bind`, the CLI's `--insecure-no-auth`).

One API key means one trust domain: every holder of the key may use every thread of
the server (see README, "Serve").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from kimi_graph.serve.errors import ApiError

__all__ = [
    "LOOPBACK_HOSTS",
    "RequestGuard",
    "check_bind",
    "is_loopback",
    "is_wildcard",
]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names a server bound to loopback answers to by default."""

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address or a name) is the loopback interface."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether `host` binds every interface (`0.0.0.0`, `::`)."""
    return host.strip("[]") in WILDCARDS


def check_bind(host: str, *, has_key: bool, insecure_no_auth: bool) -> None:
    """Refuse to serve a non-loopback interface without an API key.

    Raises:
        ValueError: `host` is not loopback, no key is set and `insecure_no_auth` is False.
    """
    if is_loopback(host) or has_key or insecure_no_auth:
        return
    msg = (
        f"refusing to serve on {host} without an API key: anyone who can reach it could "
        "run the agent's tools and spend the upstream key. Set --api-key (or "
        "KIMI_SERVE_API_KEY), bind 127.0.0.1, or pass --insecure-no-auth."
    )
    raise ValueError(msg)


def _host_name(value: str) -> str:
    """The name of a `Host` header value, without its port (IPv6 brackets dropped)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _json_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestGuard:
    """ASGI middleware: the `Host` allow-list and JSON-only bodies, in OpenAI's error shape.

    Args:
        app: The app to guard.
        allowed_hosts: Host names accepted in the `Host` header (`*`: any).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(_host_name(h) if h != "*" else h for h in allowed_hosts)

    def _refusal(self, scope: Scope) -> ApiError | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        where = f"{scope['method']} {scope['path']}"
        if "*" not in self.allowed:
            host = _host_name(headers.get("host", ""))
            if host not in self.allowed:
                msg = (
                    f"{where}: the Host header names a host this server does not answer "
                    "to (start it with --allowed-host NAME to add one)"
                )
                return ApiError(400, msg, "invalid_host")
        if scope["method"] == "POST" and not _json_type(headers.get("content-type", "")):
            msg = f"{where}: the body must be JSON (Content-Type: application/json)"
            return ApiError(415, msg, "unsupported_media_type")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request with a foreign `Host` or a non-JSON body; pass the rest on."""
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                response: Any = refusal.response()
                response.headers["connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
