"""The swarm's settings: fixed when the graph is built, overridable per run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

from kimi_graph.context import KimiContext
from kimi_graph.modes.agent import DEFAULT_MAX_STEPS

T = TypeVar("T")

DEFAULT_TOOL_CALL_BUDGET = 1500
"""Tool calls all sub-agents of one request may make together (K2.5: up to 1,500)."""


@dataclass(frozen=True)
class SwarmSettings:
    """Everything the swarm's nodes read; `for_run` applies a run's `KimiContext`."""

    max_subagents: int = 100
    max_concurrency: int = 100
    max_concurrency_per_worker: int | None = None
    max_rounds: int = 1
    subagent_max_steps: int = DEFAULT_MAX_STEPS
    subagent_timeout: float | None = None
    subagent_thinking: bool = False
    tool_call_budget: int = DEFAULT_TOOL_CALL_BUDGET
    max_result_chars: int = 4000
    system_prompt: str | None = None
    thinking: bool = True
    approve_plan: bool = False

    def __post_init__(self) -> None:
        if min(self.max_subagents, self.max_rounds, self.max_concurrency) < 1:
            msg = "max_subagents, max_rounds and max_concurrency must be at least 1."
            raise ValueError(msg)
        if self.subagent_timeout is not None and self.subagent_timeout <= 0:
            msg = f"subagent_timeout must be positive or None, got {self.subagent_timeout}."
            raise ValueError(msg)

    def for_run(self, context: KimiContext) -> SwarmSettings:
        """These settings with the run's context applied (fields it leaves None stay)."""
        c = context
        run = dataclasses.replace(
            self,
            max_subagents=_pick(c.max_subagents, self.max_subagents),
            max_concurrency=_pick(c.max_concurrency, self.max_concurrency),
            max_rounds=_pick(c.max_rounds, self.max_rounds),
            subagent_max_steps=_pick(c.max_steps, self.subagent_max_steps),
            subagent_thinking=_pick(c.subagent_thinking, self.subagent_thinking),
            system_prompt=_pick(c.system_prompt, self.system_prompt),
            thinking=_pick(c.thinking, self.thinking),
        )
        return self if run == self else run


def _pick(override: T | None, current: T) -> T:
    return current if override is None else override
