"""One `asyncio.run(...)` per call (notebooks, scripts): pools are released with the loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path

import pytest

from kimi_graph import ChatKimi
from kimi_graph._transport.pools import open_pools
from kimi_graph.emulator import Emulator


def _established_to(port: int) -> int:
    """ESTABLISHED TCP connections of this host towards `port` (client side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_200_runs_leave_no_pools_or_sockets_behind(emulator: Emulator) -> None:
    base = emulator.base_url("vllm")
    before = _established_to(emulator.port)
    pools = open_pools()  # other tests' loops still open (the session loop)

    async def one(i: int) -> str:
        llm = ChatKimi(base_url=base, api_key="k", max_retries=0)
        return (await llm.ainvoke(f"run {i}", thinking=False)).text

    for i in range(200):
        assert asyncio.run(one(i))
    gc.collect()
    assert open_pools() == pools
    assert _established_to(emulator.port) <= before + 2


def test_a_shared_model_across_150_loops_logs_no_closed_loop(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = ChatKimi(base_url=emulator.base_url("moonshot"), api_key="k", max_retries=0)
    pools = open_pools()
    unraisable: list[str] = []
    monkeypatch.setattr(
        sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")
    )
    caplog.set_level(logging.DEBUG)

    async def one(i: int) -> None:
        await llm.ainvoke(f"loop {i}", thinking=False)
        async for _ in llm.astream(f"stream {i}", thinking=False):
            pass

    for i in range(150):
        asyncio.run(one(i))
    gc.collect()
    logged = [r.getMessage() for r in caplog.records if "Event loop is closed" in r.getMessage()]
    assert not logged
    assert not [u for u in unraisable if "Event loop is closed" in u]
    assert open_pools() == pools


def test_a_loop_closed_without_shutdown_is_swept(emulator: Emulator) -> None:
    llm = ChatKimi(base_url=emulator.base_url("vllm"), api_key="k", max_retries=0)
    pools = open_pools()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(llm.ainvoke("no runner", thinking=False))
    assert open_pools() == pools + 1
    loop.close()  # no shutdown_asyncgens: the next lookup drops its pools
    asyncio.run(llm.ainvoke("next loop", thinking=False))
    assert open_pools() == pools
