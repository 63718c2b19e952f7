"""The layers of ``bench_floor.py``: one tool-using sub-agent per layer, each adding one thing.

A layer is a pair of callables ``(run, arun)`` taking N and returning how many of the N
sub-agents finished with one tool call and an answer; ``bench_floor.py`` times them.

1. ``bare``: a LangGraph parent `Send`s N branches; each invokes a compiled 3-node
   subgraph (model -> tools -> model over `MessagesState`) whose nodes are trivial.
2. ``toolnode``: as 1, with langgraph's prebuilt `ToolNode` running our `calculator`.
3. ``chatmodel``: as 2, with a langchain-core chat model with no I/O in the model node
   (two `BaseChatModel` calls per sub-agent, callbacks on). ``3b``: as 3, with our
   `create_agent_graph` over that model and the calculator as the subgraph.
4. ``swarm-noio``: our `create_swarm_graph` with the calculator and the same chat model.
5. ``swarm-kimi``: our swarm with `ChatKimi` against the emulator (L = 0).
6. ``aiohttp`` / ``openai``: the HTTP floor, two raw requests per sub-agent.
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Send

from kimi_graph.tools.calculator import calculator

__all__ = ["LAYERS", "Layer", "ScriptedModel", "http_layers", "swarm_layers", "task"]

Run = Callable[[int], int]
ARun = Callable[[int], Awaitable[int]]
Layer = tuple[Run, ARun]

_DECODER = json.JSONDecoder()


def task(i: int) -> str:
    """Sub-agent `i`'s task: the emulator's directive asking for one calculator call."""
    return f'Compute {i} * 3. [[call calculator {{"expression": "{i} * 3"}}]]'


def _calls(text: str) -> list[dict[str, Any]]:
    """The top-level ``[[call NAME {json}]]`` directives of `text`, as tool calls."""
    calls, pos = [], 0
    while (start := text.find("[[call ", pos)) >= 0:
        name_end = text.index(" ", start + 7)
        args, end = _DECODER.raw_decode(text, name_end + 1)
        calls.append({"name": text[start + 7 : name_end], "args": args, "id": f"c{len(calls)}"})
        pos = end + 2
    return calls


class ScriptedModel(BaseChatModel):
    """A chat model with no I/O that answers like the emulator's directives script it.

    The last message a tool result: answer. Otherwise the last human message's
    ``[[call ...]]`` directives become tool calls (none: answer).
    """

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        last = messages[-1]
        calls = [] if isinstance(last, ToolMessage) else _calls(str(last.content))
        message = AIMessage("", tool_calls=calls) if calls else AIMessage(f"done: {last.content}")
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._generate(messages)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        """The script decides the calls; tools need no binding."""
        return self


@dataclass
class _Parent:
    n: int
    results: Annotated[list[int], operator.add] = field(default_factory=list)


def _route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def _trivial_model(state: MessagesState) -> dict[str, Any]:
    messages = state["messages"]
    if isinstance(messages[-1], ToolMessage):
        return {"messages": [AIMessage(f"done: {messages[-1].content}")]}
    return {"messages": [AIMessage("", tool_calls=_calls(str(messages[-1].content)))]}


async def _atrivial_model(state: MessagesState) -> dict[str, Any]:
    return _trivial_model(state)


def _trivial_tools(state: MessagesState) -> dict[str, Any]:
    call = state["messages"][-1].tool_calls[0]  # type: ignore[attr-defined]
    left, _, right = call["args"]["expression"].partition(" * ")  # our own "i * 3"
    answer = str(int(left) * int(right))
    return {"messages": [ToolMessage(answer, tool_call_id=call["id"])]}


async def _atrivial_tools(state: MessagesState) -> dict[str, Any]:
    return _trivial_tools(state)


def _ok(messages: list[BaseMessage]) -> int:
    tools = sum(isinstance(m, ToolMessage) for m in messages)
    return int(tools == 1 and isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls)


def _ladder(model_node: Any, tools_node: Any, *, sync: bool) -> Any:
    """The parent graph: Send N branches, each running the compiled 3-node subgraph."""
    sub = StateGraph(MessagesState)
    sub.add_node("model", model_node)
    sub.add_node("tools", tools_node)
    sub.add_edge(START, "model")
    sub.add_conditional_edges("model", _route, ["tools", END])
    sub.add_edge("tools", "model")
    agent = sub.compile()

    def branch(b: dict[str, int]) -> dict[str, Any]:
        out = agent.invoke({"messages": [HumanMessage(task(b["i"]))]})
        return {"results": [_ok(out["messages"])]}

    async def abranch(b: dict[str, int]) -> dict[str, Any]:
        out = await agent.ainvoke({"messages": [HumanMessage(task(b["i"]))]})
        return {"results": [_ok(out["messages"])]}

    def fan(state: _Parent) -> list[Send]:
        return [Send("branch", {"i": i}) for i in range(state.n)]

    parent = StateGraph(_Parent)
    parent.add_node("branch", branch if sync else abranch)  # type: ignore[call-overload]
    parent.add_conditional_edges(START, fan, ["branch"])
    parent.add_edge("branch", END)
    return parent.compile()


def _ladder_layer(model: Callable[[bool], Any], tools: Callable[[bool], Any]) -> Layer:
    sync_graph = _ladder(model(True), tools(True), sync=True)
    async_graph = _ladder(model(False), tools(False), sync=False)

    def run(n: int) -> int:
        return sum(sync_graph.invoke({"n": n, "results": []})["results"])

    async def arun(n: int) -> int:
        return sum((await async_graph.ainvoke({"n": n, "results": []}))["results"])

    return run, arun


def _model_node(sync: bool) -> Any:
    model = ScriptedModel()

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def anode(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    return node if sync else anode


def _bare() -> Layer:
    return _ladder_layer(
        lambda s: _trivial_model if s else _atrivial_model,
        lambda s: _trivial_tools if s else _atrivial_tools,
    )


def _toolnode() -> Layer:
    return _ladder_layer(
        lambda s: _trivial_model if s else _atrivial_model, lambda s: ToolNode([calculator])
    )


def _chatmodel() -> Layer:
    return _ladder_layer(_model_node, lambda s: ToolNode([calculator]))


def _agent_subgraph() -> Layer:
    """Layer 3 with our `create_agent_graph` as the subgraph (no swarm around it)."""
    from kimi_graph import create_agent_graph

    agent = create_agent_graph(ScriptedModel(), [calculator])

    def branch(b: dict[str, int]) -> dict[str, Any]:
        out = agent.invoke({"messages": [HumanMessage(task(b["i"]))]})
        return {"results": [_ok(out["messages"])]}

    async def abranch(b: dict[str, int]) -> dict[str, Any]:
        out = await agent.ainvoke({"messages": [HumanMessage(task(b["i"]))]})
        return {"results": [_ok(out["messages"])]}

    def parent(node: Any) -> Any:
        graph = StateGraph(_Parent)
        graph.add_node("branch", node)
        graph.add_conditional_edges(
            START, lambda s: [Send("branch", {"i": i}) for i in range(s.n)], ["branch"]
        )
        graph.add_edge("branch", END)
        return graph.compile()

    sync_graph, async_graph = parent(branch), parent(abranch)

    def run(n: int) -> int:
        return sum(sync_graph.invoke({"n": n, "results": []})["results"])

    async def arun(n: int) -> int:
        return sum((await async_graph.ainvoke({"n": n, "results": []}))["results"])

    return run, arun


LAYERS: dict[str, Callable[[], Layer]] = {
    "1 bare LangGraph": _bare,
    "2 + ToolNode(calculator)": _toolnode,
    "3 + chat model (no I/O)": _chatmodel,
    "3b our agent graph as the subgraph": _agent_subgraph,
}
"""The layers below our code, by name, each a factory of its (run, arun)."""


def swarm_job(n: int) -> dict[str, Any]:
    """The swarm's request: N sub-tasks, each asking for one calculator call."""
    calls = "".join(
        f"[[call assign_task {json.dumps({'role': 'worker', 'task': task(i)})}]]" for i in range(n)
    )
    return {"messages": [HumanMessage(f"Work on each part independently. {calls}")]}


