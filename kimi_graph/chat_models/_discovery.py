"""Capability discovery: what a server's `GET /v1/models` says about its models.

Moonshot's model list carries, per model, `context_length`, `supports_reasoning`,
`supports_image_in`, `supports_video_in`, `supports_tool_use`, `supports_thinking_type`
(`only`/`both`/`no`) and `think_efforts` (`support`, `valid_efforts`, `default_effort`)
(WIRE.md §8.2; MoonshotAI/kimi-code `open-platform.ts`); vLLM's carries `max_model_len`.
What the server says overrides the capability table (`model_profiles`) for that model:
`effective_spec` applies it to the table's `ModelSpec`, `Capabilities` is the plain
record ChatKimi exposes (`ChatKimi.capabilities`).

The list is read once per endpoint (base URL and key) and process, on first use, and
cached; a failure (no route, an error status, a body that is no model list) is cached
for `RETRY_AFTER` seconds and leaves the table in force. Discovery runs where
`discovery_enabled` says: `ChatKimi(discover_capabilities=...)`, else the environment
variable `KIMI_DISCOVER_CAPABILITIES` (`1`/`true`/`yes` or `0`/`false`/`no`), else on
Moonshot's own hosts only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import ModelProfile

from kimi_graph._transport.urls import is_moonshot_host
from kimi_graph.model_profiles import ModelSpec, ThinkingSupport, normalise_model_id

__all__ = [
    "DISCOVERY_ENV",
    "RETRY_AFTER",
    "Capabilities",
    "Discovered",
    "cached_models",
    "cached_spec",
    "capabilities",
    "discover",
    "discovery_enabled",
    "effective_spec",
    "parse_model_list",
]

logger = logging.getLogger(__name__)

DISCOVERY_ENV = "KIMI_DISCOVER_CAPABILITIES"
"""Environment switch of discovery when `ChatKimi(discover_capabilities=None)`."""

RETRY_AFTER = 300.0
"""Seconds a failed `GET /v1/models` is remembered before it is tried again."""

ThinkingType = Literal["only", "both", "no"]
_THINKING: dict[str, ThinkingSupport] = {"only": "always", "both": "switch", "no": "never"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Discovered:
    """What a server's model list says about one model (None: the server did not say).

    Attributes:
        model: The id the server lists.
        context_length: Context length in tokens (`context_length`, vLLM `max_model_len`).
        supports_reasoning: `supports_reasoning`.
        thinking_type: `supports_thinking_type`: `only` (always reasons), `both`
            (thinking switches), `no`.
        efforts: `think_efforts.valid_efforts` when `think_efforts.support` is true.
        default_effort: `think_efforts.default_effort`.
        image_input: `supports_image_in`.
        video_input: `supports_video_in`.
        tool_use: `supports_tool_use`.
    """

    model: str
    context_length: int | None = None
    supports_reasoning: bool | None = None
    thinking_type: ThinkingType | None = None
    efforts: tuple[str, ...] | None = None
    default_effort: str | None = None
    image_input: bool | None = None
    video_input: bool | None = None
    tool_use: bool | None = None


@dataclass(frozen=True)
class Capabilities:
    """A model's effective capabilities: the table, overridden by what the server says.

    Attributes:
        model: The model id as ChatKimi was given it.
        thinking: `"switch"`, `"always"` or `"never"`.
        context_tokens: Context length in tokens.
        reasoning_efforts: Values of `reasoning_effort` it takes (empty: none).
        default_effort: The effort the server applies when none is sent, if known.
        image_input: Takes image input.
        video_input: Takes video input (None: unknown).
        tool_use: Takes tools (None: unknown).
        source: `"server"` when the model list named the model, else `"table"`.
        overridden: Names of the fields whose value the server's list changed.
        from_server: Names of the fields the server's list gave (changed or not).
    """

    model: str
    thinking: ThinkingSupport
    context_tokens: int
    reasoning_efforts: tuple[str, ...]
    default_effort: str | None
    image_input: bool
    video_input: bool | None
    tool_use: bool | None
    source: Literal["server", "table"]
    overridden: tuple[str, ...] = ()
    from_server: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)

    def profile_overrides(self) -> ModelProfile:
        """LangChain model-profile keys the server's list settles (empty from the table).

        Meant to be put over a profile built from the table:
        `{**table_profile, **capabilities.profile_overrides()}`.
        """
        said = set(self.from_server)
        profile = ModelProfile()
        if "context_tokens" in said:
            profile["max_input_tokens"] = self.context_tokens
        if "thinking" in said:
            profile["reasoning_output"] = self.thinking != "never"
        if "image_input" in said:
            profile["image_inputs"] = profile["image_url_inputs"] = self.image_input
        if self.video_input is not None:
            profile["video_inputs"] = self.video_input
        if self.tool_use is not None:
            profile["tool_calling"] = self.tool_use
        if "reasoning_efforts" in said and self.reasoning_efforts:
            profile["reasoning_effort_levels"] = list(self.reasoning_efforts)
        if "default_effort" in said and self.default_effort is not None:
            profile["reasoning_effort_default"] = self.default_effort
        return profile


def _flag(item: dict[str, Any], key: str) -> bool | None:
    value = item.get(key)
    return value if isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _parse_item(item: Any) -> Discovered | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        return None
    thinking = item.get("supports_thinking_type")
    efforts_field = item.get("think_efforts")
    efforts: tuple[str, ...] | None = None
    default_effort: str | None = None
    if isinstance(efforts_field, dict):
        valid = efforts_field.get("valid_efforts")
        if efforts_field.get("support") is True and isinstance(valid, list):
            efforts = tuple(e for e in valid if isinstance(e, str) and e)
        elif efforts_field.get("support") is False:
            efforts = ()
        if isinstance(efforts_field.get("default_effort"), str):
            default_effort = efforts_field["default_effort"]
    return Discovered(
        model=item["id"],
        context_length=_count(item.get("context_length")) or _count(item.get("max_model_len")),
        supports_reasoning=_flag(item, "supports_reasoning"),
        thinking_type=thinking if thinking in _THINKING else None,
        efforts=efforts,
        default_effort=default_effort,
        image_input=_flag(item, "supports_image_in"),
        video_input=_flag(item, "supports_video_in"),
        tool_use=_flag(item, "supports_tool_use"),
    )


def parse_model_list(items: Iterable[Any]) -> dict[str, Discovered]:
    """Read a model list's items (`data` of `GET /v1/models`); malformed ones are skipped.

    Args:
        items: The list's entries, as dicts.

    Returns:
        What each listed model's entry says, by its id.
    """
    found: dict[str, Discovered] = {}
    for item in items:
        parsed = _parse_item(item)
        if parsed is not None:
            found[parsed.model] = parsed
    return found


def discovery_enabled(switch: bool | None, base_url: str | None) -> bool:
    """Whether to read the model list: `switch`, else the environment, else Moonshot hosts.

    Raises:
        ValueError: When `KIMI_DISCOVER_CAPABILITIES` is set to something unreadable.
    """
    if switch is not None:
        return switch
    env = os.environ.get(DISCOVERY_ENV, "").strip().lower()
    if env in _TRUE:
        return True
    if env in _FALSE:
        return False
    if env:
        msg = f"{DISCOVERY_ENV}={env!r}: expected one of {', '.join(_TRUE + _FALSE)}."
        raise ValueError(msg)
    return is_moonshot_host(base_url or "")


class _Entry:
    """One endpoint's model list: read once, or a failure remembered for a while."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: dict[str, Discovered] | None = None
        self.failed_at: float | None = None

    def fresh(self) -> bool:
        if self.models is not None:
            return True
        return self.failed_at is not None and time.monotonic() - self.failed_at < RETRY_AFTER


