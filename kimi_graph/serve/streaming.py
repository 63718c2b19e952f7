"""A graph run as OpenAI stream chunks: reasoning, then content, then the end.

`StreamTranslator` reads the events of `graph.astream(..., stream_mode=["messages",
"custom", "values"])`:

- `messages`: token chunks of the answering nodes (the model of instant/thinking, each
  step of the agent, the swarm's orchestrator and synthesis) become
  `delta.reasoning_content` and `delta.content`; sub-agents' tokens are not sent.
- `custom`: swarm progress (`{"type": "subagent", "event": "start" | "finish" |
  "error", ...}`) becomes a chunk whose delta is empty and whose top-level
  `kimi_graph` field holds the event. Standard clients see an empty delta and skip it;
  with openai-python read it as `chunk.model_extra["kimi_graph"]`.
- `values`: the last state gives the final message; text the graph added after the
  tokens (e.g. the swarm's note on failed sub-agents) is sent as a last content delta.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.messages.tool import ToolCallChunk

from kimi_graph.serve.schemas import chunk_body, finish_reason, openai_tool_calls, public_url
from kimi_graph.serve.usage import UsageCollector

__all__ = [
    "REASONING_SEPARATOR",
    "StreamTranslator",
    "final_message",
    "message_text",
    "public_event",
    "reasoning_of",
    "run_reasoning",
    "tool_call_deltas",
]


def public_event(data: dict[str, Any]) -> dict[str, Any]:
    """A progress event as clients see it: worker URLs without credentials."""
    worker = data.get("worker")
    return {**data, "worker": public_url(worker)} if isinstance(worker, str) else data


def final_message(state: dict[str, Any] | None) -> AIMessage | None:
    """The last assistant message of a graph state."""
    for message in reversed((state or {}).get("messages") or []):
        if isinstance(message, AIMessage):
            return message
    return None


def message_text(message: AIMessage | None) -> str:
    """The text content of a message (content blocks joined)."""
    if message is None:
        return ""
    return message.content if isinstance(message.content, str) else message.text


def reasoning_of(message: AIMessage | None) -> str | None:
    """The reasoning a message carries, if any."""
    if message is None:
        return None
    value = message.additional_kwargs.get("reasoning_content")
    return value if isinstance(value, str) else None


def tool_call_deltas(chunks: list[ToolCallChunk]) -> list[dict[str, Any]]:
    """Tool-call chunks as OpenAI's `delta.tool_calls` (id, type and name when known)."""
    deltas = []
    for position, chunk in enumerate(chunks):
        index = chunk.get("index")
        delta: dict[str, Any] = {"index": index if isinstance(index, int) else position}
        if chunk.get("id"):
            delta["id"] = chunk["id"]
            delta["type"] = "function"
        function: dict[str, Any] = {}
        if chunk.get("name"):
            function["name"] = chunk["name"]
        function["arguments"] = chunk.get("args") or ""
        delta["function"] = function
        deltas.append(delta)
    return deltas


REASONING_SEPARATOR = "\n\n"
"""Between the reasoning of two model calls of one run (agent steps, orchestrator, synthesis)."""


def run_reasoning(state: dict[str, Any] | None) -> str | None:
    """The reasoning of every assistant turn since the last user message, joined.

    The same text a stream sends as `reasoning_content` deltas: in agent mode every
    step's, in swarm mode the orchestrator's then the synthesis'.
    """
    turns: list[str] = []
    for message in reversed((state or {}).get("messages") or []):
        if isinstance(message, HumanMessage):
            break
        reasoning = reasoning_of(message) if isinstance(message, AIMessage) else None
        if reasoning:
            turns.append(reasoning)
    return REASONING_SEPARATOR.join(reversed(turns)) or None


