"""A local HTTP server that emulates Kimi K2.5 behind every supported server dialect.

See ``docs/emulator.md`` for routes, dialects and directives. ``Emulator`` and ``serve``
(aiohttp) are imported on first use, so the dialect names cost nothing to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kimi_graph.emulator.config import BACKEND_OF_DIALECT, DIALECTS, EmulatorConfig, RequestRecord

if TYPE_CHECKING:
    from kimi_graph.emulator.runtime import Emulator, serve

__all__ = ["BACKEND_OF_DIALECT", "DIALECTS", "Emulator", "EmulatorConfig", "RequestRecord", "serve"]


def __getattr__(name: str) -> Any:
    if name not in ("Emulator", "serve"):
        msg = f"module 'kimi_graph.emulator' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module("kimi_graph.emulator.runtime"), name)
    globals()[name] = value
    return value
