"""langchain-tests standard unit tests for every tool class."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from langchain_tests.unit_tests import ToolsUnitTests

from kimi_graph.tools import (
    DuckDuckGoSearchTool,
    FetchURLTool,
    PythonRunnerTool,
    TavilySearchTool,
    WebSearchTool,
    default_tools,
    fetch_url,
    run_python,
    web_search,
)


class TestTavilySearchStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return TavilySearchTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"api_key": "tvly-test", "api_base_url": "http://127.0.0.1:9"}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "LangGraph", "max_results": 3}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"TAVILY_API_KEY": "tvly-from-env"}, {}, {"api_key": "tvly-from-env"}


class TestDuckDuckGoSearchStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return DuckDuckGoSearchTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"region": "uk-en"}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "Kimi K2.5"}


class TestWebSearchStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return WebSearchTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "Moonshot AI", "max_results": 5}


class TestPythonRunnerStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PythonRunnerTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"timeout": 2.0, "memory_mb": 128}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "print(6 * 7)"}


class TestFetchURLStandard(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return FetchURLTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"max_bytes": 10_000, "timeout": 2.0}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"url": "https://example.com/"}


def test_default_tools() -> None:
    tools = default_tools()
    assert tools == [web_search, run_python, fetch_url]
    assert [t.name for t in tools] == ["web_search", "run_python", "fetch_url"]
    for tool in tools:
        assert len(tool.description) > 80  # written for the model
        assert tool.handle_tool_error is True


def test_public_api() -> None:
    import kimi_graph.tools as tools

    for name in [
        "web_search",
        "tavily_search",
        "duckduckgo_search",
        "run_python",
        "fetch_url",
        "make_run_python",
        "make_fetch_url",
        "default_tools",
    ]:
        assert name in tools.__all__
        assert getattr(tools, name) is not None
    assert tools.__doc__
