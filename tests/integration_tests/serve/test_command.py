"""`kimi-graph serve` as a real subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from openai import OpenAI

from kimi_graph.cli._parser import build_parser


def test_serve_subcommand_is_registered() -> None:
    args = build_parser().parse_args(
        ["serve", "--port", "0", "--worker-url", "http://a/v1", "--worker-url", "http://b/v1"]
    )
    assert args.worker_url == ["http://a/v1", "http://b/v1"]
    assert args.tools == "default" and args.host == "127.0.0.1"


@pytest.mark.slow
def test_serve_command_answers_openai_clients() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kimi_graph.cli",
            "serve",
            "--emulator",
            "--port",
            "0",
            "--tools",
            "none",
            "--api-key",
            "local-key",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("kimi-graph serve listening on http://127.0.0.1:"), first
        base_url = first.split()[-1]
        client = OpenAI(base_url=base_url, api_key="local-key", max_retries=0, timeout=30)
        reply = client.chat.completions.create(
            model="kimi-instant", messages=[{"role": "user", "content": "What is 6*7?"}]
        )
        assert reply.choices[0].message.content == "42"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), err  # 130: the CLI's "interrupted"
    assert "local-key" not in err
