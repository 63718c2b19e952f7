"""A plain async answer is read on the event loop (`chat_models._async_result`).

langchain-openai's `_agenerate` converts the answer in a worker thread; ChatKimi
converts it on the loop, with the same errors, headers and result as `invoke`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from langchain_core.outputs import ChatResult
from pydantic import BaseModel

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator

_THREADS: list[int] = []


class _Recording(ChatKimi):
    """Records the thread each answer is converted in."""

    def _create_chat_result(self, response: Any, generation_info: Any = None) -> ChatResult:
        _THREADS.append(threading.get_ident())
        return super()._create_chat_result(response, generation_info)


async def test_the_answer_is_converted_on_the_loop(emulator: Emulator) -> None:
    _THREADS.clear()
    llm = _Recording(
        base_url=emulator.base_url("moonshot"),
        backend="moonshot",
        api_key="k",
        include_response_headers=True,
    )
    message = await llm.ainvoke("What is 2+3*4?")
    assert message.content == "14"
    assert message.response_metadata["headers"]["content-type"].startswith("application/json")
    assert _THREADS == [threading.get_ident()]


async def test_async_and_sync_results_are_the_same(emulator: Emulator) -> None:
    llm = ChatKimi(base_url=emulator.base_url("moonshot"), backend="moonshot", api_key="k")
    sync = await asyncio.to_thread(llm.invoke, "What is 2+3*4?")
    done = await llm.ainvoke("What is 2+3*4?")
    assert (done.content, done.additional_kwargs.keys()) == (
        sync.content,
        sync.additional_kwargs.keys(),
    )
    assert done.usage_metadata == sync.usage_metadata
    assert done.response_metadata.keys() == sync.response_metadata.keys()


class _Overflow(BaseHTTPRequestHandler):
    """Answers every POST as a server whose context window was exceeded."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps({"error": {"message": "context_length_exceeded: too long"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_errors_are_langchain_openais_on_both_paths() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Overflow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        llm = ChatKimi(
            base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1",
            backend="vllm",
            api_key="k",
            max_retries=0,
            discover_capabilities=False,
        )
        errors = []
        for call in (lambda: llm.invoke("hi"), lambda: asyncio.run(llm.ainvoke("hi"))):
            with pytest.raises(openai.BadRequestError) as caught:
                call()
            errors.append(caught.value)
    finally:
        httpd.shutdown()
        httpd.server_close()
    sync_err, async_err = errors
    assert type(async_err) is type(sync_err)
    assert type(async_err).__name__ == "OpenAIContextOverflowError"
    assert str(async_err) == str(sync_err)


async def test_structured_output_still_works(emulator: Emulator) -> None:
    class Answer(BaseModel):
        value: int

    llm = ChatKimi(base_url=emulator.base_url("vllm"), backend="vllm", api_key="k")
    out = await llm.with_structured_output(Answer).ainvoke("What is 2+3*4? Answer as JSON.")
    assert isinstance(out, Answer)