def _swarm_ok(out: dict[str, Any]) -> int:
    records = out.get("subagent_results") or []
    return sum(1 for r in records if r["status"] == "ok" and r["tool_calls"] == 1)


def _swarm_layer(model: Any) -> Layer:
    from kimi_graph import create_swarm_graph

    graphs: dict[int, Any] = {}

    def graph(n: int) -> Any:
        if n not in graphs:
            graphs[n] = create_swarm_graph(model, [calculator], max_subagents=n, max_concurrency=n)
        return graphs[n]

    def run(n: int) -> int:
        return _swarm_ok(graph(n).invoke(swarm_job(n)))

    async def arun(n: int) -> int:
        return _swarm_ok(await graph(n).ainvoke(swarm_job(n)))

    return run, arun


def swarm_layers(base_url: str | None) -> dict[str, Callable[[], Layer]]:
    """Layer 4 (our swarm, no-I/O model) and, with an emulator `base_url`, layer 5."""
    layers: dict[str, Callable[[], Layer]] = {
        "4 our swarm, no-I/O model": lambda: _swarm_layer(ScriptedModel())
    }
    if base_url is not None:
        from kimi_graph import ChatKimi

        def kimi() -> Layer:
            boss = ChatKimi(base_url=base_url, backend="moonshot", api_key="k", max_retries=0)
            return _swarm_layer(boss)

        layers["5 our swarm, ChatKimi + emulator"] = kimi
    return layers


