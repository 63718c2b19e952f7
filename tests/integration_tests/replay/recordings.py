"""The recorded responses of Kimi servers under tests/fixtures/recordings, and what they say.

Each file holds one real response (see the README there for sources and why each is
believed real). The `expected_*` readers derive what ChatKimi must report from the
recording itself, by the plain OpenAI chat-completions rules: text concatenated,
tool-call pieces merged by `index`, the last usage report taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORDINGS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "recordings"

#: Statuses the fixtures did not record (`status: null`), by the body's error type:
#: Moonshot answers `resource_not_found_error` with 404 and `invalid_request_error`
#: with 400 (WIRE.md §1.5, §8.1). An assumption, marked as such where it is used.
ASSUMED_STATUS = {"resource_not_found_error": 404, "invalid_request_error": 400}


@dataclass(frozen=True)
class Recording:
    """One recorded response.

    Attributes:
        name: The file name without `.json`.
        model: The model id the response names.
        status: The HTTP status to serve (recorded, else assumed from the error type).
        stream: Whether it is a server-sent-event stream.
        body: The exact bytes of a non-streamed body.
        events: The JSON of each streamed `data:` event, verbatim, in order.
        data: The whole file.
    """

    name: str
    model: str
    status: int
    stream: bool
    body: bytes
    events: tuple[str, ...]
    data: dict[str, Any]

    @property
    def is_error(self) -> bool:
        """Whether the recording is an error body."""
        return self.status >= 400

    def chunks(self) -> list[dict[str, Any]]:
        """The parsed chunks of a stream."""
        return [json.loads(event) for event in self.events]


def load(name: str) -> Recording:
    """Read one recording by name."""
    data = json.loads((RECORDINGS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    response = data["response"]
    stream = bool(response.get("stream"))
    events = tuple(line.removeprefix("data: ") for line in response.get("sse") or ())
    raw = response.get("raw_text")
    body = (raw if raw is not None else json.dumps(response.get("body"))).encode()
    status = response.get("status")
    if status is None:
        status = ASSUMED_STATUS[response["body"]["error"]["type"]]
    model = data.get("model") or ""
    if stream:
        model = json.loads(events[0]).get("model", model)
    elif isinstance(response.get("body"), dict) and response["body"].get("model"):
        model = response["body"]["model"]
    return Recording(name, model, int(status), stream, body, events, data)


def names() -> list[str]:
    """Every recording's name, sorted."""
    return sorted(p.stem for p in RECORDINGS_DIR.glob("*.json"))


@dataclass(frozen=True)
class Expected:
    """What a recorded answer says, read by the chat-completions rules.

    Attributes:
        content: The answer text.
        reasoning: The reasoning text (`""` when none came).
        tool_calls: `(id, name, raw arguments)` per call, in index order.
        finish_reason: The finish reason.
        usage: The last usage object reported.
    """

    content: str
    reasoning: str
    tool_calls: tuple[tuple[str, str, str], ...]
    finish_reason: str | None
    usage: dict[str, Any] | None


def expected(recording: Recording) -> Expected:
    """Read what a successful recording answers."""
    if not recording.stream:
        response = json.loads(recording.body)
        choice = response["choices"][0]
        message = choice["message"]
        calls = tuple(
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        )
        return Expected(
            message.get("content") or "",
            message.get("reasoning_content") or "",
            calls,
            choice.get("finish_reason"),
            response.get("usage"),
        )
    content, reasoning, finish, usage = "", "", None, None
    merged: dict[int, dict[str, str]] = {}
    for item in recording.chunks():
        if item.get("usage"):
            usage = item["usage"]
        for choice in item.get("choices") or ():
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                slot = merged.setdefault(call["index"], {"id": "", "name": "", "args": ""})
                slot["id"] = slot["id"] or call.get("id") or ""
                function = call.get("function") or {}
                slot["name"] = slot["name"] or function.get("name") or ""
                slot["args"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
            if choice.get("usage"):
                usage = choice["usage"]
    calls = tuple((s["id"], s["name"], s["args"]) for _, s in sorted(merged.items()))
    return Expected(content, reasoning, calls, finish, usage)


def usage_reports(recording: Recording) -> int:
    """How many times a stream reports its usage (on a choice or top level)."""
    count = 0
    for item in recording.chunks():
        count += bool(item.get("usage"))
        count += sum(bool(c.get("usage")) for c in item.get("choices") or ())
    return count
