"""Per-model capabilities of the Kimi family (next to the per-server `backends`).

`backends.py` says how a *server* spells things; this table says what a *model* reads.
`ChatKimi(model=...)` looks its id up here to decide which fields to send and which
values to refuse locally, because Moonshot ignores unknown fields silently.

Sources (read 2026-12; **[V]** primary, **[S]** another client's code or docs, **[U]**
unverified, kept as a best guess; WIRE.md §1 and §8 give the links):

- Hosted today on Moonshot's platform (WIRE.md §8.1, **[S]**): `kimi-k3` (2026-07-16),
  `kimi-k3.1-pro` and `kimi-k3.1-pro-highspeed` (2026-10-24), `kimi-k2.7-code`,
  `kimi-k2.7-code-highspeed`, `kimi-k2.6`. Retired: `kimi-k2.5` and `moonshot-v1-*`
  (2026-08-31, HTTP 404); `kimi-k2-thinking(-turbo)` and the K2 previews (2026-05-25).
  K2.5 lives on as open weights (vLLM, SGLang, llama.cpp) and at third-party hosts.
- K2.5: thinking switch `thinking: {"type": "enabled"|"disabled"}`, fixed sampling
  (1.0 thinking / 0.6 instant, top_p 0.95), 262,144 tokens, image input, no Preserved
  Thinking **[V]** (platform docs, model README; WIRE.md §1.2, §1.4).
- K2.6: the K2.5 wire plus `thinking.keep` (`"all"` = Preserved Thinking) **[V]**
  (MoonshotAI/kimi-code `kimi.contrib.ts`); fixed sampling as K2.5 **[S]**; 262,144
  tokens **[S]**.
- K2.7 Code (and `-highspeed`): thinking always on, `"disabled"` is a 400 "invalid
  thinking" **[V]** (a real 400 body recorded in vercel/ai fixtures); reasoning kept
  across turns **[S]**; 262,144 tokens **[S]**.
- K3, K3.1 Pro (and `-highspeed`): always reason; effort is a top-level
  `reasoning_effort` of `low`/`high`/`max` (default `max`), never beside a `thinking`
  field **[S]** (official quick-start quoted in theopenco/llmgateway PR #3378);
  temperature only 1 (other values: 400 "invalid temperature: only 1 is allowed for
  this model") **[V]** (two real logs); Preserved Thinking always on **[S]**;
  `tool_choice="required"` accepted while reasoning, a named tool not **[S]**;
  1,048,576 tokens, 131,072 completion tokens by default **[S]**. Self-hosted K3
  (vLLM/SGLang `kimi_k3` parsers) turns thinking off with `chat_template_kwargs`
  **[V]**. Image input of K3/K2.7 Code is **[U]** and not claimed.
- K2 Thinking: thinking forcibly on **[V]**. K2 instruct previews: no thinking **[S]**.
- Third-party spellings (WIRE.md §8.3): `kimi-k2-6` (an SGLang-shaped host),
  `moonshotai/Kimi-K2.6` (Hugging Face, OpenRouter), `kimi-k2p5` (Fireworks-style).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "K2_CONTEXT_TOKENS",
    "K3_CONTEXT_TOKENS",
    "MODEL_TABLE",
    "FixedSampling",
    "ModelSpec",
    "PreservedThinking",
    "RETIRED_MODELS",
    "ThinkingSupport",
    "model_spec",
    "normalise_model_id",
    "retired_on",
]

K2_CONTEXT_TOKENS = 262_144
"""Context length of the K2 family (256K): K2.5, K2.6, K2.7 Code."""

K3_CONTEXT_TOKENS = 1_048_576
"""Context length of K3 and K3.1 (1M)."""

ThinkingSupport = Literal["switch", "always", "never"]

PreservedThinking = Literal["no", "keep_all", "always"]
"""Whether earlier turns' reasoning stays in context: never, with `thinking.keep="all"`,
or always (every earlier assistant message should carry its reasoning)."""


def _frozen(values: dict[str, float]) -> Mapping[str, float]:
    return MappingProxyType(values)


@dataclass(frozen=True)
class FixedSampling:
    """Sampling values a hosted model takes and no other (HTTP 400 otherwise).

    Attributes:
        thinking: Fixed values while the model reasons.
        instant: Fixed values with thinking off.
        sent: Names ChatKimi sends itself (the rest is only checked).
    """

    thinking: Mapping[str, float]
    instant: Mapping[str, float]
    sent: tuple[str, ...] = ("temperature", "top_p")

    def values(self, thinking: bool) -> Mapping[str, float]:
        """The fixed values for a call that reasons (`thinking`) or not."""
        return self.thinking if thinking else self.instant


_K2_PENALTIES = {"n": 1, "presence_penalty": 0, "frequency_penalty": 0}
K2_SAMPLING = FixedSampling(
    thinking=_frozen({"temperature": 1.0, "top_p": 0.95, **_K2_PENALTIES}),
    instant=_frozen({"temperature": 0.6, "top_p": 0.95, **_K2_PENALTIES}),
)
"""K2.5/K2.6 on Moonshot: 1.0 thinking / 0.6 instant, top_p 0.95 (WIRE.md §1.4)."""

K3_SAMPLING = FixedSampling(
    thinking=_frozen({"temperature": 1.0}), instant=_frozen({"temperature": 1.0}), sent=()
)
"""K3 on Moonshot: temperature only 1 (WIRE.md §8.2); nothing needs sending."""


@dataclass(frozen=True)
class ModelSpec:
    """What one model (family) reads on the wire and can do.

    Attributes:
        family: The family id the model was matched to, e.g. `kimi-k2.6`.
        thinking: `"switch"` (thinking on or off per call), `"always"` or `"never"`.
        context_tokens: Context length in tokens (prompt plus completion).
        sampling: Sampling a hosted platform fixes for it, or None.
        reads_thinking_field: It reads `thinking: {"type": ...}` (K3 reads `reasoning_effort`).
        thinking_keep: It reads `thinking.keep` (K2.6's Preserved Thinking switch).
        preserved_thinking: Whether earlier reasoning stays in context.
        reasoning_efforts: Values of a top-level `reasoning_effort` it reads (empty: none).
        default_effort: The effort the server uses when none is sent.
        template_switch: Self-hosted, its chat template turns thinking off
            (`chat_template_kwargs`), even when the hosted model always reasons.
        image_input: It takes image content.
        max_output_tokens: Completion tokens a hosted call gets by default, if known.
        forced_tool_choice: Forced `tool_choice` values the hosted model takes while
            thinking (K2.x: none; K3 reportedly `"required"`, never a named tool).
        kimi: A Kimi model (False: another model of the platform, e.g. `moonshot-v1-8k`).
        verified: Whether the facts come from a primary source; False = best guess.
    """

    family: str
    thinking: ThinkingSupport
    context_tokens: int = K2_CONTEXT_TOKENS
    sampling: FixedSampling | None = K2_SAMPLING
    reads_thinking_field: bool = True
    thinking_keep: bool = False
    preserved_thinking: PreservedThinking = "no"
    reasoning_efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    template_switch: bool = False
    image_input: bool = False
    max_output_tokens: int | None = None
    forced_tool_choice: tuple[str, ...] = ()
    kimi: bool = True
    verified: bool = True


_K25 = ModelSpec("kimi-k2.5", "switch", image_input=True)
_K26 = ModelSpec(
    "kimi-k2.6", "switch", thinking_keep=True, preserved_thinking="keep_all", image_input=True
)
_K27_CODE = ModelSpec(
    "kimi-k2.7-code", "always", preserved_thinking="always", sampling=None, verified=False
)
_K2_THINKING = ModelSpec("kimi-k2-thinking", "always")
_K2_INSTANT = ModelSpec("kimi-k2", "never", sampling=None)
_K3 = ModelSpec(
    "kimi-k3",
    "always",
    context_tokens=K3_CONTEXT_TOKENS,
    sampling=K3_SAMPLING,
    reads_thinking_field=False,
    preserved_thinking="always",
    reasoning_efforts=("low", "high", "max"),
    default_effort="max",
    template_switch=True,
    forced_tool_choice=("required",),
    max_output_tokens=131_072,
    verified=False,
)
_K31 = ModelSpec(
    "kimi-k3.1",
    "always",
    context_tokens=K3_CONTEXT_TOKENS,
    sampling=K3_SAMPLING,
    reads_thinking_field=False,
    preserved_thinking="always",
    reasoning_efforts=("low", "high", "max"),
    default_effort="max",
    template_switch=True,
    forced_tool_choice=("required",),
    verified=False,
)
_NOT_KIMI = ModelSpec(
    "other",
    "never",
    sampling=None,
    reads_thinking_field=False,
    kimi=False,
)
"""A platform model that is no Kimi (`moonshot-v1-*`): no thinking field, no K2 sampling."""

#: Ordered (prefix, spec) pairs; the first prefix of a normalised id wins.
MODEL_TABLE: tuple[tuple[str, ModelSpec], ...] = (
    ("kimi-k3.1", _K31),
    ("kimi-k3", _K3),
    ("kimi-k2.7-code", _K27_CODE),
    ("kimi-k2.7", _K27_CODE),
    ("kimi-k2.6", _K26),
    ("kimi-k2.5", _K25),
    ("kimi-k2-thinking", _K2_THINKING),
    ("kimi-k2-0711", _K2_INSTANT),
    ("kimi-k2-0905", _K2_INSTANT),
    ("kimi-k2-turbo", _K2_INSTANT),
    ("kimi-k2-instruct", _K2_INSTANT),
    ("moonshot-v1", _NOT_KIMI),
)

#: Fallbacks by substring, for self-hosted served names (`moonshotai/Kimi-K2-Instruct`).
_INSTANT_TAGS = ("instruct", "0711", "0905", "turbo-preview", "k2-preview")
_THINKING_TAGS = ("thinking",)
#: `kimi-k2-6`, `kimi-k2p6`, `kimi_k2_6` -> `kimi-k2.6` (a lone digit after the major).
_VERSION = re.compile(r"kimi[-_]k(\d)[-_.p](\d)(?!\d)")


def normalise_model_id(model: str) -> str:
    """Return the id as Moonshot spells it: lower case, no vendor prefix, `k2.6` versions.

    `moonshotai/Kimi-K2.6` -> `kimi-k2.6`; `kimi-k2-6` and `kimi-k2p6` -> `kimi-k2.6`;
    `accounts/fireworks/models/kimi-k2p5` -> `kimi-k2.5`; `kimi-k2-0905-preview` is kept.
    """
    name = model.strip().lower().rsplit("/", 1)[-1].split(":", 1)[0]
    return _VERSION.sub(lambda m: f"kimi-k{m.group(1)}.{m.group(2)}", name)


def model_spec(model: str, *, hosted: bool = False) -> ModelSpec:
    """Return the capabilities of `model`.

    Known ids match by prefix, in any spelling `normalise_model_id` reads. Other names
    on a self-hosted server (which serves K2.5 under any name) fall back to K2.5,
    unless the name says the model never or always thinks; on the hosted platform
    (`hosted=True`) a name that is no Kimi model gets `"never"` and no Kimi fields.

    Args:
        model: A model id as given to `ChatKimi(model=...)`.
        hosted: The model is served by Moonshot's platform (its own catalogue).

    Returns:
        The matching `ModelSpec`.
    """
    name = normalise_model_id(model)
    for prefix, spec in MODEL_TABLE:
        if name.startswith(prefix):
            return spec
    if hosted and "kimi" not in name:
        return _NOT_KIMI
    if any(tag in name for tag in _THINKING_TAGS):
        return _K2_THINKING
    if any(tag in name for tag in _INSTANT_TAGS):
        return _K2_INSTANT
    return _K25


#: Ids Moonshot retired on its hosted API (prefix, date); WIRE.md §8.1, **[S]**.
RETIRED_MODELS: tuple[tuple[str, str], ...] = (
    ("kimi-k2.5", "2026-08-31"),
    ("moonshot-v1", "2026-08-31"),
    ("kimi-k2-thinking", "2026-05-25"),
    ("kimi-k2-0711", "2026-05-25"),
    ("kimi-k2-0905", "2026-05-25"),
    ("kimi-k2-turbo", "2026-05-25"),
    ("kimi-latest", "2026-01-28"),
)


def retired_on(model: str) -> str | None:
    """The date Moonshot retired `model` on its hosted API, or None (still served or unknown)."""
    name = normalise_model_id(model)
    return next((date for prefix, date in RETIRED_MODELS if name.startswith(prefix)), None)
