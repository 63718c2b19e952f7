"""The `kimi-graph` command: run a mode in the terminal, the offline demo, the emulator.

```
kimi-graph run --mode swarm "task"      # stream a run against KIMI_BASE_URL / Moonshot
kimi-graph run --emulator --mode agent "task"   # the same, offline
kimi-graph run --json --emulator "task"  # JSON lines, the summary last
kimi-graph run --checkpoint runs.db --thread t1 -m swarm "task"  # durable
kimi-graph run --checkpoint runs.db --thread t1   # resume t1 after a crash
kimi-graph demo                          # all four modes on the bundled emulator
kimi-graph emulate --port 8000           # serve the K2.5 emulator
kimi-graph serve --port 8080             # the four modes as an OpenAI-compatible endpoint
```

Errors (no endpoint or key, HTTP errors, a server that cannot be reached) end in one
line on stderr and exit status 1.

The module imports only the standard library at start (`kimi-graph --help` stays fast):
LangChain, LangGraph and the server are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kimi_graph._urls import redact_url
from kimi_graph._version import __version__
from kimi_graph.emulator.config import DIALECTS

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from kimi_graph.chat_models import ChatKimi
    from kimi_graph.cli_json import JsonRenderer
    from kimi_graph.cli_render import StreamRenderer
    from kimi_graph.emulator import Emulator

__all__ = [
    "CLIError",
    "MODES",
    "build_graph",
    "build_parser",
    "describe_error",
    "main",
    "root_cause",
    "stream_graph",
]

#: Names this module used to import eagerly, still importable from it (on first use).
_LAZY = {
    "ChatKimi": "kimi_graph.chat_models",
    "ConfigError": "kimi_graph.config",
    "model_from_env": "kimi_graph.config",
    "validation_reason": "kimi_graph.config",
    "StreamRenderer": "kimi_graph.cli_render",
    "calculator": "kimi_graph.tools.calculator",
    "demo_tools": "kimi_graph.cli_tools",
}


def __getattr__(name: str) -> Any:
    import importlib

    home = _LAZY.get(name)
    if home is None:
        msg = f"module 'kimi_graph.cli' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)


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
    from kimi_graph.chat_models import ChatKimi
    from kimi_graph.emulator import BACKEND_OF_DIALECT

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return ChatKimi(
        base_url=emu.base_url(dialect),
        api_key="emulator",
        backend=BACKEND_OF_DIALECT[dialect],
        max_retries=0,
        **kwargs,
    )


# ---------------------------------------------------------------------- running


def stream_graph(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    task: str,
    renderer: StreamRenderer | JsonRenderer,
    *,
    show_task: bool = True,
    config: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    resume: bool = False,
) -> str:
    """Stream one run of `graph` through `renderer`; return the final answer.

    Args:
        graph: A mode graph.
        task: The user's task (the input unless `inputs` or `resume` is given).
        renderer: Where the events go.
        show_task: Echo the task first.
        config: The run's config (a checkpointed thread).
        inputs: The graph's input; default: the task as a user message.
        resume: Resume the thread's unfinished run (input None).
    """
    if show_task and task:
        renderer.user(task)
    payload = None if resume else (inputs or {"messages": [("user", task)]})
    events = graph.stream(
        payload,
        config,  # type: ignore[arg-type]
        stream_mode=["messages", "updates", "custom", "values"],
        subgraphs=True,
    )
    for event in events:
        renderer.handle(event)
    return renderer.finish()


def build_graph(
    mode: str, model: Any, tools: list[Any] | None, *, checkpointer: Any = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the graph of `mode`; agent and swarm get `tools`."""
    from kimi_graph.modes import create_graph

    options: dict[str, Any] = {} if checkpointer is None else {"checkpointer": checkpointer}
    return create_graph(
        mode, model=model, tools=tools if mode in ("agent", "swarm") else None, **options
    )


def _cmd_run(args: argparse.Namespace) -> int:
    task = " ".join(args.task).strip()
    if task == "-":
        task = sys.stdin.read().strip()
    if not task and not args.checkpoint:
        msg = 'no task given: kimi-graph run --mode MODE "your task"'
        raise CLIError(msg)
    if not args.checkpoint:
        return _run_once(args, task, None, None)
    from kimi_graph.cli_checkpoint import ResumeError, new_thread_id, open_checkpointer

    thread = args.thread or new_thread_id()
    try:
        with open_checkpointer(args.checkpoint) as saver:
            return _run_once(args, task, saver, thread)
    except ResumeError as err:
        raise CLIError(str(err)) from None


