"""Running the emulator: in a background thread (``Emulator``) or blocking (``serve``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from kimi_graph.emulator.config import DIALECTS, EmulatorConfig, RequestRecord
from kimi_graph.emulator.server import State, start_site

__all__ = [
    "Emulator",
    "serve",
]

logger = logging.getLogger(__name__)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Emulator:
    """A K2.5 emulator server running in a daemon thread with its own event loop.

    Example:
        >>> with Emulator(EmulatorConfig()) as emu:  # doctest: +SKIP
        ...     client = OpenAI(base_url=emu.base_url("vllm"), api_key="x")
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self._state = State(config or EmulatorConfig())
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port: int = 0

    @property
    def config(self) -> EmulatorConfig:
        """The current configuration."""
        return self._state.config

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT``."""
        if not self.port:
            raise RuntimeError("the emulator is not running")
        return _url(self._state.config.host, self.port)

    def base_url(self, dialect: str | None = None) -> str:
        """OpenAI ``base_url`` for a dialect (``None``: the default dialect's ``/v1``).

        Args:
            dialect: One of ``DIALECTS``, or ``None``.

        Returns:
            The base URL.

        Raises:
            ValueError: For an unknown dialect.
        """
        if dialect is None:
            return f"{self.url}/v1"
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
        return f"{self.url}/{dialect}/v1"

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, in arrival order."""
        return self._state.records()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._state.clear()

    def reset_faults(self) -> None:
        """Forget the per-conversation counters of ``[[fault STATUS xN]]``."""
        self._state.faults.reset()

    def set_config(self, **changes: Any) -> EmulatorConfig:
        """Change configuration knobs at runtime (host, port and backlog take no effect).

        Args:
            **changes: ``EmulatorConfig`` fields, e.g. ``latency=1.0``.

        Returns:
            The new configuration.
        """
        return self._state.update(**changes)

    def start(self) -> Emulator:
        """Start the server and wait until it listens.

        Returns:
            This emulator.

        Raises:
            RuntimeError: When the server could not start.
        """
        if self._thread is not None:
            return self
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="kimi-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the emulator did not start within 30 s")
        if self._error is not None:
            self._thread = None
            raise RuntimeError(f"the emulator could not start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._runner, self.port = loop.run_until_complete(start_site(self._state))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop the server and its thread (in-flight requests are dropped)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None
        self._runner = None
        self.port = 0

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    config: EmulatorConfig | None = None, on_ready: Callable[[str], None] | None = None
) -> None:
    """Run the emulator in the foreground until SIGINT/SIGTERM (``kimi-graph emulate``).

    Args:
        config: The configuration (defaults to ``EmulatorConfig()``).
        on_ready: Called with the root URL once the server listens (default: log it).
    """
    state = State(config or EmulatorConfig())

    async def main() -> None:
        runner, port = await start_site(state)
        url = _url(state.config.host, port)
        if on_ready is not None:
            on_ready(url)
        else:
            logger.warning("Kimi K2.5 emulator listening on %s (dialects: %s)", url, DIALECTS)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or a platform without signal handlers
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
