"""Today's hosted catalogue of Moonshot's platform (``EmulatorConfig(hosted_catalogue=True)``).

Moonshot retired ``kimi-k2.5`` and ``moonshot-v1-*`` on 2026-08-31 and the K2 previews
and ``kimi-k2-thinking`` on 2026-05-25 (WIRE.md §8.1). In this mode the Moonshot dialect
serves only the models hosted today: any other id answers HTTP 404 with the recorded
body ``{"error": {"message": "Not found the model <id> or Permission denied", "type":
"resource_not_found_error"}}`` (tests/fixtures/recordings/moonshot_error_model_not_found),
and ``GET /v1/models`` lists each hosted model with the capability fields Moonshot's
model list carries (WIRE.md §8.2; MoonshotAI/kimi-code ``open-platform.ts``):
``context_length``, ``supports_reasoning``, ``supports_image_in``, ``supports_video_in``,
``supports_tool_use``, ``supports_thinking_type`` (``only``/``both``/``no``) and
``think_efforts`` (``support``, ``valid_efforts``, ``default_effort``).

Values: context lengths and thinking types as WIRE.md §8.1-8.2 give them **[S]**;
K2.6 takes images (a recorded K2.6 answer to an image) **[V]**; K2.7 Code takes images
and video (its ``/v1/models`` entry on Kimi's coding endpoint, quoted in a public
note) **[S]**; K3/K3.1 image input is the emulator's assumption **[U]**.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kimi_graph.emulator.dialects import Dialect
from kimi_graph.emulator.platform import THINKING_ONLY_MESSAGE
from kimi_graph.emulator.validation import ApiError

__all__ = [
    "CREATED",
    "HOSTED_MODELS",
    "RETIRED_EXAMPLES",
    "check_request",
    "hosted_dialect",
    "model_list",
]

CREATED = 1767225600
"""``created`` of every listed model (the emulator's fixed timestamp)."""

_K3_EFFORTS = {"support": True, "valid_efforts": ["low", "high", "max"], "default_effort": "max"}
_NO_EFFORTS = {"support": False, "valid_efforts": [], "default_effort": None}


def _entry(
    context: int, thinking: str, *, image: bool, video: bool, efforts: dict[str, Any]
) -> dict[str, Any]:
    return {
        "context_length": context,
        "supports_reasoning": thinking != "no",
        "supports_image_in": image,
        "supports_video_in": video,
        "supports_tool_use": True,
        "supports_thinking_type": thinking,
        "think_efforts": efforts,
    }


_K3 = _entry(1_048_576, "only", image=True, video=False, efforts=_K3_EFFORTS)
_K27 = _entry(262_144, "only", image=True, video=True, efforts=_NO_EFFORTS)
_K26 = _entry(262_144, "both", image=True, video=False, efforts=_NO_EFFORTS)

HOSTED_MODELS: dict[str, dict[str, Any]] = {
    "kimi-k3": _K3,
    "kimi-k3.1-pro": _K3,
    "kimi-k3.1-pro-highspeed": _K3,
    "kimi-k2.7-code": _K27,
    "kimi-k2.7-code-highspeed": _K27,
    "kimi-k2.6": _K26,
}
"""Every model Moonshot hosts today, with the capability fields of its model list."""

RETIRED_EXAMPLES = ("kimi-k2.5", "moonshot-v1-8k", "kimi-k2-thinking", "kimi-k2-turbo-preview")
"""Ids the platform served once and answers with a 404 now (not exhaustive)."""

_THINKING = {"only": "forced", "both": "switch", "no": "none"}


def hosted_dialect(dialect: Dialect) -> Dialect:
    """Return the Moonshot dialect restricted to today's hosted models."""
    models = {
        name: _THINKING[str(entry["supports_thinking_type"])]
        for name, entry in HOSTED_MODELS.items()
    }
    return replace(dialect, models=models)


def check_request(body: dict[str, Any], model: str) -> None:
    """Refuse what a hosted model refuses beyond the dialect's rules.

    Args:
        body: The request body.
        model: A hosted model id.

    Raises:
        ApiError: 400 with the recorded message for ``thinking: {"type": "disabled"}``
            on a model whose ``supports_thinking_type`` is ``only``.
    """
    switch = body.get("thinking")
    only = HOSTED_MODELS[model]["supports_thinking_type"] == "only"
    if only and isinstance(switch, dict) and switch.get("type") == "disabled":
        raise ApiError(400, THINKING_ONLY_MESSAGE)


def model_list(owner: str) -> dict[str, Any]:
    """The body of ``GET /v1/models`` in catalogue mode.

    Args:
        owner: ``owned_by`` of every model.
    """
    data = [
        {"id": name, "object": "model", "created": CREATED, "owned_by": owner, **entry}
        for name, entry in HOSTED_MODELS.items()
    ]
    return {"object": "list", "data": data}
