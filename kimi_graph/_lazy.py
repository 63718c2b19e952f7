"""Names a package exports but imports on first use (PEP 562).

Keeps `import kimi_graph` and the `kimi-graph` command from loading LangChain and
LangGraph before they are needed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a package's module-level `__getattr__` and `__dir__`.

    Args:
        package: The package's `__name__`.
        homes: Each lazily exported name and the module that defines it.

    Returns:
        `(__getattr__, __dir__)`: the first imports a name's home on first use and
        caches the value in the package; the second lists the package's names.
    """

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        module = sys.modules[package]
        return sorted({*vars(module), *getattr(module, "__all__", ())})

    return getattr_, dir_
