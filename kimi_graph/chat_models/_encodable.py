r"""Refuse a request whose text cannot be sent: lone surrogates are not Unicode text.

Python strings may hold lone surrogates (``"\ud800"``, e.g. from
``surrogateescape`` decoding or a broken JSON escape); UTF-8 cannot encode them, and
the HTTP client would fail deep inside with a bare `UnicodeEncodeError`. The payload
is checked once it is built (the same for invoke, ainvoke, stream and astream), and
the error names the field, the endpoint and the model. Nothing is silently replaced.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["require_encodable"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def require_encodable(payload: Any, endpoint: str, model: str) -> None:
    """Raise if any string of the request payload holds a lone surrogate.

    Args:
        payload: The request body about to be sent (dicts, lists, strings, numbers).
        endpoint: The endpoint, without credentials (for the message).
        model: The model name (for the message).

    Raises:
        ValueError: Naming the first field with a lone surrogate and where it is.
    """
    if not _has_surrogate(payload):
        return
    found = _find(payload, "")
    if found is None:
        return
    path, index, char = found
    msg = (
        f"ChatKimi cannot send the request to {endpoint} (model {model}): {path or 'a field'} "
        f"holds a lone surrogate {char!r} at character {index}, which is not valid "
        "Unicode text (UTF-8 cannot encode it). Clean the text first, for example "
        "text.encode('utf-8', 'replace').decode('utf-8')."
    )
    raise ValueError(msg)


def _has_surrogate(value: Any) -> bool:
    """Whether any string or key in `value` holds a lone surrogate (one pass, in C).

    `json.dumps(..., ensure_ascii=False)` keeps lone surrogates as they are; values
    that are not JSON (which `_find` does not look into either) are written as "".
    """
    text = json.dumps(value, ensure_ascii=False, skipkeys=True, default=_opaque)
    return _SURROGATE.search(text) is not None


def _opaque(_value: object) -> str:
    return ""


def _find(value: Any, path: str) -> tuple[str, int, str] | None:
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return (path, match.start(), match.group()) if match else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _SURROGATE.search(key):
                return (f"{path}.<key>" if path else "<key>", 0, key)
            found = _find(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _find(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None
