"""What `kimi-graph` prints when a command fails: one line, no traceback."""

from __future__ import annotations

from kimi_graph._transport.urls import redact_url

__all__ = ["CLIError", "describe_error", "root_cause"]


class CLIError(Exception):
    """An error shown to the user as one line, without a traceback."""


def describe_error(err: BaseException) -> str:
    """One line saying what went wrong, for the user."""
    if isinstance(err, CLIError):
        return str(err)
    import openai

    from kimi_graph.chat_models._env import ConfigError, validation_reason

    if isinstance(err, openai.APIStatusError):
        body = err.body
        detail = None
        if isinstance(body, dict):
            error = body.get("error")
            inner = error if isinstance(error, dict) else body
            detail = inner.get("message")
        url = redact_url(err.request.url) if err.request is not None else "the server"
        return f"{url} answered HTTP {err.status_code}: {detail or err.message}"
    if isinstance(err, openai.APITimeoutError):
        return f"the request to {redact_url(err.request.url)} timed out"
    if isinstance(err, openai.APIConnectionError):
        reason = f" ({root_cause(err)})" if err.__cause__ or err.__context__ else ""
        return (
            f"cannot reach {redact_url(err.request.url)}{reason}. Is the server running? "
            "Check KIMI_BASE_URL, or use --emulator."
        )
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, ValueError):
        return validation_reason(err)
    return f"{type(err).__name__}: {err}"


def root_cause(err: BaseException) -> str:
    """The innermost cause of an exception, clipped to one short line."""
    seen: set[int] = set()
    reason = ""
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = " ".join(str(current).split()) or reason or type(current).__name__
        current = current.__cause__ or current.__context__
    return reason if len(reason) <= 160 else reason[:157] + "..."
