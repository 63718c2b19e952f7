"""The ASGI app: `GET /v1/models` and `POST /v1/chat/completions` over the four modes.

```python
from kimi_graph.serve import ServeConfig, create_app

app = create_app(ServeConfig(base_url="http://gpu-0:8000/v1", backend="vllm"))
# uvicorn module:app, or mount it: Starlette(routes=[Mount("/kimi", app=app)])
```
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kimi_graph.serve.config import SERVED_MODELS, THREAD_HEADER, ServeConfig
from kimi_graph.serve.errors import ApiError
from kimi_graph.serve.graphs import ANSWER_NODES, GraphCache, Models
from kimi_graph.serve.runs import ClientGone, EventStream, RunTracker, guarded, invoke
from kimi_graph.serve.schemas import (
    ChatRequest,
    completion_body,
    finish_reason,
    new_id,
    parse_request,
    public_url,
    to_langchain,
)
from kimi_graph.serve.streaming import StreamTranslator, final_message, message_text, run_reasoning
from kimi_graph.serve.threads import ThreadStore
from kimi_graph.serve.usage import UsageCollector

__all__ = [
    "COMPLETIONS",
    "ServeState",
    "completions_route",
    "create_app",
    "models_route",
]

COMPLETIONS = "/v1/chat/completions"


class ServeState:
    """Everything the routes share: settings, models, graphs, threads, run counts."""

    def __init__(self, config: ServeConfig, tools: Sequence[Any]) -> None:
        self.config = config
        self.models = Models(config)
        self.graphs = GraphCache(self.models, tools, config)
        self.threads = ThreadStore(config.checkpoint)
        self.runs = RunTracker()


def _check_auth(state: ServeState, request: Request) -> None:
    expected = state.config.api_key
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    secret = expected.get_secret_value() if isinstance(expected, SecretStr) else expected
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), secret.encode()
    ):
        msg = f"{request.url.path}: missing or incorrect API key (send Authorization: Bearer KEY)"
        raise ApiError(401, msg, "invalid_api_key")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = f"{COMPLETIONS}: the request body is larger than the limit of {limit} bytes"
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, too_large, "request_too_large")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise ApiError(413, too_large, "request_too_large")
        parts.append(part)
    return b"".join(parts)


def _check_request(body: ChatRequest) -> str:
    """The mode of the request's model, after the checks that need no upstream."""
    mode = SERVED_MODELS.get(body.model)
    if mode is None:
        known = ", ".join(SERVED_MODELS)
        msg = f"{COMPLETIONS}: the model `{body.model}` does not exist; available: {known}"
        raise ApiError(404, msg, "model_not_found", param="model")
    if body.n not in (None, 1):
        msg = f"{COMPLETIONS}: n must be 1 (one answer per run)"
        raise ApiError(400, msg, "unsupported_value", param="n")
    if body.tools:
        where = (
            "it runs the server's own tools; request tools are not merged"
            if mode in ("agent", "swarm")
            else "it answers without tools; use kimi-agent or kimi-swarm for tool use"
        )
        msg = f"{COMPLETIONS}: `tools` is not accepted by {body.model}: {where}"
        raise ApiError(400, msg, "tools_not_supported", param="tools")
    if body.tool_choice not in (None, "auto", "none"):
        msg = f"{COMPLETIONS}: tool_choice must be 'auto' or 'none' (no request tools)"
        raise ApiError(400, msg, "unsupported_value", param="tool_choice")
    return mode


def _swarm_summary(state: dict[str, Any]) -> dict[str, Any] | None:
    records = state.get("subagent_results")
    if records is None:
        return None
    keep = ("id", "role", "task", "status", "error", "steps", "tool_calls", "elapsed_s", "worker")
    out = [{k: r.get(k) for k in keep} for r in records]
    for record in out:
        record["worker"] = public_url(str(record["worker"] or ""))
    return {"subagents": out}


async def models_route(request: Request) -> Response:
    """`GET /v1/models`: the four served models."""
    state: ServeState = request.app.state.kimi
    _check_auth(state, request)
    created = int(time.time())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "kimi-graph"}
        for name in SERVED_MODELS
    ]
    return JSONResponse({"object": "list", "data": data})


async def completions_route(request: Request) -> Response:
    """`POST /v1/chat/completions`: run the model's graph, streamed or not."""
    state: ServeState = request.app.state.kimi
    _check_auth(state, request)
    body = parse_request(await _read_body(request, state.config.max_body_bytes))
    mode = _check_request(body)
    endpoint = f"{COMPLETIONS} ({body.model})"
    messages = to_langchain(body.messages)
    thread_id = request.headers.get(THREAD_HEADER) or body.thread_id
    checkpointer = await state.threads.saver(endpoint) if thread_id else None
    graph = state.graphs.get(mode, body.model_params(), checkpointer)
    usage = UsageCollector()
    config: RunnableConfig = {"callbacks": [usage], "run_name": body.model}
    headers: dict[str, str] = {}
    if thread_id:
        config["configurable"] = {"thread_id": thread_id}
        headers["x-thread-id"] = thread_id
    inputs = {"messages": messages}
    completion_id = new_id()
    lock = state.threads.lock(thread_id) if thread_id else contextlib.nullcontext()
    if body.stream:
        translator = StreamTranslator(
            completion_id, body.model, ANSWER_NODES[mode], usage, include_usage=body.include_usage
        )
        return EventStream(
            graph,
            inputs,
            config,
            translator,
            timeout=state.config.timeout,
            endpoint=endpoint,
            tracker=state.runs,
            headers=headers,
            lock=lock,
        )
    async with lock:
        try:
            result = await guarded(
                invoke(graph, inputs, config),
                request.receive,
                timeout=state.config.timeout,
                endpoint=endpoint,
                tracker=state.runs,
            )
        except ClientGone:
            return Response(status_code=499)  # nobody reads it; closes the exchange
    final = final_message(result)
    payload = completion_body(
        completion_id=completion_id,
        model=body.model,
        content=message_text(final),
        reasoning=run_reasoning(result),
        reason=finish_reason(final),
        usage=usage.openai_usage(),
        extra=_swarm_summary(result),
    )
    return JSONResponse(payload, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    msg = f"{request.method} {request.url.path}: {exc.detail}"
    return ApiError(exc.status_code, msg, code).response()


def create_app(
    config: ServeConfig | None = None, *, tools: Sequence[Any] | None = None
) -> Starlette:
    """Create the OpenAI-compatible ASGI app serving kimi-instant/thinking/agent/swarm.

    Args:
        config: Endpoint, worker pool, limits, auth and threads; None = defaults
            (the endpoint from `KIMI_BASE_URL` and the key from `MOONSHOT_API_KEY`).
        tools: Tools of agent and swarm; None = `config.tools`, else
            `kimi_graph.tools.default_tools()`.

    Returns:
        A Starlette app; `app.state.kimi` holds its `ServeState`.
    """
    config = config or ServeConfig()
    chosen = tools if tools is not None else config.tools
    if chosen is None:
        from kimi_graph.tools import default_tools

        chosen = default_tools()
    state = ServeState(config, chosen)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await state.threads.aclose()

    app = Starlette(
        routes=[
            Route("/v1/models", models_route, methods=["GET"]),
            Route(COMPLETIONS, completions_route, methods=["POST"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.kimi = state
    return app
