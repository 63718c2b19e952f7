"""What a checkpointer is asked to store by a swarm run: per sub-agent, by channel.

`SaverCensus(saver)` wraps the saver object's own methods (the graph sees the same
saver; nothing is skipped or changed) and counts, split by namespace (the swarm's
own root namespace vs its sub-agents' ``subagent:...`` namespaces):

* checkpoints stored (``put``), write batches (``put_writes``) and reads (``get_tuple``);
* serialised bytes per channel, of the changed channels of each checkpoint (what the
  savers store as blobs) and of each write (``serde.dumps_typed``, the savers' own
  serialiser);
* CPU seconds spent inside the sync saver's calls (thread time of the calling
  thread: with the default ``durability="async"`` LangGraph calls ``put`` on a
  background thread, so the graph's thread is not the one paying).

The byte counting serialises every value once more, so a census run is not timed.
"""

from __future__ import annotations

import collections
import time
from typing import Any

__all__ = ["SaverCensus", "census_rows"]


def _scope(config: Any) -> str:
    namespace = str((config.get("configurable") or {}).get("checkpoint_ns", ""))
    return "sub-agents" if namespace else "swarm"


class SaverCensus:
    """Counts and sizes what `saver` stores (sync methods; async ones counted too)."""

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.counts: collections.Counter[str] = collections.Counter()
        self.bytes: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.cpu: collections.Counter[str] = collections.Counter()
        for name in ("put", "put_writes", "get_tuple"):
            self._wrap(name, timed=True)
        for name in ("aput", "aput_writes", "aget_tuple"):
            self._wrap(name, timed=False)

    def _size(self, value: Any) -> int:
        return len(self.saver.serde.dumps_typed(value)[1])

    def _note(self, name: str, args: tuple[Any, ...]) -> None:
        scope = _scope(args[0])
        kind = name.removeprefix("a")
        self.counts[f"{scope}:{kind}"] += 1
        if kind == "put":
            checkpoint, new_versions = args[1], args[3]
            for channel, value in checkpoint["channel_values"].items():
                if channel in new_versions:
                    self.bytes[(scope, "checkpoint", channel)] += self._size(value)
        elif kind == "put_writes":
            for channel, value in args[1]:
                self.bytes[(scope, "write", channel)] += self._size(value)

    def _wrap(self, name: str, *, timed: bool) -> None:
        original = getattr(self.saver, name, None)
        if original is None:
            return

        if timed:

            def call(*args: Any, **kwargs: Any) -> Any:
                self._note(name, args)
                start = time.thread_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.cpu[name] += time.thread_time() - start

        else:

            async def call(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                self._note(name, args)
                return await original(*args, **kwargs)

        setattr(self.saver, name, call)


def census_rows(census: SaverCensus, n: int) -> tuple[list[list[str]], list[list[str]]]:
    """Two tables per sub-agent: operations (and CPU), and bytes by channel."""
    ops = []
    for scope in ("sub-agents", "swarm"):
        ops.append(
            [
                scope,
                f"{census.counts[f'{scope}:put'] / n:.2f}",
                f"{census.counts[f'{scope}:put_writes'] / n:.2f}",
                f"{census.counts[f'{scope}:get_tuple'] / n:.2f}",
            ]
        )
    cpu = {k: v / n * 1000 for k, v in census.cpu.items()}
    ops.append(
        [
            "saver CPU ms (sync)",
            f"{cpu.get('put', 0):.2f}",
            f"{cpu.get('put_writes', 0):.2f}",
            f"{cpu.get('get_tuple', 0):.2f}",
        ]
    )
    sizes = [
        [scope, kind, channel, f"{total / n:.0f}"]
        for (scope, kind, channel), total in sorted(census.bytes.items())
        if total
    ]
    return ops, sizes


OPS_HEADERS = ["per sub-agent", "checkpoints (put)", "write batches", "reads (get_tuple)"]
SIZE_HEADERS = ["namespace", "stored as", "channel", "bytes per sub-agent"]
