"""Remote sub-agents that survive their server instance: one run per sub-agent, found again.

A swarm whose sub-agents run on a LangGraph engine (Aegra, LangGraph Server) talks to
the engine's HTTP API itself instead of through `RemoteGraph.stream`, for three reasons:

- **One run per sub-agent.** The remote thread is keyed by the swarm's thread and the
  sub-agent (`subagent_thread_id`). A branch that LangGraph resumes (a swarm resumed from
  its checkpoint, a retried task) or that lost its first request looks at the runs the
  thread already has: it joins the run that is still going, or takes the result of the
  one that finished, instead of starting another. A branch's first attempt in a fresh
  step has no run to find, so it creates thread and run in one request.
- **Failover.** Thread and run live in the engine's shared database, so when the instance
  a branch talks to dies (or a balancer in front of it answers 502/503), the branch joins
  the same run through the next URL of the deployment. The engine re-runs the run of a
  dead worker once its lease expires; the branch waits for that run, it starts none.
  A URL that refuses connections is skipped by new sub-agents for `retry_after` seconds.
- **A 5xx is not the end.** An instance may answer 500 to a run it created (e.g. out of
  Redis connections for the event stream): the branch looks for the run and joins it,
  up to `SERVER_ERROR_TRIES` times.
- **The result is the thread's state.** Unless the event stream ended with the run's
  success and a final answer, the branch reads the run's status and the thread's final
  state, so an event stream that missed the end does not lose the answer. The run's
  config holds only its recursion limit (the settings go in `context`), so a swarm that
  itself runs inside a LangGraph Server does not forward the server's `configurable`
  keys (langgraph-api answers 400 to `configurable` and `context` together).

Events of the remote run (`subgraphs=True`) are forwarded to the swarm's own stream under
the branch's namespace, as `RemoteGraph` does. The run streams only what the branch
reads (`values`, which also carries an interrupt) and the modes the swarm's own stream
asks for, with subgraph events only when there is such a stream: every event costs the
engine a serialisation and a publication (Aegra: Redis) per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import ssl
import time
import uuid
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

# RemoteGraph reads the same private keys to forward a remote run's events.
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CHECKPOINT_NS,
    CONFIG_KEY_RESUMING,
    CONFIG_KEY_STREAM,
    NS_SEP,
)
from langgraph.errors import GraphInterrupt
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Interrupt

from kimi_graph._transport.urls import check_base_url, redact_url
from kimi_graph.context import KimiContext

__all__ = [
    "SUBAGENT_GRAPH_ENV",
    "SUBAGENT_URLS_ENV",
    "RemoteDeployment",
    "RemoteSubagentError",
    "RemoteSubagentGraph",
    "deployment_graphs",
    "remote_workers",
    "subagent_thread_id",
]

SUBAGENT_URLS_ENV = "KIMI_SUBAGENT_URLS"
"""Comma-separated URLs of the deployment a swarm's sub-agents run on (or one balancer)."""
SUBAGENT_GRAPH_ENV = "KIMI_SUBAGENT_GRAPH"
"""The graph (assistant) the sub-agents run there; default `agent`."""
DEFAULT_SUBAGENT_GRAPH = "agent"
API_KEY_ENV = "LANGGRAPH_API_KEY"
"""Sent as `x-api-key` to the URLs of the environment only, never to a run's own URLs."""

ACTIVE = frozenset({"pending", "running"})
"""Run statuses of a run that has not ended."""
FAILOVER_STATUSES = frozenset({502, 503, 504})
"""Answers of a balancer (or a proxy) whose instance is gone: try another URL."""
POOL_SHARDS = 16
"""HTTP clients (connection pools) per event loop. Every running remote sub-agent holds a
streaming connection. On every request it adds or removes, httpcore's pool walks all its
connections once per idle one while it holds no more than its keep-alive limit (100):
with 100 remote sub-agents in one pool that was two thirds of the swarm process's CPU
(27-29 ms per sub-agent, 5-6 ms over 16 pools). Above the limit it closes idle
connections instead, so a run's next request opened a new one."""
SERVER_ERROR_TRIES = 3
"""Requests of one sub-agent answered with another 5xx before it is failed: an overloaded
instance may answer 500 after creating the run, which the next try then joins."""


class RemoteSubagentError(RuntimeError):
    """A remote sub-agent's run failed, or no instance of its deployment answered."""


