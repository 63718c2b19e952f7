"""Agent swarm: an orchestrator fans sub-tasks out to parallel sub-agent subgraphs.

```
START -> orchestrator --Send per assign_task call--> subagent (xN, parallel, each
              |  (no call: it answers alone)            a nested agent graph)
              v                                         |
             END        orchestrator (next round) <- or -> synthesis -> END
```

The graph's parts live in private modules: `_plan` (a pure planner), `_review`
(plan review), `_subagent` (the branch), `_synthesis`, `_settings`, `_prompts`; `_control`
(`SwarmControl`) and `_commands` (the run's side of it: steer, cancel, abort, stop).
With `approve_plan=True` a `review` node shows each round's plan to a person
(`interrupt()`) before the `Send`s. Every `assign_task` call ends in exactly one
`SubagentResult` in `state["subagent_results"]` and one tool message answering the
call, whether the sub-agent succeeded, failed, timed out, ran out of budget, was
refused or was dropped at review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kimi_graph._lazy import lazy_exports

if TYPE_CHECKING:
    from kimi_graph.modes.swarm._control import SwarmControl
    from kimi_graph.modes.swarm._graph import SwarmGraph, create_swarm_graph
    from kimi_graph.modes.swarm._plan import AssignTask

__all__ = ["AssignTask", "SwarmControl", "SwarmGraph", "create_swarm_graph"]

_HOMES = {
    "AssignTask": "kimi_graph.modes.swarm._plan",
    "SwarmControl": "kimi_graph.modes.swarm._control",
    "SwarmGraph": "kimi_graph.modes.swarm._graph",
    "create_swarm_graph": "kimi_graph.modes.swarm._graph",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
