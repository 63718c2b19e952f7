"""The `kimi-graph` command: run a mode in the terminal, the offline demo, the emulator.

```
kimi-graph run --mode swarm "task"      # stream a run against KIMI_BASE_URL / Moonshot
kimi-graph run --emulator --mode agent "task"   # the same, offline
kimi-graph demo                          # all four modes on the bundled emulator
kimi-graph emulate --port 8000           # serve the K2.5 emulator
kimi-graph serve --port 8080             # the four modes as an OpenAI-compatible endpoint
```

Errors (no endpoint or key, HTTP errors, a server that cannot be reached) end in one
line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.tools import tool

from kimi_graph._urls import redact_url
from kimi_graph._version import __version__
from kimi_graph.arithmetic import evaluate
from kimi_graph.chat_models import ChatKimi
from kimi_graph.cli_render import StreamRenderer
from kimi_graph.config import ConfigError, model_from_env, validation_reason

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from kimi_graph.emulator import Emulator

MODES = ("instant", "thinking", "agent", "swarm")


#: Emulator latency for `run --emulator` and `demo`: enough to see the stream.
DEMO_LATENCY = 0.05
DEMO_TOKEN_DELAY = 0.005


class CLIError(Exception):
    """An error shown to the user as one line, without a traceback."""


# ---------------------------------------------------------------------- models


def _start_emulator(dialect: str) -> Emulator:
    from kimi_graph.emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        default_dialect=dialect, latency=DEMO_LATENCY, token_delay=DEMO_TOKEN_DELAY
    )
    return Emulator(config).start()


def _emulator_model(emu: Emulator, dialect: str, **kwargs: Any) -> ChatKimi:
    from kimi_graph.emulator import BACKEND_OF_DIALECT

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return ChatKimi(
        base_url=emu.base_url(dialect),
        api_key="emulator",
        backend=BACKEND_OF_DIALECT[dialect],
        max_retries=0,
        **kwargs,
    )


# ---------------------------------------------------------------------- demo tools


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. `17 * 23 + 4`.

    Supports + - * / // % ** and parentheses on integers and decimals.

    Args:
        expression: The arithmetic expression.
    """
    try:
        return str(evaluate(expression))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as err:
        return f"Error: cannot evaluate {expression!r}: {err}"


def demo_tools() -> list[Any]:
    """The demo's tools: `calculator` and the `run_python` sandbox (no network needed)."""
    from kimi_graph.tools import run_python

    return [calculator, run_python]


# ---------------------------------------------------------------------- running


def stream_graph(
    graph: CompiledStateGraph, task: str, renderer: StreamRenderer, *, show_task: bool = True
) -> str:
    """Stream one run of `graph` on `task` through `renderer`; return the final answer."""
    if show_task:
        renderer.user(task)
    events = graph.stream(
        {"messages": [("user", task)]},
        stream_mode=["messages", "updates", "custom"],
        subgraphs=True,
    )
    for event in events:
        renderer.handle(event)
    return renderer.finish()


def build_graph(mode: str, model: Any, tools: list[Any] | None) -> CompiledStateGraph:
    """Build the graph of `mode`; agent and swarm get `tools`."""
    from kimi_graph.modes import create_graph

    return create_graph(mode, model=model, tools=tools if mode in ("agent", "swarm") else None)


def _cmd_run(args: argparse.Namespace) -> int:
    task = " ".join(args.task).strip()
    if task == "-":
        task = sys.stdin.read().strip()
    if not task:
        msg = 'no task given: kimi-graph run --mode MODE "your task"'
        raise CLIError(msg)
    emu = _start_emulator(args.dialect) if args.emulator else None
    try:
        extra = {"model": args.model} if args.model else {}
        if emu is not None:
            model = _emulator_model(emu, args.dialect, **extra)
        else:
            model = model_from_env(**extra)
        tools = None
        if args.mode in ("agent", "swarm"):
            from kimi_graph.tools import default_tools

            tools = default_tools()
        graph = build_graph(args.mode, model, tools)
        renderer = StreamRenderer(sys.stdout, color=False if args.no_color else None)
        stream_graph(graph, task, renderer)
    finally:
        if emu is not None:
            emu.stop()
    return 0


