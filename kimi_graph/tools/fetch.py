"""`fetch_url`: read one web page as text, refusing private and loopback addresses.

Each hop (the first request and up to `max_redirects` redirects, followed by hand)
goes through the same steps:

1. only ``http`` and ``https`` URLs are accepted;
2. the host is resolved (`socket.getaddrinfo`, or the event loop's
   `getaddrinfo` in async code) and every address it resolves to is checked
   against the `AddressPolicy` (no loopback, private, link-local, CGNAT, ...);
3. the request is sent to the checked address itself, with the original
   ``Host`` header and TLS server name, so the name is never resolved a second
   time and a rebinding DNS server cannot swap the address after the check.

The body is streamed and reading stops after `max_bytes` (decoded) bytes: only
gzip and deflate are asked for, and they are decoded with that bound as the raw
bytes arrive (`kimi_graph.tools._bounded_decode`), so a decompression bomb never
grows past it; a body in another encoding is refused. HTML is
turned into text, JSON and other text types are returned as they are, binary
types are refused. Environment proxies are ignored (``trust_env=False``): a proxy
would connect to an address this module never checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from kimi_graph.modes._control_hook import on_abort
from kimi_graph.tools._bounded_decode import (
    ACCEPT_ENCODING,
    BoundedDecoder,
    UnsupportedEncodingError,
)
from kimi_graph.tools._errors import FetchError, URLRefusedError, format_validation_error
from kimi_graph.tools._html import html_to_text
from kimi_graph.tools._netguard import AddressPolicy

__all__ = ["FetchURLInput", "FetchURLTool", "fetch_url", "make_fetch_url"]

DEFAULT_MAX_BYTES = 1_000_000
"""Bytes of (decompressed) body read at most."""
DEFAULT_MAX_CHARS = 20_000
"""Characters of text returned at most."""
DEFAULT_TIMEOUT = 10.0
"""Seconds for the whole fetch, redirects included."""
DEFAULT_MAX_REDIRECTS = 5
USER_AGENT = "Mozilla/5.0 (compatible; kimi-graph-fetch/0.1)"
_ACCEPT = "text/html,text/*;q=0.9,application/json;q=0.9,*/*;q=0.1"

_Kind = Literal["html", "json", "text"]
_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/x-ndjson",
        "application/csv",
        "application/x-sh",
        "application/sql",
        "application/graphql",
    }
)


class FetchURLInput(BaseModel):
    """Arguments of `fetch_url`."""

    url: str = Field(
        description="Absolute http:// or https:// URL of the page to read.",
        min_length=1,
        max_length=4096,
    )


class _Watchdog:
    """End a sync fetch from a timer thread once its deadline passes (or on abort).

    Closing a socket from another thread does not wake a read blocked on it (Linux
    keeps the socket open until the read returns), so the watchdog shuts down the
    sockets its requests opened, which it learns of through httpcore's `trace`
    request extension, then closes the client.
    """

    def __init__(self, seconds: float, client: httpx.Client) -> None:
        self.fired = False
        self._client = client
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """Keep the socket of each new connection (the `trace` callback of httpcore)."""
        if event not in _CONNECTED:
            return
        stream = info.get("return_value")
        sock = None if stream is None else stream.get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            if not self.fired:
                self._sockets.append(sock)
                return
        _shutdown(sock)  # fired while connecting

    def fire(self) -> None:
        """End the fetch now (the deadline passed, or the sub-agent was aborted)."""
        with self._lock:
            self.fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)
        with contextlib.suppress(Exception):
            self._client.close()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


_CONNECTED = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})
"""The `trace` events whose `return_value` is a new connection's network stream."""


