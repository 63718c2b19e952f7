"""A cap on the tool calls one model turn may run.

A model (or a prompt injection) can ask for hundreds of calls in one assistant
message, and each may start a sandbox or a fetch. The agent's tool node runs the
first `DEFAULT_MAX_CALLS_PER_TURN` and answers each of the others with an error
tool message saying why, so the history stays valid (every call has its answer)
and the model can ask again in a later turn.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, ToolMessage

__all__ = ["DEFAULT_MAX_CALLS_PER_TURN", "split_calls"]

DEFAULT_MAX_CALLS_PER_TURN = 32
"""Tool calls of one assistant message that run; the rest are answered, not run."""


def split_calls(message: AIMessage, cap: int) -> tuple[AIMessage, list[ToolMessage]]:
    """Keep the first ``cap`` tool calls of ``message`` and refuse the rest.

    Args:
        message: The assistant message with the tool calls.
        cap: Calls that may run.

    Returns:
        The message to run (``message`` itself when within the cap, else a copy
        with the first ``cap`` calls) and one error tool message per call left out.
    """
    calls = message.tool_calls
    if len(calls) <= cap:
        return message, []
    refused = [
        ToolMessage(
            content=(
                f"Error: not run. This turn asked for {len(calls)} tool calls and at most "
                f"{cap} run per turn; the first {cap} ran. Ask again in a later turn for "
                "what you still need, or use fewer calls."
            ),
            tool_call_id=call["id"] or "",
            name=call["name"],
            status="error",
        )
        for call in calls[cap:]
    ]
    return message.model_copy(update={"tool_calls": calls[:cap]}), refused
