"""Agent swarm: an orchestrator fans sub-tasks out to parallel sub-agent subgraphs.

```
START -> orchestrator --Send per assign_task call--> subagent (xN, parallel, each
              |  (no call: it answers alone)            a nested agent graph)
              v                                         |
             END        orchestrator (next round) <- or -> synthesis -> END
```

With `approve_plan=True` a `review` node shows each round's plan to a person
(`interrupt()`) before the `Send`s. Every `assign_task` call ends in exactly one
`SubagentResult` in `state["subagent_results"]` and one tool message answering the
call, whether the sub-agent succeeded, failed, timed out, ran out of budget, was
refused or was dropped at review.
"""

from kimi_graph.modes.swarm._graph import SwarmGraph, create_swarm_graph, dispatch
from kimi_graph.modes.swarm._plan import (
    ASSIGN_TASK,
    ASSIGN_TASK_TOOL,
    AssignTask,
    error_record,
    plan_round,
)
from kimi_graph.modes.swarm._review import review_plan
from kimi_graph.modes.swarm._settings import DEFAULT_TOOL_CALL_BUDGET, SwarmSettings
from kimi_graph.modes.swarm._synthesis import critical_steps, finish, results_digest

__all__ = [
    "ASSIGN_TASK",
    "ASSIGN_TASK_TOOL",
    "DEFAULT_TOOL_CALL_BUDGET",
    "AssignTask",
    "SwarmGraph",
    "SwarmSettings",
    "create_swarm_graph",
    "critical_steps",
    "dispatch",
    "error_record",
    "finish",
    "plan_round",
    "results_digest",
    "review_plan",
]
