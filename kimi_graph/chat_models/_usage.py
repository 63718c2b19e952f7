"""Token usage as Moonshot reports it, in LangChain's `usage_metadata` shape.

Moonshot's K2 models report prefix-cache hits in `usage.prompt_tokens_details.cached_tokens`,
older ones in a top-level `usage.cached_tokens` (MoonshotAI/kimi-code `openai-common.ts`,
openclaw `usage.ts`; docs/wire.md §1.7). Either becomes `input_token_details["cache_read"]`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages.ai import UsageMetadata

from kimi_graph._transport.openai_compat import create_usage_metadata


def usage_metadata(usage: dict[str, Any]) -> UsageMetadata:
    """Convert an OpenAI-style usage object, reading cached tokens from either place.

    Args:
        usage: The `usage` object of a response or of a stream's last choice/chunk.

    Returns:
        LangChain usage metadata; cached tokens under `input_token_details.cache_read`.
    """
    details = dict(usage.get("prompt_tokens_details") or {})
    top = usage.get("cached_tokens")
    if details.get("cached_tokens") is None and isinstance(top, int) and not isinstance(top, bool):
        details["cached_tokens"] = top
        usage = {**usage, "prompt_tokens_details": details}
    return create_usage_metadata(usage)
