"""`kimi-graph serve`: arguments and the handler (the CLI adds this subcommand)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kimi_graph.serve.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT, SERVED_MODELS
from kimi_graph.serve.guard import LOOPBACK_HOSTS, check_bind, is_wildcard

__all__ = [
    "API_KEY_ENV",
    "DESCRIPTION",
    "add_serve_command",
    "run_serve_command",
]

API_KEY_ENV = "KIMI_SERVE_API_KEY"

DESCRIPTION = (
    "Serve kimi-instant, kimi-thinking, kimi-agent and kimi-swarm as an OpenAI-compatible "
    "endpoint (/v1/models, /v1/chat/completions). The upstream K2.5 endpoint comes from "
    "--base-url or KIMI_BASE_URL (key: MOONSHOT_API_KEY or KIMI_API_KEY), or --emulator."
)


def add_serve_command(commands: Any) -> None:
    """Add the `serve` subcommand to the CLI's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="serve the four modes as an OpenAI-compatible endpoint",
        description=DESCRIPTION,
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="default: 8080 (0: any free)")
    serve.add_argument("--base-url", help="the dispatcher's K2.5 base URL (default: KIMI_BASE_URL)")
    serve.add_argument(
        "--backend", help="upstream dialect: moonshot, vllm, sglang, ... (default: detect)"
    )
    serve.add_argument(
        "--model",
        help="upstream model id (default: KIMI_MODEL, else kimi-k2.6 on Moonshot's API and "
        "kimi-k2.5 on other servers)",
    )
    serve.add_argument(
        "--worker-url",
        action="append",
        default=[],
        metavar="URL",
        help="a worker server's base URL for swarm sub-agents (repeat for a pool)",
    )
    serve.add_argument(
        "--api-key",
        help=f"bearer key clients must send (default: {API_KEY_ENV}; none or empty = no "
        "auth, allowed on loopback only)",
    )
    serve.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request (default: 600)"
    )
    serve.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body in bytes (default: 4 MiB)",
    )
    serve.add_argument(
        "--checkpoint",
        metavar="PATH_OR_URL",
        help="durable threads: a SQLite file path or a postgres:// URL",
    )
    serve.add_argument(
        "--tools",
        choices=("default", "demo", "none"),
        default="default",
        help="agent/swarm tools: default (web search, python, fetch), demo (calculator, "
        "python), none",
    )
    serve.add_argument("--max-retries", type=int, default=2, help="upstream retries (default: 2)")
    serve.add_argument(
        "--emulator", action="store_true", help="use an in-process K2.5 emulator as upstream"
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name clients may use in the Host header, besides loopback and --host "
        "(repeat; '*' = any)",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback --host without an API key (refused otherwise)",
    )
    serve.add_argument(
        "--always-include-usage",
        action="store_true",
        help="end every stream with a usage chunk, even when the client did not ask",
    )
    serve.add_argument(
        "--max-runs",
        type=int,
        default=256,
        help="runs at once; more are answered 503 (default: 256)",
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn's (default: warning)")
    serve.set_defaults(handler=run_serve_command)


def _tools(choice: str) -> list[Any]:
    if choice == "none":
        return []
    if choice == "demo":
        from kimi_graph.tools.demo import demo_tools

        return demo_tools()
    from kimi_graph.tools import default_tools

    return list(default_tools())


def _allowed_hosts(host: str, extra: list[str]) -> tuple[str, ...]:
    """Loopback names, the bound address (unless a wildcard) and `--allowed-host`."""
    hosts = [*LOOPBACK_HOSTS, *extra]
    if not is_wildcard(host):
        hosts.append(host)
    elif not extra:
        hosts.append("*")  # every interface, no names given: the API key guards it
    return tuple(dict.fromkeys(hosts))


def run_serve_command(args: argparse.Namespace) -> int:
    """Start the server and block until Ctrl-C."""
    from kimi_graph.serve.app import create_app
    from kimi_graph.serve.config import ServeConfig
    from kimi_graph.serve.runtime import run

    api_key = (args.api_key or os.environ.get(API_KEY_ENV) or "").strip() or None
    try:
        check_bind(args.host, has_key=api_key is not None, insecure_no_auth=args.insecure_no_auth)
    except ValueError as err:
        print(f"kimi-graph: error: {err}", file=sys.stderr)
        return 2
    emu = None
    base_url, backend = args.base_url, args.backend
    if args.emulator:
        from kimi_graph.emulator import Emulator, EmulatorConfig

        emu = Emulator(EmulatorConfig()).start()
        base_url, backend = emu.base_url("moonshot"), "moonshot"
    try:
        config = ServeConfig(
            base_url=base_url,
            upstream_api_key="emulator" if emu is not None else None,
            backend=backend,
            model=args.model,
            worker_base_urls=tuple(args.worker_url),
            api_key=api_key,
            allowed_hosts=_allowed_hosts(args.host, args.allowed_host),
            always_include_usage=args.always_include_usage,
            max_runs=args.max_runs,
            max_body_bytes=args.max_body,
            timeout=args.timeout,
            checkpoint=args.checkpoint,
            max_retries=args.max_retries,
        )
        app = create_app(config, tools=_tools(args.tools))

        def ready(url: str) -> None:
            print(f"kimi-graph serve listening on {url}/v1", flush=True)
            print(f"  models: {', '.join(SERVED_MODELS)}", flush=True)
            print("Press Ctrl-C to stop.", flush=True)

        run(app, args.host, args.port, on_ready=ready, log_level=args.log_level)
    except OSError as err:
        msg = f"cannot serve on {args.host}:{args.port}: {err.strerror or err}"
        print(f"kimi-graph: error: {msg}", file=sys.stderr)
        return 1
    finally:
        if emu is not None:
            emu.stop()
    return 0
