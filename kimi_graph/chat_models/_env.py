"""The model from the environment, with an error that says what to set.

Shared by the CLI, the Studio graphs (which make their model on first use) and
`create_*_graph(model=None)`.
"""

from __future__ import annotations

from typing import Any

from kimi_graph.chat_models.base import ChatKimi

__all__ = ["ENV_HINT", "ConfigError", "model_from_env"]

ENV_HINT = (
    "kimi-graph reads KIMI_BASE_URL, MOONSHOT_API_KEY (or KIMI_API_KEY) and KIMI_BACKEND "
    "from the environment (for `langgraph dev`: copy .env.example to .env), or a run's "
    "context (`base_url`, `backend`). To try it offline, use `kimi-graph run --emulator "
    "...`, or start `kimi-graph emulate` and set KIMI_BASE_URL to one of its URLs."
)


class ConfigError(ValueError):
    """The endpoint or key is missing or wrong."""


def validation_reason(err: Exception) -> str:
    """The message of a ValueError raised inside a pydantic validator, unwrapped."""
    errors = getattr(err, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except (IndexError, TypeError):
            return str(err)
        inner = (first.get("ctx") or {}).get("error")
        return str(inner) if inner is not None else str(first.get("msg", err))
    return str(err)


def model_from_env(**kwargs: Any) -> ChatKimi:
    """Build `ChatKimi` from the environment, with a helpful error if it is not set up.

    Args:
        **kwargs: Passed to `ChatKimi` (e.g. `model=`); None values are dropped.

    Raises:
        ConfigError: A `ValueError` saying which variables to set.
    """
    given = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return ChatKimi(**given)
    except ValueError as err:
        msg = f"{validation_reason(err).rstrip('.')}. {ENV_HINT}"
        raise ConfigError(msg) from None
