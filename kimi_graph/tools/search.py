"""Web search tools: `tavily_search`, `duckduckgo_search` and `web_search`.

All three return the same clipped text, numbered with their sources::

    1. Title
    https://example.com/page
    Snippet of the page...

`web_search` uses Tavily when a ``TAVILY_API_KEY`` is available (checked at call
time) and DuckDuckGo (the `ddgs` package, no key) otherwise, or when Tavily fails.
Failures (missing key, HTTP errors, rate limits, timeouts, no results) come back to
the model as ``"Error: ..."`` text.
"""

from __future__ import annotations

import asyncio
import json
import os
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import httpx
import requests
from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from pydantic import BaseModel, Field, SecretStr, field_validator
from tavily import AsyncTavilyClient, TavilyClient
from tavily.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidAPIKeyError,
    UsageLimitExceededError,
)
from tavily.errors import TimeoutError as TavilyTimeoutError

from kimi_graph.tools._errors import SearchError, format_validation_error

__all__ = [
    "DuckDuckGoSearchTool",
    "SearchInput",
    "TavilySearchTool",
    "WebSearchTool",
    "duckduckgo_search",
    "format_results",
    "tavily_search",
    "web_search",
]

MAX_RESULTS_LIMIT = 10
DEFAULT_MAX_SNIPPET_CHARS = 500
"""Characters kept of each result's snippet."""


class SearchInput(BaseModel):
    """Arguments of the search tools."""

    query: str = Field(
        description="What to search for: a few keywords or a short question.",
        min_length=1,
        max_length=400,
    )
    max_results: int = Field(
        default=5,
        description=f"How many results to return, 1 to {MAX_RESULTS_LIMIT}.",
        json_schema_extra={"minimum": 1, "maximum": MAX_RESULTS_LIMIT},
    )

    @field_validator("max_results", mode="after")
    @classmethod
    def _clamp(cls, value: int) -> int:
        # Clamp rather than reject: a model asking for 50 results should get 10.
        return max(1, min(MAX_RESULTS_LIMIT, value))


def format_results(
    hits: Iterable[Mapping[str, Any]],
    *,
    title_key: str,
    url_key: str,
    snippet_key: str,
    max_snippet_chars: int = DEFAULT_MAX_SNIPPET_CHARS,
) -> str:
    """Render search hits as numbered entries of title, URL and snippet lines.

    Args:
        hits: Result mappings from a search provider.
        title_key: Key of the title in each hit.
        url_key: Key of the URL in each hit.
        snippet_key: Key of the snippet in each hit.
        max_snippet_chars: Characters kept of each snippet; longer ones end in "...".

    Returns:
        The entries separated by blank lines, or ``""`` when there are none.
    """
    entries = []
    for number, hit in enumerate(hits, start=1):
        title = " ".join(str(hit.get(title_key) or "(untitled)").split())
        url = str(hit.get(url_key) or "")
        snippet = " ".join(str(hit.get(snippet_key) or "").split())
        if len(snippet) > max_snippet_chars:
            snippet = snippet[: max_snippet_chars - 3].rstrip() + "..."
        entries.append(f"{number}. {title}\n{url}\n{snippet}".rstrip())
    return "\n\n".join(entries)


def _no_results(tool: str, query: str) -> SearchError:
    msg = f"Error: {tool} found no results for {query!r}. Try other or fewer keywords."
    return SearchError(msg)


