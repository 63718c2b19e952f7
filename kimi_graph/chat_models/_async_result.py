"""A whole async answer read on the event loop, without langchain-openai's thread hop.

`BaseChatOpenAI._agenerate` ends with `await run_in_executor(None,
self._create_chat_result, response, generation_info)`: every async model call hands
its result to a worker thread and back. For ChatKimi's answers (a dict already read
by `json.loads` on the loop) that hand-over costs more client CPU than the
conversion itself, about a tenth of a swarm sub-agent's model call.

`agenerate_plain` does what `_agenerate` does for a chat-completions request that is
not a `response_format` parse and not the Responses API (the only kind ChatKimi
sends: it moves `response_format` into `extra_body`), with the same error handling
(langchain-openai's own `_handle_openai_bad_request` / `_handle_openai_api_error`,
the raw response kept on other errors, `include_response_headers`, gateway
metadata), and converts the answer on the loop. Any other request, or a
langchain-openai without those functions, returns None and is left to `_agenerate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

try:  # private functions of langchain-openai; without them `_agenerate` is used
    from langchain_openai.chat_models.base import (
        _add_gateway_metadata,
        _handle_openai_api_error,
        _handle_openai_bad_request,
    )
except ImportError:  # pragma: no cover - another langchain-openai
    _READY = False
else:
    _READY = True

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatResult
    from langchain_openai.chat_models.base import BaseChatOpenAI

__all__ = ["agenerate_plain"]


async def agenerate_plain(
    model: BaseChatOpenAI,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
) -> ChatResult | None:
    """`model._agenerate(messages, stop=stop, **kwargs)` for a plain request, or None.

    Args:
        model: The chat model (its `_get_request_payload`, `async_client`,
            `_create_chat_result` are used).
        messages: The conversation.
        stop: Stop sequences.
        kwargs: The call's options.

    Returns:
        The result, or None when the request is not a plain chat completion (the
        caller then uses `BaseChatOpenAI._agenerate`; nothing was sent).
    """
    if not _READY:
        return None
    payload = model._get_request_payload(messages, stop=stop, **kwargs)
    if "response_format" in payload or model._use_responses_api(payload):
        return None
    generation_info: dict[str, Any] = {}
    raw_response: Any = None
    try:
        raw_response = await model.async_client.with_raw_response.create(**payload)
        response = raw_response.parse()
    except openai.BadRequestError as e:
        _handle_openai_bad_request(e)
    except openai.APIError as e:
        _handle_openai_api_error(e)
    except Exception as e:
        if raw_response is not None and hasattr(raw_response, "http_response"):
            e.response = raw_response.http_response  # type: ignore[attr-defined]
        raise
    if model.include_response_headers and hasattr(raw_response, "headers"):
        generation_info = {"headers": dict(raw_response.headers)}
    _add_gateway_metadata(generation_info, raw_response)
    return model._create_chat_result(response, generation_info)
