"""`ChatKimi`: the Kimi family (K2.5 to K3.1) as a LangChain chat model."""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, Self

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
)
from langchain_core.utils import from_env, secret_from_env
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

import kimi_graph.chat_models._discovery as _discovery
import kimi_graph.chat_models._responses as _responses
from kimi_graph._transport.caps import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RESPONSE_SECONDS,
    ResponseCaps,
)
from kimi_graph._transport.endpoint import (
    DEFAULT_TIMEOUT,
    aendpoint_errors,
    endpoint_errors,
    require_messages,
    url_secrets,
)
from kimi_graph._transport.json_post import AsyncJsonCompletions, JsonCompletions
from kimi_graph._transport.openai_compat import as_raw_body
from kimi_graph._transport.pools import pool_for_running_loop, sync_client
from kimi_graph._transport.ratelimit import RateLimitSettings
from kimi_graph._transport.urls import check_base_url, is_moonshot_host, redact_url
from kimi_graph.backends import (
    Backend,
    BackendName,
    backend_name,
    resolve_backend,
)
from kimi_graph.chat_models._async_result import agenerate_plain
from kimi_graph.chat_models._call_plan import PLAN_KWARG, CallPlan, CallSettings, plan_call
from kimi_graph.chat_models._content_blocks import PROVIDER
from kimi_graph.chat_models._encodable import require_encodable
from kimi_graph.chat_models._model_not_found import (
    aserved_models,
    is_model_not_found,
    model_not_found,
    served_models,
)
from kimi_graph.chat_models._platform import PlatformOptions, apply_platform_fields
from kimi_graph.chat_models._profile import kimi_profile
from kimi_graph.chat_models._prompt_size import check_context
from kimi_graph.chat_models._raw_fallback import ChunkSplitter, split_raw_result
from kimi_graph.chat_models._reasoning import reasoning_from_fields, write_reasoning_back
from kimi_graph.chat_models._response_tool import (
    ResponseToolStream,
    response_tool,
    response_tool_as_text,
)
from kimi_graph.chat_models._sampling import apply_fixed_sampling, offer_structured_tool
from kimi_graph.chat_models._signatures import keep_signatures
from kimi_graph.chat_models._stream_tidy import collecting_raw_arguments
from kimi_graph.chat_models._structured_output import (
    STRUCTURED_TOOL_KWARG,
    Method,
    json_schema_format,
    structured_output,
)
from kimi_graph.chat_models._thinking_conflicts import ConflictPolicy
from kimi_graph.chat_models._url_auth import move_url_credentials
from kimi_graph.chat_models._usage import usage_metadata
from kimi_graph.model_profiles import ModelSpec, model_spec

__all__ = [
    "ChatKimi",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_SELF_HOSTED_MODEL",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_MODEL = "kimi-k2.6"
"""The model `ChatKimi()` asks Moonshot's hosted API for: the newest hosted model with
all four modes (K3 always reasons, so it has no real instant mode)."""
DEFAULT_SELF_HOSTED_MODEL = "kimi-k2.5"
"""The model name `ChatKimi()` asks any other server for (K2.5's open weights, as vLLM
and SGLang serve them by default); set `model=` or `KIMI_MODEL` to the served name."""

DISCOVERY_TIMEOUT = 10.0
"""Seconds `GET /v1/models` may take when capabilities are discovered."""

_KIMI_BASE_URL = from_env("KIMI_BASE_URL", default="")
_KIMI_MODEL = from_env("KIMI_MODEL", default="")
_KIMI_API_KEY = secret_from_env(["MOONSHOT_API_KEY", "KIMI_API_KEY"], default=None)


_table_spec = functools.lru_cache(maxsize=256)(model_spec)
"""`model_spec`, read once per model name (a pure lookup, asked on every call)."""


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, openai.BaseModel):
        return obj.model_dump()
    return {}