DEMO_STEPS: tuple[tuple[str, str, str], ...] = (
    (
        "instant",
        "thinking off: one model call, the answer only",
        "In one sentence, what is LangGraph?",
    ),
    (
        "thinking",
        "the same weights with thinking on: reasoning (dimmed), then the answer",
        "What is 2+3*4?",
    ),
    (
        "agent",
        "a ReAct loop (model <-> tools) with two local tools: calculator and run_python",
        'Use the calculator on "17 * 23" and check the result with run_python:\n'
        "```python\nprint(17 * 23)\n```",
    ),
    (
        "swarm",
        "an orchestrator fans the list out to parallel sub-agents (LangGraph Send), "
        "then a synthesis step answers",
        "Compare Rust and Go for writing a command-line tool. Work on these in parallel:\n"
        "- Rust expert: binary size and compile times of Rust CLIs\n"
        "- Go expert: cross-compilation and static binaries in Go\n"
        '- analyst: use the calculator on "3 * 4 * 2" to count the release builds for '
        "3 operating systems, 4 CPU types and 2 C libraries\n"
        "- reviewer: common pitfalls when shipping a CLI to many platforms",
    ),
)


def _cmd_demo(args: argparse.Namespace) -> int:
    renderer_color = False if args.no_color else None
    base_url = os.environ.get("KIMI_BASE_URL")
    emu = None if base_url else _start_emulator("moonshot")
    try:
        if emu is not None:
            model = _emulator_model(emu, "moonshot")
            where = f"the bundled K2.5 emulator ({emu.base_url('moonshot')}, Moonshot dialect)"
        else:
            model = model_from_env()
            where = f"{redact_url(base_url)} (KIMI_BASE_URL)"
        intro = StreamRenderer(sys.stdout, color=renderer_color)
        intro.line(f"kimi-graph {__version__} demo: Kimi K2.5's four modes as LangGraph graphs")
        intro.note(f"model endpoint: {where}")
        for index, (mode, about, task) in enumerate(DEMO_STEPS, start=1):
            renderer = StreamRenderer(sys.stdout, color=renderer_color)
            renderer.heading(f"{index}/{len(DEMO_STEPS)} {mode} mode")
            renderer.note(about)
            tools = demo_tools() if mode in ("agent", "swarm") else None
            stream_graph(build_graph(mode, model, tools), task, renderer)
        print()
        print('Next: `kimi-graph run --emulator --mode swarm "..."`, or set KIMI_BASE_URL and')
        print("MOONSHOT_API_KEY and drop --emulator. Library usage: README.md.")
    finally:
        if emu is not None:
            emu.stop()
    return 0


def _cmd_emulate(args: argparse.Namespace) -> int:
    from kimi_graph.emulator import BACKEND_OF_DIALECT, DIALECTS, EmulatorConfig, serve

    try:
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            default_dialect=args.dialect,
            latency=args.latency,
            token_delay=args.token_delay,
            error_rate=args.error_rate,
        )
    except ValueError as err:
        raise CLIError(str(err)) from None

    def ready(url: str) -> None:
        print(f"Kimi K2.5 emulator listening on {url}", flush=True)
        print(f"  {'default (' + args.dialect + ')':<20} {url}/v1")
        for dialect in DIALECTS:
            print(f"  {dialect:<20} {url}/{dialect}/v1")
        backend = BACKEND_OF_DIALECT[args.dialect]
        print(f"Use it: export KIMI_BASE_URL={url}/{args.dialect}/v1 KIMI_BACKEND={backend}")
        print("Press Ctrl-C to stop.", flush=True)

    try:
        serve(config, on_ready=ready)
    except OSError as err:
        msg = f"cannot serve on {args.host}:{args.port}: {err.strerror or err}"
        raise CLIError(msg) from None
    return 0


