"""`SwarmControl`: steer, cancel or abort one running sub-agent, or stop the swarm.

Commands are store items under `("kimi_graph", "control", thread_id)`, value
`{"action", "subagent", "text"}`; the running swarm reads them (see `_commands`) and
publishes each sub-agent's status under `("kimi_graph", "swarm", thread_id)`, which
`list()` reads. `SwarmControl(store)` works on the store the swarm was compiled with;
`SwarmControl.for_server(url)` sends the same items through a LangGraph Server's store
API (`client.store.put_item` / `search_items`).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from langgraph.store.base import BaseStore

from kimi_graph.modes.swarm._commands import CONTROL_NAMESPACE, STATUS_NAMESPACE

__all__ = ["SubagentInfo", "SwarmControl"]

SubagentInfo = dict[str, Any]
"""One sub-agent as `list()` shows it: `id`, `role`, `status`, `steps`, `round`, `namespace`."""

_SHOWN = ("id", "role", "status", "steps", "round", "namespace")
_LIVE = ("queued", "running")


class _Items(Protocol):
    """Where the items are: a LangGraph store, or a LangGraph Server's store API."""

    def values(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]: ...
    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None: ...
    async def avalues(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]: ...
    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None: ...


_PAGE = 1000


class _StoreItems:
    def __init__(self, store: BaseStore) -> None:
        self.store = store

    def values(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        while True:
            page = self.store.search(namespace, limit=_PAGE, offset=len(out))
            out.extend(item.value for item in page)
            if len(page) < _PAGE:
                return out

    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        self.store.put(namespace, key, value, index=False)

    async def avalues(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        while True:
            page = await self.store.asearch(namespace, limit=_PAGE, offset=len(out))
            out.extend(item.value for item in page)
            if len(page) < _PAGE:
                return out

    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        await self.store.aput(namespace, key, value, index=False)


class _ServerItems:
    """The store API of a LangGraph Server (the SDK's `client.store`)."""

    def __init__(self, url: str, api_key: str | None) -> None:
        from langgraph_sdk import get_client, get_sync_client

        self.sync = get_sync_client(url=url, api_key=api_key)
        self.url, self.api_key = url, api_key
        self._get_client = get_client

    def values(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        while True:
            page = self.sync.store.search_items(list(namespace), limit=_PAGE, offset=len(out))
            items = page["items"]
            out.extend(item["value"] for item in items)
            if len(items) < _PAGE:
                return out

    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        self.sync.store.put_item(list(namespace), key=key, value=value, index=False)

    async def avalues(self, namespace: tuple[str, ...]) -> builtins.list[dict[str, Any]]:
        client = self._get_client(url=self.url, api_key=self.api_key)
        out: builtins.list[dict[str, Any]] = []
        while True:
            page = await client.store.search_items(list(namespace), limit=_PAGE, offset=len(out))
            items = page["items"]
            out.extend(item["value"] for item in items)
            if len(items) < _PAGE:
                return out

    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        client = self._get_client(url=self.url, api_key=self.api_key)
        await client.store.put_item(list(namespace), key=key, value=value, index=False)


def current_run(values: Sequence[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    """The status items of the thread's latest request (earlier requests' are stale).

    A request starts with its round-1 sub-agents; later rounds appeared after them.
    """
    firsts = [v for v in values if v.get("round") == 1 and isinstance(v.get("since"), (int, float))]
    if not firsts:
        return []
    latest = max(firsts, key=lambda v: v["since"])["group"]
    start = min(v["since"] for v in firsts if v["group"] == latest)
    live = [v for v in values if isinstance(v.get("since"), (int, float)) and v["since"] >= start]
    return sorted(live, key=lambda v: (v.get("round", 0), v["since"], v.get("id", "")))


class SwarmControl:
    """Steer, cancel or abort one running sub-agent of a swarm, or stop the swarm.

    Give it the store the swarm runs with (the one it was compiled with), or use
    `SwarmControl.for_server(url)` for a swarm run by a LangGraph Server. A run is
    controllable when it has a store and a `thread_id`.

    Example:
        ```python
        control = SwarmControl(store)
        for sub in control.list("thread-1"):
            print(sub["id"], sub["role"], sub["status"], sub["steps"])
        control.steer("thread-1", "r1/functions.assign_task:0", "Only EU sources, please.")
        control.cancel("thread-1", "r1/functions.assign_task:1", reason="enough")
        control.abort("thread-1", "r1/functions.assign_task:2")
        control.stop("thread-1", reason="out of time")
        ```

    Bad arguments (an empty id, a non-string message, a sub-agent that is unknown
    or already finished, a thread with no running swarm) raise a `ValueError`
    naming them. Each command method returns the key of the command's store item.
    """

    def __init__(self, store: BaseStore) -> None:
        """Control the swarms that run with `store`."""
        if not isinstance(store, BaseStore):
            msg = f"SwarmControl needs a LangGraph BaseStore, got {type(store).__name__}."
            raise TypeError(msg)
        self._items: _Items = _StoreItems(store)

    @classmethod
    def for_server(cls, url: str, api_key: str | None = None) -> SwarmControl:
        """Control the swarms of a LangGraph Server at `url` (through its store API)."""
        control = cls.__new__(cls)
        control._items = _ServerItems(url, api_key)
        return control

    # -- sync -----------------------------------------------------------------------

    def list(self, thread_id: str) -> builtins.list[SubagentInfo]:
        """The sub-agents of the thread's current run, with role, status and steps."""
        _check_thread(thread_id)
        values = self._items.values((*STATUS_NAMESPACE, thread_id))
        return [_shown(v) for v in current_run(values)]

    def steer(self, thread_id: str, subagent_id: str, message: str) -> str:
        """Send `message` to the sub-agent as a user message at its next model call."""
        _check_text(message, "message", required=True)
        return self._send(thread_id, "steer", subagent_id, message)

    def cancel(self, thread_id: str, subagent_id: str, reason: str = "") -> str:
        """Let the sub-agent wrap up: no new tool, one last tool-less call sums up."""
        _check_text(reason, "reason")
        return self._send(thread_id, "cancel", subagent_id, reason)

    def abort(self, thread_id: str, subagent_id: str, reason: str = "") -> str:
        """Stop the sub-agent now (within a second), even mid model call or tool."""
        _check_text(reason, "reason")
        return self._send(thread_id, "abort", subagent_id, reason)

    def stop(self, thread_id: str, reason: str = "") -> str:
        """Stop the swarm: queued sub-agents end, running ones wrap up, then the synthesis."""
        _check_text(reason, "reason")
        return self._send(thread_id, "stop", None, reason)

    def _send(self, thread_id: str, action: str, target: str | None, text: str) -> str:
        _check_thread(thread_id)
        live = current_run(self._items.values((*STATUS_NAMESPACE, thread_id)))
        key, value = _command(thread_id, action, target, text, live)
        self._items.put((*CONTROL_NAMESPACE, thread_id), key, value)
        return key

    # -- async ----------------------------------------------------------------------

    async def alist(self, thread_id: str) -> builtins.list[SubagentInfo]:
        """`list` (async)."""
        _check_thread(thread_id)
        values = await self._items.avalues((*STATUS_NAMESPACE, thread_id))
        return [_shown(v) for v in current_run(values)]

    async def asteer(self, thread_id: str, subagent_id: str, message: str) -> str:
        """`steer` (async)."""
        _check_text(message, "message", required=True)
        return await self._asend(thread_id, "steer", subagent_id, message)

    async def acancel(self, thread_id: str, subagent_id: str, reason: str = "") -> str:
        """`cancel` (async)."""
        _check_text(reason, "reason")
        return await self._asend(thread_id, "cancel", subagent_id, reason)

    async def aabort(self, thread_id: str, subagent_id: str, reason: str = "") -> str:
        """`abort` (async)."""
        _check_text(reason, "reason")
        return await self._asend(thread_id, "abort", subagent_id, reason)

    async def astop(self, thread_id: str, reason: str = "") -> str:
        """`stop` (async)."""
        _check_text(reason, "reason")
        return await self._asend(thread_id, "stop", None, reason)

    async def _asend(self, thread_id: str, action: str, target: str | None, text: str) -> str:
        _check_thread(thread_id)
        live = current_run(await self._items.avalues((*STATUS_NAMESPACE, thread_id)))
        key, value = _command(thread_id, action, target, text, live)
        await self._items.aput((*CONTROL_NAMESPACE, thread_id), key, value)
        return key


def _shown(value: dict[str, Any]) -> SubagentInfo:
    return {k: value.get(k) for k in _SHOWN}


def _check_thread(thread_id: Any) -> None:
    if not isinstance(thread_id, str) or not thread_id:
        msg = f"thread_id must be a non-empty string, got {thread_id!r}."
        raise ValueError(msg)


def _check_text(text: Any, name: str, *, required: bool = False) -> None:
    if not isinstance(text, str):
        msg = f"{name} must be a string, got {type(text).__name__}."
        raise ValueError(msg)
    if required and not text.strip():
        msg = f"{name} must not be empty."
        raise ValueError(msg)


def _command(
    thread_id: str,
    action: str,
    target: str | None,
    text: str,
    live: builtins.list[dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """The command's key and value, once the target is known to be running."""
    running = [v for v in live if v.get("status") in _LIVE]
    if not running:
        msg = f"Thread {thread_id!r} has no running swarm (no queued or running sub-agent)."
        raise ValueError(msg)
    if target is not None:
        if not isinstance(target, str) or not target:
            msg = f"subagent_id must be a non-empty string, got {target!r}."
            raise ValueError(msg)
        found = next((v for v in live if v.get("id") == target), None)
        if found is None:
            known = ", ".join(str(v.get("id")) for v in running)
            msg = (
                f"Thread {thread_id!r} has no sub-agent {target!r} in its current run "
                f"(running: {known})."
            )
            raise ValueError(msg)
        if found.get("status") not in _LIVE:
            msg = (
                f"Sub-agent {target!r} of thread {thread_id!r} already finished "
                f"(status {found.get('status')!r}); nothing to {action}."
            )
            raise ValueError(msg)
    return uuid.uuid4().hex, {"action": action, "subagent": target, "text": text}
