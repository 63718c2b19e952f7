"""Real token usage of a run: summed over every model call, by a LangChain callback.

Passed in the run's `callbacks`, the handler sees the end of every chat-model call of
the graph (orchestrator, sub-agents on any worker, synthesis, each agent step) and adds
up the `usage_metadata` the server reported, cached prompt tokens included.
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

__all__ = [
    "UsageCollector",
]


class UsageCollector(BaseCallbackHandler):
    """Sum the token usage of every chat-model call made under one run.

    Attributes:
        calls: Model calls seen, with or without usage.
        input_tokens: Prompt tokens.
        output_tokens: Completion tokens (reasoning included).
        cached_tokens: Prompt tokens served from the server's prefix cache.
        reasoning_tokens: Completion tokens spent on reasoning, where reported.
    """

    run_inline = True
    """Called on the event loop itself: counting is cheap and needs no thread."""

    def __init__(self) -> None:
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self._lock = threading.Lock()

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add the usage of one finished model call."""
        with self._lock:
            self.calls += 1
            for generations in response.generations:
                for generation in generations:
                    usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                    if not usage:
                        continue
                    self.input_tokens += int(usage.get("input_tokens") or 0)
                    self.output_tokens += int(usage.get("output_tokens") or 0)
                    cached = (usage.get("input_token_details") or {}).get("cache_read")
                    self.cached_tokens += int(cached or 0)
                    reasoning = (usage.get("output_token_details") or {}).get("reasoning")
                    self.reasoning_tokens += int(reasoning or 0)

    def openai_usage(self) -> dict[str, Any]:
        """The totals as OpenAI's `usage` object."""
        with self._lock:
            return {
                "prompt_tokens": self.input_tokens,
                "completion_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            }