# ---------------------------------------------------------------------- arguments


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        msg = f"must be >= 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `kimi-graph`."""
    from kimi_graph.emulator import DIALECTS

    parser = argparse.ArgumentParser(
        prog="kimi-graph",
        description="Kimi K2.5 in four modes (instant, thinking, agent, swarm) as LangGraph "
        "graphs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run one mode on a task and stream it in the terminal",
        description="Run one mode on a task, streaming reasoning, tool calls, sub-agent "
        "progress and the answer. The endpoint comes from KIMI_BASE_URL, "
        "MOONSHOT_API_KEY/KIMI_API_KEY and KIMI_BACKEND, or --emulator.",
    )
    run.add_argument("--mode", "-m", choices=MODES, default="thinking", help="default: thinking")
    run.add_argument("task", nargs="+", help='the task (quote it); "-" reads it from stdin')
    run.add_argument("--model", help="model id (default: kimi-k2.5)")
    run.add_argument(
        "--emulator", action="store_true", help="run on an in-process K2.5 emulator (offline)"
    )
    run.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="moonshot",
        help="server dialect the emulator speaks (with --emulator; default: moonshot)",
    )
    run.add_argument("--no-color", action="store_true", help="no ANSI styles (also NO_COLOR)")
    run.set_defaults(handler=_cmd_run)

    demo = commands.add_parser(
        "demo",
        help="run all four modes offline on the bundled emulator",
        description="Run instant, thinking, agent and swarm mode on the bundled emulator "
        "(or on KIMI_BASE_URL when it is set).",
    )
    demo.add_argument("--no-color", action="store_true", help="no ANSI styles (also NO_COLOR)")
    demo.set_defaults(handler=_cmd_demo)

    emulate = commands.add_parser(
        "emulate",
        help="serve the K2.5 emulator over HTTP",
        description="Serve the K2.5 emulator (docs/emulator.md) until Ctrl-C.",
    )
    emulate.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    emulate.add_argument("--port", type=int, default=8000, help="default: 8000 (0: any free)")
    emulate.add_argument(
        "--dialect", choices=DIALECTS, default="moonshot", help="dialect of the bare /v1 routes"
    )
    emulate.add_argument(
        "--latency", type=_non_negative, default=0.0, help="seconds before each response"
    )
    emulate.add_argument(
        "--token-delay", type=_non_negative, default=0.0, help="seconds between streamed chunks"
    )
    emulate.add_argument(
        "--error-rate",
        type=_non_negative,
        default=0.0,
        help="probability (0-1) that a request fails with 429 or 500",
    )
    emulate.set_defaults(handler=_cmd_emulate)

    from kimi_graph.serve.command import add_serve_command

    add_serve_command(commands)
    return parser


# ---------------------------------------------------------------------- errors


def describe_error(err: BaseException) -> str:
    """One line saying what went wrong, for the user."""
    import openai

    if isinstance(err, openai.APIStatusError):
        body = err.body
        detail = None
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            detail = inner.get("message")
        url = redact_url(err.request.url) if err.request is not None else "the server"
        return f"{url} answered HTTP {err.status_code}: {detail or err.message}"
    if isinstance(err, openai.APITimeoutError):
        return f"the request to {redact_url(err.request.url)} timed out"
    if isinstance(err, openai.APIConnectionError):
        reason = f" ({root_cause(err)})" if err.__cause__ or err.__context__ else ""
        return (
            f"cannot reach {redact_url(err.request.url)}{reason}. Is the server running? "
            "Check KIMI_BASE_URL, or use --emulator."
        )
    if isinstance(err, (CLIError, ConfigError)):
        return str(err)
    if isinstance(err, ValueError):
        return validation_reason(err)
    return f"{type(err).__name__}: {err}"


def root_cause(err: BaseException) -> str:
    """The innermost cause of an exception, clipped to one short line."""
    seen: set[int] = set()
    reason = ""
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = " ".join(str(current).split()) or reason or type(current).__name__
        current = current.__cause__ or current.__context__
    return reason if len(reason) <= 160 else reason[:157] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Run `kimi-graph`; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("\nkimi-graph: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kimi-graph demo | head`): stop quietly, and keep the
        # interpreter from complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as err:
        if args.debug:
            raise
        sys.stdout.flush()
        print(f"kimi-graph: error: {describe_error(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