class ChatKimi(BaseChatOpenAI):
    """Kimi K2.5 (and the K2 family) over any OpenAI-compatible server.

    One set of weights, two modes: `thinking=True` returns the chain of thought in
    `additional_kwargs["reasoning_content"]` (and as a `reasoning` content block),
    `thinking=False` is instant mode. The request dialect follows `backend`.

    Setup:
        ```bash
        pip install kimi-graph
        export MOONSHOT_API_KEY="..."          # or KIMI_API_KEY
        export KIMI_BASE_URL="http://localhost:8000/v1"   # optional: a vLLM/SGLang server
        ```

    Key init args:
        model: Model id. Defaults to `KIMI_MODEL`, else `kimi-k2.6` on Moonshot's
            platform and `kimi-k2.5` on any other server.
        thinking: Thinking (True, default) or instant (False); per call too:
            `llm.invoke(x, thinking=False)` or `llm.bind(thinking=False)`.
        reasoning_effort: LangChain's standard effort (init or per call): K3 reads
            `low`/`high`/`max`; a switch model reads `none`/`minimal` as instant.
        backend: `"moonshot" | "vllm" | "sglang" | "llamacpp" | "openrouter" | "openai"`;
            None reads `KIMI_BACKEND`, else detects it from `base_url`.
        base_url: API base. Defaults to `KIMI_BASE_URL`, else Moonshot's.
        api_key: Defaults to `MOONSHOT_API_KEY`, else `KIMI_API_KEY`.

    Instantiate:
        ```python
        from kimi_graph import ChatKimi

        llm = ChatKimi(base_url="http://localhost:8000/v1", backend="vllm")
        ```

    Invoke:
        ```python
        msg = llm.invoke("What is 17 * 23?")
        msg.additional_kwargs["reasoning_content"]  # the chain of thought
        msg.content  # the answer
        llm.invoke("Hi", thinking=False)  # instant mode
        ```

    Tool calling:
        ```python
        llm_with_tools = llm.bind_tools([get_weather])
        llm_with_tools.invoke("Weather in Paris and in Rome?").tool_calls
        ```

    Moonshot fixes sampling for K2.5/K2.6 (temperature 1.0 thinking / 0.6 instant,
    top_p 0.95) and K3 (temperature 1) and allows only `tool_choice` `auto`/`none` while
    thinking: those values are sent by default, and a value the server would reject
    raises `ValueError` before any request is made. Each call is decided once into a
    `CallPlan` (see `_call_plan`).
    """

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    """Model id, e.g. `kimi-k2.6`, `kimi-k3`, or a self-hosted served name. Unset: the
    `KIMI_MODEL` environment variable, else `DEFAULT_MODEL` on Moonshot's platform and
    `DEFAULT_SELF_HOSTED_MODEL` on any other server."""
    thinking: bool = True
    """Thinking mode (True) or instant mode (False). A model that always reasons (K3)
    gets its lowest `reasoning_effort` for instant mode on Moonshot's platform."""
    backend: BackendName | None = None
    """Server dialect; None = `KIMI_BACKEND`, else detected from `base_url`."""
    stream_usage: bool | None = True
    """Report token usage at the end of a stream (via `stream_options` where the
    server takes it; Moonshot sends usage on its own)."""
    use_responses_api: bool | None = False
    """K2.5 servers speak chat completions only."""
    forced_tool_choice: ConflictPolicy = "disable_thinking"
    """A forced `tool_choice` while thinking, which Moonshot rejects: turn thinking off
    for that call (default, warns once) or raise `ValueError` (`"error"`)."""
    builtin_search: ConflictPolicy = "disable_thinking"
    """Moonshot's builtin `$web_search` while thinking (it needs thinking off): turn
    thinking off for those calls (default, warns once) or raise `ValueError`."""
    thinking_keep: Literal["all"] | None = None
    """K2.6's `thinking.keep`: `"all"` keeps earlier turns' reasoning in context
    (Preserved Thinking), and every earlier assistant message is sent with its
    reasoning. Refused for models that do not read it."""
    prompt_cache_key: str | None = None
    """Sent as `prompt_cache_key` (groups requests for Moonshot's prefix cache)."""
    max_concurrent_requests: int | None = Field(default=None, ge=1)
    """Most requests in flight to this endpoint (base URL + key) from this process,
    shared by every ChatKimi on it; None = no fixed ceiling (the window still adapts
    to the server's 429s)."""
    rate_limit_backoff: bool = True
    """On 429, back off together with every other request to the endpoint: shrink the
    shared window, wait the server's `Retry-After`, queue and retry (no 429 counts
    against `max_retries`). False passes 429s straight to the OpenAI SDK's retries."""
    rate_limit_max_wait: float = Field(default=300.0, gt=0)
    """Seconds one request may spend waiting out 429s before the 429 is raised."""
    max_response_bytes: int | None = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1)
    """Bytes one response may take (streamed or not); past it the call fails with an
    error naming the cap and the endpoint. None: no bound."""
    max_response_seconds: float | None = Field(default=DEFAULT_MAX_RESPONSE_SECONDS, gt=0)
    """Seconds from sending a request to the end of its response (a stream that never
    ends stops here). None: no bound."""
    rate_limit_max_delay: float = Field(default=30.0, gt=0)
    """Cap on one wait after a 429 (a server's `Retry-After` or the doubling backoff)."""
    discover_capabilities: bool | None = None
    """Read the server's `GET /v1/models` once per endpoint and process, and let what it
    says about the model (context length, thinking type, efforts, image input, tool
    use; vLLM's `max_model_len`) override the capability table (`capabilities`, and
    `profile` once read). None reads `KIMI_DISCOVER_CAPABILITIES`, else discovers on
    Moonshot's hosts only. A failed read leaves the table in force."""
    async_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP stack of async calls: aiohttp (default: about half the client CPU per
    request of httpx, which matters for many concurrent sub-agents) or httpx. Sync
    calls use httpx; `http_socket_options` need httpx and select it. On aiohttp a
    whole (not streamed) answer is posted straight on the pool's session with the
    SDK's headers, retries and errors (`kimi_graph._transport.lean_post`)."""

    # Validation errors never echo the input: it holds the API key and URL credentials.
    model_config = ConfigDict(populate_by_name=True, hide_input_in_errors=True)

    _backend: Backend = PrivateAttr()
    _discovery_on: bool = PrivateAttr(default=False)
    _profile_read: bool = PrivateAttr(default=False)
    _warned: set[str] = PrivateAttr(default_factory=set)
    _async_loop: weakref.ref[asyncio.AbstractEventLoop] | None = PrivateAttr(default=None)
    _url_auth: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _kimi_endpoint_defaults(cls, values: Any) -> Any:
        """Fill base URL and key from Kimi's environment, never from OpenAI's."""
        if not isinstance(values, dict):
            return values
        if "timeout" not in values and "request_timeout" not in values:
            values["timeout"] = DEFAULT_TIMEOUT
        base_url = values.get("base_url") or values.get("openai_api_base")
        source = "base_url"
        if not base_url:
            source = "KIMI_BASE_URL"
            base_url = _KIMI_BASE_URL() or DEFAULT_BASE_URL
            values["base_url"] = base_url
        check_base_url(str(base_url), source)
        backend = resolve_backend(values.get("backend"), base_url)
        if not (values.get("model") or values.get("model_name")):
            default = DEFAULT_MODEL if backend.platform else DEFAULT_SELF_HOSTED_MODEL
            values["model"] = _KIMI_MODEL() or default
        if not (values.get("api_key") or values.get("openai_api_key")):
            key = _KIMI_API_KEY()
            if not key and backend.platform and is_moonshot_host(str(base_url)):
                msg = (
                    f"ChatKimi needs an API key for Moonshot's API ({redact_url(str(base_url))}): "
                    "set MOONSHOT_API_KEY (or KIMI_API_KEY), pass api_key=..., or point "
                    "base_url/KIMI_BASE_URL at a self-hosted server."
                )
                raise ValueError(msg)
            # A self-hosted server takes any key; the OpenAI client needs one.
            values["api_key"] = key if key and key.get_secret_value() else "EMPTY"
        return values

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, value: Any) -> Any:
        """Accept any case; name the known backends when it is none of them."""
        return backend_name(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _resolve_kimi_backend(self) -> Self:
        move_url_credentials(self)  # user:pass@ of base_url into a secret header
        self._backend = resolve_backend(self.backend, self.openai_api_base)
        self._discovery_on = _discovery.discovery_enabled(
            self.discover_capabilities, self.openai_api_base
        )
        if self.http_client is None and self.root_client is not None:
            # Every sync request goes through the endpoint's shared rate limiter.
            client = sync_client(
                self.openai_api_base,
                self.request_timeout,
                self.http_socket_options,
                endpoint=self.endpoint,
                rate_limit=self.rate_limit_settings,
                caps=ResponseCaps(self.max_response_bytes, self.max_response_seconds),
            )
            self.root_client = self.root_client.copy(http_client=client)
        if self.root_client is not None:
            self.client = JsonCompletions(self.root_client)
        if self.root_async_client is not None:
            self.async_client = AsyncJsonCompletions(self.root_async_client)
        return self

    @property
    def endpoint(self) -> str:
        """The base URL with any `user:password@` removed (safe to show)."""
        return redact_url(self.openai_api_base or DEFAULT_BASE_URL)

    @property
    def rate_limit_settings(self) -> RateLimitSettings:
        """How requests of this model share the endpoint's rate limit."""
        return RateLimitSettings(
            max_concurrent=self.max_concurrent_requests,
            max_wait=self.rate_limit_max_wait if self.rate_limit_backoff else 0.0,
            max_delay=self.rate_limit_max_delay,
        )

    @property
    def _llm_type(self) -> str:
        return "chat-kimi"

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Map constructor argument names to secret ids."""
        return {"openai_api_key": "MOONSHOT_API_KEY"}

    @property
    def kimi_backend(self) -> Backend:
        """The resolved server dialect."""
        return self._backend

    def _resolve_model_profile(self) -> ModelProfile | None:
        """LangChain's model profile of this model on this server (see `_profile`)."""
        backend = resolve_backend(self.backend, self.openai_api_base)
        return kimi_profile(self.model_name, backend)

    @property
    def capabilities(self) -> _discovery.Capabilities:
        """What the model can do here: the capability table, overridden by the server.

        With discovery on (`discover_capabilities`), the first access reads the
        server's model list (once per endpoint and process); see `Capabilities` for
        the fields, `as_dict()` for a plain dict and `profile_overrides()` for the
        LangChain profile keys the server settles.
        """
        spec = model_spec(self.model_name, hosted=self._backend.platform)
        models = self._discover() if self._discovery_on else {}
        served_as = self._backend.model_id(self.model_name)
        return _discovery.capabilities(self.model_name, spec, models, served_as)

    def _api_key(self) -> str:
        """The key, for the discovery cache only (a key provider stands for itself)."""
        key = self.openai_api_key
        if isinstance(key, SecretStr):
            return key.get_secret_value()
        return "" if key is None else f"provider:{id(key)}"

    def _discover(self) -> dict[str, _discovery.Discovered]:
        """Read the server's model list once per endpoint and process (if switched on)."""
        if not self._discovery_on or self.root_client is None:
            return {}
        client = self.root_client.with_options(max_retries=0, timeout=DISCOVERY_TIMEOUT)

        def fetch() -> list[Any]:
            body = client.get("/models", cast_to=object)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                msg = "the body is no model list"
                raise TypeError(msg)
            return data

        models = _discovery.discover(self.endpoint, self._api_key(), fetch)
        if models and not self._profile_read:
            self._profile_read = True
            # The table's profile gets what the server said; a caller's own is kept.
            if self.profile is None or self.profile == self._resolve_model_profile():
                overrides = self.capabilities.profile_overrides()
                self.profile = {**(self.profile or {}), **overrides}
        return models

    async def _adiscover(self) -> None:
        """`_discover` off the event loop, when the list was not read yet."""
        if self._discovery_on and not _discovery.cached_models(self.endpoint, self._api_key()):
            await asyncio.to_thread(self._discover)

    def _model_spec(self) -> ModelSpec:
        """The table's entry for the model, overridden by a discovered model list."""
        spec = _table_spec(self.model_name, hosted=self._backend.platform)
        if not self._discovery_on:
            return spec
        served_as = self._backend.model_id(self.model_name)
        return _discovery.cached_spec(
            spec, self.endpoint, self._api_key(), self.model_name, served_as
        )

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        kwargs.pop("thinking", None)
        kwargs.pop(STRUCTURED_TOOL_KWARG, None)
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self._backend.name
        return params

    # ------------------------------------------------------------------ requests

    def _plan(self, kwargs: dict[str, Any]) -> CallPlan:
        """Decide this call once (`_call_plan`); warn once per kind of change it made."""
        found = kwargs.get(PLAN_KWARG)
        if isinstance(found, CallPlan):
            return found
        settings = CallSettings(
            model=self.model_name,
            endpoint=self.endpoint,
            backend=self._backend,
            thinking=self.thinking,
            thinking_set="thinking" in self.model_fields_set,
            reasoning_effort=self.reasoning_effort,
            thinking_keep=self.thinking_keep,
            forced_tool_choice=self.forced_tool_choice,
            builtin_search=self.builtin_search,
            model_kwargs=self.model_kwargs,
            spec=self._model_spec(),
        )
        plan = plan_call(settings, kwargs)
        for note in plan.notes:
            if note.kind in self._warned or note.kind == "effort_mapped":
                continue
            self._warned.add(note.kind)
            warnings.warn(f"ChatKimi: {note.text} (warned once)", UserWarning, stacklevel=3)
        kwargs[PLAN_KWARG] = plan
        return plan

    def _get_request_payload(
        self,
        input_: LanguageModelInput,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        plan = self._plan(kwargs)
        for name in (PLAN_KWARG, "thinking", STRUCTURED_TOOL_KWARG, "reasoning_effort"):
            kwargs.pop(name, None)
        messages = self._convert_input(input_).to_messages()
        require_messages(messages, self.endpoint)
        payload = super()._get_request_payload(messages, stop=stop, **kwargs)
        payload.pop("reasoning_effort", None)  # the plan sends what the model reads
        backend = self._backend
        payload["model"] = backend.model_id(payload["model"])
        apply_platform_fields(payload, messages, backend, PlatformOptions(self.prompt_cache_key))
        extra = dict(payload.get("extra_body") or {})
        if "response_format" in payload:
            fmt = payload.pop("response_format")
            if plan.response_tool is not None:
                # No JSON-schema mode on this server: the schema is asked for as a tool.
                payload["tools"] = [*(payload.get("tools") or []), response_tool(fmt)]
                if payload.get("tool_choice") in (None, "auto"):
                    payload["tool_choice"] = {
                        "type": "function",
                        "function": {"name": plan.response_tool},
                    }
            else:
                # Through extra_body, so the request takes the plain create() path and
                # the raw-output fallbacks run before the JSON is parsed.
                extra["response_format"] = json_schema_format(fmt) if isinstance(fmt, type) else fmt
        for key, value in plan.request_fields.items():
            if isinstance(value, dict) and isinstance(extra.get(key), dict):
                value = {**extra[key], **value}
            extra[key] = value
        payload["extra_body"] = extra
        if plan.sampling is not None:
            apply_fixed_sampling(
                payload,
                plan.sampling,
                plan.sent_sampling,
                thinking=plan.thinking,
                model=self.model_name,
            )
        for message, message_dict in zip(messages, payload["messages"], strict=True):
            if isinstance(message, AIMessage):
                write_reasoning_back(
                    message,
                    message_dict,
                    backend,
                    empty_on_tool_calls=plan.empty_reasoning_on_tool_calls,
                    every_message=plan.reasoning_back == "all",
                )
        if plan.structured_tool is not None:
            offer_structured_tool(payload, plan.structured_tool)
        require_encodable(payload, self.endpoint, self.model_name)
        if plan.check_context:
            check_context(
                payload["messages"],
                payload.get("tools"),
                payload.get("max_tokens") or payload.get("max_completion_tokens"),
                model=self.model_name,
                context_tokens=plan.spec.context_tokens,
            )
        return as_raw_body(payload)

    def wire_body(self, input_: LanguageModelInput, **kwargs: Any) -> dict[str, Any]:
        """Return the JSON body ChatKimi would send for `input_` (sends nothing).

        Args:
            input_: Messages, a prompt value or a string, as for `invoke`.
            **kwargs: Call options, e.g. `thinking=False` or `tools=[...]`.

        Raises:
            ValueError: For a value the server would reject (Moonshot's rules).
        """
        payload = self._get_request_payload(input_, **kwargs)
        extra = payload.pop("extra_body", None) or {}
        return {**payload, **extra}

    # ------------------------------------------------------------------ responses

    def _dict_for_compat(self) -> dict[str, Any]:
        # langchain-core calls this twice per model call to read `dict()` under a
        # deprecation-warning filter, for subclasses that still override `dict()`.
        # ChatKimi does not, so it skips the filter (the hot path of a big swarm).
        return self.asdict()

    def _create_chat_result(
        self,
        response: dict[str, Any] | openai.BaseModel,
        generation_info: dict[str, Any] | None = None,
    ) -> ChatResult:
        data = _as_dict(response) if not isinstance(response, str) else response
        invalid_calls = _responses.check_completion(data, self.endpoint)
        result = super()._create_chat_result(data, generation_info)
        for generation, invalid in zip(result.generations, invalid_calls, strict=False):
            if invalid and isinstance(generation.message, AIMessage):
                generation.message.invalid_tool_calls.extend(invalid)
        choices = data.get("choices") or []
        for generation, choice in zip(result.generations, choices, strict=False):
            fields = choice.get("message") or {}
            message = generation.message
            message.response_metadata["model_provider"] = PROVIDER
            reasoning = reasoning_from_fields(fields)
            if reasoning is not None:
                message.additional_kwargs["reasoning_content"] = reasoning
            if fields.get("reasoning_details"):
                message.additional_kwargs["reasoning_details"] = fields["reasoning_details"]
            usage = _as_dict(response).get("usage")
            if isinstance(usage, dict) and isinstance(message, AIMessage):
                message.usage_metadata = usage_metadata(usage)
        return result

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation_chunk = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation_chunk is None or not isinstance(generation_chunk.message, AIMessageChunk):
            return generation_chunk
        message = generation_chunk.message
        message.response_metadata["model_provider"] = PROVIDER
        choices = chunk.get("choices") or []
        if choices:
            delta = choices[0].get("delta") or {}
            reasoning = reasoning_from_fields(delta)
            if reasoning:
                message.additional_kwargs["reasoning_content"] = reasoning
            if delta.get("reasoning_details"):
                message.additional_kwargs["reasoning_details"] = delta["reasoning_details"]
            if pieces := _responses.raw_argument_pieces(delta.get("tool_calls")):
                message.additional_kwargs[_responses.RAW_ARGS_KEY] = pieces
            # Moonshot puts usage on the last choice instead of a trailing chunk.
            usage = choices[0].get("usage")
            if usage and message.usage_metadata is None:
                message.usage_metadata = usage_metadata(usage)
        if isinstance(chunk.get("usage"), dict):
            message.usage_metadata = usage_metadata(chunk["usage"])
        return generation_chunk

    def _async_client_for_this_loop(self) -> None:
        """Point the async client at the running loop's shared HTTP pool.

        See `kimi_graph._transport.pools`: a second `asyncio.run(...)` or a test framework's fresh
        loop then works. A pool you pass as `http_async_client` is left alone.
        """
        if self.http_async_client is not None or self.root_async_client is None:
            return
        loop = asyncio.get_running_loop()
        if self._async_loop is not None and self._async_loop() is loop:
            return
        pool = pool_for_running_loop(
            self.openai_api_base,
            self.request_timeout,
            self.http_socket_options,
            endpoint=self.endpoint,
            rate_limit=self.rate_limit_settings,
            transport=self.async_transport,
            caps=ResponseCaps(self.max_response_bytes, self.max_response_seconds),
        )
        self.root_async_client = self.root_async_client.copy(http_client=pool)
        self.async_client = AsyncJsonCompletions(self.root_async_client)
        self._async_loop = weakref.ref(loop)

    def _stream_usage_option(self, kwargs: dict[str, Any]) -> None:
        """Leave `stream_options` out for servers that report stream usage on their own."""
        if not self._backend.stream_options and "stream_options" not in kwargs:
            kwargs["stream_usage"] = False

    def _finish(self, result: ChatResult, plan: CallPlan) -> ChatResult:
        """Read a whole answer as the plan says: raw tokens, response tool, notes."""
        result = split_raw_result(result, thinking=plan.thinking)
        if plan.response_tool is not None:
            result = response_tool_as_text(result, plan.response_tool)
        for generation in result.generations:
            generation.message.response_metadata.update(plan.metadata())
        return result

    def _not_found(self, err: openai.NotFoundError, served: list[str] | None) -> Exception:
        return model_not_found(err, self.model_name, self.endpoint, served)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._discover()
        plan = self._plan(kwargs)
        try:
            with endpoint_errors(self.endpoint, self._url_secrets()):
                result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except openai.NotFoundError as err:
            if not is_model_not_found(err):
                raise
            raise self._not_found(err, served_models(self.root_client)) from err
        return self._finish(result, plan)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        await self._adiscover()
        plan = self._plan(kwargs)
        self._async_client_for_this_loop()
        try:
            async with aendpoint_errors(self.endpoint, self._url_secrets()):
                result = await agenerate_plain(self, messages, stop, kwargs)
                if result is None:  # not a plain chat completion: langchain-openai's path
                    result = await super()._agenerate(
                        messages, stop=stop, run_manager=run_manager, **kwargs
                    )
        except openai.NotFoundError as err:
            if not is_model_not_found(err):
                raise
            raise self._not_found(err, await aserved_models(self.root_async_client)) from err
        return self._finish(result, plan)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._discover()
        plan = self._plan(kwargs)
        reader = _StreamReader(plan)
        self._stream_usage_option(kwargs)
        try:
            with endpoint_errors(self.endpoint, self._url_secrets()):
                for chunk in super()._stream(messages, stop=stop, run_manager=None, **kwargs):
                    for out in reader.push(chunk):
                        if run_manager:
                            run_manager.on_llm_new_token(out.text, chunk=out)
                        yield out
        except openai.NotFoundError as err:
            if not is_model_not_found(err):
                raise
            raise self._not_found(err, served_models(self.root_client)) from err
        for out in reader.close():
            if run_manager:
                run_manager.on_llm_new_token(out.text, chunk=out)
            yield out

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await self._adiscover()
        plan = self._plan(kwargs)
        reader = _StreamReader(plan)
        self._stream_usage_option(kwargs)
        self._async_client_for_this_loop()
        try:
            async with aendpoint_errors(self.endpoint, self._url_secrets()):
                async for chunk in super()._astream(
                    messages, stop=stop, run_manager=None, **kwargs
                ):
                    for out in reader.push(chunk):
                        if run_manager:
                            await run_manager.on_llm_new_token(out.text, chunk=out)
                        yield out
        except openai.NotFoundError as err:
            if not is_model_not_found(err):
                raise
            raise self._not_found(err, await aserved_models(self.root_async_client)) from err
        for out in reader.close():
            if run_manager:
                await run_manager.on_llm_new_token(out.text, chunk=out)
            yield out

    def _url_secrets(self) -> tuple[str, ...]:
        return url_secrets(self.openai_api_base)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Answer `input`; streamed or not, tool calls follow the same rules.

        See `BaseChatModel.invoke`. Tool calls whose arguments are not a JSON object
        are `invalid_tool_calls` whether the answer was streamed (e.g. under LangGraph's
        `stream_mode="messages"`) or not.
        """
        with collecting_raw_arguments() as pieces:
            message = super().invoke(input, config, stop=stop, **kwargs)
        return self._strict_tool_calls(message, pieces)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async `invoke`; the same tool-call rules."""
        with collecting_raw_arguments() as pieces:
            message = await super().ainvoke(input, config, stop=stop, **kwargs)
        return self._strict_tool_calls(message, pieces)

    def _strict_tool_calls(self, message: AIMessage, pieces: list[dict[str, Any]]) -> AIMessage:
        message = _responses.strict_tool_calls(message, pieces)
        calls = [*message.tool_calls, *message.invalid_tool_calls]
        if calls:
            _responses.check_tool_call_ids(list(calls), self.endpoint, "the answer")
        return message

    # ------------------------------------------------------------------ tools, schemas

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Method | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable whose output follows `schema`, in thinking and instant mode.

        Args:
            schema: A pydantic class, TypedDict, JSON schema or OpenAI function schema.
            method: `"json_schema"` (the default where the server offers guided JSON),
                `"function_calling"` (the default on Moonshot, whose API offers no JSON
                schema mode), or `"json_mode"`. With Moonshot and thinking on, the tool
                cannot be forced, so it is offered with `tool_choice="auto"` and an
                answer given as JSON text is parsed as well.
            include_raw: Return `{"raw", "parsed", "parsing_error"}` instead.
            strict: Ask for strict schema adherence.
            **kwargs: Passed on to `bind`.
        """
        return structured_output(
            self,
            schema,
            supports_json_schema=self._backend.supports_json_schema,
            method=method,
            include_raw=include_raw,
            strict=strict,
            **kwargs,
        )


keep_signatures(ChatKimi, "_generate", "_agenerate", "_stream", "_astream")


class _StreamReader:
    """Reads a stream as its call's plan says: raw tokens, response tool, notes once."""

    def __init__(self, plan: CallPlan) -> None:
        self._splitter = ChunkSplitter(thinking=plan.thinking)
        self._tool = ResponseToolStream(plan.response_tool) if plan.response_tool else None
        self._metadata = plan.metadata()

    def _read(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        if self._tool is not None:
            chunk = self._tool.push(chunk)
        if self._metadata:
            chunk.message.response_metadata.update(self._metadata)
            self._metadata = {}
        return chunk

    def push(self, chunk: ChatGenerationChunk) -> Iterator[ChatGenerationChunk]:
        """The chunks to yield for one chunk from the server."""
        for out in self._splitter.push(chunk):
            yield self._read(out)

    def close(self) -> Iterator[ChatGenerationChunk]:
        """The chunks left at the end of the stream."""
        for out in self._splitter.close():
            yield self._read(out)