def _shutdown(sock: Any) -> None:
    """Shut `sock` down both ways (a TLS socket too), ending a read blocked on it."""
    with contextlib.suppress(OSError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class FetchURLTool(BaseTool):
    """Fetch a web page and return it as readable text.

    Private, loopback, link-local and other non-public addresses are refused
    before any connection is made unless `allow_private` is set or the host is in
    `allowed_hosts`. See the module docstring for the order of checks.

    Instantiate:
        ```python
        from kimi_graph.tools import make_fetch_url

        fetch = make_fetch_url(max_bytes=200_000, timeout=5.0)
        fetch.invoke({"url": "https://example.com"})
        ```
    """

    name: str = "fetch_url"
    description: str = (
        "Fetch a web page or text document by URL and return its readable text "
        "(HTML is converted to plain text; JSON and plain text are returned as is). "
        "Use it to read a page found with web_search or a URL the user gave. "
        "Only public http(s) URLs work; binary files (images, PDFs, archives) are "
        "refused, and long pages are clipped."
    )
    args_schema: type[BaseModel] = FetchURLInput
    handle_tool_error: bool = True
    handle_validation_error: Any = format_validation_error

    allow_private: bool = False
    """Permit loopback, private, link-local and other non-public addresses."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names or IP addresses/CIDR networks exempt from the address check."""
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    """Stop reading the body after this many (decompressed) bytes."""
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, gt=0)
    """Clip the returned text to this many characters."""
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    """Seconds for the whole fetch, redirects included."""
    max_redirects: int = Field(default=DEFAULT_MAX_REDIRECTS, ge=0)
    """Redirects followed at most."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def policy(self) -> AddressPolicy:
        """The address policy built from `allow_private` and `allowed_hosts`."""
        return AddressPolicy(self.allow_private, tuple(self.allowed_hosts))

    def _run(self, url: str, run_manager: CallbackManagerForToolRun | None = None) -> str:
        deadline = time.monotonic() + self.timeout
        current = _parse_url(url, original=url)
        # httpx's read timeout restarts with every byte, so a server trickling its
        # headers or body holds a blocking read far past `timeout`; the watchdog shuts
        # the client's sockets down at the deadline, which ends any read in progress.
        client = httpx.Client(trust_env=False, follow_redirects=False)
        watchdog = _Watchdog(self.timeout, client)
        try:
            # the watchdog, and an aborted swarm sub-agent, shut the client's sockets down
            with watchdog, client, on_abort(watchdog.fire):
                for _hop in range(self.max_redirects + 1):
                    addresses = self._check(current, _resolve(current), url if _hop else None)
                    response = self._send(client, current, addresses, deadline, watchdog)
                    try:
                        location = self._redirect_target(response, current, url)
                        if location is not None:
                            current = location
                            continue
                        kind = self._start_body(response, current)
                        body, clipped = _read_capped(
                            response.iter_raw(), self._decoder(response, current), deadline
                        )
                    finally:
                        response.close()
                    return self._render(current, response, kind, body, clipped)
        except httpx.TimeoutException as e:
            raise self._timeout_error(url) from e
        except (httpx.HTTPError, RuntimeError) as e:
            if watchdog.fired:
                raise self._timeout_error(url) from e
            if isinstance(e, RuntimeError):
                raise
            raise self._http_error(url, e) from e
        if watchdog.fired:
            raise self._timeout_error(url)
        raise self._too_many_redirects(url)

    async def _arun(
        self, url: str, run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> str:
        try:
            return await asyncio.wait_for(self._afetch(url), timeout=self.timeout)
        except TimeoutError as e:
            raise self._timeout_error(url) from e

    async def _afetch(self, url: str) -> str:
        deadline = time.monotonic() + self.timeout
        current = _parse_url(url, original=url)
        try:
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
                for _hop in range(self.max_redirects + 1):
                    resolved = await _aresolve(current)
                    addresses = self._check(current, resolved, url if _hop else None)
                    response = await self._asend(client, current, addresses, deadline)
                    try:
                        location = self._redirect_target(response, current, url)
                        if location is not None:
                            current = location
                            continue
                        kind = self._start_body(response, current)
                        body, clipped = await _aread_capped(
                            response.aiter_raw(), self._decoder(response, current), deadline
                        )
                    finally:
                        await response.aclose()
                    return self._render(current, response, kind, body, clipped)
        except httpx.TimeoutException as e:
            raise self._timeout_error(url) from e
        except httpx.HTTPError as e:
            raise self._http_error(url, e) from e
        raise self._too_many_redirects(url)

    # -- steps shared by sync and async -------------------------------------------

    def _check(
        self, url: httpx.URL, addresses: list[str], redirected_from: str | None
    ) -> list[str]:
        """Return the addresses to connect to, or raise if any of them is refused."""
        policy = self.policy
        for address in addresses:
            reason = policy.refusal(_host(url), address)
            if reason is not None:
                what = f"redirect from {redirected_from} to {url}" if redirected_from else url
                msg = (
                    f"Error: fetch_url refused {what}: {reason} (set allow_private=True or "
                    "add the host to allowed_hosts to permit). Only public web addresses "
                    "can be fetched."
                )
                raise URLRefusedError(msg)
        return addresses

    def _send(
        self,
        client: httpx.Client,
        url: httpx.URL,
        addresses: list[str],
        deadline: float,
        watchdog: _Watchdog,
    ) -> httpx.Response:
        """Send to the checked addresses in turn until one accepts the connection."""
        for address in addresses[:-1]:
            request = self._build_request(client, url, address, deadline)
            request.extensions["trace"] = watchdog.trace
            with contextlib.suppress(httpx.ConnectError):
                return client.send(request, stream=True)
        request = self._build_request(client, url, addresses[-1], deadline)
        request.extensions["trace"] = watchdog.trace
        return client.send(request, stream=True)

    async def _asend(
        self, client: httpx.AsyncClient, url: httpx.URL, addresses: list[str], deadline: float
    ) -> httpx.Response:
        for address in addresses[:-1]:
            request = self._build_request(client, url, address, deadline)
            with contextlib.suppress(httpx.ConnectError):
                return await client.send(request, stream=True)
        request = self._build_request(client, url, addresses[-1], deadline)
        return await client.send(request, stream=True)

    def _build_request(
        self,
        client: httpx.Client | httpx.AsyncClient,
        url: httpx.URL,
        address: str,
        deadline: float,
    ) -> httpx.Request:
        remaining = max(deadline - time.monotonic(), 0.001)
        headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
        extensions: dict[str, Any] = {}
        target = url
        if not _is_ip_literal(_host(url)):
            # Pin the connection to the checked address (see module docstring).
            target = url.copy_with(host=address)
            headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = _host(url)
        request = client.build_request(
            "GET", target, headers=headers, timeout=httpx.Timeout(remaining)
        )
        request.extensions.update(extensions)
        return request

    def _redirect_target(
        self, response: httpx.Response, current: httpx.URL, original: str
    ) -> httpx.URL | None:
        if not 300 <= response.status_code < 400 or response.status_code == 304:
            return None
        location = response.headers.get("Location")
        if not location:
            msg = (
                f"Error: fetch_url got HTTP {response.status_code} without a Location "
                f"header from {current}."
            )
            raise FetchError(msg)
        # Resolve relative to the URL as the user wrote it, never the pinned address.
        return _parse_url(current.join(location), original=original)

    def _start_body(self, response: httpx.Response, url: httpx.URL) -> _Kind | None:
        if response.status_code >= 400:
            msg = (
                f"Error: fetch_url got HTTP {response.status_code} "
                f"{response.reason_phrase} for {url}. Check the URL or try another source."
            )
            raise FetchError(msg)
        content_type = response.headers.get("Content-Type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if not mime:
            return None
        kind = _kind_of(mime)
        if kind is None:
            msg = (
                f"Error: fetch_url refused {url}: content type {mime!r} is binary and "
                "cannot be shown as text. Look for an HTML or text version of the document."
            )
            raise FetchError(msg)
        return kind

    def _decoder(self, response: httpx.Response, url: httpx.URL) -> BoundedDecoder:
        try:
            return BoundedDecoder(response.headers.get("Content-Encoding", ""), self.max_bytes)
        except UnsupportedEncodingError as e:
            msg = f"Error: fetch_url refused {url}: {e}."
            raise FetchError(msg) from e

    def _render(
        self,
        url: httpx.URL,
        response: httpx.Response,
        kind: _Kind | None,
        body: bytes,
        clipped: bool,
    ) -> str:
        if kind is None:
            kind = _sniff(body)
            if kind is None:
                msg = f"Error: fetch_url refused {url}: the response looks binary."
                raise FetchError(msg)
        text = body.decode(_charset(response), errors="replace")
        header = [f"URL: {url}", f"Status: {response.status_code}"]
        if kind == "html":
            title, text = html_to_text(text)
            if title:
                header.append(f"Title: {title}")
        notes = []
        if clipped:
            notes.append(f"[response truncated after {self.max_bytes} bytes]")
        if len(text) > self.max_chars:
            notes.append(f"[text clipped to {self.max_chars} of {len(text)} characters]")
            text = text[: self.max_chars]
        return "\n".join([*header, "", text, *notes]).rstrip()

    def _timeout_error(self, url: str) -> FetchError:
        msg = (
            f"Error: fetch_url timed out after {self.timeout:g}s fetching {url}. "
            "The site may be slow or down; try again later or use another source."
        )
        return FetchError(msg)

    def _http_error(self, url: str, error: httpx.HTTPError) -> FetchError:
        msg = f"Error: fetch_url could not fetch {url}: {type(error).__name__}: {error}"
        return FetchError(msg)

    def _too_many_redirects(self, url: str) -> FetchError:
        msg = f"Error: fetch_url stopped after {self.max_redirects} redirects starting at {url}."
        return FetchError(msg)


def make_fetch_url(
    *,
    allow_private: bool = False,
    allowed_hosts: tuple[str, ...] | list[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
    timeout: float = DEFAULT_TIMEOUT,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
) -> FetchURLTool:
    """Build a `fetch_url` tool with its own limits and address policy.

    Args:
        allow_private: Permit loopback, private, link-local and other non-public
            addresses (e.g. for a local test server).
        allowed_hosts: Host names or IP addresses/CIDR networks exempt from the
            address check, e.g. ``("localhost", "10.1.0.0/16")``.
        max_bytes: Stop reading the body after this many bytes.
        max_chars: Clip the returned text to this many characters.
        timeout: Seconds for the whole fetch, redirects included.
        max_redirects: Redirects followed at most.

    Returns:
        A configured `FetchURLTool` named ``"fetch_url"``.
    """
    return FetchURLTool(
        allow_private=allow_private,
        allowed_hosts=tuple(allowed_hosts),
        max_bytes=max_bytes,
        max_chars=max_chars,
        timeout=timeout,
        max_redirects=max_redirects,
    )


fetch_url = make_fetch_url()
"""The default `fetch_url` tool: public addresses only, 1 MB, 10 s, 5 redirects."""


# -- helpers ----------------------------------------------------------------------


def _parse_url(url: str | httpx.URL, *, original: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        msg = f"Error: fetch_url cannot parse the URL {url!s}: {e}"
        raise URLRefusedError(msg) from e
    if parsed.scheme not in {"http", "https"}:
        what = f"URL {url}" if str(url) == original else f"redirect from {original} to {url}"
        msg = (
            f"Error: fetch_url refused {what}: only http:// and https:// URLs are "
            f"supported, not {parsed.scheme or 'a relative URL'}."
        )
        raise URLRefusedError(msg)
    if not parsed.host:
        msg = f"Error: fetch_url refused {url}: the URL has no host."
        raise URLRefusedError(msg)
    return parsed


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii")


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _addresses(infos: list[tuple[Any, ...]], url: httpx.URL) -> list[str]:
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        msg = f"Error: fetch_url could not resolve the host of {url}."
        raise FetchError(msg)
    return addresses


def _resolve(url: httpx.URL) -> list[str]:
    try:
        infos = socket.getaddrinfo(_host(url), _port(url), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        msg = f"Error: fetch_url could not resolve the host of {url}: {e}. Check the URL."
        raise FetchError(msg) from e
    return _addresses(infos, url)


async def _aresolve(url: httpx.URL) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(_host(url), _port(url), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        msg = f"Error: fetch_url could not resolve the host of {url}: {e}. Check the URL."
        raise FetchError(msg) from e
    return _addresses(infos, url)


def _read_capped(
    chunks: Iterator[bytes], decoder: BoundedDecoder, deadline: float
) -> tuple[bytes, bool]:
    for chunk in chunks:
        _feed(decoder, chunk)
        if decoder.done:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("overall deadline exceeded")
    return bytes(decoder.body), decoder.clipped


async def _aread_capped(
    chunks: AsyncIterator[bytes], decoder: BoundedDecoder, deadline: float
) -> tuple[bytes, bool]:
    async for chunk in chunks:
        _feed(decoder, chunk)
        if decoder.done:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("overall deadline exceeded")
    return bytes(decoder.body), decoder.clipped


def _feed(decoder: BoundedDecoder, chunk: bytes) -> None:
    try:
        decoder.feed(chunk)
    except zlib.error as e:
        msg = f"the {decoder.coding} body is corrupt: {e}"
        raise httpx.DecodingError(msg) from e


def _kind_of(mime: str) -> _Kind | None:
    if mime in {"text/html", "application/xhtml+xml"}:
        return "html"
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml"):
        return "text"
    return None


def _sniff(body: bytes) -> _Kind | None:
    head = body[:1024]
    if b"\x00" in head:
        return None
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def _charset(response: httpx.Response) -> str:
    charset = response.charset_encoding or "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return charset