_CACHE: dict[tuple[str, str], _Entry] = {}
_CACHE_LOCK = threading.Lock()


def _key(endpoint: str, api_key: str) -> tuple[str, str]:
    return endpoint, hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _entry(endpoint: str, api_key: str) -> _Entry:
    with _CACHE_LOCK:
        return _CACHE.setdefault(_key(endpoint, api_key), _Entry())


def discover(
    endpoint: str, api_key: str, fetch: Callable[[], Iterable[Any]]
) -> dict[str, Discovered]:
    """The endpoint's model list, read at most once (concurrent first callers wait).

    Args:
        endpoint: The base URL without credentials (the cache key, with the key's hash).
        api_key: The API key (hashed into the cache key, never stored).
        fetch: Reads the list's entries; any exception counts as "not available".

    Returns:
        What the list says per model id; empty when it could not be read.
    """
    entry = _entry(endpoint, api_key)
    if entry.fresh():
        return entry.models or {}
    with entry.lock:
        if entry.fresh():
            return entry.models or {}
        try:
            entry.models = parse_model_list(fetch())
        except Exception as err:  # any failure: discovery fails soft to the table
            entry.failed_at = time.monotonic()
            logger.warning(
                "ChatKimi: GET %s/models failed (%s); using the capability table.",
                endpoint,
                type(err).__name__,
            )
            return {}
        return entry.models


