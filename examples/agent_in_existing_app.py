"""Compose kimi-graph's agent as a subgraph of your own LangGraph app.

The app has its own state keys (`customer`, `summary`) next to `messages`; the agent
graph reads and writes only `messages`, so it drops in as a node. A checkpointer on
the parent keeps the thread, subgraph included. Runs offline on the bundled K2.5
emulator unless KIMI_BASE_URL is set.
"""

import os

from langchain_core.messages import AIMessage, AIMessageChunk, SystemMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from kimi_graph import ChatKimi, create_agent_graph
from kimi_graph.emulator import Emulator, EmulatorConfig

emu = None
base_url = os.environ.get("KIMI_BASE_URL")
if not base_url:
    emu = Emulator(EmulatorConfig()).start()
    base_url = emu.base_url("moonshot")
llm = ChatKimi(base_url=base_url, backend="moonshot" if emu else None)

ORDERS = {"A-1042": "shipped on Monday, arriving Thursday", "B-7": "waiting for stock"}


@tool
def lookup_order(order_id: str) -> str:
    """Look up the delivery status of an order by its id, e.g. A-1042."""
    return ORDERS.get(order_id.strip(), f"no order {order_id!r}")


# The agent: a compiled ReAct subgraph (model <-> tools) over `messages`.
support_agent = create_agent_graph(llm, [lookup_order], name="support-agent")


# Your app: more state, your own nodes, the agent as one node among them.
class SupportState(MessagesState):
    customer: str
    summary: str


def greet(state: SupportState) -> dict:
    note = f"You are a support agent. The customer is {state['customer']}. Be brief."
    return {"messages": [SystemMessage(note)]}


def summarize(state: SupportState) -> dict:
    last = next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
    return {"summary": f"{state['customer']}: {last.text[:80]}"}


builder = StateGraph(SupportState)
builder.add_node("greet", greet)
builder.add_node("agent", support_agent)  # the compiled graph is the node
builder.add_node("summarize", summarize)
builder.add_edge(START, "greet")
builder.add_edge("greet", "agent")
builder.add_edge("agent", "summarize")
builder.add_edge("summarize", END)
app = builder.compile(checkpointer=InMemorySaver())

thread = {"configurable": {"thread_id": "ticket-1"}}
question = 'Where is my order? Please use lookup_order for "A-1042".'

# Stream the answer token by token ("messages"), tools included (subgraphs=True).
print("> " + question)
for _namespace, (chunk, meta) in app.stream(
    {"customer": "Ada", "messages": [("user", question)]},
    thread,
    stream_mode="messages",
    subgraphs=True,
):
    if meta["langgraph_node"] == "tools":
        print(f"\n  [{chunk.name}] {chunk.content}")
    elif isinstance(chunk, AIMessageChunk) and chunk.text:
        print(chunk.text, end="", flush=True)
print()

state = app.get_state(thread).values
print("summary:", state["summary"])
print("messages in the thread:", len(state["messages"]))
tool_messages = [m for m in state["messages"] if m.type == "tool"]
assert tool_messages and "shipped" in tool_messages[0].content

if emu is not None:
    emu.stop()
