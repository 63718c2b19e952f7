"""`moonshot_web_search`: Moonshot's builtin `$web_search` as a LangChain tool.

The search runs on Moonshot's servers. The protocol (platform.moonshot.cn/docs/guide/
use-web-search; docs/wire.md §1.7): the tool is declared as `{"type": "builtin_function",
"function": {"name": "$web_search"}}`; the model answers with a `$web_search` call whose
arguments look like `{"search_result": {"search_id": ...}, "usage": {"total_tokens":
N}}`; the client sends those arguments back unchanged as the tool message (named
`$web_search`), and the server then searches and answers. Search tokens are counted in
the `usage` of that answer (its prompt tokens).

So this tool only echoes its arguments; `ChatKimi` declares it as a builtin (any tool
whose name starts with `$`), names the tool message, and turns thinking off for calls
that carry it (it needs thinking off; `ChatKimi(builtin_search="error")` raises
instead). Off Moonshot's platform it is refused before any request.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MoonshotWebSearchTool",
    "WEB_SEARCH_NAME",
    "WebSearchEcho",
    "moonshot_web_search",
]

WEB_SEARCH_NAME = "$web_search"


class WebSearchEcho(BaseModel):
    """The arguments of a `$web_search` call, kept whole (unknown fields included)."""

    model_config = ConfigDict(extra="allow")

    search_result: dict[str, Any] | None = Field(
        default=None, description="Set by the server: the search to run (search_id)."
    )
    usage: dict[str, Any] | None = Field(
        default=None, description="Set by the server: tokens the search results will take."
    )


class MoonshotWebSearchTool(BaseTool):
    """Moonshot's builtin web search: the server searches, the tool echoes the call."""

    name: str = WEB_SEARCH_NAME
    description: str = (
        "Search the web (Moonshot's builtin search; results come back from the server)."
    )
    args_schema: type[BaseModel] = WebSearchEcho

    def _run(self, **kwargs: Any) -> str:
        """Return the call's arguments as JSON, unchanged, as the protocol asks."""
        kwargs.pop("run_manager", None)
        args = {k: v for k, v in kwargs.items() if v is not None}
        return json.dumps(args, ensure_ascii=False)

    async def _arun(self, **kwargs: Any) -> str:
        """Async variant of `_run` (no I/O: the server does the searching)."""
        return self._run(**kwargs)


moonshot_web_search = MoonshotWebSearchTool()
"""The default instance, for `create_agent_graph(model, [moonshot_web_search])`."""