def subagent_thread_id(parent_thread: str, namespace: str, subagent_id: str) -> str:
    """The remote thread of one sub-agent: the same for every attempt of the swarm.

    Args:
        parent_thread: The swarm's thread id.
        namespace: The branch's checkpoint namespace (`subagent:<task>`), stable across
            resumes of the swarm's checkpoint.
        subagent_id: The sub-agent's id (the orchestrator's tool call id).

    Returns:
        A UUID string.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{parent_thread}/{namespace}/{subagent_id}"))


@dataclass
class RemoteDeployment:
    """The instances (URLs) of one deployment, and which of them refused lately.

    Attributes:
        urls: Base URLs of the instances (or one balancer URL).
        headers: Headers every request carries (e.g. an API key).
        retry_after: Seconds a URL that refused a connection is skipped by new requests.
        failover_timeout: Seconds a sub-agent keeps trying instances after losing its own
            before it is failed (the engine's lease recovery must fit in it).
        read_timeout: Seconds without a byte (events or keep-alives) before a stream is
            taken for lost.
    """

    urls: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 5.0
    failover_timeout: float = 120.0
    read_timeout: float = 60.0
    _down: dict[str, float] = field(default_factory=dict, repr=False)
    _clients: weakref.WeakKeyDictionary[Any, dict[int, httpx.AsyncClient]] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False
    )

    def __post_init__(self) -> None:
        if not self.urls:
            msg = "a remote deployment needs at least one URL"
            raise ValueError(msg)
        self.urls = tuple(u.rstrip("/") for u in self.urls)

    def order(self, preferred: str | None = None) -> list[str]:
        """The URLs to try, best first: `preferred`, the others, then those that refused."""
        now = time.monotonic()
        urls = list(self.urls)
        if preferred in urls:
            urls.remove(preferred)
            urls.insert(0, preferred)
        up = [u for u in urls if self._down.get(u, 0.0) <= now]
        down = sorted((u for u in urls if u not in up), key=lambda u: self._down[u])
        return up + down

    def mark_down(self, url: str) -> None:
        """Skip `url` for new requests during `retry_after` seconds."""
        self._down[url] = time.monotonic() + self.retry_after

    def mark_up(self, url: str) -> None:
        """`url` answered: use it again."""
        self._down.pop(url, None)

    async def close_client(self) -> None:
        """Close the running event loop's HTTP clients (before that loop ends)."""
        clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.aclose()

    def client(self, key: str = "") -> httpx.AsyncClient:
        """An HTTP client of the running event loop: the same one for the same `key`.

        The runs of one loop are spread over `POOL_SHARDS` clients by `key` (a sub-agent's
        thread), so that the requests of one run reuse its connection, and no connection
        pool holds every running sub-agent's stream (see `POOL_SHARDS`).
        """
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop)
        if clients is None:
            clients = self._clients[loop] = {}
        shard = zlib.crc32(key.encode()) % POOL_SHARDS
        client = clients.get(shard)
        if client is None:
            timeout = httpx.Timeout(30.0, connect=3.0, read=self.read_timeout)
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
            client = httpx.AsyncClient(
                headers=self.headers, timeout=timeout, limits=limits, verify=_ssl_context()
            )
            clients[shard] = client
        return client


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The default TLS context of httpx, made once (~20 ms of CPU per client otherwise)."""
    return httpx.create_ssl_context()


def _url_of(graph: RemoteGraph) -> tuple[str, dict[str, str]]:
    """The base URL and headers a `RemoteGraph` was made with."""
    for client in (graph.client, graph.sync_client):
        http = getattr(getattr(client, "http", None), "client", None)
        if http is not None:
            headers = {k: v for k, v in http.headers.items() if k.lower() not in _HOP_HEADERS}
            return str(http.base_url).rstrip("/"), headers
    msg = f"RemoteGraph {graph.name!r} has no client with a URL"
    raise ValueError(msg)


_HOP_HEADERS = frozenset({"host", "content-length", "accept-encoding", "connection"})


class RemoteSubagentGraph:
    """A sub-agent graph that runs as a run of a remote deployment (`RemoteGraph`'s place).

    It offers what the swarm's branch uses of a graph: `name`, `stream` and `astream`
    with `stream_mode="values"`, yielding the remote thread's values.
    """

    def __init__(
        self, assistant_id: str, deployment: RemoteDeployment, url: str, name: str
    ) -> None:
        self.assistant_id = assistant_id
        self.deployment = deployment
        self.url = url
        self.name = name

    def __repr__(self) -> str:
        return f"RemoteSubagentGraph({self.assistant_id!r}, url={self.url!r})"

    def stream(
        self,
        inputs: dict[str, Any],
        config: RunnableConfig,
        *,
        context: KimiContext | None = None,
        stream_mode: str = "values",
    ) -> Iterator[dict[str, Any]]:
        """`astream` on an event loop of this thread (the sync branch has none)."""

        async def run() -> AsyncIterator[dict[str, Any]]:
            try:
                async for values in self.astream(inputs, config, context=context):
                    yield values
            finally:
                await self.deployment.close_client()  # the loop ends with this run

        return _iterate_in_new_loop(run)

    async def astream(
        self,
        inputs: dict[str, Any],
        config: RunnableConfig,
        *,
        context: KimiContext | None = None,
        stream_mode: str = "values",
    ) -> AsyncIterator[dict[str, Any]]:
        """Run (or join) the sub-agent's remote run; yield the thread's values.

        Args:
            inputs: The sub-agent's messages state.
            config: The branch's config: `configurable.thread_id` is the remote thread
                (see `subagent_thread_id`), `recursion_limit` the run's; a parent stream
                in it receives the remote run's events.
            context: The sub-agent's settings, sent as the run's context.
            stream_mode: Only "values" (what the branch reads).

        Yields:
            The remote thread's values as the run streams them, and last its final state.

        Raises:
            RemoteSubagentError: The run ended in error, or no instance answered within
                the deployment's `failover_timeout`.
            GraphInterrupt: The remote sub-agent interrupted (inside a parent graph).
        """
        attempt = _RemoteRun(self, inputs, config, context)
        async for values in attempt.values():
            yield values


class _RemoteRun:
    """One sub-agent's run on a deployment: create or find it, follow it, read its result."""

    def __init__(
        self,
        graph: RemoteSubagentGraph,
        inputs: dict[str, Any],
        config: RunnableConfig,
        context: KimiContext | None,
    ) -> None:
        self.graph = graph
        self.deployment = graph.deployment
        configurable = dict(config.get(CONF) or {})
        self.thread_id = str(configurable.get("thread_id") or uuid.uuid4())
        self.inputs = inputs
        self.context = {k: v for k, v in asdict(context or KimiContext()).items() if v is not None}
        self.recursion_limit = config.get("recursion_limit")
        # Only a resumed (or retried) branch can find a run of its own on the thread.
        self.may_exist = bool(configurable.get(CONFIG_KEY_RESUMING))
        self.parent_stream = configurable.get(CONFIG_KEY_STREAM)
        caller_ns = configurable.get(CONFIG_KEY_CHECKPOINT_NS)
        self.caller_ns: tuple[str, ...] = tuple(caller_ns.split(NS_SEP)) if caller_ns else ()
        self.run_id: str | None = None
        self.last_event_id: str | None = None
        self.ended: str | None = None  # the status an `end` event carried
        self.last_values: dict[str, Any] = {}

    def _modes(self) -> list[str]:
        modes = {"values"}
        if self.parent_stream is not None:
            modes |= set(self.parent_stream.modes)
        if "messages" in modes:
            modes.discard("messages")
            modes.add("messages-tuple")
        return sorted(modes)

    async def values(self) -> AsyncIterator[dict[str, Any]]:
        failing_since: float | None = None
        server_errors = 0
        url = self.graph.url
        while True:
            url = self.deployment.order(url)[0]
            try:
                # a run found again (after a lost stream) may have ended meanwhile
                status, final = await self._result(url) if self.run_id else ("", {})
                if not status or status in ACTIVE:
                    async for values in self._follow(url):
                        yield values
                    if self.ended == "success" and _answered(self.last_values):
                        self.deployment.mark_up(url)
                        return  # the stream's end said success and held the answer
                    status, final = await self._result(url)
            except _ServerError:
                server_errors += 1
                if server_errors >= SERVER_ERROR_TRIES:
                    raise
                await asyncio.sleep(0.5 * server_errors)
                continue
            except (httpx.TransportError, _Unavailable) as err:
                self.deployment.mark_down(url)
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self.deployment.failover_timeout:
                    msg = (
                        f"no instance of {', '.join(self.deployment.urls)} answered for "
                        f"{self.deployment.failover_timeout:g}s (last: {url}: {_describe(err)})"
                    )
                    raise RemoteSubagentError(msg) from err
                await asyncio.sleep(0.5 if len(self.deployment.urls) > 1 else 1.0)
                continue
            self.deployment.mark_up(url)
            failing_since = None
            if status in ACTIVE:  # the stream ended before the run: follow it again
                await asyncio.sleep(0.2)
                continue
            yield final
            if status != "success":
                msg = f"remote run {self.run_id} of thread {self.thread_id} on {url} ended {status}"
                raise RemoteSubagentError(msg)
            return

    async def _follow(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """Stream the sub-agent's run on `url`, creating it only if the thread has none."""
        client = self.deployment.client(self.thread_id)
        base = f"{url}/threads/{self.thread_id}"
        self.ended = None
        if self.run_id is None and self.may_exist:
            await _request(
                client,
                "POST",
                f"{url}/threads",
                json={"thread_id": self.thread_id, "if_exists": "do_nothing"},
            )
            # A resumed swarm finds the run this sub-agent already has. (The thread's own
            # status and values are no guide: an engine may leave them idle and empty
            # while a run is in flight.)
            self.run_id = await self._existing_run(url)
        if self.run_id is None:
            # should this request get no answer, the run may exist all the same
            self.may_exist = True
            body = {
                "assistant_id": self.graph.assistant_id,
                "input": _jsonable(self.inputs),
                "context": self.context,
                "config": {"recursion_limit": self.recursion_limit} if self.recursion_limit else {},
                "stream_mode": self._modes(),
                "stream_subgraphs": self.parent_stream is not None,
                "stream_resumable": True,
                "on_disconnect": "continue",
                "multitask_strategy": "reject",
                "if_not_exists": "create",
            }
            request = client.build_request("POST", f"{base}/runs/stream", json=body)
        else:
            headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
            request = client.build_request(
                "GET", f"{base}/runs/{self.run_id}/stream", headers=headers
            )
        response = await client.send(request, stream=True)
        try:
            if response.status_code == 409 and self.run_id is None:
                # another attempt of this sub-agent created the run meanwhile: join it
                self.run_id = await self._existing_run(url)
                return
            await _check(response, url)
            location = response.headers.get("content-location", "")
            if self.run_id is None and "/runs/" in location:
                self.run_id = location.rsplit("/runs/", 1)[1].strip("/")
            async for event, data, event_id in _sse(response):
                if event_id:
                    self.last_event_id = event_id
                if event == "metadata" and self.run_id is None and isinstance(data, dict):
                    self.run_id = data.get("run_id") or self.run_id
                    continue
                if event == "error":
                    return  # the run's status and the thread's state say what failed
                if event == "end":
                    if isinstance(data, dict) and isinstance(data.get("status"), str):
                        self.ended = data["status"]
                    return
                mode, ns = _split_event(event)
                self._forward(mode, ns, data)
                if ns or mode not in ("values", "updates") or not isinstance(data, dict):
                    continue
                if "__interrupt__" in data and self.caller_ns:
                    raise GraphInterrupt([Interrupt(**i) for i in data["__interrupt__"]])
                if mode == "values":
                    values = {k: v for k, v in data.items() if k != "__interrupt__"}
                    self.last_values = values
                    yield values
        finally:
            await response.aclose()

    def _forward(self, mode: str, ns: tuple[str, ...], data: Any) -> None:
        stream = self.parent_stream
        if stream is None:
            return
        if mode == "messages-tuple":
            mode, data = "messages", tuple(data)
        if mode in stream.modes:
            stream((self.caller_ns + ns, mode, data))

    async def _existing_run(self, url: str) -> str | None:
        """The thread's latest run (a resumed swarm joins it), or None."""
        runs = await _request(
            self.deployment.client(self.thread_id),
            "GET",
            f"{url}/threads/{self.thread_id}/runs?limit=20",
        )
        if not isinstance(runs, list) or not runs:
            return None
        latest = max(runs, key=lambda r: str(r.get("created_at", "")))
        return str(latest["run_id"])

    async def _result(self, url: str) -> tuple[str, dict[str, Any]]:
        """The run's status and the thread's values (its final state once the run ended)."""
        if self.run_id is None:
            raise _Unavailable(f"{url}: the run of thread {self.thread_id} was not found")
        client = self.deployment.client(self.thread_id)
        base = f"{url}/threads/{self.thread_id}"
        run = await _request(client, "GET", f"{base}/runs/{self.run_id}")
        status = str(run.get("status", ""))
        if status in ACTIVE:
            return status, {}
        state = await _request(client, "GET", f"{base}/state")
        values = state.get("values") if isinstance(state, dict) else None
        return status, values if isinstance(values, dict) else {}


class _Unavailable(Exception):
    """An instance answered that it cannot serve (a balancer's 502/503/504)."""


class _ServerError(RemoteSubagentError):
    """An instance answered another 5xx: what was asked may have taken effect."""


async def _check(response: httpx.Response, url: str) -> None:
    if response.status_code in FAILOVER_STATUSES:
        raise _Unavailable(f"{url} answered {response.status_code}")
    if response.status_code >= 400:
        body = (await response.aread()).decode(errors="replace")[:300]
        request = response.request
        msg = f"{request.method} {request.url} answered {response.status_code}: {body}"
        raise _ServerError(msg) if response.status_code >= 500 else RemoteSubagentError(msg)


async def _request(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
    response = await client.request(method, url, **kwargs)
    await _check(response, url)
    return response.json()


async def _sse(response: httpx.Response) -> AsyncIterator[tuple[str, Any, str | None]]:
    """(event, decoded data, id) of a `text/event-stream` response; comments skipped."""
    event, event_id = "", None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if event or data:
                raw = "\n".join(data)
                yield event, json.loads(raw) if raw else None, event_id
            event, event_id, data = "", None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def _answered(values: dict[str, Any]) -> bool:
    """Whether the last message of a thread's values is a final AI answer."""
    messages = values.get("messages") or []
    last = messages[-1] if messages else None
    return isinstance(last, dict) and last.get("type") == "ai" and not last.get("tool_calls")


def _split_event(event: str) -> tuple[str, tuple[str, ...]]:
    if NS_SEP in event:
        mode, ns = event.split(NS_SEP, 1)
        return mode, tuple(ns.split(NS_SEP))
    return event, ()


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _iterate_in_new_loop(
    make: Callable[[], AsyncIterator[dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """Iterate an async generator from sync code on an event loop of its own."""
    loop = asyncio.new_event_loop()
    agen = make()
    try:
        while True:
            try:
                item = loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(agen.aclose())  # type: ignore[attr-defined]
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def remote_workers(graphs: Sequence[Any]) -> list[Any]:
    """Put a `RemoteSubagentGraph` in each `RemoteGraph`'s place; other graphs stay.

    The `RemoteGraph`s of one assistant form one deployment: each keeps its own URL as its
    first choice (so sub-agents still spread over them) and fails over to the others.
    """
    groups: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for graph in graphs:
        if isinstance(graph, RemoteGraph):
            groups.setdefault(graph.assistant_id, []).append(_url_of(graph))
    deployments = {
        assistant: RemoteDeployment(tuple(dict.fromkeys(u for u, _ in found)), headers=found[0][1])
        for assistant, found in groups.items()
    }
    out: list[Any] = []
    for graph in graphs:
        if isinstance(graph, RemoteGraph):
            url, _ = _url_of(graph)
            deployment = deployments[graph.assistant_id]
            out.append(
                RemoteSubagentGraph(
                    graph.assistant_id, deployment, url, graph.name or graph.assistant_id
                )
            )
        else:
            out.append(graph)
    return out


def deployment_graphs(context: KimiContext) -> tuple[RemoteSubagentGraph, ...]:
    """The sub-agent graphs of the deployment a run names, one per URL (empty: none).

    The run's `KimiContext.subagent_urls` wins over `KIMI_SUBAGENT_URLS`; the graph is
    `subagent_assistant`, `KIMI_SUBAGENT_GRAPH` or `agent`.

    Args:
        context: The swarm run's settings.

    Returns:
        The graphs, the same objects for the same settings (their deployment remembers
        which instances refused).

    Raises:
        ValueError: A URL without an http(s) scheme (named with where it came from).
    """
    if context.subagent_urls is not None:
        urls, source = tuple(context.subagent_urls), "KimiContext.subagent_urls"
    else:
        raw = os.environ.get(SUBAGENT_URLS_ENV, "")
        urls, source = tuple(u.strip() for u in raw.split(",") if u.strip()), SUBAGENT_URLS_ENV
    if not urls:
        return ()
    assistant = (
        context.subagent_assistant
        or os.environ.get(SUBAGENT_GRAPH_ENV, "").strip()
        or DEFAULT_SUBAGENT_GRAPH
    )
    return _deployment(urls, assistant, source)


@functools.lru_cache(maxsize=64)
def _deployment(
    urls: tuple[str, ...], assistant: str, source: str
) -> tuple[RemoteSubagentGraph, ...]:
    for url in urls:
        check_base_url(url, source)
    key = os.environ.get(API_KEY_ENV) if source == SUBAGENT_URLS_ENV else None
    deployment = RemoteDeployment(urls, headers={"x-api-key": key} if key else {})
    return tuple(
        RemoteSubagentGraph(assistant, deployment, url, redact_url(url)) for url in deployment.urls
    )
