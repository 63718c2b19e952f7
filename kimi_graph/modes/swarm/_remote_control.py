"""Steer and cancel for a swarm's remote sub-agents: forwarded into their server's store.

A remote sub-agent (a run of a LangGraph server: `subagent_graph=RemoteGraph(...)`, a
list of them, or the deployment of `KimiContext.subagent_urls`) runs its agent loop
in the server's process, out of reach of the swarm's `SubagentControl`. When the
swarm is controllable (a store and a `thread_id`), its branch:

- marks the run with `KimiContext.subagent_id` (sent as the run's context), which makes
  the remote agent loop read its commands from the server's store before each model
  call and tool step (`kimi_graph.modes._store_control`); an unmarked run reads nothing;
- forwards each steer and cancel of that sub-agent (a `stop` as a cancel with its
  reason) into the server's store with the LangGraph SDK's store API, under
  `("kimi_graph", "control", <remote thread>)`, with the command's own key, so a
  command forwarded twice (a resumed swarm) is one item and a steer is added once;
- reads the steps and the steers delivered from the remote thread's streamed state.

The remote answer of a cancel carries the cancel mark in its metadata, so the record
ends `cancelled` with that summary (`_commands.settle`). An abort still cancels the
remote run (`_commands.cancel_remote_runs`). Requests carry the deployment's headers:
the `LANGGRAPH_API_KEY` of the environment goes only to the URLs of the environment
(`_remote.deployment_graphs`), never to a run's own URLs.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.runnables import RunnableConfig

from kimi_graph._transport.urls import redact_url
from kimi_graph.context import KimiContext
from kimi_graph.modes.swarm._commands import CONTROL_NAMESPACE
from kimi_graph.modes.swarm._remote import RemoteSubagentGraph

if TYPE_CHECKING:
    from kimi_graph.modes.swarm._commands import SubagentControl

__all__ = ["FORWARD_TIMEOUT", "CommandForwarder", "attach_remote", "sdk_client"]

logger = logging.getLogger(__name__)

FORWARD_TIMEOUT = 10.0
"""Seconds one store request to a server may take."""
_FORWARDERS = 4


def sdk_client(url: str, headers: Mapping[str, str], *, sync: bool) -> Any:
    """A LangGraph SDK client for `url` carrying exactly `headers`.

    The SDK would add `LANGGRAPH_API_KEY` (or `LANGSMITH_API_KEY`) from the environment
    to any URL unless told otherwise, and refuses `x-api-key` among custom headers: the
    key is passed as the client's own, and no key at all when `headers` has none.
    """
    from langgraph_sdk import get_client, get_sync_client

    rest = {k: v for k, v in headers.items() if k.lower() != "x-api-key"}
    key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
    if sync:
        return get_sync_client(url=url, api_key=key, headers=rest, timeout=FORWARD_TIMEOUT)
    return get_client(url=url, api_key=key, headers=rest, timeout=FORWARD_TIMEOUT)


@functools.lru_cache(maxsize=64)
def _client(url: str, headers: tuple[tuple[str, str], ...]) -> Any:
    """The forwarder's SDK client of one instance.

    It carries exactly the deployment's headers, and makes no connect retries: an
    instance that refuses is skipped for the next one at once.
    """
    from langgraph_sdk.client import SyncLangGraphClient

    http = httpx.Client(
        base_url=url,
        headers=dict(headers),
        timeout=httpx.Timeout(FORWARD_TIMEOUT, connect=3.0),
        transport=httpx.HTTPTransport(retries=0),
    )
    return SyncLangGraphClient(http)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_FORWARDERS, thread_name_prefix="kimi-graph-forward")
        return _pool


class CommandForwarder:
    """Writes one remote sub-agent's commands into its server's store.

    Called from the swarm's command feed; each write runs on a small pool of its own
    so that a slow server does not hold up the feed (and the other sub-agents).

    Args:
        graph: The sub-agent's remote graph (its deployment's URLs and headers).
        thread_id: The sub-agent's remote thread (`_remote.subagent_thread_id`).
        subagent_id: The sub-agent's id, which the marked run reads commands for.
    """

    def __init__(self, graph: RemoteSubagentGraph, thread_id: str, subagent_id: str) -> None:
        self.graph = graph
        self.thread_id = thread_id
        self.subagent_id = subagent_id

    def __call__(self, key: str, action: str, text: str) -> None:
        """Forward one command (without waiting for it)."""
        value = {"action": action, "subagent": self.subagent_id, "text": text}
        _executor().submit(self.put, key, value)

    def put(self, key: str, value: dict[str, Any]) -> bool:
        """Write the item through the first instance that takes it; False if none did."""
        namespace = [*CONTROL_NAMESPACE, self.thread_id]
        headers = tuple(sorted(self.graph.deployment.headers.items()))
        failure: Exception | None = None
        for url in self.graph.deployment.order(self.graph.url):
            try:
                _client(url, headers).store.put_item(namespace, key=key, value=value, index=False)
            except Exception as err:  # the next instance may take it
                if isinstance(err, httpx.TransportError):
                    self.graph.deployment.mark_down(url)
                failure = err
                continue
            return True
        status = getattr(getattr(failure, "response", None), "status_code", None)
        logger.warning(  # URLs redacted, the error by type: its text may hold a URL's credentials
            "could not forward %s of sub-agent %s to %s: %s%s",
            value["action"],
            self.subagent_id,
            ", ".join(redact_url(url) for url in self.graph.deployment.urls),
            type(failure).__name__,
            f" (HTTP {status})" if status else "",
        )
        return False


def attach_remote(
    control: SubagentControl | None, graph: Any, config: RunnableConfig, context: KimiContext
) -> KimiContext:
    """Make a controllable remote sub-agent's run steerable; its context marks the run.

    Args:
        control: The sub-agent's control (None: the swarm is not controllable).
        graph: The sub-agent's graph; only a `RemoteSubagentGraph` is concerned.
        config: The branch's config, whose `thread_id` is the remote thread.
        context: The settings sent as the run's context.

    Returns:
        `context` with `subagent_id` set for a controllable remote sub-agent, else as given.
    """
    if control is None or not isinstance(graph, RemoteSubagentGraph):
        return context
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if thread_id is None:
        return context
    control.forward_to(CommandForwarder(graph, str(thread_id), control.id))
    return dataclasses.replace(context, subagent_id=control.id)
