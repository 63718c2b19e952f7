"""The aiohttp application: routes, request log, and (streamed) chat completions."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import asdict, replace
from typing import Any

from aiohttp import web

from kimi_graph.emulator import catalogue, platform, recorded_wire
from kimi_graph.emulator.brain import decide, last_user_index, message_text
from kimi_graph.emulator.config import DIALECTS, EmulatorConfig, RequestRecord
from kimi_graph.emulator.dialects import DIALECT_BY_NAME, Dialect
from kimi_graph.emulator.directives import Directives, parse_directives
from kimi_graph.emulator.faults import FaultInjector, concurrency_error, conversation_key
from kimi_graph.emulator.render import completion_body, finalize, prompt_segments, stream_chunks
from kimi_graph.emulator.validation import ApiError, validate_body, validate_moonshot

__all__ = [
    "STATE_KEY",
    "State",
    "build_app",
    "chat_completions",
    "current_chain",
    "delete_requests",
    "get_requests",
    "health",
    "list_models",
    "start_site",
]

logger = logging.getLogger(__name__)
STATE_KEY: web.AppKey[State] = web.AppKey("emulator_state")


class State:
    """Mutable state shared by the server and the controlling thread.

    Attributes:
        config: The current configuration (replaced as a whole by ``update``).
        faults: The fault injector.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults = FaultInjector(config.seed)
        self.prefix_cache = platform.PrefixCache()
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        """Chat completions being answered (touched on the server's loop only)."""
        self.rejected = 0
        """429s answered by the ``max_in_flight`` limit."""

    def update(self, **changes: Any) -> EmulatorConfig:
        """Replace configuration fields.

        Args:
            **changes: ``EmulatorConfig`` fields to change.

        Returns:
            The new configuration.
        """
        self.config = replace(self.config, **changes)
        if "seed" in changes:
            self.faults.reseed(self.config.seed)
        return self.config

    def add(self, record: RequestRecord) -> None:
        """Append a record to the request log."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """A copy of the request log, in arrival order."""
        with self._lock:
            return [replace(r, history_reasoning=list(r.history_reasoning)) for r in self._records]

    def clear(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._records.clear()


def current_chain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assistant messages after the last assistant message without tool calls (K2 template).

    Args:
        messages: The request's messages.

    Returns:
        The assistant messages of the current tool chain.
    """
    start = 0
    for i, m in enumerate(messages):
        if m.get("role") == "assistant" and not m.get("tool_calls"):
            start = i + 1
    return [m for m in messages[start:] if m.get("role") == "assistant"]


def _dialect(cfg: EmulatorConfig, name: str) -> Dialect:
    """The dialect served under ``name`` (Moonshot's as hosted today in catalogue mode)."""
    dialect = DIALECT_BY_NAME[name]
    if cfg.hosted_catalogue and name == "moonshot":
        return catalogue.hosted_dialect(dialect)
    return dialect


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _error_response(dialect: Dialect, err: ApiError) -> web.Response:
    return web.json_response(dialect.error_body(err), status=err.status, headers=err.headers)


