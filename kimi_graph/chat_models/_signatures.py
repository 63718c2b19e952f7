"""Signatures of ChatKimi's methods, read once instead of on every model call.

langchain-core asks `inspect.signature(self._agenerate)` (and `_generate`) on every
call whether the method takes a `run_manager`; `inspect` builds the signature anew
each time (annotations, parameters), about 0.1 ms a call. A function's
`__signature__` attribute (PEP 362) is what `inspect.signature` returns for it, so
storing the signature once on the class's functions answers the same question
without the work.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["keep_signatures"]


def keep_signatures(cls: type[Any], *names: str) -> None:
    """Store each named method's signature on its function, as `__signature__`.

    Args:
        cls: The class whose own functions get their signatures kept.
        *names: Method names defined on `cls` itself.

    Raises:
        TypeError: A name that is not a function defined on `cls`.
    """
    for name in names:
        function = cls.__dict__.get(name)
        if not inspect.isfunction(function):
            msg = f"{cls.__name__}.{name} is not a function defined on the class"
            raise TypeError(msg)
        function.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
