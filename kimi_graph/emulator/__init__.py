"""A local HTTP server that emulates Kimi K2.5 behind every supported server dialect.

See ``docs/emulator.md`` for routes, dialects and directives.
"""

from __future__ import annotations

from kimi_graph.emulator.config import BACKEND_OF_DIALECT, DIALECTS, EmulatorConfig, RequestRecord
from kimi_graph.emulator.runtime import Emulator, serve

__all__ = ["BACKEND_OF_DIALECT", "DIALECTS", "Emulator", "EmulatorConfig", "RequestRecord", "serve"]
