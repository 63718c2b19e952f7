"""`kimi-graph run` prints sandbox, tool and model text without its control characters.

A real CLI process on the bundled emulator, in agent mode: `run_python` prints escape
sequences (window title, OSC 52 clipboard write, cursor movement, carriage return),
through a pipe and on a pseudo-terminal; `--json` keeps them, JSON-escaped.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from kimi_graph.tools import _bwrap
from tests.integration_tests.cli.test_runs import CLI, ROOT, env, run_in_pty

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_bwrap.bwrap_problem() is not None, reason="run_python needs bubblewrap"),
]

PROGRAM = (
    "import sys\n"
    r"sys.stdout.write('T1\x1b]0;PWNED\x07T2\x1b]52;c;ZXZpbA==\x07T3\x1b[1A\x1b[2KT4\rT5\x9b31mT6')"
)
TASK = "[[call run_python " + json.dumps({"code": PROGRAM}) + "]]"
# Our own styles and the live block's redraw; anything else escaping is a failure.
OURS = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\d+F\x1b\[J|\x1b\[K")
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _check(text: str) -> None:
    assert "T1]0;PWNEDT2]52;c;ZXZpbA==T3[1A[2KT4" in text, text  # shown, defused
    rest = OURS.sub("", text.replace("\r\n", "\n"))
    assert not CONTROLS.search(rest), repr(rest)


def test_through_a_pipe() -> None:
    proc = subprocess.run(
        [*CLI, "run", "--emulator", "-m", "agent", TASK],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    _check(proc.stdout + proc.stderr)


def test_on_a_terminal() -> None:
    _check(run_in_pty([*CLI, "run", "--emulator", "-m", "agent", TASK], 200))


def test_json_keeps_the_text() -> None:
    proc = subprocess.run(
        [*CLI, "run", "--emulator", "-m", "agent", "--json", TASK],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "\x1b" not in proc.stdout
    assert "\\u001b]0;PWNED\\u0007" in proc.stdout
