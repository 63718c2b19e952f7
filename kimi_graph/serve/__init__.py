"""`kimi-graph serve`: the four modes behind an OpenAI-compatible HTTP endpoint.

Models `kimi-instant`, `kimi-thinking`, `kimi-agent` and `kimi-swarm` run the matching
graph of `kimi_graph.modes` against the configured K2.5 endpoint (a dispatcher and an
optional pool of worker servers). See README.md, section "Serve".
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the install
    msg = (
        f"kimi-graph serve needs the 'serve' extra ({err.name} is not installed): "
        "pip install 'kimi-graph[serve]'"
    )
    raise ImportError(msg, name=err.name) from err

from kimi_graph.serve.app import ServeState, create_app
from kimi_graph.serve.config import SERVED_MODELS, THREAD_HEADER, ServeConfig
from kimi_graph.serve.errors import ApiError
from kimi_graph.serve.runtime import ServerThread, run

__all__ = [
    "SERVED_MODELS",
    "THREAD_HEADER",
    "ApiError",
    "ServeConfig",
    "ServeState",
    "ServerThread",
    "create_app",
    "run",
]
