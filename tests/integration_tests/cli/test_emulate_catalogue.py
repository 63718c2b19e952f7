"""`kimi-graph emulate --hosted-catalogue`: Moonshot's hosted models of today, over HTTP."""

from __future__ import annotations

import signal
import subprocess

import httpx

from kimi_graph.emulator.catalogue import HOSTED_MODELS
from tests.integration_tests.cli.test_runs import CLI, ROOT, env


def test_emulate_serves_the_hosted_catalogue() -> None:
    proc = subprocess.Popen(
        [*CLI, "emulate", "--port", "0", "--hosted-catalogue"],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("Kimi K2.5 emulator listening on "), first
        url = first.split()[-1]
        listed = httpx.get(f"{url}/moonshot/v1/models", timeout=30).json()["data"]
        assert [m["id"] for m in listed] == list(HOSTED_MODELS)
        assert all("supports_thinking_type" in m for m in listed)
        retired = httpx.post(
            f"{url}/moonshot/v1/chat/completions",
            json={"model": "kimi-k2.5", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert retired.status_code == 404
        assert "Not found the model kimi-k2.5" in retired.json()["error"]["message"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
