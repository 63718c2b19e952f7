"""LangChain tools for Kimi agents: web search, a Python sandbox and a URL reader.

Every tool returns plain text for the model and reports expected failures as
``"Error: ..."`` text instead of raising (see `kimi_graph.tools._errors`).

- `web_search`: Tavily when ``TAVILY_API_KEY`` is set, else DuckDuckGo;
  `tavily_search` and `duckduckgo_search` use one provider each.
- `run_python`: runs a program in a bubblewrap sandbox (own PID, mount, network and
  user namespaces, an unprivileged user, a private /tmp, nothing of the host's home
  or the project) with time, memory, process and output limits; refuses when
  bubblewrap is missing unless weaker isolation is asked for (SECURITY.md);
  `make_run_python` builds one with other limits.
- `moonshot_web_search`: Moonshot's builtin `$web_search` (the server searches; the
  tool echoes the call's arguments back, as the protocol asks; thinking off).
- `fetch_url`: reads a public http(s) URL as text with size and time limits,
  refusing private and loopback addresses; `make_fetch_url` builds one with
  another policy.

```python
from kimi_graph.tools import default_tools

tools = default_tools()  # [web_search, run_python, fetch_url]
```
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from kimi_graph.tools._errors import (
    FetchError,
    SandboxError,
    SearchError,
    ToolError,
    URLRefusedError,
)
from kimi_graph.tools.code_runner import PythonRunnerTool, make_run_python, run_python
from kimi_graph.tools.fetch import FetchURLTool, fetch_url, make_fetch_url
from kimi_graph.tools.moonshot_search import MoonshotWebSearchTool, moonshot_web_search
from kimi_graph.tools.search import (
    DuckDuckGoSearchTool,
    TavilySearchTool,
    WebSearchTool,
    duckduckgo_search,
    tavily_search,
    web_search,
)

__all__ = [
    "DuckDuckGoSearchTool",
    "FetchError",
    "FetchURLTool",
    "MoonshotWebSearchTool",
    "PythonRunnerTool",
    "SandboxError",
    "SearchError",
    "TavilySearchTool",
    "ToolError",
    "URLRefusedError",
    "WebSearchTool",
    "default_tools",
    "duckduckgo_search",
    "fetch_url",
    "make_fetch_url",
    "make_run_python",
    "moonshot_web_search",
    "run_python",
    "tavily_search",
    "web_search",
]


def default_tools() -> list[BaseTool]:
    """Return the tools an agent gets by default.

    Returns:
        ``[web_search, run_python, fetch_url]``, the module-level default instances.
    """
    return [web_search, run_python, fetch_url]