class StreamTranslator:
    """Turn one run's stream events into `chat.completion.chunk` bodies.

    Args:
        completion_id: The `id` of every chunk.
        model: The served model name.
        nodes: Nodes whose tokens are the answer's.
        usage: The run's usage collector.
        include_usage: End with a usage chunk (`stream_options.include_usage`).
        client_tools: The request brought its own tools: the model's tool calls are
            sent as `delta.tool_calls` (the server's own tool calls never are).
        json_mode: The answer is JSON made from the whole call: sent once, at the end.
        note: A `kimi_graph` field for the first chunk (e.g. thinking turned off).
        on_final: Called with the final message when the stream ends.
    """

    def __init__(
        self,
        completion_id: str,
        model: str,
        nodes: frozenset[str],
        usage: UsageCollector,
        *,
        include_usage: bool,
        client_tools: bool = False,
        json_mode: bool = False,
        note: dict[str, Any] | None = None,
        on_final: Callable[[AIMessage | None], None] | None = None,
    ) -> None:
        self.completion_id = completion_id
        self.model = model
        self.nodes = nodes
        self.usage = usage
        self.include_usage = include_usage
        self.client_tools = client_tools
        self.json_mode = json_mode
        self.note = note
        self.on_final = on_final
        self.tool_calls_sent = 0
        self.created = int(time.time())
        self.content = ""
        self.reasoning = ""
        self.state: dict[str, Any] | None = None
        self._started = False
        self._reasoning_id: str | None = None

    def _chunk(self, delta: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if not self._started:
            delta = {"role": "assistant", **delta}
            self._started = True
            if self.note is not None and "extra" not in kwargs:
                kwargs["extra"] = self.note
        return chunk_body(self.completion_id, self.model, self.created, delta, **kwargs)

    def handle(self, mode: str, data: Any) -> list[dict[str, Any]]:
        """The chunks one stream event produces (often none)."""
        if mode == "messages":
            return self._token(*data)
        if mode == "custom" and isinstance(data, dict):
            return [self._chunk({}, extra=public_event(data))]
        if mode == "values" and isinstance(data, dict):
            self.state = data
        return []

    def _token(self, chunk: Any, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        if (
            not isinstance(chunk, AIMessageChunk)
            or metadata.get("langgraph_node") not in self.nodes
        ):
            return []
        if "|" in str(metadata.get("langgraph_checkpoint_ns", "")):
            return []  # a nested graph's node of the same name
        out = []
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            if self.reasoning and chunk.id != self._reasoning_id:
                reasoning = REASONING_SEPARATOR + reasoning  # the next model call's
            self._reasoning_id = chunk.id
            self.reasoning += reasoning
            out.append(self._chunk({"reasoning_content": reasoning}))
        text = message_text(chunk)
        if text and not self.json_mode:  # JSON is made from the whole call: `finish` sends it
            self.content += text
            out.append(self._chunk({"content": text}))
        if self.client_tools and chunk.tool_call_chunks:
            out.append(self._chunk({"tool_calls": tool_call_deltas(chunk.tool_call_chunks)}))
            self.tool_calls_sent += len(chunk.tool_call_chunks)
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The closing chunks: any text not streamed, the finish reason, the usage."""
        out: list[dict[str, Any]] = []
        final = final_message(self.state)
        text = message_text(final)
        if not self.content and not self.reasoning:
            reasoning = run_reasoning(self.state)
            if reasoning:
                out.append(self._chunk({"reasoning_content": reasoning}))
        if text.startswith(self.content) and len(text) > len(self.content):
            out.append(self._chunk({"content": text[len(self.content) :]}))
        calls = openai_tool_calls(final) if self.client_tools else []
        if calls and not self.tool_calls_sent:  # not streamed (e.g. a raw-token fallback)
            deltas = [{"index": i, **call} for i, call in enumerate(calls)]
            out.append(self._chunk({"tool_calls": deltas}))
        out.append(self._chunk({}, reason=finish_reason(final, client_tools=self.client_tools)))
        if self.on_final is not None:
            self.on_final(final)
        if self.include_usage:
            usage = self.usage.openai_usage()
            out.append(chunk_body(self.completion_id, self.model, self.created, usage=usage))
        return out
