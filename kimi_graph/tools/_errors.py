"""Error types shared by the `kimi_graph.tools` tools.

Every expected failure of a tool is raised as one of these and turned into text
for the model by `BaseTool` itself (each tool sets `handle_tool_error=True`), so a
failed search, fetch or sandbox run never crashes the agent loop. When the tool
is called with a `tool_call_id`, the `ToolMessage` also gets `status="error"`.
Programming errors (bugs) are not wrapped and still raise.

The first argument of each error is the full text the model sees, starting with
``"Error: <tool name> ..."`` and saying what to do next when there is something
to do.

```
* ToolException               (langchain_core.tools)
  x ToolError                 base of everything below
    + SearchError             search provider failed: key, HTTP, rate limit, timeout,
    |                         no results
    + FetchError              fetch_url failed: HTTP status, timeout, content type,
    |  |                      too many redirects
    |  - URLRefusedError      refused before any connection: scheme, private address
    + SandboxError            run_python could not start the child process
```
"""

from __future__ import annotations

from langchain_core.tools import ToolException
from pydantic import ValidationError

__all__ = [
    "FetchError",
    "SandboxError",
    "SearchError",
    "ToolError",
    "URLRefusedError",
    "format_validation_error",
]


class ToolError(ToolException):
    """Base class for expected tool failures; the message is shown to the model."""

    @property
    def message(self) -> str:
        """The model-facing text of this error."""
        return str(self.args[0]) if self.args else "Error: tool failed"


class SearchError(ToolError):
    """A search provider failed (missing key, HTTP error, rate limit, timeout, no results)."""


class FetchError(ToolError):
    """`fetch_url` failed after it was allowed to connect."""


class URLRefusedError(FetchError):
    """`fetch_url` refused a URL before connecting (scheme or address policy)."""


class SandboxError(ToolError):
    """`run_python` could not start or supervise the child process."""


def format_validation_error(error: ValidationError | Exception) -> str:
    """Render invalid tool arguments as a short message the model can act on.

    Args:
        error: The pydantic validation error raised for the tool input.

    Returns:
        One line per invalid field, prefixed with ``"Error: invalid arguments"``.
    """
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in error.errors()
        ]
        detail = "; ".join(parts)
    else:
        detail = str(error)
    return f"Error: invalid arguments ({detail}). Fix the arguments and call the tool again."
