"""The ASGI app: `GET /v1/models` and `POST /v1/chat/completions` over the four modes.

```python
from kimi_graph.serve import ServeConfig, create_app

app = create_app(ServeConfig(base_url="http://gpu-0:8000/v1", backend="vllm"))
# uvicorn module:app, or mount it: Starlette(routes=[Mount("/kimi", app=app)])
```
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kimi_graph.serve.client_tools import parse_client_tools
from kimi_graph.serve.client_tools import refuse_for_mode as refuse_tools
from kimi_graph.serve.config import SERVED_MODELS, THREAD_HEADER, ServeConfig
from kimi_graph.serve.cut_runs import repair_thread
from kimi_graph.serve.errors import ApiError
from kimi_graph.serve.graphs import ANSWER_NODES, GraphCache, Models
from kimi_graph.serve.guard import RequestGuard
from kimi_graph.serve.json_output import parse_response_format
from kimi_graph.serve.json_output import refuse_for_mode as refuse_json
from kimi_graph.serve.reasoning_memory import ReasoningMemory
from kimi_graph.serve.runs import ClientGone, EventStream, RunTracker, guarded, invoke
from kimi_graph.serve.schemas import (
    THREAD_ID_PATTERN,
    ChatRequest,
    completion_body,
    finish_reason,
    new_id,
    openai_tool_calls,
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
    "model_route",
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
        self.reasoning = ReasoningMemory()


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


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    too_large = f"{COMPLETIONS}: the request body is larger than the limit of {limit} bytes"
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, too_large, "request_too_large")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    raise ApiError(413, too_large, "request_too_large")
                parts.append(part)
    except TimeoutError:
        msg = f"{COMPLETIONS}: the request body did not arrive within {timeout:g}s"
        raise ApiError(408, msg, "request_timeout", headers={"connection": "close"}) from None
    return b"".join(parts)


def _check_capacity(state: ServeState) -> None:
    if state.runs.active >= state.config.max_runs:
        msg = (
            f"{COMPLETIONS}: the server is running its maximum of "
            f"{state.config.max_runs} runs; retry later"
        )
        raise ApiError(503, msg, "server_busy", headers={"retry-after": "1"})


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
    if body.logprobs or body.top_logprobs is not None:
        param = "logprobs" if body.logprobs else "top_logprobs"
        msg = (
            f"{COMPLETIONS}: {param} is not available on {body.model}: a run's answer is "
            "made by a graph of model calls, whose token log-probabilities are not kept"
        )
        raise ApiError(400, msg, "unsupported_value", param=param)
    if all(m.role in ("system", "developer") for m in body.messages):
        msg = f"{COMPLETIONS}: messages hold only system messages; send a user message"
        raise ApiError(400, msg, "invalid_value", param="messages")
    return mode


def _thread_id(request: Request, body: ChatRequest) -> str | None:
    header = request.headers.get(THREAD_HEADER)
    if header is not None and not re.fullmatch(THREAD_ID_PATTERN, header):
        msg = f"{COMPLETIONS}: the {THREAD_HEADER} header must be 1 to 200 visible ASCII characters"
        raise ApiError(400, msg, "invalid_value", param=THREAD_HEADER)
    return header or body.thread_id


def _caller(request: Request) -> str:
    """Who is asking, for what the server remembers per caller (the bearer key)."""
    return request.headers.get("authorization", "")


def _swarm_summary(state: dict[str, Any]) -> dict[str, Any] | None:
    records = state.get("subagent_results")
    if records is None:
        return None
    keep = ("id", "role", "task", "status", "error", "steps", "tool_calls", "elapsed_s", "worker")
    out = [{k: r.get(k) for k in keep} for r in records]
    for record in out:
        record["worker"] = public_url(str(record["worker"] or ""))
    return {"subagents": out}


def _model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "kimi-graph"}


async def models_route(request: Request) -> Response:
    """`GET /v1/models`: the four served models."""
    state: ServeState = request.app.state.kimi
    _check_auth(state, request)
    created = int(time.time())
    data = [_model_card(name, created) for name in SERVED_MODELS]
    return JSONResponse({"object": "list", "data": data})


async def model_route(request: Request) -> Response:
    """`GET /v1/models/{id}`: one served model (the SDKs' `models.retrieve`)."""
    state: ServeState = request.app.state.kimi
    _check_auth(state, request)
    name = request.path_params["model"]
    if name not in SERVED_MODELS:
        known = ", ".join(SERVED_MODELS)
        msg = f"GET /v1/models/{name}: the model does not exist; available: {known}"
        raise ApiError(404, msg, "model_not_found", param="model")
    return JSONResponse(_model_card(name, int(time.time())))


async def completions_route(request: Request) -> Response:
    """`POST /v1/chat/completions`: run the model's graph, streamed or not."""
    state: ServeState = request.app.state.kimi
    _check_auth(state, request)
    _check_capacity(state)
    raw = await _read_body(request, state.config.max_body_bytes, state.config.body_timeout)
    body = parse_request(raw)
    mode = _check_request(body)
    tools = parse_client_tools(body)
    json_format = parse_response_format(body.response_format)
    if tools is not None and mode in ("agent", "swarm"):
        raise refuse_tools(body.model)
    if json_format is not None and mode in ("agent", "swarm"):
        raise refuse_json(body.model)
    endpoint = f"{COMPLETIONS} ({body.model})"
    thread_id = _thread_id(request, body)
    messages = to_langchain(body.messages)
    caller = _caller(request)
    state.reasoning.restore(caller, messages)
    checkpointer = await state.threads.saver(endpoint) if thread_id else None
    graph = state.graphs.get(
        mode, body.model_params(), checkpointer, tools=tools, json_format=json_format
    )
    note_text = (
        tools.forced_choice_note(state.models.dispatcher, thinking=mode == "thinking")
        if tools is not None
        else None
    )
    note = {"note": note_text, "thinking": False} if note_text else None
    usage = UsageCollector()
    config: RunnableConfig = {"callbacks": [usage], "run_name": body.model}
    headers: dict[str, str] = {}
    if thread_id:
        config["configurable"] = {"thread_id": thread_id}
        headers["x-thread-id"] = thread_id
    inputs = {"messages": messages}
    completion_id = new_id()
    lock = state.threads.lock(thread_id) if thread_id else contextlib.nullcontext()
    include_usage = body.include_usage or state.config.always_include_usage

    async def repair() -> None:
        if thread_id:
            await repair_thread(graph, config)

    def remember(final: AIMessage | None) -> None:
        if tools is not None:
            state.reasoning.remember(caller, messages, final)

    if body.stream:
        translator = StreamTranslator(
            completion_id,
            body.model,
            ANSWER_NODES[mode],
            usage,
            include_usage=include_usage,
            client_tools=tools is not None,
            json_mode=json_format is not None,
            note=note,
            on_final=remember,
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
            on_cut=repair,
        )
    async with lock:
        try:
            result = await guarded(
                invoke(graph, inputs, config),
                request.receive,
                timeout=state.config.timeout,
                endpoint=endpoint,
                tracker=state.runs,
                on_cut=repair,
            )
        except ClientGone:
            return Response(status_code=499)  # nobody reads it; closes the exchange
    final = final_message(result)
    remember(final)
    extra = {**(_swarm_summary(result) or {}), **(note or {})}
    payload = completion_body(
        completion_id=completion_id,
        model=body.model,
        content=message_text(final),
        reasoning=run_reasoning(result),
        reason=finish_reason(final, client_tools=tools is not None),
        usage=usage.openai_usage(),
        extra=extra or None,
        tool_calls=openai_tool_calls(final) if tools is not None else None,
    )
    return JSONResponse(payload, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    msg = f"{request.method} {request.url.path}: internal error ({type(exc).__name__})"
    return ApiError(500, msg, "internal_error").response()


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
            Route("/v1/models/{model:path}", model_route, methods=["GET"]),
            Route(COMPLETIONS, completions_route, methods=["POST"]),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        middleware=[Middleware(RequestGuard, allowed_hosts=config.allowed_hosts)],
        lifespan=lifespan,
    )
    app.state.kimi = state
    return app
