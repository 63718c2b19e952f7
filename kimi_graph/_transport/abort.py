"""Closing a sync request in flight when the work it belongs to is aborted.

A sync request blocks its thread in a socket read that only the socket can end:
closing the socket from another thread does not wake the read (Linux keeps the
socket open until the read returns), shutting it down does. So the sync client of
the OpenAI SDK gets `AbortableTransport`, an HTTP/1.1 transport on httpcore's public
API whose network streams attach the socket of each request to that request's
`RequestScope`; an abort shuts the attached sockets down, which ends the read at
once and shows the server a closed connection.

Who may abort is set by the caller, not by this layer: a context variable,
`ABORT_SIGNAL` (`kimi_graph._transport.abort_signal`), holds an `AbortSignal` (a
swarm sets its sub-agent's control there) on whose abort the scopes of the requests
made under it fire. A request made once the signal fired is refused before anything
is sent (`RequestAbortedError`), so the OpenAI SDK's retries never reach the server.
Outside a signal (every request but a controlled swarm sub-agent's), the transport
only reads two context variables.

A socket stays attached while its response is open: the scope lets go of it before
the connection goes back to the pool, so an abort never touches a socket that a
sibling request reuses. A shut-down connection is not reused: httpcore closes a
connection whose read failed, and drops an idle one that reads as closed.
"""

from __future__ import annotations

import importlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from kimi_graph._transport.abort_signal import ABORT_SIGNAL, AbortSignal, RequestAbortedError
from kimi_graph._transport.openai_compat import httpx

if TYPE_CHECKING:
    import httpcore2 as httpcore
else:  # the httpcore under the SDK's httpx (httpx2 brings httpcore2)
    httpcore = importlib.import_module("httpcore2" if httpx.__name__ == "httpx2" else "httpcore")

__all__ = ["AbortableTransport", "RequestScope"]


_SENDING: ContextVar[RequestScope | None] = ContextVar("kimi_graph_sending", default=None)
"""The scope of the request this thread is sending (its socket writes attach to it)."""


def _shutdown(sock: Any) -> None:
    """Shut `sock` down both ways (a TLS socket too, without touching its TLS state)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass  # already closed, or not a socket (a test's mock stream)


class RequestScope:
    """The sockets of one request, shut down if its signal aborts while they are attached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self.aborted = False
        self._remove: Callable[[], None] | None = None

    @classmethod
    def open(cls, signal: AbortSignal, target: str) -> RequestScope:
        """A scope registered with `signal`.

        Raises:
            RequestAbortedError: The signal has already fired: nothing is sent.
        """
        scope = cls()
        scope._remove = signal.add_abort_callback(scope.abort)
        if scope.aborted:
            scope.close()
            msg = f"request to {target} not sent: the work it belongs to was aborted"
            raise RequestAbortedError(msg)
        return scope

    def abort(self) -> None:
        """Shut every attached socket down (the signal fired)."""
        with self._lock:  # under the lock: `close` cannot hand a socket on meanwhile
            self.aborted = True
            for sock in self._sockets:
                _shutdown(sock)

    def attach(self, sock: Any) -> None:
        """The request uses `sock` (shut down at once if the scope was aborted)."""
        with self._lock:
            if self.aborted:
                _shutdown(sock)
            elif not any(s is sock for s in self._sockets):
                self._sockets.append(sock)

    def close(self) -> None:
        """Let go of the sockets and the signal (before the connection is reused)."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        with self._lock:
            self._sockets.clear()


class _Stream(httpcore.NetworkStream):
    """A network stream whose writes attach its socket to the request being sent."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._sock = inner.get_extra_info("socket")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        scope = _SENDING.get()
        if scope is not None:
            scope.attach(self._sock)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's sync backend, its streams wrapped in `_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _as_httpx_error(exc: Exception) -> Exception | None:
    """The httpx exception of an httpcore one (the most specific, by name), or None."""
    for cls in type(exc).__mro__:
        name = cls.__name__
        if getattr(httpcore, name, None) is cls and isinstance(getattr(httpx, name, None), type):
            mapped: Exception = getattr(httpx, name)(str(exc))
            return mapped
    return None


class _ResponseStream(httpx.SyncByteStream):
    """httpcore's response body: errors as httpx's, the scope let go before the pool."""

    def __init__(self, inner: Any, scope: RequestScope | None) -> None:
        self._inner = inner
        self._scope = scope

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def close(self) -> None:
        if self._scope is not None:
            self._scope.close()
        if hasattr(self._inner, "close"):
            self._inner.close()


class AbortableTransport(httpx.BaseTransport):
    """An HTTP/1.1 transport whose requests an `AbortSignal` closes in flight.

    One connection carries one request at a time (no HTTP/2), so shutting a socket
    down ends that request only.

    Args:
        limits: The pool's limits.
        socket_options: Socket options set on each new connection.
        verify: TLS verification, as `httpx.create_ssl_context` takes it.
        trust_env: Read `SSL_CERT_FILE`/`SSL_CERT_DIR` for the TLS context.
    """

    def __init__(
        self,
        *,
        limits: Any,
        socket_options: Iterable[Any] | None = None,
        verify: Any = True,
        trust_env: bool = True,
    ) -> None:
        self._core = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_Backend(),
            socket_options=socket_options,
        )

    def handle_request(self, request: Any) -> Any:
        """Send `request`; under an `ABORT_SIGNAL`, in a scope that its abort closes.

        Raises:
            RequestAbortedError: The signal already fired (nothing was sent).
        """
        signal = ABORT_SIGNAL.get()
        scope = None if signal is None else RequestScope.open(signal, _origin(request))
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        token = _SENDING.set(scope)
        try:
            response = self._core.handle_request(core_request)
        except BaseException as exc:
            if scope is not None:
                scope.close()
            mapped = _as_httpx_error(exc) if isinstance(exc, Exception) else None
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            _SENDING.reset(token)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, scope),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the pool's connections."""
        self._core.close()


def _origin(request: Any) -> str:
    url = request.url
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"
