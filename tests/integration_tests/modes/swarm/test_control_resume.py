"""A steer survives a crash: the resumed swarm finds it in the sub-agent's checkpointed
transcript and does not deliver it again (a killed process; SQLite, and PostgreSQL with
the sync and the async checkpointer and store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.sqlite import SqliteStore

from kimi_graph import SwarmControl
from kimi_graph.emulator import Emulator
from tests.integration_tests.modes.swarm._control_run import assign, running, wait_for

CHILD = Path(__file__).with_name("control_child.py")
ROOT = Path(__file__).parents[4]


def _child(
    emulator: Emulator, db: str, marks: Path, thread: str, *args: str, hold: str = "", aio: bool
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOLD": hold,
        "MARKS": str(marks),
        "ASYNC": "1" if aio else "",
    }
    cmd = [sys.executable, str(CHILD), emulator.base_url("moonshot"), db, thread, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _steer_across_a_crash(
    emulator: Emulator,
    db: str,
    marks: Path,
    open_store: Callable[[], AbstractContextManager[Any]],
    *,
    aio: bool = False,
) -> None:
    """Steer a looping sub-agent, kill the process once the steer acted, resume it."""
    nonce = uuid.uuid4().hex[:8]
    loop_tag, hold_tag = f"L-{nonce}", f"H-{nonce}"
    thread = f"steer-{nonce}"
    prompt = assign("looper", f'[[loop tick {{"tag": "{loop_tag}"}}]]')
    steer = f'[[call block {{"tag": "{hold_tag}"}}]] [[then]] [[answer steered-{nonce}]]'

    child = _child(emulator, db, marks, thread, "start", prompt, hold=hold_tag, aio=aio)
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{marks}.ready").exists():  # the child set its store up
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with open_store() as store:
            control = SwarmControl(store)
            looper = wait_for(control, thread, running("looper", steps=2), timeout=60)["looper"]
            control.steer(thread, looper["id"], steer)
        while not Path(f"{marks}.held").exists():  # the steer was delivered and acted on
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len([r for r in emulator.requests if r.last_user == steer]) == 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    resumed = _child(emulator, db, marks, thread, "resume", aio=aio)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    (record,) = json.loads(out.strip().splitlines()[-1])["results"]
    assert record["status"] == "ok"
    assert record["output"] == f"steered-{nonce}"
    steered = [r for r in emulator.requests if r.last_user == steer]
    # one call before the crash (it asked for `block`), one after (the answer); a second
    # delivery would have restarted the steer's script and called `block` again
    assert len(steered) == 2
    for request in steered:
        users = [m for m in request.body["messages"] if m["role"] == "user"]
        assert [m["content"] for m in users].count(steer) == 1


@pytest.mark.slow
def test_a_steer_is_delivered_once_across_a_crash(emulator, tmp_path) -> None:
    db = tmp_path / "swarm.sqlite"
    _steer_across_a_crash(
        emulator, str(db), db, lambda: SqliteStore.from_conn_string(str(db) + ".store")
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
def test_a_steer_is_delivered_once_across_a_crash_on_postgres(
    emulator, postgres_url: str, tmp_path, how
) -> None:
    """`PostgresSaver`/`PostgresStore` (invoke), `AsyncPostgres*` (ainvoke)."""
    from langgraph.store.postgres import PostgresStore

    _steer_across_a_crash(
        emulator,
        postgres_url,
        tmp_path / "marks",
        lambda: PostgresStore.from_conn_string(postgres_url),
        aio=how == "ainvoke",
    )
