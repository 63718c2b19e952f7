"""Shared rate limits: concurrent calls to one endpoint back off together on 429.

The emulator's `max_in_flight` mode serves K requests at once and answers 429 +
`Retry-After` beyond, like Moonshot's per-account concurrency limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import openai
import pytest

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph._transport.ratelimit import limiter_for
from kimi_graph.emulator import Emulator, EmulatorConfig

LIMIT = 5


@pytest.fixture
def limited() -> Iterator[Emulator]:
    """An emulator that serves 5 requests at once (150 ms each), 429 beyond."""
    config = EmulatorConfig(latency=0.15, max_in_flight=LIMIT, retry_after=0.3)
    with Emulator(config) as emu:
        yield emu


def _admitted_peak(emulator: Emulator) -> int:
    """The most requests the server answered (not refused) at once."""
    served = [r for r in emulator.requests if r.status != 429]
    events = sorted([(r.started, 1) for r in served] + [(r.finished, -1) for r in served])
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak


def _throttled(emulator: Emulator) -> int:
    return sum(r.status == 429 for r in emulator.requests)


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
async def test_swarm_of_30_against_5_at_a_time_ends_30_of_30(limited, run) -> None:
    llm = ChatKimi(base_url=limited.base_url("vllm"), api_key=f"key-{run}", max_retries=0)
    tasks = "\n".join(f"- question {i} {run}" for i in range(30))
    graph = create_swarm_graph(llm, [], max_concurrency=30)
    inputs = {"messages": [("user", f"Do:\n{tasks}")]}
    out = await graph.ainvoke(inputs) if run == "ainvoke" else graph.invoke(inputs)
    records = out["subagent_results"]
    assert len(records) == 30
    assert [r["status"] for r in records] == ["ok"] * 30, [r["error"] for r in records]
    throttled = _throttled(limited)
    # The server held 5; the first burst meets the limit once, then the shared window
    # keeps the 429s to a handful of probes (no request was refused for good).
    assert _admitted_peak(limited) <= LIMIT
    assert throttled <= 30 + 10
    answered = [r for r in limited.requests if r.status == 200]
    assert len(answered) == 30 + 2  # sub-agents + orchestrator + synthesis
    stats = limiter_for(llm.endpoint, f"Bearer key-{run}").stats
    assert stats.throttled == throttled  # every 429 was absorbed by the limiter
    assert stats.requests == len(limited.requests)


def test_direct_calls_share_the_window_across_instances_sync_and_async(limited) -> None:
    base = limited.base_url("moonshot")
    models = [ChatKimi(base_url=base, api_key="shared", max_retries=0) for _ in range(3)]
    outputs: list[str] = []
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            outputs.append(models[i % 3].invoke(f"sync {i}", thinking=False).text)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    async def acalls() -> list[str]:
        answers = await asyncio.gather(
            *(models[i % 3].ainvoke(f"async {i}", thinking=False) for i in range(12))
        )
        return [a.text for a in answers]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    async_answers = asyncio.run(acalls())
    for t in threads:
        t.join(60)
    assert not errors
    assert len(outputs) == 12 and all(outputs)
    assert len(async_answers) == 12 and all(async_answers)
    assert _admitted_peak(limited) <= LIMIT
    limiter = limiter_for(models[0].endpoint, "Bearer shared")
    assert limiter.stats.throttled == _throttled(limited)
    assert limiter.window is not None and limiter.window <= LIMIT + 2
    assert limiter.in_flight == 0


def test_a_known_limit_sends_no_429(limited) -> None:
    llm = ChatKimi(
        base_url=limited.base_url("vllm"), api_key="k", max_retries=0, max_concurrent_requests=5
    )

    async def many() -> None:
        await asyncio.gather(*(llm.ainvoke(f"q {i}", thinking=False) for i in range(20)))

    asyncio.run(many())
    assert _throttled(limited) == 0
    assert _admitted_peak(limited) == LIMIT


def test_backoff_off_passes_429_to_the_caller(limited) -> None:
    llm = ChatKimi(
        base_url=limited.base_url("vllm"), api_key="k", max_retries=0, rate_limit_backoff=False
    )

    async def many() -> list[object]:
        calls = (llm.ainvoke(f"q {i}", thinking=False) for i in range(12))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(many())
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert refused and len(refused) == _throttled(limited)
    assert "max concurrency: 5" in str(refused[0])


def test_a_request_gives_up_after_max_wait(kimi) -> None:
    llm = kimi("vllm", rate_limit_max_wait=0.5)
    with pytest.raises(openai.RateLimitError):
        llm.invoke("always throttled [[fault 429]]", thinking=False)
    limiter = limiter_for(llm.endpoint, "Bearer test-key")
    assert limiter.in_flight == 0


def test_429_does_not_count_against_max_retries(kimi, emulator) -> None:
    emulator.reset_faults()
    mark = len(emulator.requests)
    answer = kimi("vllm", max_retries=0).invoke("twice refused [[fault 429 x2]]", thinking=False)
    assert answer.text
    assert [r.status for r in emulator.requests[mark:]] == [429, 429, 200]