def _run_once(args: argparse.Namespace, task: str, saver: Any, thread: str | None) -> int:
    """One run of `kimi-graph run`: on a checkpointed thread when `saver` is given."""
    from kimi_graph import config as endpoint

    emu = _start_emulator(args.dialect) if args.emulator else None
    try:
        extra = {"model": args.model} if args.model else {}
        if emu is not None:
            model = _emulator_model(emu, args.dialect, **extra)
        else:
            model = endpoint.model_from_env(**extra)
        mode = args.mode or "thinking"
        config: dict[str, Any] | None = None
        if saver is not None:
            mode, config = _thread_config(args, saver, thread or "")
        tools = None
        if mode in ("agent", "swarm"):
            from kimi_graph.tools import default_tools

            tools = default_tools()
        graph = build_graph(mode, model, tools, checkpointer=saver)
        resume = False
        if config is not None:
            from kimi_graph.cli_checkpoint import run_input

            state = graph.get_state(config)  # type: ignore[arg-type]
            resume = run_input(state, task, thread or "", args.checkpoint) is None
        renderer = _renderer(args, thread)
        if thread is not None and not args.json:
            verb = "resuming" if resume else "thread"
            renderer.note(
                f"{verb} {thread} in {args.checkpoint} ({mode} mode); to resume after a "
                f"crash, run the same command without the task and with --thread {thread}"
            )
        stream_graph(graph, task, renderer, config=config, resume=resume)
    finally:
        if emu is not None:
            emu.stop()
    return 0


def _thread_config(args: argparse.Namespace, saver: Any, thread: str) -> tuple[str, dict[str, Any]]:
    """The mode and config of a run on a checkpointed thread (the mode it ran in)."""
    from kimi_graph.cli_checkpoint import MODE_KEY, ResumeError, stored_mode

    config: dict[str, Any] = {"configurable": {"thread_id": thread}}
    before = stored_mode(saver.get_tuple(config))
    mode = args.mode or before or "thinking"
    if before is not None and mode != before:
        msg = f"thread {thread} ran in {before} mode, not {mode}: leave out --mode or match it"
        raise ResumeError(msg)
    config["metadata"] = {MODE_KEY: mode}
    return mode, config


def _renderer(args: argparse.Namespace, thread: str | None) -> StreamRenderer | JsonRenderer:
    if args.json:
        from kimi_graph.cli_json import JsonRenderer

        return JsonRenderer(sys.stdout, thread_id=thread)
    from kimi_graph.cli_render import StreamRenderer

    return StreamRenderer(sys.stdout, color=False if args.no_color else None, width=args.width)


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
    from kimi_graph.cli_render import StreamRenderer
    from kimi_graph.cli_tools import demo_tools
    from kimi_graph.config import model_from_env

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


#: The `serve` command's one-line help, for the light parser (kimi_graph/serve/command.py).
SERVE_HELP = "serve the four modes as an OpenAI-compatible endpoint"


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 20:
        msg = f"must be >= 20 columns, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def build_parser(*, serve: bool = True) -> argparse.ArgumentParser:
    """The argument parser of `kimi-graph`.

    Args:
        serve: Build the `serve` command's own arguments, which imports the server
            (about a second); False lists `serve` with its help line only, for
            command lines that do not run it.
    """
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
    run.add_argument(
        "--mode",
        "-m",
        choices=MODES,
        default=None,
        help="default: thinking (a resumed thread: the mode it ran in)",
    )
    run.add_argument(
        "task",
        nargs="*",
        help='the task (quote it); "-" reads it from stdin; none: resume --thread',
    )
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
    run.add_argument(
        "--json",
        action="store_true",
        help="JSON lines (reasoning, answer, tool calls, sub-agent events), then a final "
        "line with the answer, reasoning, sub-agent records and token usage",
    )
    run.add_argument(
        "--width",
        type=_positive_int,
        help="columns the output fits in (default: the terminal's width; none when piped)",
    )
    run.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="save every step in this SQLite file, so a crashed run can be resumed",
    )
    run.add_argument(
        "--thread",
        metavar="ID",
        help="the thread in --checkpoint (default: a new one); with no task: resume it",
    )
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

    if serve:
        from kimi_graph.serve.command import add_serve_command

        add_serve_command(commands)
    else:
        commands.add_parser("serve", help=SERVE_HELP, add_help=False)
    return parser


# ---------------------------------------------------------------------- errors


def describe_error(err: BaseException) -> str:
    """One line saying what went wrong, for the user."""
    if isinstance(err, CLIError):
        return str(err)
    import openai

    from kimi_graph.config import ConfigError, validation_reason

    if isinstance(err, openai.APIStatusError):
        body = err.body
        detail = None
        if isinstance(body, dict):
            error = body.get("error")
            inner = error if isinstance(error, dict) else body
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
    if isinstance(err, ConfigError):
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
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(serve="serve" in words)
    args = parser.parse_args(words)
    if args.command == "run":
        if args.thread and not args.checkpoint:
            parser.error("--thread needs --checkpoint PATH (the SQLite file of the thread)")
        if not args.task and not args.checkpoint:
            parser.error("the following arguments are required: task")
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
