"""Real token usage of a run: summed over every model call, by langchain-core's callback.

Passed in the run's `callbacks`, the handler sees the end of every chat-model call of
the graph (orchestrator, sub-agents on any worker, synthesis, each agent step) and adds
up the `usage_metadata` the server reported, cached prompt tokens included.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import UsageMetadataCallbackHandler

from kimi_graph._turns import total_usage

__all__ = [
    "UsageCollector",
]


class UsageCollector(UsageMetadataCallbackHandler):
    """`UsageMetadataCallbackHandler` (usage per model) that answers in OpenAI's shape."""

    run_inline = True
    """Called on the event loop itself: counting is cheap and needs no thread."""

    # Only `on_llm_end` carries usage: langchain-core's callback managers skip this
    # handler for every other event (each graph, node and model start, ...).

    @property
    def ignore_chain(self) -> bool:
        """Chain (graph, node) events are not dispatched to this handler."""
        return True

    @property
    def ignore_chat_model(self) -> bool:
        """Chat-model start events are not dispatched (their end events are)."""
        return True

    @property
    def ignore_agent(self) -> bool:
        """Agent events are not dispatched to this handler."""
        return True

    @property
    def ignore_retriever(self) -> bool:
        """Retriever events are not dispatched to this handler."""
        return True

    @property
    def ignore_retry(self) -> bool:
        """Retry events are not dispatched to this handler."""
        return True

    @property
    def ignore_custom_event(self) -> bool:
        """Custom events (a swarm's progress) are not dispatched to this handler."""
        return True

    def openai_usage(self) -> dict[str, Any]:
        """The totals over every model as OpenAI's `usage` object.

        `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`
        appear only when an upstream call reported them (never an invented 0).
        """
        with self._lock:
            usage = total_usage(*self.usage_metadata.values())
        inputs = usage.get("input_token_details") or {}
        outputs = usage.get("output_token_details") or {}
        body: dict[str, Any] = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
        }
        if "cache_read" in inputs:
            body["prompt_tokens_details"] = {"cached_tokens": inputs["cache_read"]}
        if "reasoning" in outputs:
            body["completion_tokens_details"] = {"reasoning_tokens": outputs["reasoning"]}
        return body
