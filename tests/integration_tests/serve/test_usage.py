"""Usage that tells the truth (issue 17.4): reasoning tokens as reported, never a made-up 0."""

from __future__ import annotations

import httpx
from openai import OpenAI

from kimi_graph.emulator import Emulator
from tests.integration_tests.serve_helpers import served


def _reported(emulator: Emulator, records: list) -> int:
    """The reasoning tokens the emulator reports for the recorded requests (replayed)."""
    total = 0
    with httpx.Client(timeout=30) as client:
        for record in records:
            body = {**record.body, "stream": False}
            body.pop("stream_options", None)
            usage = client.post(f"{emulator.url}{record.path}", json=body).json()["usage"]
            total += usage["completion_tokens_details"]["reasoning_tokens"]
    return total


def test_reasoning_tokens_are_the_upstreams_count(emulator: Emulator) -> None:
    """Moonshot reports `reasoning_tokens`: the sum over the run's calls is passed on."""
    with served(emulator, "moonshot") as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        mark = len(emulator.requests)
        reply = client.chat.completions.create(
            model="kimi-agent",
            messages=[{"role": "user", "content": 'Use the calculator on "17 * 23"'}],
        )
        records = emulator.requests[mark:]
        assert len(records) == 2
        expected = _reported(emulator, records)
        assert expected > 0
        details = reply.usage.completion_tokens_details
        assert details is not None and details.reasoning_tokens == expected
        # Streamed: the same count in the usage chunk.
        mark = len(emulator.requests)
        chunks = list(
            client.chat.completions.create(
                model="kimi-thinking",
                messages=[{"role": "user", "content": "What is 2+3*4?"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        usage = chunks[-1].usage
        assert usage is not None and usage.completion_tokens_details is not None
        expected = _reported(emulator, emulator.requests[mark:])
        assert usage.completion_tokens_details.reasoning_tokens == expected > 0


def test_no_reasoning_tokens_field_when_the_upstream_reports_none(emulator: Emulator) -> None:
    """vLLM reports no reasoning count: the field is absent, not 0."""
    with served(emulator, "vllm") as srv:
        reply = httpx.post(
            f"{srv.base_url}/chat/completions",
            json={"model": "kimi-thinking", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        ).json()
        assert reply["choices"][0]["message"]["reasoning_content"]
        assert "completion_tokens_details" not in reply["usage"]
        assert "prompt_tokens_details" not in reply["usage"]
        assert reply["usage"]["completion_tokens"] > 0


def test_always_include_usage_ends_every_stream_with_usage(emulator: Emulator) -> None:
    body = {
        "model": "kimi-instant",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    for always, has_usage in ((False, False), (True, True)):
        with served(emulator, always_include_usage=always) as srv:
            client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
            chunks = list(client.chat.completions.create(**body))
            assert (chunks[-1].usage is not None) is has_usage
            if has_usage:
                assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
