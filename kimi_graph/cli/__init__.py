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

from kimi_graph.cli._errors import describe_error
from kimi_graph.cli._parser import build_parser
from kimi_graph.cli._safe_text import printable

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run `kimi-graph`; return the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(serve="serve" in words)
    except ImportError as err:  # `serve` without the extra installed
        print(f"kimi-graph: error: {err}", file=sys.stderr)
        return 1
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
        print(f"kimi-graph: error: {printable(describe_error(err))}", file=sys.stderr)
        return 1
