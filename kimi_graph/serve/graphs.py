"""Which graph answers a request: the served models, built once per setting and cached.

`build_mode_graph` is the one place that turns a mode plus per-request model settings
into a compiled graph. Per-request settings are folded into the model (a copy of the
dispatcher `ChatKimi` with `max_tokens`/sampling set), so a graph exists per distinct
setting; an LRU cache keeps the common ones compiled.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph

from kimi_graph.chat_models import ChatKimi
from kimi_graph.modes import create_graph
from kimi_graph.serve.client_tools import ClientTools
from kimi_graph.serve.config import ServeConfig
from kimi_graph.serve.errors import ApiError
from kimi_graph.serve.json_output import JsonFormat

__all__ = [
    "ANSWER_NODES",
    "Graph",
    "GraphCache",
    "Models",
    "THINKING_OF_MODE",
    "build_mode_graph",
]

ANSWER_NODES: dict[str, frozenset[str]] = {
    "instant": frozenset({"model"}),
    "thinking": frozenset({"model"}),
    "agent": frozenset({"agent"}),
    "swarm": frozenset({"orchestrator", "synthesis"}),
}
"""Nodes whose model tokens are the answer's (sub-agents' tokens are not streamed)."""

Graph = CompiledStateGraph[Any, Any, Any, Any]
"""A compiled mode graph."""

THINKING_OF_MODE = {"instant": False, "thinking": True, "agent": True, "swarm": True}


class Models:
    """The upstream models: one dispatcher and the swarm's worker pool."""

    def __init__(self, config: ServeConfig) -> None:
        key = config.upstream_api_key
        common: dict[str, Any] = {
            "max_retries": config.max_retries,
            "rate_limit_max_wait": config.rate_limit_max_wait,
        }
        if config.model:
            common["model"] = config.model
        if key is not None:
            common["api_key"] = key
        if config.base_url:
            common["base_url"] = config.base_url
        self.dispatcher = ChatKimi(backend=config.backend, **common)
        worker_backend = config.worker_backend or config.backend
        self.workers: list[ChatKimi] = [
            ChatKimi(**{**common, "base_url": url}, backend=worker_backend, thinking=False)
            for url in config.worker_base_urls
        ]

    def answering(self, mode: str, params: dict[str, Any]) -> ChatKimi:
        """The dispatcher with the request's `max_tokens` and sampling fields.

        Raises:
            ApiError: 400 when the upstream would refuse a value in this mode
                (e.g. Moonshot's fixed temperature).
        """
        if not params:
            return self.dispatcher
        model = self.dispatcher.model_copy(update=dict(params))
        try:
            model.wire_body([HumanMessage("check")], thinking=THINKING_OF_MODE[mode])
        except ValueError as err:
            msg = f"/v1/chat/completions (kimi-{mode}): {err}"
            raise ApiError(400, msg, "unsupported_value") from None
        return model


def build_mode_graph(
    mode: str,
    model: Any,
    workers: Sequence[ChatKimi],
    tools: Sequence[Any],
    config: ServeConfig,
    checkpointer: Any = None,
) -> Graph:
    """Compile the graph of one served mode.

    Args:
        mode: `"instant" | "thinking" | "agent" | "swarm"`.
        model: The answering model (orchestrator and synthesis of the swarm); in
            instant and thinking mode also a `ChatKimi` with bound tools or a JSON chain.
        workers: The swarm's worker models; empty = `model` in instant mode.
        tools: Tools of agent and swarm.
        config: The server's settings (swarm limits, extra options).
        checkpointer: A LangGraph checkpointer for durable threads, or None.
    """
    options: dict[str, Any] = {"checkpointer": checkpointer}
    if mode in ("agent", "swarm"):
        options["tools"] = list(tools)
    if mode == "swarm":
        options.update(
            worker_model=list(workers) or None,
            max_subagents=config.max_subagents,
            max_concurrency=config.max_concurrency,
            **config.extra,
        )
    return create_graph(mode, model=model, **options)


class GraphCache:
    """Compiled graphs per (mode, model settings, durable or not), least recently used out."""

    def __init__(self, models: Models, tools: Sequence[Any], config: ServeConfig) -> None:
        self.models = models
        self.tools = list(tools)
        self.config = config
        self._graphs: OrderedDict[tuple[Any, ...], Graph] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 32

    def get(
        self,
        mode: str,
        params: dict[str, Any],
        checkpointer: Any = None,
        *,
        tools: ClientTools | None = None,
        json_format: JsonFormat | None = None,
    ) -> Graph:
        """The graph for `mode` with these model settings (built on first use).

        Args:
            mode: The served mode.
            params: `max_tokens` and sampling fields of the request.
            checkpointer: The thread store's checkpointer, or None.
            tools: The client's tools (instant and thinking only).
            json_format: A JSON `response_format` (instant and thinking only).

        Raises:
            ApiError: 400 for settings the upstream would refuse in this mode.
        """
        key = (
            mode,
            tuple(sorted(params.items())),
            id(checkpointer) if checkpointer else None,
            tools.key() if tools else None,
            json_format.key() if json_format else None,
        )
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                return graph
        model: Any = self.models.answering(mode, params)
        served = f"kimi-{mode}"
        if tools is not None and json_format is not None:
            thinking_set = model.model_copy(update={"thinking": THINKING_OF_MODE[mode]})
            model = json_format.answering_with_tools(
                thinking_set, tools, thinking=THINKING_OF_MODE[mode], served=served
            )
        elif tools is not None:
            model = tools.bind(model, thinking=THINKING_OF_MODE[mode], served=served)
        elif json_format is not None:
            thinking_set = model.model_copy(update={"thinking": THINKING_OF_MODE[mode]})
            model = json_format.answering(thinking_set, served=served)
        # Sub-agents keep the server's sampling: without a pool they run on the plain
        # dispatcher, not on the copy that carries this request's settings.
        workers = self.models.workers or [self.models.dispatcher]
        graph = build_mode_graph(mode, model, workers, self.tools, self.config, checkpointer)
        with self._lock:
            self._graphs[key] = graph
            while len(self._graphs) > self.size:
                self._graphs.popitem(last=False)
        return graph
