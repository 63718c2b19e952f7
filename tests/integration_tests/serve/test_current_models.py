"""`kimi-graph serve` over `kimi-k3` (issue 15, item 2): the four served modes end to end."""

from __future__ import annotations

import warnings

import openai
import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator
from tests.integration_tests.serve_helpers import served

SWARM_TASK = "Compare two languages. In parallel:\n- Rust expert: binaries\n- Go expert: builds"


def test_four_served_modes_on_k3(emulator: Emulator) -> None:
    with served(emulator, model="kimi-k3") as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # instant mode on K3: the lowest effort, warned
        client = OpenAI(base_url=srv.base_url, api_key="any", max_retries=0)
        mark = len(emulator.requests)
        for mode, prompt in [
            ("kimi-instant", "What is 2+3*4?"),
            ("kimi-thinking", "What is 2+3*4?"),
            ("kimi-agent", "What is 2+3*4?"),
            ("kimi-swarm", SWARM_TASK),
        ]:
            reply = client.chat.completions.create(
                model=mode, messages=[{"role": "user", "content": prompt}]
            )
            assert reply.choices[0].message.content, mode
        records = emulator.requests[mark:]
        assert records and all(r.status == 200 for r in records)
        assert {r.body["model"] for r in records} == {"kimi-k3"}
        assert all("thinking" not in r.body for r in records)
        assert records[0].body["reasoning_effort"] == "low"  # instant mode's request
        with pytest.raises(openai.BadRequestError, match="temperature=1"):
            client.chat.completions.create(
                model="kimi-thinking",
                messages=[{"role": "user", "content": "hi"}],
                temperature=0.5,
            )
