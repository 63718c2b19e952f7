"""A stream made fit for the caller: token usage once, no internal keys in any chunk.

Moonshot reports a stream's usage on its last choice (`choices[0].usage`) and, when
`stream_options.include_usage` is sent (by ChatKimi for any server but Moonshot, or by
the caller), once more in a trailing `choices: []` chunk (WIRE.md §8.3, recorded in
tests/fixtures/recordings). LangChain sums the usage of every chunk, so each report
would count. `StreamTidy` holds every report back and yields the last one once, at the
end of the stream.

The raw argument text of streamed tool calls (`_responses.RAW_ARGS_KEY`) is taken out
of every chunk, so a summed `.stream()` equals `invoke`. It goes to the collector that
`collecting_raw_arguments` opened around the call (ChatKimi's `invoke`/`ainvoke`), which
applies `invoke`'s verdict on arguments that are not a JSON object to the final message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk

from kimi_graph.chat_models._content_blocks import PROVIDER
from kimi_graph.chat_models._responses import RAW_ARGS_KEY

__all__ = ["StreamTidy", "collecting_raw_arguments"]

_COLLECTOR: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "kimi_graph_raw_tool_arguments", default=None
)


@contextmanager
def collecting_raw_arguments() -> Iterator[list[dict[str, Any]]]:
    """Collect the raw tool-call argument pieces of the streams run inside the block.

    Yields:
        The list the pieces (`{"index", "id"?, "args"}`) are appended to, in order.
    """
    pieces: list[dict[str, Any]] = []
    token = _COLLECTOR.set(pieces)
    try:
        yield pieces
    finally:
        _COLLECTOR.reset(token)


class StreamTidy:
    """Per stream: strip internal keys, and report token usage once, at the end."""

    def __init__(self) -> None:
        self._collector = _COLLECTOR.get()
        self._usage: UsageMetadata | None = None
        self._last_id: str | None = None

    def push(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk | None:
        """Return `chunk` without usage and internal keys (None when nothing is left).

        Args:
            chunk: A chunk about to be yielded to the caller.
        """
        message = chunk.message
        if not isinstance(message, AIMessageChunk):
            return chunk
        self._last_id = message.id or self._last_id
        pieces = message.additional_kwargs.pop(RAW_ARGS_KEY, None)
        if isinstance(pieces, list) and self._collector is not None:
            self._collector.extend(pieces)
        if message.usage_metadata is None:
            return chunk
        self._usage = message.usage_metadata
        message.usage_metadata = None
        empty = not (
            message.content
            or message.additional_kwargs
            or message.tool_call_chunks
            or chunk.generation_info
        )
        return None if empty else chunk

    def close(self) -> list[ChatGenerationChunk]:
        """The last chunk of the stream: the usage the server reported last, if any."""
        if self._usage is None:
            return []
        message = AIMessageChunk(
            content="",
            id=self._last_id,
            usage_metadata=self._usage,
            response_metadata={"model_provider": PROVIDER},
        )
        self._usage = None
        return [ChatGenerationChunk(message=message)]
