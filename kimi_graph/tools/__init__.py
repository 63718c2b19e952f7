"""LangChain tools for Kimi agents: web search, a Python sandbox and a URL reader.

Every tool returns plain text for the model and reports expected failures as
``"Error: ..."`` text instead of raising (see `kimi_graph.tools._errors`).

- `web_search`: Tavily when ``TAVILY_API_KEY`` is set, else DuckDuckGo;
  `tavily_search` and `duckduckgo_search` use one backend each.
- `run_python`: runs a program in a child process with time, memory, file-size,
  process and output limits, a temporary working directory and no inherited
  secrets; `make_run_python` builds one with other limits.
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
