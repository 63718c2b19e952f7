"""An API key never shows up in what a run leaves behind or prints.

Real runs against the emulator, with a recognisable key: checkpoints (SQLite),
every stream mode, swarm records, the error of a failed request, the CLI's output.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver

from kimi_graph import ChatKimi, create_agent_graph, create_swarm_graph
from kimi_graph.emulator import Emulator

ROOT = Path(__file__).parents[3]


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny in {city}"


@pytest.fixture
def key() -> str:
    return f"sk-kimi-secret-{uuid.uuid4().hex}"


def test_key_is_not_in_checkpoints_events_or_records(
    emulator: Emulator, key: str, tmp_path: Path
) -> None:
    llm = ChatKimi(base_url=emulator.base_url("moonshot"), api_key=key, max_retries=0)
    db = tmp_path / "cp.sqlite"
    seen: list[str] = []
    with SqliteSaver.from_conn_string(str(db)) as saver:
        agent = create_agent_graph(llm, [get_weather], checkpointer=saver)
        config = {"configurable": {"thread_id": "a"}}
        for event in agent.stream(
            {"messages": [("user", 'weather in "Paris"')]},
            config,
            stream_mode=["values", "updates", "messages", "custom", "debug"],
        ):
            seen.append(repr(event))
        seen.append(repr(agent.get_state(config)))
        swarm = create_swarm_graph(llm, [get_weather], checkpointer=saver)
        out = swarm.invoke(
            {"messages": [("user", 'Do:\n- weather in "Rome"\n- weather in "Oslo"')]},
            {"configurable": {"thread_id": "s"}},
        )
        seen.append(repr(out))
    assert len(seen) > 5
    assert not [text for text in seen if key in text]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM checkpoints").fetchall()
        rows += conn.execute("SELECT * FROM writes").fetchall()
    assert rows
    assert not [row for row in rows if key.encode() in repr(row).encode()]
    assert key.encode() not in db.read_bytes()


def test_key_is_not_in_the_error_of_a_failed_request(emulator: Emulator, key: str) -> None:
    llm = ChatKimi(base_url=emulator.base_url("moonshot"), api_key=key, max_retries=0)
    with pytest.raises(Exception) as failed:
        llm.invoke("hello [[fault 500]]")
    assert key not in str(failed.value) and key not in repr(failed.value)
    dead = ChatKimi(base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key=key, max_retries=0)
    with pytest.raises(Exception) as unreachable:
        dead.invoke("hello")
    assert key not in str(unreachable.value) and key not in repr(unreachable.value)


def test_key_is_not_in_cli_output(emulator: Emulator, key: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "KIMI_BASE_URL": emulator.base_url("moonshot"),
        "MOONSHOT_API_KEY": key,
        "PYTHONPATH": str(ROOT),
    }
    for mode in ("instant", "agent", "swarm"):
        done = subprocess.run(
            [sys.executable, "-m", "kimi_graph.cli", "run", "--mode", mode, "weather in Paris"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert key not in done.stdout and key not in done.stderr


def _closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
