"""Per-server dialects of the Kimi models' OpenAI-compatible API.

K2.5 is one set of weights, but every server that hosts it spells three things its own
way: the switch between thinking and instant mode, the response field that carries the
chain of thought, and the field it reads back on earlier assistant turns. One small
`Backend` object per server holds those facts (sources in docs/wire.md), so the
chat model never branches on server names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from kimi_graph._transport.urls import is_moonshot_host

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendName",
    "MOONSHOT_TEMPERATURE_INSTANT",
    "MOONSHOT_TEMPERATURE_THINKING",
    "MOONSHOT_TOP_P",
    "REASONING_FIELDS",
    "backend_name",
    "detect_backend",
    "resolve_backend",
]

BackendName = Literal["moonshot", "vllm", "sglang", "llamacpp", "openrouter", "openai"]

MOONSHOT_TEMPERATURE_THINKING = 1.0
MOONSHOT_TEMPERATURE_INSTANT = 0.6
MOONSHOT_TOP_P = 0.95

#: Order in which reasoning is read from a response message or stream delta.
REASONING_FIELDS = ("reasoning_content", "reasoning")


@dataclass(frozen=True)
class Backend:
    """What one server needs to hear and says back about reasoning.

    Attributes:
        name: The backend's name, as given to `ChatKimi(backend=...)`.
        thinking_switch: How thinking is turned on and off: `"moonshot"`
            (`thinking: {"type": ...}`), `"template"` (`chat_template_kwargs`),
            or `"openrouter"` (a `reasoning` object).
        reasoning_back: Fields an earlier assistant turn's reasoning is written to.
        fixed_sampling: The server rejects any temperature/top_p but its own.
        thinking_tool_choice_auto_only: With thinking on, `tool_choice` may only be
            `"auto"` or `"none"`.
        requires_reasoning_on_tool_calls: With thinking on, an assistant turn with
            tool calls must carry reasoning (HTTP 400 otherwise).
        supports_json_schema: `response_format={"type": "json_schema"}` is served.
        model_prefix: Prefix of model ids on this server (OpenRouter: `moonshotai/`).
        stream_options: The server takes `stream_options={"include_usage": true}`;
            Moonshot instead reports usage on the last choice of every stream.
        template_keys: `chat_template_kwargs` keys that switch thinking (`"template"`).
        platform: The vendor's hosted platform: its catalogue of models (a name that is
            no Kimi model gets no Kimi fields; models that always reason have no
            instant mode), builtin tools, `thinking.keep` and the context-length check.
        reasoning_details_back: Earlier turns' `reasoning_details` are sent back as read.
    """

    name: BackendName
    thinking_switch: Literal["moonshot", "template", "openrouter"]
    reasoning_back: tuple[str, ...]
    fixed_sampling: bool = False
    thinking_tool_choice_auto_only: bool = False
    requires_reasoning_on_tool_calls: bool = False
    supports_json_schema: bool = True
    model_prefix: str = ""
    stream_options: bool = True
    template_keys: tuple[str, ...] = field(default=("thinking",))
    platform: bool = False
    reasoning_details_back: bool = False

    def thinking_fields(self, thinking: bool, keep: str | None = None) -> dict[str, Any]:
        """Return the top-level request fields that select thinking or instant mode.

        Args:
            thinking: Thinking (True) or instant mode (False).
            keep: K2.6's `thinking.keep`, sent with thinking on (Moonshot's switch only).
        """
        if self.thinking_switch == "moonshot":
            value: dict[str, Any] = {"type": "enabled" if thinking else "disabled"}
            if thinking and keep is not None:
                value["keep"] = keep
            return {"thinking": value}
        if self.thinking_switch == "openrouter":
            return {"reasoning": {"enabled": True} if thinking else {"effort": "none"}}
        return {"chat_template_kwargs": dict.fromkeys(self.template_keys, thinking)}

    def model_id(self, model: str) -> str:
        """Return `model` as this server names it."""
        if self.model_prefix and "/" not in model:
            return self.model_prefix + model
        return model


BACKENDS: dict[str, Backend] = {
    "moonshot": Backend(
        name="moonshot",
        thinking_switch="moonshot",
        reasoning_back=("reasoning_content",),
        fixed_sampling=True,
        thinking_tool_choice_auto_only=True,
        requires_reasoning_on_tool_calls=True,
        supports_json_schema=False,
        stream_options=False,
        platform=True,
    ),
    # vLLM >= 0.16 reads only `reasoning` on input (vLLM #38488); older builds read
    # `reasoning_content`, so both are written.
    "vllm": Backend(
        name="vllm",
        thinking_switch="template",
        reasoning_back=("reasoning", "reasoning_content"),
    ),
    "sglang": Backend(
        name="sglang",
        thinking_switch="template",
        reasoning_back=("reasoning_content",),
    ),
    # llama.cpp's own Kimi handling reads `enable_thinking`; K2.5's template reads
    # `thinking`. Both go through `chat_template_kwargs`.
    "llamacpp": Backend(
        name="llamacpp",
        thinking_switch="template",
        reasoning_back=("reasoning_content",),
        template_keys=("thinking", "enable_thinking"),
    ),
    "openrouter": Backend(
        name="openrouter",
        thinking_switch="openrouter",
        reasoning_back=("reasoning",),
        model_prefix="moonshotai/",
        reasoning_details_back=True,
    ),
    # Any other OpenAI-compatible server: the template switch is understood by every
    # server that renders K2.5's chat template; write reasoning under both names.
    "openai": Backend(
        name="openai",
        thinking_switch="template",
        reasoning_back=("reasoning_content", "reasoning"),
    ),
}


def detect_backend(base_url: str | None) -> BackendName:
    """Guess the backend from a base URL.

    Moonshot and OpenRouter hosts are known; anything else is taken for a self-hosted
    server and gets vLLM's dialect, which SGLang and llama.cpp also understand.
    """
    host = (urlparse(base_url or "").hostname or "").lower()
    if not host or is_moonshot_host(base_url):  # any host of moonshot.ai/.cn, kimi.ai/.com
        return "moonshot"
    if host == "openrouter.ai" or host.endswith(".openrouter.ai"):
        return "openrouter"
    return "vllm"


def backend_name(name: str) -> BackendName:
    """Return `name` as a `BackendName` (any case).

    Raises:
        ValueError: If the name is not a known backend.
    """
    backend = BACKENDS.get(name.lower())
    if backend is not None:
        return backend.name
    msg = f"Unknown Kimi backend {name!r}; expected one of: {', '.join(sorted(BACKENDS))}."
    raise ValueError(msg)


def resolve_backend(name: str | None, base_url: str | None) -> Backend:
    """Return the `Backend` for `name`, else `KIMI_BACKEND`, else one detected from the URL.

    Raises:
        ValueError: If the name is not a known backend.
    """
    chosen = name or os.environ.get("KIMI_BACKEND") or detect_backend(base_url)
    return BACKENDS[backend_name(chosen)]