class _SearchProvider(BaseTool):
    """A search tool whose runs are its `search_text` / `asearch_text`."""

    @abstractmethod
    def search_text(self, query: str, max_results: int = 5) -> str:
        """Return the top results as numbered entries."""

    @abstractmethod
    async def asearch_text(self, query: str, max_results: int = 5) -> str:
        """Return the top results as numbered entries (async)."""

    def _run(
        self,
        query: str,
        max_results: int = 5,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        return self.search_text(query, max_results)

    async def _arun(
        self,
        query: str,
        max_results: int = 5,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        return await self.asearch_text(query, max_results)


class TavilySearchTool(_SearchProvider):
    """Search the web with the Tavily API.

    Setup:
        Set ``TAVILY_API_KEY`` (read when the tool is built and again at call time).

    Instantiate:
        ```python
        from kimi_graph.tools import TavilySearchTool

        tool = TavilySearchTool(search_depth="advanced")
        tool.invoke({"query": "Kimi K2.5 release", "max_results": 3})
        ```
    """

    name: str = "tavily_search"
    description: str = (
        "Search the web with Tavily and return the top results as numbered entries "
        "(title, URL, snippet). Use it for current facts, news and finding sources; "
        "read a promising result in full with fetch_url."
    )
    args_schema: type[BaseModel] = SearchInput
    handle_tool_error: bool = True
    handle_validation_error: Any = format_validation_error

    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("TAVILY_API_KEY", default=None)
    )
    """Tavily API key; defaults to ``TAVILY_API_KEY``."""
    api_base_url: str | None = None
    """Tavily API base URL; `None` means the client's default (https://api.tavily.com)."""
    search_depth: Literal["basic", "advanced"] = "basic"
    """Tavily search depth; ``"advanced"`` costs more credits."""
    topic: Literal["general", "news", "finance"] = "general"
    """Tavily search topic."""
    timeout: float = Field(default=20.0, gt=0)
    """Seconds to wait for Tavily."""
    max_snippet_chars: int = Field(default=DEFAULT_MAX_SNIPPET_CHARS, gt=3)
    """Characters kept of each result's snippet."""

    def has_key(self) -> bool:
        """Whether a Tavily API key is configured or in the environment now."""
        return self._key() is not None

    def _key(self) -> str | None:
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        return os.environ.get("TAVILY_API_KEY") or None

    def _require_key(self) -> str:
        key = self._key()
        if key is None:
            msg = (
                "Error: tavily_search is not configured (TAVILY_API_KEY is not set). "
                "Use duckduckgo_search or web_search instead."
            )
            raise SearchError(msg)
        return key

    def _params(self, max_results: int) -> dict[str, Any]:
        return {
            "max_results": max_results,
            "search_depth": self.search_depth,
            "topic": self.topic,
            "timeout": self.timeout,
        }

    def search_text(self, query: str, max_results: int = 5) -> str:
        """Search and format the results; raise `SearchError` on failure.

        Args:
            query: The search query.
            max_results: How many results to return.

        Returns:
            Numbered results with their URLs.
        """
        key = self._require_key()
        try:
            with TavilyClient(api_key=key, api_base_url=self.api_base_url) as client:
                response = client.search(query, **self._params(max_results))
        except _TAVILY_ERRORS as e:
            raise self._error(e) from e
        return self._format(query, response, max_results)

    async def asearch_text(self, query: str, max_results: int = 5) -> str:
        """Async `search_text`.

        Args:
            query: The search query.
            max_results: How many results to return.

        Returns:
            Numbered results with their URLs.
        """
        key = self._require_key()
        try:
            async with AsyncTavilyClient(api_key=key, api_base_url=self.api_base_url) as client:
                response = await client.search(query, **self._params(max_results))
        except _TAVILY_ERRORS as e:
            raise self._error(e) from e
        return self._format(query, response, max_results)

    def _format(self, query: str, response: Any, max_results: int) -> str:
        hits = response.get("results") if isinstance(response, dict) else None
        if not hits:
            raise _no_results(self.name, query)
        return format_results(
            hits[:max_results],
            title_key="title",
            url_key="url",
            snippet_key="content",
            max_snippet_chars=self.max_snippet_chars,
        )

    def _error(self, error: Exception) -> SearchError:
        detail = str(error).strip()
        suffix = f": {detail}" if detail else ""
        if isinstance(error, InvalidAPIKeyError):
            text = f"rejected the API key (HTTP 401){suffix}. Use duckduckgo_search instead."
        elif isinstance(error, UsageLimitExceededError):
            text = (
                f"hit a rate or usage limit (HTTP 429){suffix}. Wait before retrying, "
                "or use duckduckgo_search."
            )
        elif isinstance(error, ForbiddenError):
            text = f"was refused access (HTTP 403){suffix}. Use duckduckgo_search instead."
        elif isinstance(error, BadRequestError):
            text = f"rejected the request (HTTP 400){suffix}. Rephrase the query."
        elif isinstance(error, (TavilyTimeoutError, requests.Timeout, httpx.TimeoutException)):
            text = f"timed out after {self.timeout:g}s. Try again or use duckduckgo_search."
        elif isinstance(error, (json.JSONDecodeError, requests.exceptions.JSONDecodeError)):
            text = "returned a response that is not JSON. Try again later or use duckduckgo_search."
        elif isinstance(error, (requests.HTTPError, httpx.HTTPStatusError)):
            status = _status_of(error)
            text = (
                f"failed with HTTP {status}. The service may be down; try again later "
                "or use duckduckgo_search."
            )
        else:
            text = (
                f"could not reach Tavily ({type(error).__name__}{suffix}). "
                "Use duckduckgo_search instead."
            )
        return SearchError(f"Error: {self.name} {text}")


_TAVILY_ERRORS = (
    InvalidAPIKeyError,
    UsageLimitExceededError,
    ForbiddenError,
    BadRequestError,
    TavilyTimeoutError,
    requests.RequestException,
    httpx.HTTPError,
    json.JSONDecodeError,  # a 200 response whose body is not JSON
)


def _status_of(error: requests.HTTPError | httpx.HTTPStatusError) -> int | str:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", "error")


def _default_ddgs_factory(timeout: int) -> Any:
    from ddgs import DDGS

    return DDGS(timeout=timeout)


class DuckDuckGoSearchTool(_SearchProvider):
    """Search the web through the `ddgs` metasearch package (no API key).

    The search client is built by `ddgs_factory`, so tests can inject a fake with a
    ``text(query, **kwargs) -> list[dict]`` method.

    Instantiate:
        ```python
        from kimi_graph.tools import DuckDuckGoSearchTool

        tool = DuckDuckGoSearchTool(region="uk-en")
        tool.invoke({"query": "LangGraph Send API"})
        ```
    """

    name: str = "duckduckgo_search"
    description: str = (
        "Search the web with DuckDuckGo (no API key needed) and return the top "
        "results as numbered entries (title, URL, snippet). Use it for current facts "
        "and finding sources; read a promising result in full with fetch_url."
    )
    args_schema: type[BaseModel] = SearchInput
    handle_tool_error: bool = True
    handle_validation_error: Any = format_validation_error

    region: str = "us-en"
    """Region of the results, e.g. ``"us-en"``, ``"uk-en"``, ``"de-de"``."""
    safesearch: Literal["on", "moderate", "off"] = "moderate"
    """Safe-search level."""
    backend: str = "auto"
    """Engines `ddgs` queries (its `backend` argument), e.g. ``"auto"``, ``"duckduckgo,bing"``."""
    timeout: int = Field(default=10, gt=0)
    """Seconds `ddgs` waits for its engines."""
    max_snippet_chars: int = Field(default=DEFAULT_MAX_SNIPPET_CHARS, gt=3)
    """Characters kept of each result's snippet."""
    ddgs_factory: Callable[[int], Any] = Field(default=_default_ddgs_factory, exclude=True)
    """Builds the search client from the timeout; defaults to ``ddgs.DDGS``."""

    def search_text(self, query: str, max_results: int = 5) -> str:
        """Search and format the results; raise `SearchError` on failure.

        Args:
            query: The search query.
            max_results: How many results to return.

        Returns:
            Numbered results with their URLs.
        """
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        try:
            hits = self.ddgs_factory(self.timeout).text(
                query,
                max_results=max_results,
                region=self.region,
                safesearch=self.safesearch,
                backend=self.backend,
            )
        except RatelimitException as e:
            msg = (
                f"Error: {self.name} was rate limited ({e}). Wait a minute before searching again."
            )
            raise SearchError(msg) from e
        except TimeoutException as e:
            msg = f"Error: {self.name} timed out after {self.timeout}s. Try again later."
            raise SearchError(msg) from e
        except DDGSException as e:
            if "no results" in str(e).lower():
                raise _no_results(self.name, query) from e
            msg = f"Error: {self.name} failed: {e}. Try again later or rephrase the query."
            raise SearchError(msg) from e
        if not hits:
            raise _no_results(self.name, query)
        return format_results(
            list(hits)[:max_results],
            title_key="title",
            url_key="href",
            snippet_key="body",
            max_snippet_chars=self.max_snippet_chars,
        )

    async def asearch_text(self, query: str, max_results: int = 5) -> str:
        """Async `search_text` (runs the blocking client in a worker thread).

        Args:
            query: The search query.
            max_results: How many results to return.

        Returns:
            Numbered results with their URLs.
        """
        return await asyncio.to_thread(self.search_text, query, max_results)


class WebSearchTool(BaseTool):
    """Search the web with Tavily when a key is available, else DuckDuckGo.

    The choice is made at call time, so a ``TAVILY_API_KEY`` set after import is
    used. If Tavily fails (quota, outage), the search is retried on DuckDuckGo and
    the result says so.

    Instantiate:
        ```python
        from kimi_graph.tools import web_search

        web_search.invoke({"query": "Moonshot AI Kimi K2.5", "max_results": 5})
        ```
    """

    name: str = "web_search"
    description: str = (
        "Search the web and return the top results as numbered entries (title, URL, "
        "snippet). Use it for current events, facts you are unsure of, and finding "
        "sources to cite; then read the most relevant pages with fetch_url."
    )
    args_schema: type[BaseModel] = SearchInput
    handle_tool_error: bool = True
    handle_validation_error: Any = format_validation_error

    tavily: TavilySearchTool = Field(default_factory=TavilySearchTool)
    """The Tavily provider, used when it has a key."""
    duckduckgo: DuckDuckGoSearchTool = Field(default_factory=DuckDuckGoSearchTool)
    """The DuckDuckGo provider, used without a Tavily key or when Tavily fails."""

    def _run(
        self,
        query: str,
        max_results: int = 5,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        if not self.tavily.has_key():
            return self.duckduckgo.search_text(query, max_results)
        try:
            return self.tavily.search_text(query, max_results)
        except SearchError as tavily_error:
            try:
                text = self.duckduckgo.search_text(query, max_results)
            except SearchError as ddg_error:
                raise _both_failed(tavily_error, ddg_error) from ddg_error
            return _fallback_note(tavily_error) + text

    async def _arun(
        self,
        query: str,
        max_results: int = 5,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> str:
        if not self.tavily.has_key():
            return await self.duckduckgo.asearch_text(query, max_results)
        try:
            return await self.tavily.asearch_text(query, max_results)
        except SearchError as tavily_error:
            try:
                text = await self.duckduckgo.asearch_text(query, max_results)
            except SearchError as ddg_error:
                raise _both_failed(tavily_error, ddg_error) from ddg_error
            return _fallback_note(tavily_error) + text


def _strip(error: SearchError) -> str:
    return error.message.removeprefix("Error: ")


def _fallback_note(tavily_error: SearchError) -> str:
    return f"(Tavily failed: {_strip(tavily_error)} These results are from DuckDuckGo.)\n\n"


def _both_failed(tavily_error: SearchError, ddg_error: SearchError) -> SearchError:
    msg = f"Error: web_search failed. {_strip(tavily_error)} Then {_strip(ddg_error)}"
    return SearchError(msg)


tavily_search = TavilySearchTool()
"""The default `tavily_search` tool (key from ``TAVILY_API_KEY``)."""
duckduckgo_search = DuckDuckGoSearchTool()
"""The default `duckduckgo_search` tool."""
web_search = WebSearchTool()
"""The default `web_search` tool: Tavily with a key, else DuckDuckGo."""
