"""One call's rules, decided once: `plan_call` turns a call into a frozen `CallPlan`.

Whether a call thinks (and how hard), which `tool_choice` goes out, which sampling the
server fixes, which fields select the mode and which earlier reasoning goes back are
decided here, from the model's capabilities (`kimi_graph.model_profiles`) and the
server's dialect (`kimi_graph.backends`), before any request. The request builder and
the result reading of `ChatKimi` both read the plan, so `invoke` and `stream`,
`bind_tools(tool_choice=...)` and `model_kwargs={"tool_choice": ...}`, get one outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from kimi_graph.backends import Backend
from kimi_graph.chat_models._response_tool import response_tool_name
from kimi_graph.chat_models._structured_output import STRUCTURED_TOOL_KWARG
from kimi_graph.chat_models._thinking_conflicts import (
    ConflictPolicy,
    forced_choice,
    thinking_for_call,
)
from kimi_graph.model_profiles import ModelSpec, model_spec

__all__ = [
    "EFFORTS_OFF",
    "EFFORTS_ON",
    "PLAN_KWARG",
    "CallPlan",
    "CallSettings",
    "Note",
    "plan_call",
]

PLAN_KWARG = "kimi_call_plan"
"""Call keyword carrying the plan from the generate/stream hooks to the request builder."""

EFFORTS_OFF = ("none", "minimal")
"""LangChain `reasoning_effort` values that ask for no (or next to no) reasoning."""

EFFORTS_ON = ("low", "medium", "high", "xhigh", "max")
"""LangChain `reasoning_effort` values that ask for reasoning."""


class Note(NamedTuple):
    """Something the plan changed or mapped, told to the caller.

    Attributes:
        kind: A short key (one warning per kind and model instance).
        text: What happened and why.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class CallSettings:
    """What a `ChatKimi` instance brings to every call.

    Attributes:
        model: The model id as configured.
        endpoint: The base URL without credentials (for messages).
        backend: The server dialect.
        thinking: The instance's thinking setting.
        thinking_set: Whether `thinking` was given at init (not the default).
        reasoning_effort: The instance's `reasoning_effort`, if any.
        thinking_keep: K2.6's `thinking.keep`, if set.
        forced_tool_choice: Policy for a forced tool choice while thinking.
        builtin_search: Policy for builtin `$web_search` while thinking.
        model_kwargs: The instance's `model_kwargs` (tool choice or format may be there).
        spec: The model's capabilities when known better than the table (discovered
            from the server's model list, `_discovery`); None reads the table.
    """

    model: str
    endpoint: str
    backend: Backend
    thinking: bool = True
    thinking_set: bool = False
    reasoning_effort: str | None = None
    thinking_keep: str | None = None
    forced_tool_choice: ConflictPolicy = "disable_thinking"
    builtin_search: ConflictPolicy = "disable_thinking"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    spec: ModelSpec | None = None


