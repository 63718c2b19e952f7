"""The client's own tools on `kimi-instant` and `kimi-thinking`: checked, then bound.

Instant and thinking mode are one model call, so a request's `tools` and `tool_choice`
go to the model as any OpenAI-compatible server passes them (`ChatKimi.bind_tools`), and
its tool calls come back to the client, which runs them and sends the results in its
next request. `kimi-agent` and `kimi-swarm` run the server's own tools; their requests
with `tools` are refused (`refuse_for_mode`).

A forced `tool_choice` (`"required"` or a named function) follows ChatKimi's rule: on a
server that refuses it while thinking (Moonshot), thinking is off for that call and the
response says so (`forced_choice_note`); a model that cannot stop thinking is a 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable

from kimi_graph.chat_models import ChatKimi
from kimi_graph.serve.errors import ApiError

__all__ = [
    "ClientTools",
    "parse_client_tools",
    "refuse_for_mode",
]

ENDPOINT = "/v1/chat/completions"


def refuse_for_mode(model_name: str) -> ApiError:
    """The 400 for `tools` on `kimi-agent` / `kimi-swarm`, whose tools run server-side."""
    msg = (
        f"{ENDPOINT}: `tools` is not accepted by {model_name}: its tools run on the server "
        "(the agent's own tool loop), so request tools are not merged; use kimi-instant or "
        "kimi-thinking to run your own tools"
    )
    return ApiError(400, msg, "tools_not_supported", param="tools")


def _function_names(tools: list[dict[str, Any]]) -> list[str]:
    names = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if tool.get("type") != "function" or not isinstance(name, str) or not name:
            msg = (
                f"{ENDPOINT}: tools.{index}: a tool is "
                "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
            )
            raise ApiError(400, msg, "invalid_value", param=f"tools.{index}")
        assert isinstance(function, dict)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            msg = f"{ENDPOINT}: tools.{index}.function.parameters must be a JSON schema object"
            raise ApiError(400, msg, "invalid_value", param=f"tools.{index}.function.parameters")
        names.append(name)
    return names


def _check_choice(tool_choice: Any, names: list[str]) -> Any:
    if tool_choice in (None, "auto", "none", "required"):
        return tool_choice
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name in names:
            return {"type": "function", "function": {"name": name}}
        msg = f"{ENDPOINT}: tool_choice names the function {name!r}, which is not in `tools`"
        raise ApiError(400, msg, "invalid_value", param="tool_choice")
    msg = (
        f"{ENDPOINT}: tool_choice must be 'auto', 'none', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}"
    )
    raise ApiError(400, msg, "invalid_value", param="tool_choice")


@dataclass(frozen=True)
class ClientTools:
    """A request's tools, validated.

    Attributes:
        tools: OpenAI function tools, as the client sent them.
        tool_choice: `None`, `"auto"`, `"none"`, `"required"` or a named function.
        parallel_tool_calls: The client's `parallel_tool_calls`, if set.
    """

    tools: tuple[dict[str, Any], ...]
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    def key(self) -> str:
        """A stable key of these tools (graphs are cached per key)."""
        return json.dumps(
            [list(self.tools), self.tool_choice, self.parallel_tool_calls], sort_keys=True
        )

    def forced(self) -> bool:
        """Whether `tool_choice` forces a call."""
        return self.tool_choice not in (None, "auto", "none")

    def bind(self, model: ChatKimi, *, thinking: bool, served: str) -> Runnable[Any, Any]:
        """`model.bind_tools(...)`, after checking the upstream would take the call.

        Args:
            model: The answering model.
            thinking: Thinking as the served mode sets it.
            served: The served model name, for messages.

        Raises:
            ApiError: 400 when ChatKimi refuses the combination (e.g. a forced
                `tool_choice` on a model that cannot stop thinking).
        """
        extra: dict[str, Any] = {}
        if self.parallel_tool_calls is not None:
            extra["parallel_tool_calls"] = self.parallel_tool_calls
        bound = model.bind_tools(list(self.tools), tool_choice=self.tool_choice, **extra)
        try:
            model.wire_body(
                [HumanMessage("check")],
                thinking=thinking,
                **bound.kwargs,  # type: ignore[attr-defined]
            )
        except ValueError as err:
            msg = f"{ENDPOINT} ({served}): {err}"
            raise ApiError(400, msg, "unsupported_value", param="tool_choice") from None
        return bound

    def forced_choice_note(self, model: ChatKimi, *, thinking: bool) -> str | None:
        """What the response says when thinking is off for a forced `tool_choice`."""
        if not (thinking and self.forced() and model.kimi_backend.thinking_tool_choice_auto_only):
            return None
        shown = (
            "required"
            if self.tool_choice == "required"
            else str((self.tool_choice.get("function") or {}).get("name"))
        )
        return (
            f"thinking was off for this call: the upstream server refuses tool_choice={shown} "
            "while thinking (send tool_choice 'auto' to keep the reasoning)"
        )


def parse_client_tools(body: Any) -> ClientTools | None:
    """The request's client tools, or None when it sends none.

    Args:
        body: The parsed request (`tools`, `tool_choice`, `parallel_tool_calls`).

    Raises:
        ApiError: 400 for a malformed tool or a `tool_choice` that names no tool.
    """
    tools = body.tools
    if not tools:
        if body.tool_choice not in (None, "auto", "none"):
            msg = f"{ENDPOINT}: tool_choice {body.tool_choice!r} needs `tools`"
            raise ApiError(400, msg, "invalid_value", param="tool_choice")
        return None
    names = _function_names(tools)
    choice = _check_choice(body.tool_choice, names)
    parallel = getattr(body, "parallel_tool_calls", None)
    if parallel is not None and not isinstance(parallel, bool):
        msg = f"{ENDPOINT}: parallel_tool_calls must be true or false"
        raise ApiError(400, msg, "invalid_value", param="parallel_tool_calls")
    return ClientTools(tuple(tools), choice, parallel)
