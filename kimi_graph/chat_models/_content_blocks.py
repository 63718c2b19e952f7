"""Standard content blocks for ChatKimi messages (`msg.content_blocks`, v1 output).

K2.5 streams reasoning before tool calls, so reasoning, text and tool-call chunks
must not share a block index: merged v1 chunks would fold a tool call into the
reasoning block. This translator reuses OpenAI's chat-completions translation, adds
the reasoning block from `additional_kwargs`, and gives each kind its own index.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages import content as types
from langchain_core.messages.block_translators import register_translator
from langchain_core.messages.block_translators.openai import (
    translate_content as openai_translate_content,
)
from langchain_core.messages.block_translators.openai import (
    translate_content_chunk as openai_translate_content_chunk,
)

__all__ = [
    "PROVIDER",
    "translate_content",
    "translate_content_chunk",
]

PROVIDER = "kimi"


def _with_reasoning(
    message: AIMessage, blocks: list[types.ContentBlock], *, index: str | None
) -> list[types.ContentBlock]:
    reasoning = message.additional_kwargs.get("reasoning_content")
    if not isinstance(reasoning, str) or not reasoning:
        return blocks
    if any(block.get("type") == "reasoning" for block in blocks):
        return blocks
    block: types.ReasoningContentBlock = {"type": "reasoning", "reasoning": reasoning}
    if index is not None:
        block["index"] = index
    return [block, *blocks]


def translate_content(message: AIMessage) -> list[types.ContentBlock]:
    """Derive standard content blocks from a ChatKimi `AIMessage`."""
    return _with_reasoning(message, list(openai_translate_content(message)), index=None)


def translate_content_chunk(message: AIMessageChunk) -> list[types.ContentBlock]:
    """Derive standard content blocks from a ChatKimi `AIMessageChunk`."""
    blocks = list(openai_translate_content_chunk(message))
    for block in blocks:
        if block.get("type") == "tool_call_chunk" and isinstance(block.get("index"), int):
            block["index"] = f"lc_tc_{block['index']}"
    return _with_reasoning(message, blocks, index="lc_rs_0")


register_translator(PROVIDER, translate_content, translate_content_chunk)
