"""`ChatKimi`: Kimi K2.5 and the K2 family as a LangChain chat model."""

from __future__ import annotations

import asyncio
import logging
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput
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
from typing_extensions import Self

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
from kimi_graph._transport.pools import pool_for_running_loop, sync_client
from kimi_graph._transport.ratelimit import RateLimitSettings
from kimi_graph._transport.urls import check_base_url, is_moonshot_host, redact_url
from kimi_graph.backends import (
    Backend,
    BackendName,
    backend_name,
    resolve_backend,
)
from kimi_graph.chat_models._content_blocks import PROVIDER
from kimi_graph.chat_models._encodable import require_encodable
from kimi_graph.chat_models._platform import (
    PlatformOptions,
    apply_platform_fields,
    moonshot_thinking_fields,
)
from kimi_graph.chat_models._prompt_size import check_context
from kimi_graph.chat_models._raw_fallback import ChunkSplitter, split_raw_result
from kimi_graph.chat_models._reasoning import reasoning_from_fields, write_reasoning_back
from kimi_graph.chat_models._sampling import apply_fixed_sampling, check_tool_choice
from kimi_graph.chat_models._structured_output import (
    STRUCTURED_TOOL_KWARG,
    Method,
    json_schema_format,
    structured_output,
)
from kimi_graph.chat_models._thinking_conflicts import ConflictPolicy, thinking_for_call
from kimi_graph.chat_models._url_auth import move_url_credentials
from kimi_graph.chat_models._usage import usage_metadata
from kimi_graph.model_profiles import model_spec

