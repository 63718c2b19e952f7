"""The raw-token fallback applied to ChatKimi's results: for servers run without parsers.

`_raw_tokens` parses `…</think>` reasoning and Kimi's tool-call tokens out of text;
this module moves what it finds into LangChain's fields, on a whole answer
(`split_raw_result`) and on a stream (`ChunkSplitter`, whose output then goes through
`_stream_tidy.StreamTidy`: usage once, no internal keys).
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

import kimi_graph.chat_models._responses as _responses
from kimi_graph.chat_models._content_blocks import PROVIDER
from kimi_graph.chat_models._raw_tokens import (
    ParsedPiece,
    RawOutputParser,
    looks_raw,
    split_raw_output,
)
from kimi_graph.chat_models._stream_tidy import StreamTidy

__all__ = ["ChunkSplitter", "apply_piece", "split_raw_result"]


def split_raw_result(result: ChatResult, *, thinking: bool) -> ChatResult:
    """Split raw reasoning and tool-call tokens out of non-streamed content."""
    for generation in result.generations:
        message = generation.message
        if not isinstance(message, AIMessage) or not isinstance(message.content, str):
            continue
        undecided = thinking and "reasoning_content" not in message.additional_kwargs
        if not looks_raw(message.content, thinking=undecided):
            continue
        piece = split_raw_output(message.content, thinking=undecided)
        generation.message = apply_piece(message, piece)
        if isinstance(generation, ChatGeneration):
            generation.text = generation.message.text
    return result


def apply_piece(message: AIMessage, piece: ParsedPiece) -> AIMessage:
    """Return `message` with raw reasoning and tool-call tokens moved into their fields."""
    kwargs = dict(message.additional_kwargs)
    if piece.reasoning:
        kwargs["reasoning_content"] = kwargs.get("reasoning_content", "") + piece.reasoning
    tool_calls = list(message.tool_calls)
    invalid = list(message.invalid_tool_calls)
    for call in piece.tool_calls:
        args = call.parsed_args()
        if args is None:
            invalid.append(
                {
                    "type": "invalid_tool_call",
                    "id": call.id,
                    "name": call.name,
                    "args": call.arguments,
                    "error": "Arguments are not a JSON object.",
                }
            )
        else:
            tool_calls.append({"type": "tool_call", "id": call.id, "name": call.name, "args": args})
    return message.model_copy(
        update={
            "content": piece.content.strip() if tool_calls or invalid else piece.content,
            "additional_kwargs": kwargs,
            "tool_calls": tool_calls,
            "invalid_tool_calls": invalid,
        }
    )


class ChunkSplitter:
    """Route streamed content through a `RawOutputParser`, keeping everything else.

    What comes out is tidied by a `StreamTidy` (usage reported once, at the end; no
    internal keys), so a summed stream equals `invoke`.
    """

    def __init__(self, *, thinking: bool) -> None:
        self._parser = RawOutputParser(thinking=thinking)
        self._raw_calls = 0
        self._last_id: str | None = None
        self._tidy = StreamTidy()

    def push(self, chunk: ChatGenerationChunk) -> list[ChatGenerationChunk]:
        """The chunks to yield for one chunk from the server."""
        return [out for out in map(self._tidy.push, self._split(chunk)) if out is not None]

    def close(self) -> list[ChatGenerationChunk]:
        """The chunks left at the end of the stream (held-back text, then the usage)."""
        held = [out for out in map(self._tidy.push, self._fresh(self._parser.finish())) if out]
        return [*held, *self._tidy.close()]

    def _split(self, chunk: ChatGenerationChunk) -> list[ChatGenerationChunk]:
        message = chunk.message
        if not isinstance(message, AIMessageChunk):
            return [chunk]
        self._last_id = message.id or self._last_id
        if message.additional_kwargs.get("reasoning_content"):
            if self._parser.idle:
                return [chunk]
            held = self._parser.server_parses_reasoning()
            return [*self._fresh(held), chunk]
        if not isinstance(message.content, str) or not message.content:
            return [chunk]
        if self._parser.passes_through(message.content):
            return [chunk]
        rewritten = self._rewrite(message, self._parser.feed(message.content))
        out = ChatGenerationChunk(message=rewritten, generation_info=chunk.generation_info)
        keep = rewritten.content or rewritten.additional_kwargs or rewritten.tool_call_chunks
        return [out] if keep or rewritten.usage_metadata or chunk.generation_info else []

    def _fresh(self, piece: ParsedPiece) -> list[ChatGenerationChunk]:
        if not piece:
            return []
        message = self._rewrite(AIMessageChunk(content="", id=self._last_id), piece)
        message.response_metadata["model_provider"] = PROVIDER
        return [ChatGenerationChunk(message=message)]

    def _rewrite(self, message: AIMessageChunk, piece: ParsedPiece) -> AIMessageChunk:
        kwargs = dict(message.additional_kwargs)
        if piece.reasoning:
            kwargs["reasoning_content"] = piece.reasoning
        tool_call_chunks = list(message.tool_call_chunks)
        raw_pieces = [
            {"index": self._raw_calls + i, "id": call.id, "function": {"arguments": call.arguments}}
            for i, call in enumerate(piece.tool_calls)
        ]
        if raw_pieces:
            kwargs[_responses.RAW_ARGS_KEY] = _responses.raw_argument_pieces(raw_pieces)
        for call in piece.tool_calls:
            tool_call_chunks.append(
                {
                    "type": "tool_call_chunk",
                    "name": call.name,
                    "args": call.arguments,
                    "id": call.id,
                    "index": self._raw_calls,
                }
            )
            self._raw_calls += 1
        return AIMessageChunk(
            content=piece.content,
            additional_kwargs=kwargs,
            response_metadata=dict(message.response_metadata),
            tool_call_chunks=tool_call_chunks,
            usage_metadata=message.usage_metadata,
            id=message.id,
        )
