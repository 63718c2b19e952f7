"""`kimi-graph serve`: OpenAI-shaped errors, auth, limits, timeouts, threads, disconnects."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator, EmulatorConfig
from tests.integration_tests.serve_helpers import served, sse_events, wait_for

USER = [{"role": "user", "content": "hi"}]


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "code"} <= set(body["error"])
    return body["error"]


@pytest.fixture(scope="module")
def plain(emulator: Emulator):
    with served(emulator) as srv:
        yield srv


def test_bad_requests_are_400_naming_the_endpoint(plain) -> None:
    url = f"{plain.base_url}/chat/completions"
    cases = [
        (b"{not json", "not valid JSON"),
        (json.dumps({"model": "kimi-instant"}).encode(), "messages"),
        (json.dumps({"model": "kimi-instant", "messages": []}).encode(), "messages"),
        (json.dumps({"model": "kimi-instant", "messages": [{"role": "robot"}]}).encode(), "role"),
        (json.dumps({"model": "kimi-instant", "messages": USER, "n": 3}).encode(), "n must be 1"),
        (
            json.dumps({"model": "kimi-instant", "messages": USER, "max_tokens": 0}).encode(),
            "max_tokens",
        ),
    ]
    for raw, words in cases:
        response = httpx.post(url, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, raw
        error = _error(response)
        assert words in error["message"] and "/v1/chat/completions" in error["message"]
        assert error["type"] == "invalid_request_error"


def test_request_tools_are_refused_for_agent_and_swarm(plain) -> None:
    client = OpenAI(base_url=plain.base_url, api_key="x", max_retries=0)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    for model in ("kimi-agent", "kimi-swarm"):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=model, messages=USER, tools=[tool])
        assert info.value.code == "tools_not_supported"
        assert "not merged" in info.value.message


def test_unknown_model_and_route_are_404(plain) -> None:
    client = OpenAI(base_url=plain.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert info.value.code == "model_not_found"
    assert "kimi-swarm" in info.value.message
    response = httpx.get(f"{plain.url}/v1/nothing")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_bearer_auth(emulator: Emulator) -> None:
    with served(emulator, api_key="s3cret-server-key") as srv:
        bad = OpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="kimi-instant", messages=USER)
        assert info.value.code == "invalid_api_key"
        assert "s3cret" not in info.value.message and "wrong" not in info.value.message
        assert httpx.get(f"{srv.base_url}/models").status_code == 401
        good = OpenAI(base_url=srv.base_url, api_key="s3cret-server-key", max_retries=0)
        assert good.chat.completions.create(model="kimi-instant", messages=USER).choices


def test_body_over_the_limit_is_413(emulator: Emulator) -> None:
    with served(emulator, max_body_bytes=2000) as srv:
        big = [{"role": "user", "content": "x" * 5000}]
        url = f"{srv.base_url}/chat/completions"
        response = httpx.post(url, json={"model": "kimi-instant", "messages": big})
        assert response.status_code == 413
        assert _error(response)["code"] == "request_too_large"

        def chunked():  # no content-length: counted while reading
            yield json.dumps({"model": "kimi-instant", "messages": big}).encode()

        json_type = {"content-type": "application/json"}
        response = httpx.post(url, content=chunked(), headers=json_type)
        assert response.status_code == 413
        ok = httpx.post(url, json={"model": "kimi-instant", "messages": USER})
        assert ok.status_code == 200


def test_upstream_429_is_passed_on(plain, emulator: Emulator) -> None:
    client = OpenAI(base_url=plain.base_url, api_key="x", max_retries=0)
    emulator.reset_faults()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model="kimi-thinking", messages=[{"role": "user", "content": "a [[fault 429]]"}]
        )
    assert "rate limiting" in info.value.message and "kimi-thinking" in info.value.message
    # A stream fails before its first chunk: the status is the upstream's too.
    body = {
        "model": "kimi-swarm",
        "messages": [{"role": "user", "content": "b [[fault 429]]"}],
        "stream": True,
    }
    response = httpx.post(f"{plain.base_url}/chat/completions", json=body)
    assert response.status_code == 429
    assert _error(response)["type"] == "rate_limit_error"


def test_timeout_is_504(emulator: Emulator) -> None:
    with served(emulator, timeout=0.3) as srv:
        url = f"{srv.base_url}/chat/completions"
        hang = [{"role": "user", "content": "slow [[fault hang 20]]"}]
        response = httpx.post(url, json={"model": "kimi-instant", "messages": hang}, timeout=30)
        assert response.status_code == 504
        assert "timeout" in _error(response)["message"]
        response = httpx.post(
            url, json={"model": "kimi-thinking", "messages": hang, "stream": True}, timeout=30
        )
        assert response.status_code == 504
        assert srv.app.state.kimi.runs.active == 0


def test_threads_continue_a_conversation(emulator: Emulator, tmp_path: Path) -> None:
    with served(emulator, checkpoint=str(tmp_path / "threads.sqlite")) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        first = client.chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "What is 2+3*4?"}],
            extra_headers={"X-Thread-Id": "thread-a"},
        )
        assert first.choices[0].message.content == "14"
        mark = len(emulator.requests)
        second = client.chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "What is 5*5?"}],
            extra_body={"thread_id": "thread-a"},
        )
        assert second.choices[0].message.content == "25"
        (record,) = emulator.requests[mark:]
        sent = [(m["role"], m.get("content")) for m in record.body["messages"]]
        assert sent == [
            ("user", "What is 2+3*4?"),
            ("assistant", "14"),
            ("user", "What is 5*5?"),
        ]
        # Another thread starts empty.
        mark = len(emulator.requests)
        client.chat.completions.create(
            model="kimi-thinking",
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"X-Thread-Id": "thread-b"},
        )
        assert len(emulator.requests[mark].body["messages"]) == 1


def test_threads_need_a_checkpoint(plain) -> None:
    client = OpenAI(base_url=plain.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="kimi-instant", messages=USER, extra_body={"thread_id": "t"}
        )
    assert "--checkpoint" in info.value.message


def test_disconnect_cancels_the_swarm(emulator: Emulator) -> None:
    """Sub-agents hang on a slow worker; the client leaves: all is cancelled, no synthesis."""
    with Emulator(EmulatorConfig(latency=60.0)) as slow_worker:
        with served(emulator, worker_base_urls=[slow_worker.base_url("moonshot")]) as srv:
            mark = len(emulator.requests)
            body = {
                "model": "kimi-swarm",
                "messages": [{"role": "user", "content": "Work:\n- a: one\n- b: two\n- c: three"}],
                "stream": True,
            }
            starts = 0
            with httpx.stream(
                "POST", f"{srv.base_url}/chat/completions", json=body, timeout=30
            ) as response:
                for line in response.iter_lines():
                    if '"event": "start"' in line:
                        starts += 1
                    if starts == 3:
                        # A sub-agent's "start" event comes before its request leaves:
                        # leave only once all three hang on the worker.
                        wait_for(lambda: len(slow_worker.requests) == 3, "the sub-agents' requests")
                        break  # leaving the block closes the connection
            assert starts == 3
            runs = srv.app.state.kimi.runs
            wait_for(lambda: runs.active == 0, "the run to unwind")
            assert runs.cancelled >= 1
            wait_for(
                lambda: all(r.finished is not None for r in slow_worker.requests),
                "the worker to see its requests closed",
            )
            assert [r.status for r in slow_worker.requests] == [0, 0, 0]  # never answered
            # Only the orchestrator reached the dispatcher: no synthesis afterwards.
            assert len(emulator.requests[mark:]) == 1


def test_disconnect_cancels_a_non_streamed_run(emulator: Emulator) -> None:
    with served(emulator) as srv:
        mark = len(emulator.requests)
        body = {
            "model": "kimi-instant",
            "messages": [{"role": "user", "content": "[[fault hang 60]]"}],
        }
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{srv.base_url}/chat/completions", json=body, timeout=0.5)
        runs = srv.app.state.kimi.runs
        wait_for(lambda: runs.active == 0, "the run to be cancelled")
        wait_for(lambda: emulator.requests[mark].finished is not None, "the upstream call closed")
        assert emulator.requests[mark].status == 0


def test_stream_error_after_the_first_chunk_is_an_error_event(emulator: Emulator) -> None:
    """The orchestrator streams its plan, then the sub-agents hang past the timeout."""
    with Emulator(EmulatorConfig(latency=30.0)) as slow:
        with served(emulator, timeout=1.0, worker_base_urls=[slow.base_url()]) as srv:
            body = {
                "model": "kimi-swarm",
                "messages": [{"role": "user", "content": "Work:\n- a: one\n- b: two"}],
                "stream": True,
            }
            url = f"{srv.base_url}/chat/completions"
            with httpx.stream("POST", url, json=body, timeout=30) as response:
                assert response.status_code == 200
                events = sse_events(response)
            assert events[-1] == "[DONE]"
            error = json.loads(events[-2])["error"]
            assert error["code"] == "timeout" and "kimi-swarm" in error["message"]
            with pytest.raises(openai.APIError, match="timeout"):
                client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
                for _ in client.chat.completions.create(**body):
                    pass