__all__ = [
    "ChatKimi",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_MODEL = "kimi-k2.5"

_KIMI_BASE_URL = from_env("KIMI_BASE_URL", default="")
_KIMI_API_KEY = secret_from_env(["MOONSHOT_API_KEY", "KIMI_API_KEY"], default=None)


def _thinking_support(model: str) -> Literal["switch", "always", "never"]:
    return model_spec(model).thinking


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
        model: Model id. Defaults to `kimi-k2.5`.
        thinking: Thinking (True, default) or instant (False); per call too:
            `llm.invoke(x, thinking=False)` or `llm.bind(thinking=False)`.
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

    Moonshot fixes sampling for K2.5 (temperature 1.0 thinking / 0.6 instant, top_p
    0.95) and allows only `tool_choice` `auto`/`none` while thinking: those values are
    sent by default, and a value the server would reject raises `ValueError` before any
    request is made.
    """

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    """Model id, e.g. `kimi-k2.5`, `kimi-k2-thinking`, or a self-hosted served name."""
    thinking: bool = True
    """Thinking mode (True) or instant mode (False)."""
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
    (Preserved Thinking). Refused for models that do not read it."""
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
    async_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP stack of async calls: aiohttp (default: about half the client CPU per
    request of httpx, which matters for many concurrent sub-agents) or httpx. Sync
    calls use httpx; `http_socket_options` need httpx and select it."""

    # Validation errors never echo the input: it holds the API key and URL credentials.
    model_config = ConfigDict(populate_by_name=True, hide_input_in_errors=True)

    _backend: Backend = PrivateAttr()
    _warned_thinking_off: bool = PrivateAttr(default=False)
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
        if not (values.get("api_key") or values.get("openai_api_key")):
            key = _KIMI_API_KEY()
            backend = resolve_backend(values.get("backend"), base_url)
            if not key and backend.name == "moonshot" and is_moonshot_host(str(base_url)):
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
            self.client = self.root_client.chat.completions
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

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        kwargs.pop("thinking", None)
        kwargs.pop(STRUCTURED_TOOL_KWARG, None)
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self._backend.name
        return params

    # ------------------------------------------------------------------ requests

    def _effective_thinking(self, requested: bool | None) -> bool:
        thinking = self.thinking if requested is None else requested
        support = _thinking_support(self.model_name)
        if support == "always" and not thinking:
            msg = f"{self.model_name} always thinks; use kimi-k2.5 for instant mode."
            raise ValueError(msg)
        return support == "always" or (support == "switch" and thinking)

    def _call_thinking(self, kwargs: dict[str, Any]) -> bool:
        """Thinking for one call: as configured, unless the call needs it off on Moonshot.

        See `_thinking_conflicts` (forced tool choice, builtin `$web_search`).
        """
        thinking = self._effective_thinking(kwargs.get("thinking"))
        if not self._backend.thinking_tool_choice_auto_only:
            return thinking
        thinking, reason = thinking_for_call(
            thinking,
            model=self.model_name,
            can_switch=_thinking_support(self.model_name) == "switch",
            tool_choice=kwargs.get("tool_choice"),
            tools=kwargs.get("tools"),
            structured_tool=kwargs.get(STRUCTURED_TOOL_KWARG),
            forced_policy=self.forced_tool_choice,
            builtin_policy=self.builtin_search,
        )
        if reason is not None and not self._warned_thinking_off:
            self._warned_thinking_off = True
            warnings.warn(
                f"ChatKimi: Moonshot rejects {reason} while thinking, so thinking is off "
                f"for such calls of {self.model_name} (warned once; pass "
                "forced_tool_choice='error' / builtin_search='error' to raise instead).",
                UserWarning,
                stacklevel=2,
            )
        return thinking

    def _get_request_payload(
        self,
        input_: LanguageModelInput,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        thinking = self._call_thinking(kwargs)
        kwargs.pop("thinking", None)
        structured_tool = kwargs.pop(STRUCTURED_TOOL_KWARG, None)
        messages = self._convert_input(input_).to_messages()
        require_messages(messages, self.endpoint)
        payload = super()._get_request_payload(messages, stop=stop, **kwargs)
        spec = model_spec(self.model_name)
        switchable = spec.thinking == "switch"
        backend = self._backend
        payload["model"] = backend.model_id(payload["model"])
        options = PlatformOptions(self.model_name, self.thinking_keep, self.prompt_cache_key)
        apply_platform_fields(payload, messages, backend, spec, options)
        if "response_format" in payload:
            # Through extra_body, so the request takes the plain create() path and the
            # raw-output fallbacks run before the JSON is parsed.
            fmt = payload.pop("response_format")
            if isinstance(fmt, type):
                fmt = json_schema_format(fmt)
            payload["extra_body"] = {**(payload.get("extra_body") or {}), "response_format": fmt}
        if switchable and spec.reads_thinking_field:
            extra = dict(payload.get("extra_body") or {})
            fields = backend.thinking_fields(thinking)
            if backend.name == "moonshot":
                fields = moonshot_thinking_fields(thinking, self.thinking_keep)
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(extra.get(key), dict):
                    value = {**extra[key], **value}
                extra[key] = value
            payload["extra_body"] = extra
        if backend.fixed_sampling and spec.fixed_sampling:
            apply_fixed_sampling(payload, thinking=thinking, model=self.model_name)

        for message, message_dict in zip(messages, payload["messages"], strict=True):
            if isinstance(message, AIMessage):
                write_reasoning_back(message, message_dict, backend, thinking=thinking)
        if backend.thinking_tool_choice_auto_only and thinking:
            check_tool_choice(payload, structured_tool)
        require_encodable(payload, self.endpoint, self.model_name)
        if backend.name == "moonshot":
            check_context(
                payload["messages"],
                payload.get("tools"),
                payload.get("max_tokens") or payload.get("max_completion_tokens"),
                model=self.model_name,
                context_tokens=spec.context_tokens,
            )
        # The messages travel in extra_body, which the OpenAI SDK merges into the
        # JSON body as is: its per-message type transform costs ~0.4 ms a message,
        # O(n^2) over a long tool loop or a swarm's synthesis, and LangChain's
        # message dicts are already wire-ready.
        payload["extra_body"] = {
            **(payload.get("extra_body") or {}),
            "messages": payload["messages"],
        }
        payload["messages"] = []
        return payload

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
        self.async_client = self.root_async_client.chat.completions
        self._async_loop = weakref.ref(loop)

    def _stream_usage_option(self, kwargs: dict[str, Any]) -> None:
        """Leave `stream_options` out for servers that report stream usage on their own."""
        if not self._backend.stream_options and "stream_options" not in kwargs:
            kwargs["stream_usage"] = False

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        thinking = self._call_thinking(kwargs)
        with endpoint_errors(self.endpoint, self._url_secrets()):
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        return split_raw_result(result, thinking=thinking)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        thinking = self._call_thinking(kwargs)
        self._async_client_for_this_loop()
        async with aendpoint_errors(self.endpoint, self._url_secrets()):
            result = await super()._agenerate(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )
        return split_raw_result(result, thinking=thinking)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        splitter = ChunkSplitter(thinking=self._call_thinking(kwargs))
        self._stream_usage_option(kwargs)
        with endpoint_errors(self.endpoint, self._url_secrets()):
            for chunk in super()._stream(messages, stop=stop, run_manager=None, **kwargs):
                for out in splitter.push(chunk):
                    if run_manager:
                        run_manager.on_llm_new_token(out.text, chunk=out)
                    yield out
        for out in splitter.close():
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
        splitter = ChunkSplitter(thinking=self._call_thinking(kwargs))
        self._stream_usage_option(kwargs)
        self._async_client_for_this_loop()
        async with aendpoint_errors(self.endpoint, self._url_secrets()):
            async for chunk in super()._astream(messages, stop=stop, run_manager=None, **kwargs):
                for out in splitter.push(chunk):
                    if run_manager:
                        await run_manager.on_llm_new_token(out.text, chunk=out)
                    yield out
        for out in splitter.close():
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
        message = super().invoke(input, config, stop=stop, **kwargs)
        return self._strict_tool_calls(message)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async `invoke`; the same tool-call rules."""
        message = await super().ainvoke(input, config, stop=stop, **kwargs)
        return self._strict_tool_calls(message)

    def _strict_tool_calls(self, message: AIMessage) -> AIMessage:
        message = _responses.strict_tool_calls(message)
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
