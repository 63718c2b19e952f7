"""Keys and credentials: where the environment's key may go, and `user:pass@` in a URL.

A loopback `http.server` plays the endpoint and records every request's headers.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumps

from kimi_graph import ChatKimi
from kimi_graph._transport.urls import is_kimi_api_url
from kimi_graph.context import KimiContext
from kimi_graph.modes._model import ModelSource

PASSWORD = "pa55-W0RD-secret"
ENV_KEY = "sk-env-key-never-leaves"

COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "kimi-k2.5",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps(COMPLETION).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


class _Serialized(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        self.seen.append(json.dumps(serialized, default=str))


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_credentials_in_base_url_become_a_header_and_show_nowhere(
    endpoint: tuple[str, list[dict[str, str]]], caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    hostport, seen = endpoint
    model = ChatKimi(base_url=f"http://alice:{PASSWORD}@{hostport}/v1", api_key="k", max_retries=0)
    handler = _Serialized()
    with caplog.at_level(logging.DEBUG):
        if mode == "invoke":
            answer = model.invoke("hello", config={"callbacks": [handler]})
        else:
            answer = await model.ainvoke("hello", config={"callbacks": [handler]})
    assert answer.content == "hi"
    # sent as the URL asked: HTTP basic auth on that endpoint
    import base64

    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert seen[-1]["authorization"] == expected
    assert model.openai_api_base == f"http://{hostport}/v1"
    shown = {
        "repr": repr(model),
        "str": str(model),
        "model_dump": str(model.model_dump()),
        "dumps": dumps(model),
        "serialized": " ".join(handler.seen),
        "log": caplog.text,
    }
    assert handler.seen and f"{hostport}" in caplog.text  # the sinks were exercised
    for where, text in shown.items():
        assert PASSWORD not in text, where
        assert "alice" not in text, where


def test_credentials_are_not_in_the_sdk_exception(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = ChatKimi(base_url=f"http://bob:{PASSWORD}@127.0.0.1:{port}/v1", max_retries=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as info:
        model.invoke("hello")
    chain: list[str] = []
    error: BaseException | None = info.value
    while error is not None:
        chain += [str(error), repr(error), str(getattr(error, "request", ""))]
        error = error.__cause__ or error.__context__
    assert any(str(port) in text for text in chain)
    assert PASSWORD not in " ".join(chain) + caplog.text


def test_derived_models_keep_the_credentials_for_the_same_origin(
    endpoint: tuple[str, list[dict[str, str]]],
) -> None:
    hostport, seen = endpoint
    model = ChatKimi(base_url=f"http://alice:{PASSWORD}@{hostport}/v1", api_key="k")
    source = ModelSource(model)
    derived = source.get(KimiContext(model="kimi-k2-turbo-preview"))
    assert derived.invoke("x").content == "hi"
    assert seen[-1]["authorization"].startswith("Basic ")
    assert PASSWORD not in repr(derived)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.moonshot.ai/v1", True),
        ("https://api.moonshot.cn/v1", True),
        ("https://API.Moonshot.ai:443/v1", True),
        ("http://api.moonshot.ai/v1", False),
        ("https://api.moonshot.ai:8080/v1", False),
        ("http://api.moonshot.ai:8080/v1", False),
        ("https://evil.moonshot.ai/v1", False),
        ("https://platform.moonshot.cn/v1", False),
        ("https://www.kimi.com/v1", False),
        ("https://api.kimi.com/v1", False),
        ("https://api.moonshot.ai.evil.example/v1", False),
        ("https://u:p@api.moonshot.ai/v1", False),
        ("https://api.moonshot.ai:notaport/v1", False),
    ],
)
def test_the_environment_key_goes_only_to_the_exact_api(
    monkeypatch: pytest.MonkeyPatch, url: str, allowed: bool
) -> None:
    assert is_kimi_api_url(url) is allowed
    monkeypatch.setenv("MOONSHOT_API_KEY", ENV_KEY)
    monkeypatch.delenv("KIMI_BASE_URL", raising=False)
    if url.endswith(":notaport/v1") or "@" in url:
        return  # not a model's URL, or one whose credentials replace the key (tested above)
    for base in (None, ChatKimi(api_key=ENV_KEY)):  # from the environment, or derived
        built = ModelSource(base).get(KimiContext(base_url=url))
        assert isinstance(built, ChatKimi)
        key = built.openai_api_key.get_secret_value() if built.openai_api_key else None
        assert (key == ENV_KEY) is allowed, (url, base)


def test_a_run_setting_cannot_send_the_key_over_http_to_a_look_alike(
    endpoint: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostport, seen = endpoint
    monkeypatch.setenv("MOONSHOT_API_KEY", ENV_KEY)
    monkeypatch.delenv("KIMI_BASE_URL", raising=False)
    model = ModelSource(None).get(KimiContext(base_url=f"http://{hostport}/v1"))
    model.invoke("hello")
    assert seen and ENV_KEY not in json.dumps(seen)
    assert seen[-1]["authorization"] == "Bearer EMPTY"