async def _stream(
    request: web.Request,
    record: RequestRecord,
    chunks: list[dict[str, Any]],
    d: Directives,
    delay: float,
) -> web.StreamResponse:
    """Send chunks as server-sent events; ``[[fault cut]]`` aborts about half-way."""
    resp = web.StreamResponse(
        status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    record.status = 200
    await resp.prepare(request)
    stop_at = max(1, len(chunks) // 2) if d.cut else None
    try:
        for i, item in enumerate(chunks):
            if stop_at is not None and i >= stop_at:
                if request.transport is not None:
                    request.transport.abort()
                return resp
            if i and delay > 0:
                await asyncio.sleep(delay)
            data = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
            await resp.write(f"data: {data}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
    except ConnectionError:
        logger.debug("client went away mid-stream")
    return resp


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST [/{dialect}]/v1/chat/completions``."""
    state = request.app[STATE_KEY]
    cfg = state.config
    name = request.match_info.get("dialect", cfg.default_dialect)
    if name not in DIALECT_BY_NAME:
        raise web.HTTPNotFound(
            text=json.dumps({"error": {"message": f"unknown dialect {name!r}; one of {DIALECTS}"}}),
            content_type="application/json",
        )
    dialect = _dialect(cfg, name)
    record = RequestRecord(dialect=name, path=request.path, body={}, started=time.monotonic())
    state.add(record)
    if cfg.max_in_flight and state.in_flight >= cfg.max_in_flight:
        state.rejected += 1
        record.status = 429
        record.finished = time.monotonic()
        return _error_response(dialect, concurrency_error(cfg.max_in_flight, cfg.retry_after))
    state.in_flight += 1
    try:
        return await _answer(request, state, cfg, dialect, record)
    finally:
        state.in_flight -= 1


async def _answer(
    request: web.Request,
    state: State,
    cfg: EmulatorConfig,
    dialect: Dialect,
    record: RequestRecord,
) -> web.StreamResponse:
    """Answer one admitted chat completion request."""
    name = dialect.name
    d = Directives()
    try:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from None
        if isinstance(body, dict):
            record.body = body
            record.stream = bool(body.get("stream"))
        validate_body(body)
        messages: list[dict[str, Any]] = body["messages"]
        u = last_user_index(messages)
        record.last_user = message_text(messages[u].get("content")) if u >= 0 else ""
        d = parse_directives(record.last_user)
        record.history_reasoning = [dialect.read_reasoning(m) for m in current_chain(messages)]
        model = dialect.check_model(body.get("model"))
        record.thinking = dialect.thinking(body, model)
        platform_usage: dict[str, Any] = {}
        if name == "moonshot":
            validate_moonshot(body, model, record.thinking)
            platform_usage = _platform_usage(state, body, model, record.thinking)
        key = conversation_key(messages, u)
        err = state.faults.check(d, key, cfg.error_rate)
        if err is not None:
            raise err
        await _pause(cfg.latency + d.latency + state.faults.hang_for(d, key))
        turn = decide(body, record.thinking, d)
        if name == "moonshot":
            turn = recorded_wire.turn_ids(turn)
        out = finalize(turn, body, dialect, record.thinking, **platform_usage)
        if record.stream:
            chunks = stream_chunks(out, dialect, model, body, cfg.chunk_words)
            return await _stream(request, record, chunks, d, cfg.token_delay)
        if d.cut:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=200)
        record.status = 200
        return web.json_response(completion_body(out, dialect, model), dumps=_dumps)
    except ApiError as err:
        await _pause(cfg.latency + d.latency)
        record.status = err.status
        return _error_response(dialect, err)
    finally:
        record.finished = time.monotonic()


def _platform_usage(
    state: State, body: dict[str, Any], model: str, thinking: bool
) -> dict[str, Any]:
    """Check Moonshot's platform rules; return the usage facts ``finalize`` reports."""
    if state.config.hosted_catalogue:
        catalogue.check_request(body, model)
    segments = prompt_segments(body)
    extra = platform.search_tokens(body["messages"])
    platform.validate_platform(body, model, thinking, sum(t for _, t in segments) + extra)
    return {
        "extra_prompt_tokens": extra,
        "cached_tokens": state.prefix_cache.hit(body, segments),
        "legacy_usage": model in platform.LEGACY_USAGE_MODELS,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def list_models(request: web.Request) -> web.Response:
    """``GET [/{dialect}]/v1/models``."""
    state = request.app[STATE_KEY]
    name = request.match_info.get("dialect", state.config.default_dialect)
    if name not in DIALECT_BY_NAME:
        raise web.HTTPNotFound()
    dialect = _dialect(state.config, name)
    if state.config.hosted_catalogue and name == "moonshot":
        return web.json_response(catalogue.model_list(dialect.owner))
    data = [
        {"id": m, "object": "model", "created": 1767225600, "owned_by": dialect.owner}
        for m in dialect.models
    ]
    return web.json_response({"object": "list", "data": data})


async def get_requests(request: web.Request) -> web.Response:
    """``GET /_emulator/requests``: the request log."""
    records = request.app[STATE_KEY].records()
    return web.json_response([asdict(r) for r in records], dumps=_dumps)


async def delete_requests(request: web.Request) -> web.Response:
    """``DELETE /_emulator/requests``: clear the request log."""
    request.app[STATE_KEY].clear()
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.Response:
    """``GET /_emulator/health``."""
    return web.json_response({"ok": True})


def build_app(state: State) -> web.Application:
    """Create the emulator's aiohttp application.

    Args:
        state: Shared state (config, request log, fault counters).

    Returns:
        The application.
    """
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat_completions),
            web.post("/{dialect}/v1/chat/completions", chat_completions),
            web.get("/v1/models", list_models),
            web.get("/{dialect}/v1/models", list_models),
            web.get("/_emulator/requests", get_requests),
            web.delete("/_emulator/requests", delete_requests),
            web.get("/_emulator/health", health),
        ]
    )
    return app


async def start_site(state: State) -> tuple[web.AppRunner, int]:
    """Start serving on the configured host and port.

    Args:
        state: Shared state.

    Returns:
        The runner (for cleanup) and the bound port.
    """
    cfg = state.config
    runner = web.AppRunner(
        build_app(state), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, backlog=cfg.backlog, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    return runner, int(port)
