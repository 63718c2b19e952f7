"""How the mode graphs get their model: lazily, per run, with the run's overrides.

A graph built with `model=None` makes `ChatKimi()` from the environment on its first
run, not when it is built, so Studio can load it on a machine with nothing set. A run's
`KimiContext` may name another `model`, `base_url` or `backend`: the graph then calls a
`ChatKimi` made for those (cached), and decides `thinking` for each call in one place,
`call_kwargs`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from kimi_graph._transport.urls import is_kimi_api_url
from kimi_graph.chat_models import DEFAULT_BASE_URL, ChatKimi
from kimi_graph.chat_models._env import model_from_env
from kimi_graph.chat_models._url_auth import copy_url_auth
from kimi_graph.context import KimiContext, current_context
from kimi_graph.modes._node import dual_node
from kimi_graph.modes._repair import answer_dangling_calls
from kimi_graph.state import ConversationState

ModelLike = BaseChatModel | Runnable[LanguageModelInput, Any]
"""A chat model, or a chat model already bound (`.bind(...)`, `.bind_tools(...)`)."""

Prepare = Callable[[ModelLike], Runnable[LanguageModelInput, Any]]
"""Turns a model into what a node calls (e.g. binds its tools)."""


def find_kimi(model: Any) -> ChatKimi | None:
    """The `ChatKimi` inside `model` (through bindings), or None."""
    while model is not None:
        if isinstance(model, ChatKimi):
            return model
        model = getattr(model, "bound", None)
    return None


def call_kwargs(model: Any, thinking: bool | None, effort: str | None = None) -> dict[str, Any]:
    """Per-call keyword arguments that switch thinking or set the effort.

    Args:
        model: The model the node calls.
        thinking: Thinking (True) or instant (False); None keeps the model's.
        effort: The run's `reasoning_effort` (LangChain's standard values); when set it
            decides the call's reasoning in place of `thinking`.

    Returns:
        The keyword arguments; empty for a model that is no `ChatKimi`.
    """
    if find_kimi(model) is None:
        return {}
    if effort is not None:
        return {"reasoning_effort": effort}
    return {} if thinking is None else {"thinking": thinking}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


_CLIENTS = frozenset({"client", "async_client", "root_client", "root_async_client"})
_CREDENTIALS = frozenset({"openai_api_key", "default_headers", "default_query"})


def derive_kimi(base: ChatKimi, context: KimiContext) -> ChatKimi:
    """A `ChatKimi` made like `base`, for the context's `model`, `base_url`, `backend`.

    Every setting `base` was made with is kept. Its key and headers go only to its own
    origin: a run that points `base_url` at another host gets the environment's
    Moonshot key when that host is Moonshot's (as `ChatKimi()` would) and no key
    otherwise, so a run setting cannot send them to a host of its choosing.
    """
    base_url = context.base_url or base.openai_api_base or ""
    same_origin = _origin(base_url) == _origin(base.openai_api_base or "")
    skip = _CLIENTS if same_origin else _CLIENTS | _CREDENTIALS
    params: dict[str, Any] = {
        name: getattr(base, name) for name in base.model_fields_set if name not in skip
    }
    params["model_name"] = context.model or base.model_name
    params["openai_api_base"] = base_url
    params["backend"] = context.backend or (base.backend if same_origin else None)
    if not same_origin and not is_kimi_api_url(base_url):
        params["openai_api_key"] = "EMPTY"  # self-hosted servers take any key
    derived = ChatKimi(**params)
    if same_origin:
        copy_url_auth(base, derived)
    return derived


MAX_MODELS_PER_GRAPH = 32
"""Models kept per graph node for distinct run settings (least recently used dropped)."""


class ModelSource:
    """The model a graph calls, made on first use and adapted to each run's context.

    Args:
        model: The model, or None for `ChatKimi()` from the environment (made on
            the first run, so building the graph needs no key).
        prepare: Applied once per distinct model (binds tools, for example).
    """

    def __init__(self, model: ModelLike | None, prepare: Prepare | None = None) -> None:
        self._model = model
        self._prepare = prepare or (lambda m: m)
        self._cache: OrderedDict[tuple[str | None, str | None, str | None], Runnable[Any, Any]]
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def get(self, context: KimiContext | None = None) -> Runnable[LanguageModelInput, Any]:
        """The prepared model for a run with `context` (default: the current run's)."""
        context = current_context() if context is None else context
        key = (context.model, context.base_url, context.backend)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = self._prepare(self._resolve(context))
                if len(self._cache) > MAX_MODELS_PER_GRAPH:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        return found

    def _resolve(self, context: KimiContext) -> ModelLike:
        if self._model is None:
            return model_from_env(
                model=context.model,
                base_url=context.base_url,
                backend=context.backend,
                api_key=None if _env_key_may_go_to(context.base_url) else "EMPTY",
            )
        base = self._model
        if not (context.model or context.base_url or context.backend):
            return base
        kimi = find_kimi(base)
        if kimi is None:
            msg = (
                "The run's context sets model/base_url/backend, which only apply to a "
                f"ChatKimi model; this graph's model is {type(base).__name__}."
            )
            raise ValueError(msg)
        derived: ModelLike = _rebuilt(base, derive_kimi(kimi, context))
        return derived


def _rebuilt(layer: Any, kimi: ChatKimi) -> Any:
    """`layer` (bindings, retries, ... around a ChatKimi) around `kimi` instead."""
    if isinstance(layer, ChatKimi):
        return kimi
    return layer.model_copy(update={"bound": _rebuilt(layer.bound, kimi)})


def _env_key_may_go_to(base_url: str | None) -> bool:
    """Whether the environment's key may be sent to `base_url` (a run's setting).

    Only to the endpoint the environment names (`KIMI_BASE_URL`, else Moonshot's
    default) or to Kimi's API exactly (https, `api.moonshot.ai`/`.cn`, default port):
    a run cannot send the key to a host, port or scheme of its choice.
    """
    if not base_url:
        return True
    configured = os.environ.get("KIMI_BASE_URL") or DEFAULT_BASE_URL
    return _origin(base_url) == _origin(configured) or is_kimi_api_url(base_url)


def with_system(messages: Sequence[AnyMessage], system_prompt: str | None) -> list[AnyMessage]:
    """Prepend the system prompt unless the conversation already starts with one.

    Tool calls a cut run left unanswered get an "interrupted" answer (`_repair`).
    """
    out = answer_dangling_calls(messages)
    if system_prompt and not (out and isinstance(out[0], SystemMessage)):
        out.insert(0, SystemMessage(system_prompt))
    return out


def make_model_node(
    model: ModelLike | None = None,
    *,
    thinking: bool | None = None,
    system_prompt: str | None = None,
    name: str = "model",
) -> Runnable[ConversationState, dict[str, list[AIMessage]]]:
    """Return a node that answers the conversation in `state["messages"]`.

    The node works in any `StateGraph` whose state has a `messages` key (with the
    `add_messages` reducer), runs under both `invoke` and `ainvoke`, and honours the
    run's `KimiContext` (`thinking`, `system_prompt`, `model`, `base_url`, `backend`).

    Args:
        model: The chat model; None means `ChatKimi()` from the environment, made on
            the first call.
        thinking: Force thinking (True) or instant (False); None keeps the model's.
        system_prompt: Prepended to the conversation when it has none.
        name: The node's run name in traces.
    """
    source = ModelSource(model)

    def request(
        state: ConversationState,
    ) -> tuple[Runnable[Any, Any], list[AnyMessage], dict[str, Any]]:
        context = current_context()
        llm = source.get(context)
        prompt = context.system_prompt or system_prompt
        chosen = context.thinking if context.thinking is not None else thinking
        kwargs = call_kwargs(llm, chosen, context.reasoning_effort)
        return llm, with_system(state["messages"], prompt), kwargs

    def call(state: ConversationState, config: RunnableConfig) -> dict[str, list[AIMessage]]:
        llm, messages, kwargs = request(state)
        return {"messages": [llm.invoke(messages, config, **kwargs)]}

    async def acall(state: ConversationState, config: RunnableConfig) -> dict[str, list[AIMessage]]:
        llm, messages, kwargs = request(state)
        return {"messages": [await llm.ainvoke(messages, config, **kwargs)]}

    return dual_node(call, acall, name=name)
