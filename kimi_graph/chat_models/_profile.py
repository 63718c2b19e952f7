"""`ChatKimi.profile`: LangChain's model profile, from the capability table.

`create_agent` and its middleware read `model.profile` (e.g. `SummarizationMiddleware`
with a fractional trigger needs `max_input_tokens`). The profile says what the model
does on this server: its context, reasoning and the efforts it takes, tool calling,
image input where the model takes it, and structured output only where the server has
a JSON-schema mode.
"""

from __future__ import annotations

from langchain_core.language_models import ModelProfile

from kimi_graph.backends import Backend
from kimi_graph.chat_models._call_plan import EFFORTS_OFF
from kimi_graph.model_profiles import model_spec

__all__ = ["kimi_profile"]


def kimi_profile(model: str, backend: Backend) -> ModelProfile:
    """Return LangChain's model profile of `model` served by `backend`.

    Args:
        model: The model id.
        backend: The server dialect.

    Returns:
        A `ModelProfile` (a TypedDict of LangChain's standard keys).
    """
    spec = model_spec(model, hosted=backend.platform)
    reasons = spec.thinking != "never"
    profile = ModelProfile(
        max_input_tokens=spec.context_tokens,
        text_inputs=True,
        text_outputs=True,
        image_inputs=spec.image_input,
        image_url_inputs=spec.image_input,
        reasoning_output=reasons,
        tool_calling=True,
        tool_choice=True,
        tool_call_streaming=True,
        structured_output=backend.supports_json_schema,
        temperature=spec.sampling is None or not backend.fixed_sampling,
    )
    if spec.max_output_tokens is not None:
        profile["max_output_tokens"] = spec.max_output_tokens
    levels = _effort_levels(model, backend)
    if levels:
        profile["reasoning_effort_levels"] = levels
        default = spec.default_effort or ("high" if spec.thinking != "never" else "none")
        profile["reasoning_effort_default"] = default
    return profile


def _effort_levels(model: str, backend: Backend) -> list[str]:
    """Distinct `reasoning_effort` values the model takes here (see `_call_plan`)."""
    spec = model_spec(model, hosted=backend.platform)
    if spec.thinking == "never":
        return []
    switchable = spec.thinking == "switch" or (
        spec.template_switch and backend.thinking_switch == "template" and not backend.platform
    )
    off = [EFFORTS_OFF[0]] if switchable else []
    return [*off, *(spec.reasoning_efforts or ("high",))]