@dataclass(frozen=True)
class CallPlan:
    """Everything one request of `ChatKimi` does, decided before it is built.

    Attributes:
        model: The model id as configured.
        spec: The model's capabilities.
        backend: The server dialect.
        thinking: The model reasons on this call.
        effort: The `reasoning_effort` sent, if any.
        request_fields: Top-level fields that select thinking or effort.
        sampling: Sampling values the server fixes for this call (checked), if any.
        sent_sampling: Of those, the names ChatKimi sends itself.
        structured_tool: A forced tool offered with `tool_choice="auto"` and an
            instruction instead (structured output while thinking where forcing is refused).
        response_tool: A caller's `response_format` JSON schema, asked for as a tool
            of this name (the server has no JSON-schema mode); its call comes back as text.
        reasoning_back: Earlier assistant messages get their reasoning back as read
            (`"as_read"`), or every one carries the field (`"all"`, Preserved Thinking).
        empty_reasoning_on_tool_calls: A tool-call turn without reasoning gets `""`.
        check_context: Check the prompt against the model's context before sending.
        notes: What the plan changed or mapped (shown in `response_metadata`).
    """

    model: str
    spec: ModelSpec
    backend: Backend
    thinking: bool
    effort: str | None = None
    request_fields: Mapping[str, Any] = field(default_factory=dict)
    sampling: Mapping[str, float] | None = None
    sent_sampling: tuple[str, ...] = ()
    structured_tool: str | None = None
    response_tool: str | None = None
    reasoning_back: Literal["as_read", "all"] = "as_read"
    empty_reasoning_on_tool_calls: bool = False
    check_context: bool = False
    notes: tuple[Note, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """What a caller should see of the plan in `response_metadata` (empty if plain)."""
        out: dict[str, Any] = {}
        if self.effort is not None:
            out["reasoning_effort"] = self.effort
        if self.notes:
            out["kimi_notes"] = [note.text for note in self.notes]
        return out


def _given(kwargs: Mapping[str, Any], settings: CallSettings, name: str) -> Any:
    """A call option, else the instance's `model_kwargs` value."""
    if kwargs.get(name) is not None:
        return kwargs[name]
    return settings.model_kwargs.get(name)


def _requested(settings: CallSettings, kwargs: Mapping[str, Any]) -> tuple[bool, str | None]:
    """The thinking and effort a call asks for: call options over the instance's.

    Raises:
        ValueError: When thinking and effort contradict each other.
    """
    call_thinking = kwargs.get("thinking")
    call_effort = kwargs.get("reasoning_effort")
    if call_thinking is not None or call_effort is not None:
        thinking, effort = call_thinking, call_effort
    else:
        effort = settings.reasoning_effort or settings.model_kwargs.get("reasoning_effort")
        thinking = settings.thinking if settings.thinking_set or effort is None else None
    if effort is not None and not isinstance(effort, str):
        msg = f"reasoning_effort must be a string such as 'high'; got {effort!r}."
        raise ValueError(msg)
    effort_on = None if effort is None else effort not in EFFORTS_OFF
    if thinking is not None and effort_on is not None and bool(thinking) != effort_on:
        msg = (
            f"thinking={thinking!r} contradicts reasoning_effort={effort!r} for "
            f"{settings.model}; give one of them."
        )
        raise ValueError(msg)
    wanted = bool(thinking) if thinking is not None else bool(effort_on)
    return wanted, effort


def _check_effort(effort: str | None, spec: ModelSpec, where: str) -> None:
    if effort is None:
        return
    allowed = spec.reasoning_efforts or EFFORTS_ON
    if effort in EFFORTS_OFF or effort in allowed:
        return
    shown = ", ".join(repr(e) for e in (*EFFORTS_OFF, *allowed))
    if spec.reasoning_efforts:
        msg = f"{where} takes reasoning_effort {shown}; got {effort!r}."
    else:
        msg = (
            f"{where} has no reasoning_effort {effort!r}: it switches reasoning on or off, "
            f"so it takes {shown}."
        )
    raise ValueError(msg)


def plan_call(settings: CallSettings, kwargs: Mapping[str, Any]) -> CallPlan:
    """Decide one call of `settings.model` with call options `kwargs`.

    Args:
        settings: The model instance's settings.
        kwargs: The call's options (`thinking`, `reasoning_effort`, `tool_choice`,
            `tools`, `response_format`, the structured-output tool's name).

    Returns:
        The frozen plan the request builder and the result reading follow.

    Raises:
        ValueError: For a value the model or server cannot take (before any request).
    """
    backend = settings.backend
    spec = settings.spec or model_spec(settings.model, hosted=backend.platform)
    where = f"{settings.model} at {settings.endpoint}"
    wanted, effort = _requested(settings, kwargs)
    _check_effort(effort, spec, where)
    notes: list[Note] = []
    thinking, effort = _decide_thinking(spec, backend, wanted, effort, where, notes)

    if backend.platform and settings.thinking_keep is not None and not spec.thinking_keep:
        msg = (
            f"{where} does not read thinking.keep (Preserved Thinking is K2.6's switch; "
            "Moonshot would ignore it silently). Use model='kimi-k2.6' or drop thinking_keep."
        )
        raise ValueError(msg)

    fmt = _given(kwargs, settings, "response_format")
    response_tool = None if backend.supports_json_schema else response_tool_name(fmt)
    tool_choice = _given(kwargs, settings, "tool_choice")
    structured = kwargs.get(STRUCTURED_TOOL_KWARG)
    if response_tool is not None and forced_choice(tool_choice) is None:
        tool_choice, structured = response_tool, response_tool
    structured_tool = None
    if thinking and backend.thinking_tool_choice_auto_only:
        taken = forced_choice(tool_choice) in spec.forced_tool_choice
        thinking, reason = thinking_for_call(
            thinking,
            model=settings.model,
            can_switch=spec.thinking == "switch",
            tool_choice=None if taken else tool_choice,
            tools=_given(kwargs, settings, "tools"),
            structured_tool=structured,
            forced_policy=settings.forced_tool_choice,
            builtin_policy=settings.builtin_search,
        )
        if reason is not None:
            notes.append(
                Note(
                    "thinking_off",
                    f"Moonshot rejects {reason} while thinking, so thinking is off for this "
                    f"call of {settings.model} (pass forced_tool_choice='error' / "
                    "builtin_search='error' to raise instead).",
                )
            )
        elif structured is not None and forced_choice(tool_choice) == structured:
            structured_tool = structured

    return CallPlan(
        model=settings.model,
        spec=spec,
        backend=backend,
        thinking=thinking,
        effort=effort,
        request_fields=_request_fields(spec, backend, thinking, effort, settings.thinking_keep),
        sampling=(
            spec.sampling.values(thinking) if backend.fixed_sampling and spec.sampling else None
        ),
        sent_sampling=spec.sampling.sent if backend.fixed_sampling and spec.sampling else (),
        structured_tool=structured_tool,
        response_tool=response_tool,
        reasoning_back=_reasoning_back(spec, thinking, settings.thinking_keep),
        empty_reasoning_on_tool_calls=thinking and backend.requires_reasoning_on_tool_calls,
        check_context=backend.platform,
        notes=tuple(notes),
    )


def _decide_thinking(
    spec: ModelSpec,
    backend: Backend,
    wanted: bool,
    effort: str | None,
    where: str,
    notes: list[Note],
) -> tuple[bool, str | None]:
    """Thinking and the effort to send, for what the call wants of this model."""
    if effort in EFFORTS_OFF:
        effort = None
    if spec.thinking == "never":
        if effort is not None:
            msg = f"{where} does not reason, so it takes no reasoning_effort {effort!r}."
            raise ValueError(msg)
        return False, None
    if spec.thinking == "switch":
        if effort is not None:
            notes.append(
                Note(
                    "effort_mapped",
                    f"reasoning_effort={effort!r} means thinking on: {spec.family} reads "
                    "only a thinking switch.",
                )
            )
        return wanted, None
    # The model always reasons, at least on its hosted platform.
    if wanted:
        if effort is not None and effort not in spec.reasoning_efforts:
            notes.append(
                Note(
                    "effort_mapped",
                    f"reasoning_effort={effort!r} means thinking on: {spec.family} always "
                    "reasons and reads no effort.",
                )
            )
            return True, None
        return True, effort
    if spec.template_switch and backend.thinking_switch == "template" and not backend.platform:
        return False, None  # self-hosted: its chat template turns thinking off for real
    if spec.reasoning_efforts:
        lowest = spec.reasoning_efforts[0]
        notes.append(
            Note(
                "instant_mapped",
                f"{where} always reasons (no instant mode), so instant mode sends its "
                f"lowest effort: reasoning_effort={lowest!r}.",
            )
        )
        return True, lowest
    msg = (
        f"{where} always thinks: it has no instant mode (Moonshot answers 400 'invalid "
        "thinking' to thinking disabled). Use kimi-k2.6 for instant mode, or thinking=True."
    )
    raise ValueError(msg)


def _request_fields(
    spec: ModelSpec, backend: Backend, thinking: bool, effort: str | None, keep: str | None
) -> dict[str, Any]:
    """Top-level fields that select thinking or effort for this model on this server."""
    fields: dict[str, Any] = {}
    if spec.thinking == "switch" and spec.reads_thinking_field:
        fields.update(backend.thinking_fields(thinking, keep if spec.thinking_keep else None))
    elif spec.reasoning_efforts and not backend.platform and spec.template_switch:
        if backend.thinking_switch == "template":
            fields.update(backend.thinking_fields(thinking))
    if effort is not None and thinking:
        fields["reasoning_effort"] = effort
    return fields


def _reasoning_back(spec: ModelSpec, thinking: bool, keep: str | None) -> Literal["as_read", "all"]:
    if spec.preserved_thinking == "always":
        return "all"
    if spec.preserved_thinking == "keep_all" and keep == "all" and thinking:
        return "all"
    return "as_read"
