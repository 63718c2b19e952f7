"""An agent swarm: the orchestrator fans a research task out to parallel sub-agents.

"Swarm" here is LangGraph `Send` map-reduce (orchestrator -> N sub-agents -> synthesis),
not langgraph-swarm's agent handoffs. Progress comes as custom stream events; the
records of every sub-agent are in `state["subagent_results"]`. Runs offline on the
bundled K2.5 emulator unless KIMI_BASE_URL is set (then the sub-agents search the web).
"""

import os

from kimi_graph import ChatKimi, create_swarm_graph
from kimi_graph.emulator import Emulator, EmulatorConfig
from kimi_graph.tools import default_tools

emu = None
base_url = os.environ.get("KIMI_BASE_URL")
if not base_url:
    emu = Emulator(EmulatorConfig(latency=0.02)).start()
    base_url = emu.base_url("moonshot")
llm = ChatKimi(base_url=base_url, backend="moonshot" if emu else None)

swarm = create_swarm_graph(
    llm,
    default_tools(),  # web_search, run_python, fetch_url for every sub-agent
    max_subagents=20,
    max_concurrency=8,
    subagent_timeout=120,
)

task = """Write a short brief on open-weight mixture-of-experts models. Split the work:
- Kimi researcher: architecture and context length of Kimi K2.5
- DeepSeek researcher: architecture and context length of DeepSeek-V3
- Qwen researcher: architecture and context length of Qwen3
- analyst: with python, compute 32 / 1024 as the share of active parameters"""

final = {}
for mode, data in swarm.stream({"messages": [("user", task)]}, stream_mode=["custom", "values"]):
    if mode == "custom" and data.get("type") == "subagent":
        status = data.get("status", "")
        print(f"  sub-agent {data['event']:<6} {data['role']:<20} {status}")
    elif mode == "values":
        final = data

print()
for record in final["subagent_results"]:
    print(
        f"[{record['status']}] {record['role']}: {record['steps']} steps, "
        f"{record['tool_calls']} tool calls, {record['elapsed_s']:.2f}s"
    )
answer = final["messages"][-1]
print("\nanswer:", answer.content[:400])
print("swarm:", answer.response_metadata["swarm"])  # also when answered alone
# A real model plans its own split (or answers alone): check what holds for any plan.
records = final["subagent_results"]
assert len(records) <= 20  # max_subagents
assert all(r["status"] in ("ok", "error", "cancelled", "aborted") for r in records)
assert answer.content

if emu is not None:
    emu.stop()
