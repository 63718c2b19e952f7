"""What one oversized plan may leave in a thread, and what the swarm's model calls read.

An orchestrator that emits thousands of `assign_task` calls (a runaway model, or a
prompt injection) must not break the thread for good: the history that every later
turn sends has to stay within the model's context. Three bounds:

- refusals: past `MAX_SEPARATE_REFUSALS` refused calls in one turn, they are answered
  by ONE tool message, and the calls themselves are left out of the stored assistant
  message (its first refused call stays, answered by that message), so the history
  stays valid and small (`collapse_refusals`);
- results: the results of one round share `ROUND_RESULT_CHARS`; each is clipped to
  ``min(max_result_chars, ROUND_RESULT_CHARS // sub-agents of the round)``
  (`result_chars`), so 100 results of 4,000 characters still pass whole;
- context: the orchestrator and the synthesis read the conversation with earlier
  results compacted to their first `KEPT_CHARS` characters once it passes
  `COMPACT_THRESHOLD_TOKENS` (`compact_results`); the state keeps them whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from kimi_graph.modes._tool_results import estimate_tokens
from kimi_graph.modes.swarm._prompts import ASSIGN_TASK

__all__ = [
    "COMPACT_THRESHOLD_TOKENS",
    "KEPT_CHARS",
    "MAX_SEPARATE_REFUSALS",
    "ROUND_RESULT_CHARS",
    "compact_for_orchestrator",
    "compact_for_synthesis",
    "compact_results",
    "refusal_summary",
    "result_chars",
]

MAX_SEPARATE_REFUSALS = 5
"""Refused calls of one turn answered one by one; past it, one message answers all."""
ROUND_RESULT_CHARS = 400_000
"""Characters all results of one round may take together (about 100K tokens)."""
COMPACT_THRESHOLD_TOKENS = 96_000
"""Estimated size from which earlier results are compacted (K2.5 reads 256K)."""
KEPT_CHARS = 300
"""Characters kept of a compacted result."""


def result_chars(max_result_chars: int, subagents: int) -> int:
    """Characters each of ``subagents`` results of one round may keep."""
    return max(1, min(max_result_chars, ROUND_RESULT_CHARS // max(1, subagents)))


def refusal_summary(reasons: Sequence[str]) -> str:
    """One message for many refused calls: how many, and why (most frequent first)."""
    counts = Counter(reasons)
    parts = [f"{n} x {reason}" for reason, n in counts.most_common()]
    return (
        f"{len(reasons)} calls were not run and are left out of this turn (one answer for "
        f"all of them): {'; '.join(parts)}"
    )


def compact_results(
    messages: Sequence[AnyMessage],
    keep_from: int,
    threshold_tokens: int = COMPACT_THRESHOLD_TOKENS,
) -> list[AnyMessage]:
    """Shorten `assign_task` results before ``keep_from`` once past the threshold.

    Args:
        messages: The conversation.
        keep_from: Results at this index and later stay whole.
        threshold_tokens: Below this (estimated) size nothing changes.

    Returns:
        A new list; compacted tool messages are copies (the call ids stay answered).
    """
    out = list(messages)
    if estimate_tokens(out) <= threshold_tokens:
        return out
    for i in range(min(keep_from, len(out))):
        message = out[i]
        if not (isinstance(message, ToolMessage) and message.name == ASSIGN_TASK):
            continue
        text = message.text
        if len(text) > KEPT_CHARS:
            note = f"\n[earlier result compacted to save context: {len(text)} characters]"
            out[i] = message.model_copy(update={"content": text[:KEPT_CHARS] + note})
    return out


def compact_for_orchestrator(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The orchestrator's view: the latest round's results whole, earlier ones compacted."""
    last_round = max(
        (i for i, m in enumerate(messages) if isinstance(m, AIMessage) and m.tool_calls),
        default=len(messages),
    )
    return compact_results(messages, last_round)


def compact_for_synthesis(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The synthesis's view: this request's results whole, earlier requests' compacted."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    return compact_results(messages, last_user)
