"""The commands of `kimi-graph`: `run` a mode in the terminal, the offline `demo`, `emulate`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from kimi_graph._transport.urls import redact_url
from kimi_graph._version import __version__
from kimi_graph.cli._errors import CLIError

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from kimi_graph.chat_models import ChatKimi
    from kimi_graph.cli._json_lines import JsonRenderer
    from kimi_graph.cli._render import StreamRenderer
    from kimi_graph.emulator import Emulator

__all__ = ["build_graph", "run_command", "demo_command", "emulate_command", "stream_graph"]

#: Emulator latency for `run --emulator` and `demo`: enough to see the stream.
DEMO_LATENCY = 0.05
DEMO_TOKEN_DELAY = 0.005


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
    mode: str, model: Any, tools: list[Any] | None, *, checkpointer: Any = None, store: Any = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the graph of `mode`; agent and swarm get `tools`."""
    from kimi_graph.modes import create_graph

    options: dict[str, Any] = {} if checkpointer is None else {"checkpointer": checkpointer}
    if store is not None:
        options["store"] = store
    return create_graph(
        mode, model=model, tools=tools if mode in ("agent", "swarm") else None, **options
    )


def run_command(args: argparse.Namespace) -> int:
    task = " ".join(args.task).strip()
    if task == "-":
        task = sys.stdin.read().strip()
    if not task and not args.checkpoint:
        msg = 'no task given: kimi-graph run --mode MODE "your task"'
        raise CLIError(msg)
    if not args.checkpoint:
        return _run_once(args, task, None, None)
    from kimi_graph.cli._checkpoint import ResumeError, new_thread_id, open_checkpointer

    thread = args.thread or new_thread_id()
    try:
        with open_checkpointer(args.checkpoint) as saver:
            return _run_once(args, task, saver, thread)
    except ResumeError as err:
        raise CLIError(str(err)) from None


def _run_once(args: argparse.Namespace, task: str, saver: Any, thread: str | None) -> int:
    """One run of `kimi-graph run`: on a checkpointed thread when `saver` is given."""
    from kimi_graph.chat_models import _env

    emu = _start_emulator(args.dialect) if args.emulator else None
    try:
        extra = {"model": args.model} if args.model else {}
        if emu is not None:
            model = _emulator_model(emu, args.dialect, **extra)
        else:
            model = _env.model_from_env(**extra)
        mode = args.mode or "thinking"
        config: dict[str, Any] | None = None
        if saver is not None:
            mode, config = _thread_config(args, saver, thread or "")
        tools = None
        if mode in ("agent", "swarm"):
            from kimi_graph.tools import default_tools

            tools = default_tools()
        keys = _live_keys(args, mode)  # a swarm in a terminal: keys to steer it
        store = None
        if keys:
            from langgraph.store.memory import InMemoryStore

            from kimi_graph.cli._checkpoint import new_thread_id

            store = InMemoryStore()
            thread = thread or new_thread_id()
            config = config or {}
            config.setdefault("configurable", {})["thread_id"] = thread
        graph = build_graph(mode, model, tools, checkpointer=saver, store=store)
        from kimi_graph.cli._checkpoint import run_input, shown

        resume = False
        if config is not None and saver is not None:
            state = graph.get_state(config)  # type: ignore[arg-type]
            resume = run_input(state, task, thread or "", shown(args.checkpoint)) is None
        renderer = _renderer(args, thread)
        if thread is not None and saver is not None and not args.json:
            verb = "resuming" if resume else "thread"
            renderer.note(
                f"{verb} {thread} in {shown(args.checkpoint)} ({mode} mode); to resume after a "
                f"crash, run the same command without the task and with --thread {thread}"
            )
        from kimi_graph.cli._render import StreamRenderer
        from kimi_graph.heap import frozen_heap

        if store is not None and isinstance(renderer, StreamRenderer):
            from kimi_graph.cli._swarm_keys import SwarmKeys
            from kimi_graph.modes.swarm import SwarmControl

            with frozen_heap(), SwarmKeys(renderer, SwarmControl(store), thread or ""):
                stream_graph(graph, task, renderer, config=config, resume=resume)
        else:
            with frozen_heap():  # the startup heap stays out of GC scans during the run
                stream_graph(graph, task, renderer, config=config, resume=resume)
    finally:
        if emu is not None:
            emu.stop()
    return 0


def _live_keys(args: argparse.Namespace, mode: str) -> bool:
    """A swarm run in a terminal (not `--json`) gets the live view's keys."""
    return mode == "swarm" and not args.json and sys.stdin.isatty() and sys.stdout.isatty()


def _thread_config(args: argparse.Namespace, saver: Any, thread: str) -> tuple[str, dict[str, Any]]:
    """The mode and config of a run on a checkpointed thread (the mode it ran in)."""
    from kimi_graph.cli._checkpoint import MODE_KEY, ResumeError, stored_mode

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
        from kimi_graph.cli._json_lines import JsonRenderer

        return JsonRenderer(sys.stdout, thread_id=thread)
    from kimi_graph.cli._render import StreamRenderer

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


def demo_command(args: argparse.Namespace) -> int:
    from kimi_graph.chat_models._env import model_from_env
    from kimi_graph.cli._render import StreamRenderer
    from kimi_graph.tools.demo import demo_tools

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


def emulate_command(args: argparse.Namespace) -> int:
    from kimi_graph.emulator import BACKEND_OF_DIALECT, DIALECTS, EmulatorConfig, serve

    try:
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            default_dialect=args.dialect,
            latency=args.latency,
            token_delay=args.token_delay,
            error_rate=args.error_rate,
            hosted_catalogue=args.hosted_catalogue,
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
