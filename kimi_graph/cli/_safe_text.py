"""Untrusted text made safe to print on a terminal.

Model output, tool results and sandbox output are written by whoever controls the
model's input (a web page, a program). Raw, their escape sequences would reach the
terminal: set the window title, write the clipboard (OSC 52), move the cursor and
rewrite lines, or hide text. Every untrusted string the CLI prints goes through
`printable` before it is styled, on a terminal and through a pipe alike; ``--json``
output is JSON and keeps its strings as they are (JSON escapes control characters).
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, and the C1 controls (8-bit CSI, OSC, ...).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""``text`` without control characters, except newline and tab.

    Args:
        text: Any string.

    Returns:
        The string with every C0 control (carriage return and escape included) but
        ``\n`` and ``\t``, DEL and every C1 control removed.
    """
    return _CONTROLS.sub("", text)
