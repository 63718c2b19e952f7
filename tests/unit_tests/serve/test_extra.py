"""`kimi-graph serve` lives behind the `serve` extra: without it, the error names the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

HIDE_STARLETTE = "import sys; sys.modules['starlette'] = None; "


@pytest.mark.parametrize(
    "code",
    [
        HIDE_STARLETTE + "import kimi_graph.serve",
        HIDE_STARLETTE + "from kimi_graph.cli import main; sys.exit(main(['serve', '--help']))",
    ],
)
def test_serve_without_the_extra_names_it(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode != 0
    assert "pip install 'kimi-graph[serve]'" in proc.stderr


def test_the_library_imports_without_the_extra() -> None:
    code = HIDE_STARLETTE + "import kimi_graph; kimi_graph.create_graph; kimi_graph.ChatKimi"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
