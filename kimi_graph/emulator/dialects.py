"""Per-server dialects: model ids, thinking switch, reasoning fields in and out, error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kimi_graph.emulator.validation import ApiError, check_thinking_field

__all__ = [
    "DIALECT_BY_NAME",
    "Dialect",
]

#: Thinking capability per model id: "switch" (default on), "forced" (always on), "none".
_MOONSHOT_MODELS = {
    "kimi-k2.5": "switch",
    "kimi-k2.6": "switch",
    "kimi-k3": "forced",
    "kimi-k3.1": "forced",
    "kimi-k3.1-pro": "forced",
    "kimi-k3.1-pro-highspeed": "forced",
    "kimi-k2.7-code": "forced",
    "kimi-k2.7-code-highspeed": "forced",
    "kimi-k2-thinking": "forced",
    "kimi-k2-thinking-turbo": "forced",
    "kimi-k2-0905-preview": "none",
    "kimi-k2-turbo-preview": "none",
}
_SELF_HOSTED_MODELS = {
    "kimi-k2.5": "switch",
    "moonshotai/Kimi-K2.5": "switch",
    "kimi-k3": "switch",  # open weights: the chat template switches thinking (WIRE.md §8.2)
    "kimi-k2-thinking": "forced",
}
_OPENROUTER_MODELS = {
    "moonshotai/kimi-k2.5": "switch",
    "moonshotai/kimi-k2-thinking": "forced",
}
_VLLM_ERROR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
}


@dataclass(frozen=True)
class Dialect:
    """How one server family speaks K2.5.

    Attributes:
        name: Dialect name (see ``DIALECTS``).
        models: Accepted model ids mapped to their thinking capability.
        reasoning_out: Response field(s) carrying the reasoning (empty: inline in content).
        reasoning_in: Message fields read back from history, in order of preference.
        template_keys: ``chat_template_kwargs`` keys that switch thinking.
        owner: ``owned_by`` of the model list.
    """

    name: str
    models: dict[str, str]
    reasoning_out: tuple[str, ...]
    reasoning_in: tuple[str, ...]
    template_keys: tuple[str, ...] = ("thinking",)
    owner: str = "vllm"

    @property
    def raw(self) -> bool:
        """Whether reasoning and tool calls travel inside ``content`` as raw tokens."""
        return not self.reasoning_out

    def check_model(self, model: Any) -> str:
        """Validate the requested model id.

        Args:
            model: The ``model`` field of the request.

        Returns:
            The model id.

        Raises:
            ApiError: 404 (400 on OpenRouter) for an unknown model.
        """
        if model is None and self.name not in ("moonshot", "openrouter"):
            return next(iter(self.models))
        if isinstance(model, str) and model in self.models:
            return model
        if self.name == "moonshot":
            raise ApiError(
                404,
                f"Not found the model {model} or Permission denied",
                "resource_not_found_error",
            )
        if self.name == "openrouter":
            raise ApiError(400, f"{model} is not a valid model ID")
        raise ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")

    def thinking(self, body: dict[str, Any], model: str) -> bool:
        """Decide whether thinking is on for a request.

        Args:
            body: The request body.
            model: The (validated) model id.

        Returns:
            Whether the model thinks on this request.

        Raises:
            ApiError: Moonshot's 400 for a malformed ``thinking`` field.
        """
        capability = self.models.get(model, "switch")
        requested: bool | None = None
        if self.name == "moonshot":
            requested = check_thinking_field(body.get("thinking"))
        elif self.name == "openrouter":
            reasoning = body.get("reasoning")
            if isinstance(reasoning, dict):
                if reasoning.get("enabled") is False or reasoning.get("effort") == "none":
                    requested = False
                elif reasoning.get("enabled") is True or reasoning.get("effort"):
                    requested = True
        else:
            kwargs = body.get("chat_template_kwargs")
            if isinstance(kwargs, dict):
                for key in self.template_keys:
                    if key in kwargs and kwargs[key] is not None:
                        requested = kwargs[key] is not False
                        break
        if capability == "forced":
            return True
        if capability == "none":
            return False
        return True if requested is None else requested

    def excludes_reasoning(self, body: dict[str, Any]) -> bool:
        """Whether reasoning is computed but left out of the answer (OpenRouter ``exclude``)."""
        if self.name != "openrouter":
            return False
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("exclude") is True:
            return True
        return body.get("include_reasoning") is False

    def read_reasoning(self, message: dict[str, Any]) -> str:
        """Reasoning the server reads back from a history message under this dialect's rule.

        Args:
            message: An assistant message from the request.

        Returns:
            The reasoning text, or ``""`` when the server reads none.
        """
        for key in self.reasoning_in:
            value = message.get(key)
            if key == "reasoning_details" and isinstance(value, list):
                texts = [
                    str(d.get("text") or d.get("summary") or "")
                    for d in value
                    if isinstance(d, dict)
                ]
                if any(texts):
                    return "".join(texts)
            elif isinstance(value, str) and value:
                return value
        return ""

    def reasoning_fields(self, text: str) -> dict[str, Any]:
        """The message/delta fields that carry a piece of reasoning.

        Args:
            text: The reasoning text (or a streamed piece of it).

        Returns:
            A mapping of field names to values (empty for the raw dialect).
        """
        fields: dict[str, Any] = {}
        for key in self.reasoning_out:
            if key == "reasoning_details":
                fields[key] = [
                    {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
                ]
            else:
                fields[key] = text
        return fields

    def error_body(self, err: ApiError) -> dict[str, Any]:
        """Format an error the way this server family does.

        Args:
            err: The error to answer.

        Returns:
            The JSON error body.
        """
        if self.name == "moonshot":
            return {"error": {"message": err.message, "type": err.type}}
        if self.name == "openrouter":
            return {"error": {"message": err.message, "code": err.status}}
        if self.name == "llamacpp":
            return {"error": {"code": err.status, "message": err.message, "type": err.type}}
        kind = _VLLM_ERROR_TYPES.get(err.status, "BadRequestError")
        param = "model" if err.status == 404 else None
        if self.name == "sglang":
            return {
                "object": "error",
                "message": err.message,
                "type": kind,
                "param": param,
                "code": err.status,
            }
        return {"error": {"message": err.message, "type": kind, "param": param, "code": err.status}}


_ALL = (
    Dialect(
        "moonshot",
        _MOONSHOT_MODELS,
        ("reasoning_content",),
        ("reasoning_content",),
        owner="moonshot",
    ),
    Dialect(
        "vllm",
        _SELF_HOSTED_MODELS,
        ("reasoning",),
        ("reasoning",),
        template_keys=("thinking", "enable_thinking"),
    ),
    Dialect(
        "vllm-legacy",
        _SELF_HOSTED_MODELS,
        ("reasoning_content",),
        ("reasoning_content", "reasoning"),
    ),
    Dialect("sglang", _SELF_HOSTED_MODELS, ("reasoning_content",), ("reasoning_content",)),
    Dialect(
        "llamacpp",
        _SELF_HOSTED_MODELS,
        ("reasoning_content",),
        ("reasoning_content",),
        owner="llamacpp",
    ),
    Dialect(
        "openrouter",
        _OPENROUTER_MODELS,
        ("reasoning", "reasoning_details"),
        ("reasoning_details", "reasoning"),
        owner="moonshotai",
    ),
    Dialect("raw", _SELF_HOSTED_MODELS, (), ("reasoning_content", "reasoning")),
)

DIALECT_BY_NAME: dict[str, Dialect] = {d.name: d for d in _ALL}
"""Every dialect by name."""
