"""Names shared by the swarm graph and the CLI, in a module that imports nothing.

`kimi_graph.cli_render` recognizes the orchestrator's calls by this name without
importing the swarm package (and so LangGraph); `kimi_graph.modes.swarm` defines
its tool under it.
"""

from __future__ import annotations

__all__ = ["ASSIGN_TASK"]

#: The orchestrator's one tool: it starts a sub-agent on a sub-task.
ASSIGN_TASK = "assign_task"
