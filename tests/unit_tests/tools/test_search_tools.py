"""Search adapters at their boundary: Tavily over local HTTP, DuckDuckGo via an injected client."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from _tools_test_server import LocalServer, Reply
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from kimi_graph.tools import DuckDuckGoSearchTool, TavilySearchTool, WebSearchTool
from kimi_graph.tools.search import SearchInput, format_results

FIXTURES = Path(__file__).parent / "fixtures"
TAVILY_RESPONSE = (FIXTURES / "tavily_search_response.json").read_bytes()
DDGS_RESULTS: list[dict[str, str]] = json.loads((FIXTURES / "ddgs_text_results.json").read_text())

EXPECTED_TAVILY = (
    "1. LangGraph\nhttps://langchain-ai.github.io/langgraph/\nLangGraph is a low-level"
)


class FakeDDGS:
    """Stands in for `ddgs.DDGS`: returns canned results or raises."""

    def __init__(self, results: list[dict[str, str]] | None = None, error: Exception | None = None):
        self.results = DDGS_RESULTS if results is None else results
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.timeouts: list[int] = []

    def __call__(self, timeout: int) -> FakeDDGS:  # the ddgs_factory
        self.timeouts.append(timeout)
        return self

    def text(self, query: str, **kwargs: Any) -> list[dict[str, str]]:
        self.calls.append((query, kwargs))
        if self.error is not None:
            raise self.error
        return self.results


def tavily_ok(server: LocalServer) -> TavilySearchTool:
    server.routes["/search"] = Reply(
        body=TAVILY_RESPONSE, headers={"Content-Type": "application/json"}
    )
    return TavilySearchTool(api_key="tvly-test-key", api_base_url=server.url(""))


# -- input schema ---------------------------------------------------------------


@pytest.mark.parametrize(("given", "used"), [(0, 1), (3, 3), (10, 10), (50, 10), (-2, 1)])
def test_max_results_is_clamped(given: int, used: int) -> None:
    assert SearchInput(query="q", max_results=given).max_results == used


def test_format_results_clips_snippets() -> None:
    text = format_results(
        [
            {"t": "A  title", "u": "https://a.example", "s": "word " * 50},
            {"u": "https://b.example"},
        ],
        title_key="t",
        url_key="u",
        snippet_key="s",
        max_snippet_chars=20,
    )
    assert (
        text
        == "1. A title\nhttps://a.example\nword word word wo...\n\n2. (untitled)\nhttps://b.example"
    )


# -- Tavily ---------------------------------------------------------------------


def test_tavily_formats_recorded_response(server: LocalServer) -> None:
    out = tavily_ok(server).invoke({"query": "What is LangGraph?", "max_results": 3})
    assert out.startswith(EXPECTED_TAVILY)
    assert "\n\n2. langchain-ai/langgraph: Build resilient language agents as graphs.\n" in out
    assert "3. What is LangGraph? | IBM\nhttps://www.ibm.com/think/topics/langgraph\n" in out
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/search"
    assert request.headers["authorization"] == "Bearer tvly-test-key"
    body = json.loads(request.body)
    assert body["query"] == "What is LangGraph?"
    assert body["max_results"] == 3
    assert body["search_depth"] == "basic"


def test_tavily_clips_to_max_results(server: LocalServer) -> None:
    out = tavily_ok(server).invoke({"query": "q", "max_results": 1})
    assert out.startswith("1. LangGraph") and "2." not in out


async def test_tavily_async(server: LocalServer) -> None:
    out = await tavily_ok(server).ainvoke({"query": "What is LangGraph?"})
    assert out.startswith(EXPECTED_TAVILY)
    assert server.requests[0].headers["authorization"] == "Bearer tvly-test-key"


def _status(server: LocalServer, status: int, detail: str = "") -> TavilySearchTool:
    body = json.dumps({"detail": {"error": detail}}).encode() if detail else b"oops"
    server.routes["/search"] = Reply(status, body, {"Content-Type": "application/json"})
    return TavilySearchTool(api_key="tvly-bad", api_base_url=server.url(""))


ERROR_CASES = [
    (
        401,
        "Unauthorized: missing or invalid API key.",
        "Error: tavily_search rejected the API key (HTTP 401): Unauthorized",
    ),
    (
        429,
        "Your request has been blocked due to excessive requests.",
        "Error: tavily_search hit a rate or usage limit (HTTP 429)",
    ),
    (432, "Plan limit exceeded", "Error: tavily_search was refused access (HTTP 403): Plan limit"),
    (
        400,
        "Query is too long",
        "Error: tavily_search rejected the request (HTTP 400): Query is too long",
    ),
    (500, "", "Error: tavily_search failed with HTTP 500."),
    (502, "", "Error: tavily_search failed with HTTP 502."),
]


@pytest.mark.parametrize(("status", "detail", "expected"), ERROR_CASES)
def test_tavily_http_errors(server: LocalServer, status: int, detail: str, expected: str) -> None:
    out = _status(server, status, detail).invoke({"query": "q"})
    assert out.startswith(expected)


@pytest.mark.parametrize(("status", "detail", "expected"), ERROR_CASES)
async def test_tavily_http_errors_async(
    server: LocalServer, status: int, detail: str, expected: str
) -> None:
    out = await _status(server, status, detail).ainvoke({"query": "q"})
    assert out.startswith(expected)


def test_tavily_timeout(server: LocalServer) -> None:
    server.routes["/search"] = Reply(body=TAVILY_RESPONSE, delay=1.0)
    tool = TavilySearchTool(api_key="k", api_base_url=server.url(""), timeout=0.2)
    assert tool.invoke({"query": "q"}) == (
        "Error: tavily_search timed out after 0.2s. Try again or use duckduckgo_search."
    )


async def test_tavily_timeout_async(server: LocalServer) -> None:
    server.routes["/search"] = Reply(body=TAVILY_RESPONSE, delay=1.0)
    tool = TavilySearchTool(api_key="k", api_base_url=server.url(""), timeout=0.2)
    assert (await tool.ainvoke({"query": "q"})).startswith("Error: tavily_search timed out")


def test_tavily_no_results(server: LocalServer) -> None:
    server.routes["/search"] = Reply(body=b'{"query": "q", "results": []}')
    tool = TavilySearchTool(api_key="k", api_base_url=server.url(""))
    assert tool.invoke({"query": "zzqx"}) == (
        "Error: tavily_search found no results for 'zzqx'. Try other or fewer keywords."
    )


async def test_tavily_non_json_body(server: LocalServer) -> None:
    server.routes["/search"] = Reply(body=b"<html>maintenance</html>")
    tool = TavilySearchTool(api_key="k", api_base_url=server.url(""))
    expected = "Error: tavily_search returned a response that is not JSON."
    assert tool.invoke({"query": "q"}).startswith(expected)
    assert (await tool.ainvoke({"query": "q"})).startswith(expected)


def test_tavily_unreachable() -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tool = TavilySearchTool(api_key="k", api_base_url=f"http://127.0.0.1:{port}")
    assert tool.invoke({"query": "q"}).startswith(
        "Error: tavily_search could not reach Tavily (ConnectionError"
    )


def test_tavily_missing_key_sends_nothing(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    tool = TavilySearchTool(api_base_url=server.url(""))
    assert tool.invoke({"query": "q"}) == (
        "Error: tavily_search is not configured (TAVILY_API_KEY is not set). "
        "Use duckduckgo_search or web_search instead."
    )
    assert server.requests == []


def test_tavily_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-hidden")
    tool = TavilySearchTool()
    assert "tvly-hidden" not in repr(tool)
    assert tool.api_key is not None and tool.api_key.get_secret_value() == "tvly-hidden"


# -- DuckDuckGo -----------------------------------------------------------------


def test_duckduckgo_formats_recorded_results() -> None:
    fake = FakeDDGS()
    tool = DuckDuckGoSearchTool(ddgs_factory=fake, region="uk-en", timeout=7)
    out = tool.invoke({"query": "Kimi K2", "max_results": 2})
    assert out == (
        "1. Kimi K2: Open Agentic Intelligence - Moonshot AI\n"
        "https://moonshotai.github.io/Kimi-K2/\n"
        "Kimi K2 is our latest Mixture-of-Experts model with 32 billion activated parameters "
        "and 1 trillion total parameters.\n\n"
        "2. moonshotai/Kimi-K2-Instruct - Hugging Face\n"
        "https://huggingface.co/moonshotai/Kimi-K2-Instruct\n"
        "Kimi K2 is a state-of-the-art mixture-of-experts (MoE) language model with 32 billion "
        "activated parameters and 1 trillion total parameters."
    )
    assert fake.calls == [
        (
            "Kimi K2",
            {"max_results": 2, "region": "uk-en", "safesearch": "moderate", "backend": "auto"},
        )
    ]
    assert fake.timeouts == [7]


async def test_duckduckgo_async() -> None:
    out = await DuckDuckGoSearchTool(ddgs_factory=FakeDDGS()).ainvoke({"query": "Kimi"})
    assert out.startswith("1. Kimi K2: Open Agentic Intelligence")
    assert "3. Moonshot AI Open Platform" in out


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            RatelimitException("202 Ratelimit"),
            "Error: duckduckgo_search was rate limited (202 Ratelimit).",
        ),
        (TimeoutException("timed out"), "Error: duckduckgo_search timed out after 10s."),
        (DDGSException("No results found."), "Error: duckduckgo_search found no results for 'q'."),
        (
            DDGSException("https://html.duckduckgo.com 403"),
            "Error: duckduckgo_search failed: https://html",
        ),
    ],
)
def test_duckduckgo_errors(error: Exception, expected: str) -> None:
    out = DuckDuckGoSearchTool(ddgs_factory=FakeDDGS(error=error)).invoke({"query": "q"})
    assert out.startswith(expected)


def test_duckduckgo_empty_list() -> None:
    out = DuckDuckGoSearchTool(ddgs_factory=FakeDDGS(results=[])).invoke({"query": "q"})
    assert out.startswith("Error: duckduckgo_search found no results")


def test_default_ddgs_factory_builds_a_client() -> None:
    from ddgs.ddgs import DDGS

    tool = DuckDuckGoSearchTool(timeout=3)
    client = tool.ddgs_factory(tool.timeout)
    assert isinstance(client, DDGS)  # built, not called: nothing is sent
    assert client._timeout == 3


# -- web_search routing -----------------------------------------------------------


def web(server: LocalServer, fake: FakeDDGS) -> WebSearchTool:
    return WebSearchTool(
        tavily=TavilySearchTool(api_key=None, api_base_url=server.url("")),
        duckduckgo=DuckDuckGoSearchTool(ddgs_factory=fake),
    )


def test_web_search_uses_duckduckgo_without_key(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    fake = FakeDDGS()
    out = web(server, fake).invoke({"query": "Kimi", "max_results": 1})
    assert out.startswith("1. Kimi K2: Open Agentic Intelligence")
    assert len(fake.calls) == 1
    assert server.requests == []


def test_web_search_uses_tavily_when_key_set_at_call_time(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    fake = FakeDDGS()
    tool = web(server, fake)  # built without a key ...
    tavily_ok(server)
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-late")  # ... which appears later
    out = tool.invoke({"query": "What is LangGraph?"})
    assert out.startswith(EXPECTED_TAVILY)
    assert server.requests[0].headers["authorization"] == "Bearer tvly-late"
    assert fake.calls == []


async def test_web_search_async_routing(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDDGS()
    tool = web(server, fake)
    tavily_ok(server)
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-async")
    assert (await tool.ainvoke({"query": "q"})).startswith(EXPECTED_TAVILY)
    monkeypatch.delenv("TAVILY_API_KEY")
    assert (await tool.ainvoke({"query": "q"})).startswith("1. Kimi K2")
    assert len(server.requests) == 1 and len(fake.calls) == 1


def test_web_search_falls_back_to_duckduckgo(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    fake = FakeDDGS()
    tool = web(server, fake)
    server.routes["/search"] = Reply(429, b'{"detail": {"error": "quota"}}')
    out = tool.invoke({"query": "Kimi"})
    assert out.startswith(
        "(Tavily failed: tavily_search hit a rate or usage limit (HTTP 429): quota."
    )
    assert "These results are from DuckDuckGo.)\n\n1. Kimi K2" in out


async def test_web_search_both_fail(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    tool = web(server, FakeDDGS(error=RatelimitException("ratelimit")))
    server.routes["/search"] = Reply(500, b"down")
    for out in (tool.invoke({"query": "q"}), await tool.ainvoke({"query": "q"})):
        assert out.startswith("Error: web_search failed. tavily_search failed with HTTP 500.")
        assert "Then duckduckgo_search was rate limited" in out