def cached_models(endpoint: str, api_key: str) -> dict[str, Discovered]:
    """What an earlier `discover` read for the endpoint (never makes a request)."""
    with _CACHE_LOCK:
        entry = _CACHE.get(_key(endpoint, api_key))
    return (entry.models or {}) if entry is not None else {}


def _lookup(models: dict[str, Discovered], *names: str) -> Discovered | None:
    for name in names:
        if name in models:
            return models[name]
    wanted = {normalise_model_id(n) for n in names}
    for listed, found in models.items():
        if normalise_model_id(listed) in wanted:
            return found
    return None


def effective_spec(spec: ModelSpec, found: Discovered | None) -> ModelSpec:
    """The table's `spec` with what the server said about the model put over it."""
    if found is None:
        return spec
    changes: dict[str, Any] = {}
    if found.context_length is not None:
        changes["context_tokens"] = found.context_length
    if found.thinking_type is not None:
        changes["thinking"] = _THINKING[found.thinking_type]
    if found.efforts is not None:
        changes["reasoning_efforts"] = found.efforts
        changes["default_effort"] = found.default_effort
    elif found.thinking_type == "no":
        changes["reasoning_efforts"] = ()
        changes["default_effort"] = None
    if found.image_input is not None:
        changes["image_input"] = found.image_input
    return dataclasses.replace(spec, **changes)


def cached_spec(
    spec: ModelSpec, endpoint: str, api_key: str, model: str, *served_as: str
) -> ModelSpec:
    """`spec` with what an earlier `discover` of the endpoint read about `model` put over it.

    Never makes a request: without an earlier read it returns `spec` unchanged.
    """
    return effective_spec(spec, _lookup(cached_models(endpoint, api_key), model, *served_as))


def capabilities(
    model: str, spec: ModelSpec, models: dict[str, Discovered], *served_as: str
) -> Capabilities:
    """The effective capabilities of `model`.

    Args:
        model: The model id as ChatKimi was given it.
        spec: Its entry in the capability table.
        models: What the server's model list says (empty: not read or not available).
        *served_as: Other ids the server may list it under (e.g. with a vendor prefix).
    """
    found = _lookup(models, model, *served_as)
    merged = effective_spec(spec, found)
    overridden = tuple(
        name
        for name in (
            "thinking",
            "context_tokens",
            "reasoning_efforts",
            "default_effort",
            "image_input",
        )
        if getattr(merged, name) != getattr(spec, name)
    )
    given = {
        "thinking": found.thinking_type if found else None,
        "context_tokens": found.context_length if found else None,
        "reasoning_efforts": found.efforts if found else None,
        "default_effort": found.default_effort if found else None,
        "image_input": found.image_input if found else None,
        "video_input": found.video_input if found else None,
        "tool_use": found.tool_use if found else None,
    }
    return Capabilities(
        model=model,
        thinking=merged.thinking,
        context_tokens=merged.context_tokens,
        reasoning_efforts=merged.reasoning_efforts,
        default_effort=merged.default_effort,
        image_input=merged.image_input,
        video_input=found.video_input if found else None,
        tool_use=found.tool_use if found else None,
        source="server" if found else "table",
        overridden=overridden,
        from_server=tuple(name for name, value in given.items() if value is not None),
    )
