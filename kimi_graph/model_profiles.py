"""Per-model capabilities of the K2 family and after (next to the per-server `backends`).

`backends.py` says how a *server* spells things; this table says what a *model* reads.
`ChatKimi(model=...)` looks its id up here to decide which fields to send and which
values to refuse locally, because Moonshot ignores unknown fields silently.

Sources (read 2026-11; **[V]** primary, **[S]** another client's code or docs, **[U]**
unverified, kept as a best guess):

- K2.5: thinking switch `thinking: {"type": "enabled"|"disabled"}`, fixed sampling
  (1.0 thinking / 0.6 instant), 256K context (262,144 tokens); no Preserved Thinking.
  **[V]** platform.moonshot.ai docs (docs/wire.md §1.2, §1.4); "k2.5 lacks Preserved
  Thinking" **[S]** a provider catalogue citing platform.kimi.ai/docs/api/overview.md.
- K2 Thinking: thinking forcibly on **[V]** use-kimi-k2-thinking-model guide.
- K2 instruct previews (0711/0905/turbo): no thinking **[S]** (docs/wire.md §1.1).
- K2.6: the K2.5 wire plus `thinking.keep` (`"all"` keeps earlier turns' reasoning in
  context; omitted/null = server default). **[V]** MoonshotAI/kimi-code
  `packages/agent-core-v2/src/kosong/provider/providers/kimi/kimi.contrib.ts`
  (`withThinking` adds `keep` to the `thinking` object; `preserveThinking` reads
  `keep === "all"`). Fixed sampling as K2.5 **[S]** (VideoAdGuard #34 quoting the docs:
  "K2.6/K2.5 ... 1.0 / 0.6"). Context 262,144 **[S]** (kimi-code's default
  `DEFAULT_MAX_CONTEXT_SIZE = 262144`).
- K3: reasoning always on, controlled by a top-level `reasoning_effort` of
  `low`/`high`/`max` (default `max`) **[S]** (the provider catalogue above, citing
  platform.kimi.ai/docs/api/overview.md). Conflict: kimi-code's `withThinking` sends
  the effort as `thinking.effort` instead; we follow the platform docs. **[U]**
  Sampling rules and context length of K3 are **[U]** (context assumed 262,144, as a
  gateway's `modelOverrides` sets it).
- K3.1: **[U]**, nothing primary found; assumed to read what K3 reads.
- K2.7 Code: thinking always on (disabling it is a 400 "invalid thinking"), reasoning
  preserved automatically **[S]** (same catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "K2_CONTEXT_TOKENS",
    "MODEL_TABLE",
    "ModelSpec",
    "ThinkingSupport",
    "model_spec",
    "normalise_model_id",
]

K2_CONTEXT_TOKENS = 262_144
"""K2.5's context length (256K), shared by the K2 family on Moonshot's platform."""

ThinkingSupport = Literal["switch", "always", "never"]


@dataclass(frozen=True)
class ModelSpec:
    """What one model (family) reads on the wire.

    Attributes:
        family: The family id the model was matched to, e.g. `kimi-k2.5`.
        thinking: `"switch"` (thinking on or off per call), `"always"` or `"never"`.
        context_tokens: Context length in tokens (prompt plus completion).
        fixed_sampling: Moonshot fixes temperature/top_p/n/penalties for it.
        reads_thinking_field: It reads `thinking: {"type": ...}` (K3 reads `reasoning_effort`).
        thinking_keep: It reads `thinking.keep` (Preserved Thinking).
        reasoning_efforts: Values of a top-level `reasoning_effort` it reads (empty: none).
        verified: Whether the facts come from a primary source; False = best guess.
    """

    family: str
    thinking: ThinkingSupport
    context_tokens: int = K2_CONTEXT_TOKENS
    fixed_sampling: bool = True
    reads_thinking_field: bool = True
    thinking_keep: bool = False
    reasoning_efforts: tuple[str, ...] = ()
    verified: bool = True


_K25 = ModelSpec("kimi-k2.5", "switch")
_K26 = ModelSpec("kimi-k2.6", "switch", thinking_keep=True)
_K2_THINKING = ModelSpec("kimi-k2-thinking", "always")
_K2_INSTANT = ModelSpec("kimi-k2", "never", fixed_sampling=False)
_K27_CODE = ModelSpec("kimi-k2.7-code", "always", verified=False)
_K3 = ModelSpec(
    "kimi-k3",
    "always",
    fixed_sampling=False,
    reads_thinking_field=False,
    reasoning_efforts=("low", "high", "max"),
    verified=False,
)
_K31 = ModelSpec(
    "kimi-k3.1",
    "always",
    fixed_sampling=False,
    reads_thinking_field=False,
    reasoning_efforts=("low", "high", "max"),
    verified=False,
)

#: Ordered (prefix, spec) pairs; the first prefix of a normalised id wins.
MODEL_TABLE: tuple[tuple[str, ModelSpec], ...] = (
    ("kimi-k3.1", _K31),
    ("kimi-k3-1", _K31),
    ("kimi-k3", _K3),
    ("kimi-k2.7-code", _K27_CODE),
    ("kimi-k2.6", _K26),
    ("kimi-k2.5", _K25),
    ("kimi-k2-thinking", _K2_THINKING),
    ("kimi-k2-0711", _K2_INSTANT),
    ("kimi-k2-0905", _K2_INSTANT),
    ("kimi-k2-turbo", _K2_INSTANT),
    ("kimi-k2-instruct", _K2_INSTANT),
)

#: Fallbacks by substring, for self-hosted served names (`moonshotai/Kimi-K2-Instruct`).
_INSTANT_TAGS = ("instruct", "0711", "0905", "turbo-preview", "k2-preview")
_THINKING_TAGS = ("thinking",)


def normalise_model_id(model: str) -> str:
    """Lower-case a model id and drop a vendor prefix (`moonshotai/kimi-k2.5` -> `kimi-k2.5`)."""
    return model.strip().lower().rsplit("/", 1)[-1]


def model_spec(model: str) -> ModelSpec:
    """Return the capabilities of `model`.

    Known Moonshot ids match by prefix; other names (self-hosted servers serve K2.5
    under any name) fall back to K2.5, unless the name says the model never or
    always thinks.

    Args:
        model: A model id as given to `ChatKimi(model=...)`.

    Returns:
        The matching `ModelSpec`.
    """
    name = normalise_model_id(model)
    for prefix, spec in MODEL_TABLE:
        if name.startswith(prefix):
            return spec
    if any(tag in name for tag in _THINKING_TAGS):
        return _K2_THINKING
    if any(tag in name for tag in _INSTANT_TAGS):
        return _K2_INSTANT
    return _K25
