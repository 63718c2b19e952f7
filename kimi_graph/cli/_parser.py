"""The argument parser of `kimi-graph`; it imports only the standard library."""

from __future__ import annotations

import argparse

from kimi_graph._version import __version__
from kimi_graph.emulator.config import DIALECTS

__all__ = ["MODES", "SERVE_HELP", "build_parser"]

MODES = ("instant", "thinking", "agent", "swarm")


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
    run.add_argument(
        "--model",
        help="model id (default: KIMI_MODEL, else kimi-k2.6 on Moonshot, kimi-k2.5 elsewhere)",
    )
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
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo",
        help="run all four modes offline on the bundled emulator",
        description="Run instant, thinking, agent and swarm mode on the bundled emulator "
        "(or on KIMI_BASE_URL when it is set).",
    )
    demo.add_argument("--no-color", action="store_true", help="no ANSI styles (also NO_COLOR)")
    demo.set_defaults(handler=_demo)

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
    emulate.add_argument(
        "--hosted-catalogue",
        action="store_true",
        help="moonshot serves only today's hosted models (retired ids: 404) and lists "
        "their capabilities on GET /v1/models",
    )
    emulate.set_defaults(handler=_emulate)

    if serve:
        from kimi_graph.serve.command import add_serve_command

        add_serve_command(commands)
    else:
        commands.add_parser("serve", help=SERVE_HELP, add_help=False)
    return parser


def _run(args: argparse.Namespace) -> int:
    from kimi_graph.cli._commands import run_command

    return run_command(args)


def _demo(args: argparse.Namespace) -> int:
    from kimi_graph.cli._commands import demo_command

    return demo_command(args)


def _emulate(args: argparse.Namespace) -> int:
    from kimi_graph.cli._commands import emulate_command

    return emulate_command(args)
