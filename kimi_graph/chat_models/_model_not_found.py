"""HTTP 404 "model not found", told as an error that names the model and the endpoint.

Every server answers an unknown model with a 404 of its own wording (Moonshot: "Not
found the model … or Permission denied"; vLLM: "The model `…` does not exist.").
`ModelNotFoundError` names the model, the endpoint and, when `GET /v1/models`
answers, the models the endpoint does serve; for a model Moonshot retired, when.
"""

from __future__ import annotations

from typing import Any

import openai
from langchain_core.exceptions import ModelNotFoundError as LangChainModelNotFoundError

from kimi_graph.model_profiles import retired_on

__all__ = [
    "LIST_TIMEOUT",
    "ModelNotFoundError",
    "aserved_models",
    "is_model_not_found",
    "model_not_found",
    "served_models",
]

LIST_TIMEOUT = 10.0
"""Seconds `GET /v1/models` may take when it only serves an error message."""


class ModelNotFoundError(openai.NotFoundError, LangChainModelNotFoundError):
    """The endpoint does not serve the requested model (HTTP 404).

    Both an `openai.NotFoundError` (what the server answered) and LangChain's
    `ModelNotFoundError` (as langchain-openai classifies a 404).

    Attributes:
        model: The model id that was asked for.
        endpoint: The base URL, without credentials.
        served: The ids `GET /v1/models` lists, or None when it did not answer.
    """

    model: str
    endpoint: str
    served: list[str] | None


def is_model_not_found(err: openai.NotFoundError) -> bool:
    """Whether a 404 is about the model (not, say, a wrong base URL path)."""
    return "model" in str(err.message).lower()


def _ids(page: Any) -> list[str]:
    return [str(m.id) for m in getattr(page, "data", None) or [] if getattr(m, "id", None)]


def served_models(client: openai.OpenAI) -> list[str] | None:
    """The model ids the endpoint lists, or None when `GET /v1/models` fails."""
    try:
        return _ids(client.with_options(max_retries=0, timeout=LIST_TIMEOUT).models.list())
    except (openai.OpenAIError, ValueError, TypeError):
        return None


async def aserved_models(client: openai.AsyncOpenAI) -> list[str] | None:
    """Async `served_models`."""
    try:
        page = await client.with_options(max_retries=0, timeout=LIST_TIMEOUT).models.list()
        return _ids(page)
    except (openai.OpenAIError, ValueError, TypeError):
        return None


def model_not_found(
    err: openai.NotFoundError, model: str, endpoint: str, served: list[str] | None
) -> ModelNotFoundError:
    """Build the error for a 404 about `model` at `endpoint`.

    Args:
        err: The server's 404.
        model: The model id as sent.
        endpoint: The base URL, without credentials.
        served: What `GET /v1/models` lists (None: it did not answer).

    Returns:
        A `ModelNotFoundError` (an `openai.NotFoundError`) carrying the same response.
    """
    message = f"{endpoint} does not serve the model {model!r} (HTTP 404: {err.message})."
    retired = retired_on(model)
    if retired is not None:
        message += f" Moonshot retired {model} on its hosted API on {retired}."
    if served:
        message += f" It serves: {', '.join(sorted(served))}."
    elif served is not None:
        message += " Its model list is empty."
    new = ModelNotFoundError(message, response=err.response, body=err.body)
    new.model, new.endpoint, new.served = model, endpoint, served
    return new
