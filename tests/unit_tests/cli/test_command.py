"""The `kimi-graph` command: argument wiring, terminal rendering, error paths."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from kimi_graph.chat_models import _env as env_module
from kimi_graph.chat_models._env import ConfigError, model_from_env
from kimi_graph.cli import _parser as parser_module
from kimi_graph.cli import main
from kimi_graph.cli._parser import build_parser
from kimi_graph.cli._render import StreamRenderer, use_color
from kimi_graph.tools.calculator import calculator

ROOT = Path(__file__).resolve().parents[3]
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND")


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS and k != "NO_COLOR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------- arguments


def test_run_arguments() -> None:
    args = build_parser().parse_args(["run", "--mode", "swarm", "compare", "a", "and b"])
    assert args.command == "run"
    assert args.mode == "swarm"
    assert args.task == ["compare", "a", "and b"]
    assert args.emulator is False
    assert args.dialect == "moonshot"
    assert args.handler is parser_module._run


def test_run_with_emulator_arguments() -> None:
    args = build_parser().parse_args(
        ["run", "--emulator", "--dialect", "vllm", "-m", "agent", "--model", "x", "t"]
    )
    assert (args.emulator, args.dialect, args.mode, args.model) == (True, "vllm", "agent", "x")


def test_emulate_arguments_and_defaults() -> None:
    args = build_parser().parse_args(["emulate"])
    assert (args.host, args.port, args.dialect) == ("127.0.0.1", 8000, "moonshot")
    assert (args.latency, args.token_delay, args.error_rate) == (0.0, 0.0, 0.0)
    args = build_parser().parse_args(
        ["emulate", "--port", "0", "--dialect", "raw", "--latency", "0.5", "--error-rate", "0.1"]
    )
    assert (args.port, args.dialect, args.latency, args.error_rate) == (0, "raw", 0.5, 0.1)
    assert args.handler is parser_module._emulate


def test_demo_arguments() -> None:
    args = build_parser().parse_args(["demo", "--no-color"])
    assert args.handler is parser_module._demo
    assert args.no_color is True


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--mode", "nope", "task"],
        ["run", "--mode", "agent"],
        ["emulate", "--latency", "-1"],
        ["emulate", "--dialect", "klingon"],
        [],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: kimi-graph" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("kimi-graph ")


# ---------------------------------------------------------------------- errors


def test_run_without_endpoint_or_key_fails_cleanly(
    no_endpoint: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--mode", "instant", "hello"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("kimi-graph: error: ")
    assert "MOONSHOT_API_KEY" in err
    assert "--emulator" in err
    assert "Traceback" not in err


def test_run_without_endpoint_in_a_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kimi_graph.cli", "run", "--mode", "thinking", "hi"],
        env=subprocess_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "MOONSHOT_API_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_from_env_explains_what_to_set(no_endpoint: None) -> None:
    with pytest.raises(ValueError, match=r"\.env\.example") as exc:
        model_from_env()
    assert isinstance(exc.value, ConfigError)
    assert "MOONSHOT_API_KEY" in str(exc.value)


def test_unknown_backend_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIMI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("KIMI_BACKEND", "bogus")
    assert main(["run", "--mode", "instant", "hi"]) == 1
    err = capsys.readouterr().err
    assert "Unknown Kimi backend 'bogus'" in err
    assert err.count("\n") == 1


def test_connection_refused_fails_cleanly(
    no_endpoint: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIMI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setattr(
        env_module, "model_from_env", lambda **kw: model_from_env(max_retries=0, **kw)
    )
    assert main(["run", "--mode", "instant", "hi"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:" in err
    assert "Is the server running?" in err
    assert err.count("\n") == 1


def test_http_error_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--emulator", "--model", "no-such-model", "--mode", "instant", "hi"]) == 1
    err = capsys.readouterr().err
    assert "answered HTTP 404" in err
    assert "no-such-model" in err
    assert err.count("\n") == 1


def test_server_error_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--emulator", "--mode", "thinking", "hi [[fault 500]]"]) == 1
    err = capsys.readouterr().err
    assert "answered HTTP 500" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------- runs


def test_run_thinking_on_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--emulator", "--mode", "thinking", "What is 2+3*4?"]) == 0
    out = capsys.readouterr().out
    assert "> What is 2+3*4?" in out
    assert "thinking: The user asks" in out
    assert "\n14\n" in out
    assert "\033[" not in out  # not a terminal: no ANSI styles


def test_run_agent_shows_tool_calls_and_results(capsys: pytest.CaptureFixture[str]) -> None:
    task = "Check it with run_python:\n```python\nprint(6 * 7)\n```"
    assert main(["run", "--emulator", "--mode", "agent", task]) == 0
    out = capsys.readouterr().out
    assert '-> run_python({"code": "print(6 * 7)"})' in out
    assert "<- run_python: Exit status: 0" in out
    assert "Based on the tool results" in out


@pytest.mark.parametrize("dialect", ["vllm", "raw", "openrouter"])
def test_run_swarm_in_other_dialects(dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    task = "Plan a trip:\n- scout: trains to Oslo\n- budget: hotels in Oslo"
    assert main(["run", "--emulator", "--dialect", dialect, "--mode", "swarm", task]) == 0
    out = capsys.readouterr().out
    assert "[orchestrator]" in out
    assert "-> assign_task [scout] trains to Oslo" in out
    assert "sub-agents 2/2 done, 0 failed" in out
    assert "[synthesis]" in out
    assert "2 sub-agents, 0 failed" in out


def test_run_reads_the_task_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("What is 1+1?\n"))
    assert main(["run", "--emulator", "--mode", "instant", "-"]) == 0
    assert "\n2\n" in capsys.readouterr().out


# ---------------------------------------------------------------------- rendering


def test_renderer_dims_reasoning_when_colored() -> None:
    out = io.StringIO()
    renderer = StreamRenderer(out, color=True)
    meta = {"langgraph_node": "model"}
    chunk = AIMessageChunk(content="", id="m1", additional_kwargs={"reasoning_content": "hmm"})
    renderer.handle(((), "messages", (chunk, meta)))
    renderer.handle(((), "messages", (AIMessageChunk(content="42", id="m1"), meta)))
    text = out.getvalue()
    assert "\033[2mhmm\033[0m" in text
    assert text.endswith("\n42")


def test_renderer_plain_text_and_final_tail() -> None:
    out = io.StringIO()
    renderer = StreamRenderer(out, color=False)
    meta = {"langgraph_node": "synthesis"}
    renderer.handle(((), "messages", (AIMessageChunk(content="Done.", id="s"), meta)))
    final = AIMessage(content="Done.\n\nSub-agents that failed: x.", id="s")
    renderer.handle(((), "updates", {"synthesis": {"messages": [final]}}))
    assert renderer.finish() == final.content
    text = out.getvalue()
    assert "[synthesis]\nDone.\n\nSub-agents that failed: x.\n" in text
    assert "\033[" not in text


def test_renderer_progress_counts_failures() -> None:
    out = io.StringIO()
    renderer = StreamRenderer(out, color=False)
    plan = AIMessage(
        content="",
        id="o",
        tool_calls=[
            {"name": "assign_task", "args": {"role": r, "task": "t"}, "id": r, "type": "tool_call"}
            for r in ("a", "b", "c")
        ],
    )
    renderer.handle(((), "updates", {"orchestrator": {"messages": [plan]}}))
    base = {"type": "subagent", "round": 1, "worker": "w"}
    for role in ("a", "b", "c"):
        renderer.handle(((), "custom", {**base, "event": "start", "id": role, "role": role}))
    renderer.handle(((), "custom", {**base, "event": "finish", "id": "a", "role": "a"}))
    renderer.handle(
        ((), "custom", {**base, "event": "error", "id": "b", "role": "b", "error": "boom"})
    )
    renderer.handle(((), "custom", {**base, "event": "finish", "id": "c", "role": "c"}))
    # a sub-agent's own tokens are not printed (they would interleave)
    token = AIMessageChunk(content="SUBAGENT-TOKEN", id="s1")
    renderer.handle(((), "messages", (token, {"langgraph_node": "subagent"})))
    reply = ToolMessage(content="Error: boom", tool_call_id="b", name="assign_task", status="error")
    renderer.handle(((), "updates", {"subagent": {"messages": [reply]}}))
    renderer.finish()
    text = out.getvalue()
    assert "round 1: 3 sub-agents launched in parallel" in text
    assert "sub-agents 1/3 done, 0 failed, 2 running  ok a" in text
    assert "sub-agents 2/3 done, 1 failed, 1 running  FAIL b: boom" in text
    assert "[####################] sub-agents 3/3 done, 1 failed\n" in text
    assert "<- [b] failed: Error: boom" in text
    assert "3 sub-agents, 1 failed over 1 round" in text
    assert "SUBAGENT-TOKEN" not in text


def test_use_color_respects_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Terminal()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Terminal()) is False


# ---------------------------------------------------------------------- demo tools


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("17 * 23", "391"), ("(10 - 4) / 4", "1.5"), ("2^10", "1024"), ("-3 + 7 // 2", "0")],
)
def test_calculator(expression: str, expected: str) -> None:
    assert calculator.invoke({"expression": expression}) == expected


@pytest.mark.parametrize("expression", ["__import__('os')", "2 ** 1000", "1 / 0", "x + 1", ""])
def test_calculator_refuses(expression: str) -> None:
    assert calculator.invoke({"expression": expression}).startswith("Error: cannot evaluate")


# ---------------------------------------------------------------------- emulate


def test_emulate_serves_and_stops_on_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimi_graph.cli", "emulate", "--port", "0"],
        env=subprocess_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Kimi K2.5 emulator listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        lines = [proc.stdout.readline() for _ in range(9)]
        assert any(f"{url}/moonshot/v1" in line for line in lines)
        assert any(f"{url}/vllm/v1" in line for line in lines)
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, proc.stderr.read()


def test_emulate_on_a_busy_port_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["emulate", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err