def _body(text: str) -> dict[str, Any]:
    return {
        "model": "kimi-k2.5",
        "messages": [{"role": "user", "content": text}],
        "thinking": {"type": "disabled"},
    }


def http_layers(base_url: str) -> dict[str, Callable[[], Layer]]:
    """Layer 6: two raw requests per sub-agent (aiohttp; the openai SDK), async only.

    Each layer keeps one client (and its connection pool) over all its runs, as
    `ChatKimi` does; its `arun.aclose()` closes it.
    """

    def aiohttp_layer() -> Layer:
        import aiohttp

        sessions: list[aiohttp.ClientSession] = []

        async def arun(n: int) -> int:
            if not sessions:
                sessions.append(aiohttp.ClientSession())
            session = sessions[0]

            async def call(text: str) -> bool:
                async with session.post(f"{base_url}/chat/completions", json=_body(text)) as r:
                    return bool((await r.json())["choices"])

            async def subagent(i: int) -> int:
                return int(await call(f"q {i}") and await call(f"a {i}"))

            return sum(await asyncio.gather(*(subagent(i) for i in range(n))))

        async def aclose() -> None:
            while sessions:
                await sessions.pop().close()

        arun.aclose = aclose  # type: ignore[attr-defined]
        return _no_sync, arun

    def openai_layer() -> Layer:
        import openai

        clients: list[openai.AsyncOpenAI] = []
        extra = {"thinking": {"type": "disabled"}}

        async def arun(n: int) -> int:
            if not clients:
                clients.append(openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0))
            client = clients[0]

            async def call(text: str) -> bool:
                out = await client.chat.completions.create(
                    model="kimi-k2.5",
                    messages=[{"role": "user", "content": text}],
                    extra_body=extra,
                )
                return bool(out.choices)

            async def subagent(i: int) -> int:
                return int(await call(f"q {i}") and await call(f"a {i}"))

            return sum(await asyncio.gather(*(subagent(i) for i in range(n))))

        async def aclose() -> None:
            while clients:
                await clients.pop().close()

        arun.aclose = aclose  # type: ignore[attr-defined]
        return _no_sync, arun

    return {"6a HTTP: raw aiohttp x2": aiohttp_layer, "6b HTTP: raw openai SDK x2": openai_layer}


def _no_sync(n: int) -> int:
    """The HTTP floor is measured on the async path only (see the module docstring)."""
    return -1
