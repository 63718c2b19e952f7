"""Running the app with uvicorn: blocking (`run`, the CLI) or in a thread (`ServerThread`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from kimi_graph.serve.connections import uvicorn_limits

__all__ = [
    "ServerThread",
    "bind",
    "run",
    "url_of",
]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket's proto says TCP; with proto 0 every response waited ~40 ms
    # for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket (IPv6 hosts bracketed)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any, **options: Any) -> uvicorn.Server:
    options.setdefault("log_level", "warning")
    state = getattr(getattr(app, "state", None), "kimi", None)
    config = getattr(state, "config", None)
    limits = (
        uvicorn_limits(
            header_timeout=config.header_timeout,
            max_connections=config.max_connections,
            keep_alive=config.keep_alive,
        )
        if config is not None
        else uvicorn_limits()
    )
    return uvicorn.Server(uvicorn.Config(app, lifespan="on", **{**limits, **options}))


def run(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    on_ready: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Serve `app` until SIGINT/SIGTERM.

    Args:
        app: The ASGI app (`create_app(...)`).
        host: Interface to listen on.
        port: TCP port; 0 picks a free one.
        on_ready: Called with the server's URL once the socket is bound.
        **options: More `uvicorn.Config` options (e.g. `log_level="info"`); the
            connection limits come from the app's `ServeConfig`.
    """
    sock = bind(host, port)
    if on_ready is not None:
        on_ready(url_of(sock))
    _server(app, **options).run(sockets=[sock])


class ServerThread:
    """The app served by uvicorn in a daemon thread on a free port (tests, notebooks).

    Example:
        >>> with ServerThread(create_app(config)) as server:  # doctest: +SKIP
        ...     OpenAI(base_url=server.base_url, api_key="x")
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", **options: Any) -> None:
        self.app = app
        self._sock = bind(host, 0)
        self.url = url_of(self._sock)
        self._server = _server(app, **options)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The OpenAI `base_url`: `.../v1`."""
        return f"{self.url}/v1"

    def start(self) -> ServerThread:
        """Start serving; return once the server accepts connections.

        Raises:
            RuntimeError: The server did not start within 30 seconds.
        """
        self._thread.start()
        ready = threading.Event()

        def poll() -> None:
            while not self._server.started and self._thread.is_alive():
                ready.wait(0.01)
            ready.set()

        poll()
        if not self._server.started:
            msg = "the kimi-graph server did not start"
            raise RuntimeError(msg)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
