"""The K2.5 emulator over real HTTP (loopback only), dialect by dialect."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from kimi_graph.emulator import DIALECTS, Emulator, EmulatorConfig, RequestRecord

REASONING_OUT = {
    "moonshot": ("reasoning_content",),
    "vllm": ("reasoning",),
    "vllm-legacy": ("reasoning_content",),
    "sglang": ("reasoning_content",),
    "llamacpp": ("reasoning_content",),
    "openrouter": ("reasoning", "reasoning_details"),
    "raw": (),
}
ALL_REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_details")
PARSED = [d for d in DIALECTS if d != "raw"]


# --------------------------------------------------------------------------- helpers


def model_for(dialect: str) -> str:
    return "moonshotai/kimi-k2.5" if dialect == "openrouter" else "kimi-k2.5"


def switch(dialect: str, on: bool) -> dict[str, Any]:
    """Request fields that turn thinking on or off in a dialect."""
    if dialect == "moonshot":
        return {"thinking": {"type": "enabled" if on else "disabled"}}
    if dialect == "openrouter":
        return {} if on else {"reasoning": {"enabled": False}}
    return {"chat_template_kwargs": {"thinking": on}}


def tag() -> str:
    return uuid.uuid4().hex[:10]


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def post(emu: Emulator, dialect: str | None, body: dict, **kwargs: Any) -> httpx.Response:
    body = {"model": model_for(dialect or "moonshot"), **body}
    kwargs.setdefault("timeout", 30)
    return httpx.post(f"{emu.base_url(dialect)}/chat/completions", json=body, **kwargs)


def ok(emu: Emulator, dialect: str | None, body: dict) -> dict:
    r = post(emu, dialect, body)
    assert r.status_code == 200, r.text
    return r.json()


def message(emu: Emulator, dialect: str | None, body: dict) -> dict:
    return ok(emu, dialect, body)["choices"][0]["message"]


def events(r: httpx.Response) -> list[dict]:
    """Parse an SSE body; asserts the framing and the final ``[DONE]``."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in r.text.split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks)
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(b[len("data: ") :]) for b in blocks[:-1]]


def stream(emu: Emulator, dialect: str | None, body: dict) -> list[dict]:
    return events(post(emu, dialect, {**body, "stream": True}))


def deltas(chunks: list[dict]) -> list[dict]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def record_for(emu: Emulator, marker: str) -> RequestRecord:
    matches = [r for r in emu.requests if marker in r.last_user]
    assert matches, f"no request with {marker!r}"
    return matches[-1]


def tool(name: str, props: dict, required: list[str] | None = None) -> dict:
    params = {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
    }
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": params},
    }


SEARCH = tool("web_search", {"query": {"type": "string"}})
WEATHER = tool("get_weather", {"city": {"type": "string"}, "days": {"type": "integer"}})


def tool_turn(calls: list[tuple[str, str]], **reasoning: Any) -> dict:
    return {
        "role": "assistant",
        "content": "",
        **reasoning,
        "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": n, "arguments": "{}"}}
            for cid, n in calls
        ],
    }


def tool_result(cid: str, text: str) -> dict:
    return {"role": "tool", "tool_call_id": cid, "content": text}


# --------------------------------------------------------------------------- server basics


def test_health_models_and_unknown_dialect(emulator: Emulator) -> None:
    assert httpx.get(f"{emulator.url}/_emulator/health").json() == {"ok": True}
    for dialect in DIALECTS:
        data = httpx.get(f"{emulator.base_url(dialect)}/models").json()["data"]
        assert model_for(dialect) in [m["id"] for m in data]
    assert httpx.get(f"{emulator.base_url()}/models").status_code == 200
    r = httpx.post(f"{emulator.url}/nope/v1/chat/completions", json={})
    assert r.status_code == 404
    with pytest.raises(ValueError):
        emulator.base_url("nope")


def test_default_route_is_moonshot(emulator: Emulator) -> None:
    m = tag()
    msg = message(emulator, None, {"messages": user(f"hello {m}")})
    assert msg["reasoning_content"]
    assert record_for(emulator, m).dialect == "moonshot"


def test_ids_unique_model_echoed_created_int(emulator: Emulator) -> None:
    bodies = [
        ok(emulator, "vllm", {"messages": user("hi"), "model": "moonshotai/Kimi-K2.5"})
        for _ in range(5)
    ]
    ids = {b["id"] for b in bodies}
    assert len(ids) == 5 and all(i.startswith("chatcmpl-") for i in ids)
    assert all(
        b["model"] == "moonshotai/Kimi-K2.5" and isinstance(b["created"], int) for b in bodies
    )
    chunks = stream(emulator, "vllm", {"messages": user("hi there friend")})
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"] not in ids


def test_bad_json_and_missing_messages(emulator: Emulator) -> None:
    url = f"{emulator.base_url('moonshot')}/chat/completions"
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "kimi-k2.5"})
    assert r.status_code == 400 and "messages is required" in r.json()["error"]["message"]
    r = httpx.post(
        f"{emulator.base_url('vllm')}/chat/completions", json={"model": "kimi-k2.5", "messages": []}
    )
    assert r.status_code == 400


# ------------------------------------------------------------------ thinking switch & fields


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("on", [True, False])
def test_thinking_switch_invoke(emulator: Emulator, dialect: str, on: bool) -> None:
    m = tag()
    msg = message(
        emulator, dialect, {"messages": user(f"Tell me about rivers {m}"), **switch(dialect, on)}
    )
    rec = record_for(emulator, m)
    assert rec.thinking is on and rec.status == 200 and rec.dialect == dialect
    present = [f for f in ALL_REASONING_FIELDS if msg.get(f)]
    if not on:
        assert present == []
        assert msg["content"].startswith("Here is my answer to")
        assert "</think>" not in msg["content"]
        return
    assert present == list(REASONING_OUT[dialect])
    if dialect == "raw":
        reasoning, _, answer = msg["content"].partition("</think>")
        assert reasoning.startswith("The user asks") and answer.startswith("Here is my answer")
        assert "<think>" not in msg["content"]
    else:
        assert "The user asks" in msg[REASONING_OUT[dialect][0]]
        assert msg["content"].startswith("Here is my answer to")
    if dialect == "openrouter":
        assert msg["reasoning_details"] == [
            {"type": "reasoning.text", "text": msg["reasoning"], "format": "unknown", "index": 0}
        ]


@pytest.mark.parametrize("dialect", PARSED)
@pytest.mark.parametrize("on", [True, False])
def test_thinking_switch_stream(emulator: Emulator, dialect: str, on: bool) -> None:
    chunks = stream(
        emulator, dialect, {"messages": user("Explain tides to me briefly"), **switch(dialect, on)}
    )
    ds = deltas(chunks)
    assert ds[0]["role"] == "assistant"
    assert all("role" not in d for d in ds[1:])
    kinds = []
    for d in ds:
        if any(f in d for f in ALL_REASONING_FIELDS):
            assert set(d) - {"role"} == set(REASONING_OUT[dialect])
            kinds.append("r")
        elif d.get("content"):
            kinds.append("c")
    if on:
        assert kinds.count("r") >= 2
        first_c = kinds.index("c")
        assert "r" not in kinds[first_c:], "reasoning after content"
        field = REASONING_OUT[dialect][0]
        assert "".join(d.get(field, "") for d in ds).startswith("The user asks")
    else:
        assert "r" not in kinds
    assert kinds.count("c") >= 3
    text = "".join(d.get("content") or "" for d in ds)
    assert text.startswith("Here is my answer to")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    if dialect == "openrouter" and on:
        rd = [d["reasoning_details"][0] for d in ds if "reasoning_details" in d]
        assert all(x["type"] == "reasoning.text" and x["format"] == "unknown" for x in rd)
        assert "".join(x["text"] for x in rd) == "".join(d.get("reasoning", "") for d in ds)


def test_openai_sdk_reads_reasoning(emulator_openai: Any) -> None:
    client = emulator_openai("moonshot")
    resp = client.chat.completions.create(model="kimi-k2.5", messages=user("Why is the sky blue?"))
    msg = resp.choices[0].message
    assert getattr(msg, "reasoning_content", None) and msg.content
    assert resp.usage is not None and resp.usage.total_tokens > resp.usage.prompt_tokens
    parts = {"reasoning": "", "content": ""}
    for ch in client.chat.completions.create(
        model="kimi-k2.5", messages=user("Why is the sky blue?"), stream=True
    ):
        delta = ch.choices[0].delta
        parts["reasoning"] += getattr(delta, "reasoning_content", None) or ""
        parts["content"] += delta.content or ""
    assert parts == {"reasoning": msg.reasoning_content, "content": msg.content}


def test_vllm_accepts_enable_thinking_legacy_does_not(emulator: Emulator) -> None:
    body = {"messages": user("hello"), "chat_template_kwargs": {"enable_thinking": False}}
    assert "reasoning" not in message(emulator, "vllm", body)
    assert message(emulator, "vllm-legacy", body)["reasoning_content"]


def test_openrouter_exclude_and_effort_none(emulator: Emulator) -> None:
    m = tag()
    body = {"messages": user(f"hello {m}"), "reasoning": {"exclude": True}}
    resp = ok(emulator, "openrouter", body)
    msg = resp["choices"][0]["message"]
    assert "reasoning" not in msg and "reasoning_details" not in msg
    assert resp["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert record_for(emulator, m).thinking is True
    ds = deltas(stream(emulator, "openrouter", body))
    assert not any("reasoning" in d for d in ds)
    msg = message(emulator, "openrouter", {"messages": user("x"), "reasoning": {"effort": "none"}})
    assert "reasoning" not in msg


def test_unknown_models_per_dialect(emulator: Emulator) -> None:
    r = post(emulator, "moonshot", {"model": "kimi-k9", "messages": user("hi")})
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "message": "Not found the model kimi-k9 or Permission denied",
            "type": "resource_not_found_error",
        }
    }
    for dialect in ("vllm", "vllm-legacy", "sglang", "llamacpp", "raw"):
        r = post(emulator, dialect, {"model": "gpt-4o", "messages": user("hi")})
        assert r.status_code == 404
        body = r.json()
        assert body.get("error", body)["message"] == "The model `gpt-4o` does not exist."
    r = post(emulator, "openrouter", {"model": "kimi-k2.5", "messages": user("hi")})
    assert r.status_code == 400 and "not a valid model ID" in r.json()["error"]["message"]


def test_moonshot_model_thinking_capabilities(emulator: Emulator) -> None:
    off = {"thinking": {"type": "disabled"}}
    for model in ("kimi-k2-thinking", "kimi-k2-thinking-turbo"):
        assert message(emulator, "moonshot", {"model": model, "messages": user("hi"), **off})[
            "reasoning_content"
        ]
    for model in ("kimi-k2-0905-preview", "kimi-k2-turbo-preview"):
        msg = message(
            emulator, "moonshot", {"model": model, "messages": user("hi"), "temperature": 0.3}
        )
        assert "reasoning_content" not in msg
    body = {
        "model": "moonshotai/kimi-k2-thinking",
        "messages": user("hi"),
        "reasoning": {"enabled": False},
    }
    assert message(emulator, "openrouter", body)["reasoning"]
    body = {"model": "kimi-k2-thinking", "messages": user("hi"), **switch("vllm", False)}
    assert message(emulator, "vllm", body)["reasoning"]


# --------------------------------------------------------------------------- Moonshot 400 rules

MISSING_RC = "thinking is enabled but reasoning_content is missing in assistant tool call message"
_TC = [tool_turn([("functions.web_search:0", "web_search")])]
MOONSHOT_400 = [
    (
        {"thinking": True},
        "the thinking field in the request (expected type object) is illegal, "
        "and bool is not acceptable",
    ),
    ({"temperature": 0.7}, "invalid temperature: only 1 is allowed for this model"),
    (
        {"temperature": 1.0, "thinking": {"type": "disabled"}},
        "invalid temperature: only 0.6 is allowed for this model",
    ),
    ({"top_p": 0.9}, "invalid top_p: only 0.95 is allowed for this model"),
    ({"n": 2}, "invalid n: only 1 is allowed for this model"),
    ({"presence_penalty": 0.5}, "invalid presence_penalty: only 0 is allowed for this model"),
    ({"frequency_penalty": 0.1}, "invalid frequency_penalty: only 0 is allowed for this model"),
    (
        {"tools": [SEARCH], "tool_choice": "required"},
        "tool_choice 'required' is incompatible with thinking enabled",
    ),
    (
        {
            "tools": [SEARCH],
            "tool_choice": {"type": "function", "function": {"name": "web_search"}},
        },
        "tool_choice 'specified' is incompatible with thinking enabled",
    ),
    ({"tools": [tool(f"t{i}", {}) for i in range(129)]}, "too many tools"),
    ({"tools": [tool("bad name!", {})]}, "function name 'bad name!' is invalid"),
    ({"tools": [tool("9lives", {})]}, "function name '9lives' is invalid"),
    (
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}},
            }
        },
        "invalid response_format type 'json_schema'",
    ),
    (
        {"messages": [*user("q"), *_TC, tool_result("functions.web_search:0", "r")]},
        f"{MISSING_RC} at index 1",
    ),
    (
        {
            "messages": [
                {"role": "system", "content": "sys"},
                *user("q"),
                tool_turn([("functions.a:0", "a")], reasoning_content="ok"),
                tool_result("functions.a:0", "r"),
                tool_turn([("functions.a:1", "a")], reasoning_content=None, reasoning="elsewhere"),
                tool_result("functions.a:1", "r"),
            ]
        },
        f"{MISSING_RC} at index 4",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), MOONSHOT_400)
def test_moonshot_validation(emulator: Emulator, fields: dict, expected: str) -> None:
    r = post(emulator, "moonshot", {"messages": user("hello"), **fields})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["message"].startswith(expected)
    # the same body is fine on a self-hosted server (vLLM ignores what it does not know)
    if "thinking" not in fields and "tools" not in fields:
        assert post(emulator, "vllm", {"messages": user("hello"), **fields}).status_code == 200


def test_moonshot_accepts_allowed_values(emulator: Emulator) -> None:
    history = [*user("q"), *_TC, tool_result("functions.web_search:0", "r")]
    accepted = [
        {"temperature": 1.0, "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0},
        {"temperature": 0.6, "thinking": {"type": "disabled"}},
        {"tools": [SEARCH], "tool_choice": "required", "thinking": {"type": "disabled"}},
        {"tools": [SEARCH], "tool_choice": "auto"},
        {"tools": [tool(f"t{i}", {}) for i in range(128)]},
        {"response_format": {"type": "json_object"}},
        {"messages": history, "thinking": {"type": "disabled"}},
        {"messages": [*user("q"), {**_TC[0], "reasoning_content": ""}, history[-1]]},
    ]
    for fields in accepted:
        r = post(emulator, "moonshot", {"messages": user("hello"), **fields})
        assert r.status_code == 200, (fields, r.text)


def test_moonshot_400_through_openai_sdk(emulator_openai: Any) -> None:
    client = emulator_openai("moonshot")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="kimi-k2.5", messages=user("x"), temperature=0.2)
    assert "only 1 is allowed" in str(info.value)


# --------------------------------------------------------------------------- history reasoning


def _chain_history() -> list[dict]:
    rc = {
        "reasoning_content": "RC",
        "reasoning": "R",
        "reasoning_details": [
            {"type": "reasoning.text", "text": "RD", "format": "unknown", "index": 0}
        ],
    }
    return [
        *user("first question"),
        tool_turn([("functions.a:0", "a")], reasoning_content="OLD"),
        tool_result("functions.a:0", "r0"),
        {"role": "assistant", "content": "old answer", "reasoning_content": "OLD-ANSWER"},
        *user("second question"),
        tool_turn([("functions.a:1", "a")], **rc),
        tool_result("functions.a:1", "r1"),
        tool_turn([("functions.a:2", "a")], reasoning="only-R"),
        tool_result("functions.a:2", "r2"),
    ]


EXPECTED_HISTORY = {
    "moonshot": ["RC", ""],
    "vllm": ["R", "only-R"],
    "vllm-legacy": ["RC", "only-R"],
    "sglang": ["RC", ""],
    "llamacpp": ["RC", ""],
    "openrouter": ["RD", "only-R"],
    "raw": ["RC", "only-R"],
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_history_reasoning_rule(emulator: Emulator, dialect: str) -> None:
    m = tag()
    messages = _chain_history()
    messages[4] = {"role": "user", "content": f"second question {m}"}
    body = {"messages": messages, **switch(dialect, False)}
    assert post(emulator, dialect, body).status_code == 200
    assert record_for(emulator, m).history_reasoning == EXPECTED_HISTORY[dialect]


def test_history_reasoning_without_chain(emulator: Emulator) -> None:
    m = tag()
    msgs = [*user("a"), {"role": "assistant", "content": "b", "reasoning_content": "x"}, *user(m)]
    ok(emulator, "vllm-legacy", {"messages": msgs})
    assert record_for(emulator, m).history_reasoning == []


# --------------------------------------------------------------------------- tool calls


def test_directive_parallel_calls_and_ids(emulator: Emulator) -> None:
    text = 'Do both [[call web_search {"query": "a b"}]] [[call get_weather {"city": "Oslo"}]]'
    msg = message(emulator, "vllm", {"messages": user(text), "tools": [SEARCH, WEATHER]})
    calls = msg["tool_calls"]
    assert [c["id"] for c in calls] == ["functions.web_search:0", "functions.get_weather:1"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"query": "a b"},
        {"city": "Oslo"},
    ]
    assert all(c["type"] == "function" for c in calls)
    assert msg["content"] is None
    assert "web_search, get_weather" in msg["reasoning"]


def test_then_groups_consumed_per_turn(emulator: Emulator) -> None:
    text = (
        "Plan [[call web_search]] [[then]] [[call get_weather]] [[call get_weather]]"
        " [[then]] [[answer All done.]]"
    )
    msgs = user(text)
    body = {"tools": [SEARCH, WEATHER], **switch("moonshot", True)}
    r1 = ok(emulator, "moonshot", {"messages": msgs, **body})["choices"][0]
    assert r1["finish_reason"] == "tool_calls"
    # Moonshot's ids are NAME_IDX, as its recorded responses show (WIRE.md §8.3).
    assert [c["id"] for c in r1["message"]["tool_calls"]] == ["web_search_0"]
    msgs = [*msgs, r1["message"], tool_result("web_search_0", "found it")]
    r2 = ok(emulator, "moonshot", {"messages": msgs, **body})["choices"][0]["message"]
    assert [c["id"] for c in r2["tool_calls"]] == ["get_weather_1", "get_weather_2"]
    msgs = [
        *msgs,
        r2,
        tool_result("get_weather_1", "sunny"),
        tool_result("get_weather_2", "rain"),
    ]
    r3 = ok(emulator, "moonshot", {"messages": msgs, **body})["choices"][0]
    assert r3["finish_reason"] == "stop"
    assert r3["message"]["content"] == "All done."
    assert "[[" not in r3["message"]["reasoning_content"]


def test_answer_from_tool_results(emulator: Emulator) -> None:
    msgs = [
        *user("What is the weather in Paris?"),
        tool_turn([("functions.get_weather:0", "get_weather")]),
        tool_result("functions.get_weather:0", "Sunny, 25C"),
    ]
    msg = message(emulator, "sglang", {"messages": msgs, "tools": [WEATHER]})
    assert msg["content"] == "Based on the tool results: Sunny, 25C"
    assert "tool_calls" not in msg


def test_loop_never_stops(emulator: Emulator) -> None:
    msgs = user('Go [[loop web_search {"query": "again"}]]')
    for i in range(4):
        msg = message(emulator, "vllm", {"messages": msgs, "tools": [SEARCH]})
        (call,) = msg["tool_calls"]
        assert call["id"] == f"functions.web_search:{i}"
        msgs = [*msgs, msg, tool_result(call["id"], "more")]


def test_mentioned_tool_and_argument_synthesis(emulator: Emulator) -> None:
    t = tool(
        "lookup",
        {
            "query": {"type": "string"},
            "limit": {"type": "integer"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "lang": {"type": "string", "default": "en"},
        },
        required=["query"],
    )
    msg = message(
        emulator, "vllm", {"messages": user('Use lookup for "red pandas" top 7'), "tools": [t]}
    )
    args = json.loads(msg["tool_calls"][0]["function"]["arguments"])
    assert args == {
        "query": "red pandas",
        "limit": 7,
        "exact": True,
        "tags": ["red pandas"],
        "mode": "fast",
    }
    msg = message(
        emulator, "vllm", {"messages": user("please lookup the capital of Peru"), "tools": [t]}
    )
    args = json.loads(msg["tool_calls"][0]["function"]["arguments"])
    assert args["query"] == "please the capital of Peru" and args["limit"] == 1


def test_code_argument(emulator: Emulator) -> None:
    t = tool("python_repl", {"code": {"type": "string"}})
    text = "Run this with python_repl:\n```python\nprint(6*7)\n```"
    args = json.loads(
        message(emulator, "vllm", {"messages": user(text), "tools": [t]})["tool_calls"][0][
            "function"
        ]["arguments"]
    )
    assert args == {"code": "print(6*7)"}
    args = json.loads(
        message(
            emulator, "vllm", {"messages": user("python_repl: compute 12 squared"), "tools": [t]}
        )["tool_calls"][0]["function"]["arguments"]
    )
    assert args == {"code": "print(12)"}


def test_call_syntax_fills_parameters(emulator: Emulator) -> None:
    magic = tool("magic_function", {"input": {"type": "integer"}})
    text = "What is the value of magic_function(3)? Use the tool."
    msg = message(emulator, "vllm", {"messages": user(text), "tools": [magic]})
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"input": 3}
    two = tool("add", {"a": {"type": "integer"}, "b": {"type": "integer"}})
    msg = message(emulator, "vllm", {"messages": user("Compute add(b=5, a=2)"), "tools": [two]})
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 5}


def test_list_becomes_parallel_tasks(emulator: Emulator) -> None:
    task = tool(
        "assign_task", {"task": {"type": "string"}, "role": {"type": "string"}}, required=["task"]
    )
    text = (
        "Research these:\n- historian: the fall of Rome\n- modern trade routes\n"
        "3) economist: grain prices"
    )
    msg = message(emulator, "vllm", {"messages": user(text), "tools": [SEARCH, task]})
    args = [json.loads(c["function"]["arguments"]) for c in msg["tool_calls"]]
    assert [a["task"] for a in args] == ["the fall of Rome", "modern trade routes", "grain prices"]
    assert args[0]["role"] == "historian" and args[2]["role"] == "economist"
    assert args[1]["role"]
    ids = [c["id"] for c in msg["tool_calls"]]
    assert ids == ["functions.assign_task:0", "functions.assign_task:1", "functions.assign_task:2"]
    only_task = tool("create_subagent", {"task": {"type": "string"}})
    msg = message(
        emulator, "vllm", {"messages": user("1. alpha: one\n2. beta"), "tools": [only_task]}
    )
    assert [json.loads(c["function"]["arguments"]) for c in msg["tool_calls"]] == [
        {"task": "alpha: one"},
        {"task": "beta"},
    ]
    msg = message(emulator, "vllm", {"messages": user("- just one item"), "tools": [only_task]})
    assert "tool_calls" not in msg


def test_tool_choice_and_parallel_switch(emulator: Emulator) -> None:
    tools = [SEARCH, WEATHER]
    text = "use web_search and get_weather"
    assert (
        len(message(emulator, "vllm", {"messages": user(text), "tools": tools})["tool_calls"]) == 2
    )
    msg = message(
        emulator, "vllm", {"messages": user(text), "tools": tools, "parallel_tool_calls": False}
    )
    assert len(msg["tool_calls"]) == 1
    msg = message(
        emulator,
        "vllm",
        {"messages": user(text + " [[call web_search]]"), "tools": tools, "tool_choice": "none"},
    )
    assert "tool_calls" not in msg and msg["content"]
    msg = message(
        emulator, "vllm", {"messages": user("hello"), "tools": tools, "tool_choice": "required"}
    )
    assert msg["tool_calls"][0]["function"]["name"] == "web_search"
    named = {"type": "function", "function": {"name": "get_weather"}}
    msg = message(
        emulator, "vllm", {"messages": user("hello in Rome"), "tools": tools, "tool_choice": named}
    )
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather"]
    msg = message(emulator, "moonshot", {"messages": user("hello"), "tools": tools})
    assert "tool_calls" not in msg


def test_malformed_arguments(emulator: Emulator) -> None:
    msg = message(
        emulator,
        "vllm",
        {
            "messages": user('x [[call web_search {"query": "abc"}]] [[fault malformed]]'),
            "tools": [SEARCH],
        },
    )
    raw = msg["tool_calls"][0]["function"]["arguments"]
    assert raw == '{"query": "abc'
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


@pytest.mark.parametrize("dialect", PARSED)
def test_streamed_tool_calls(emulator: Emulator, dialect: str) -> None:
    text = (
        'go [[call web_search {"query": "streaming tool calls"}]]'
        ' [[call get_weather {"city": "Lima"}]]'
    )
    chunks = stream(emulator, dialect, {"messages": user(text), "tools": [SEARCH, WEATHER]})
    ds = deltas(chunks)
    tc = [d["tool_calls"][0] for d in ds if "tool_calls" in d]
    heads = [t for t in tc if "id" in t]
    ids = (
        ["web_search_0", "get_weather_1"]  # Moonshot's recorded form (WIRE.md §8.3)
        if dialect == "moonshot"
        else ["functions.web_search:0", "functions.get_weather:1"]
    )
    assert [(h["index"], h["id"], h["type"], h["function"]["name"]) for h in heads] == [
        (0, ids[0], "function", "web_search"),
        (1, ids[1], "function", "get_weather"),
    ]
    for i, expected in enumerate([{"query": "streaming tool calls"}, {"city": "Lima"}]):
        pieces = [
            t["function"]["arguments"]
            for t in tc
            if t["index"] == i and t["function"].get("arguments")
        ]
        assert len(pieces) >= 2
        assert json.loads("".join(pieces)) == expected
    first_tool = next(i for i, d in enumerate(ds) if "tool_calls" in d)
    assert not any(f in d for d in ds[first_tool:] for f in ALL_REASONING_FIELDS)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_sdk_stream_accumulates_tool_calls(emulator_openai: Any) -> None:
    client = emulator_openai("vllm-legacy")
    stream_ = client.chat.completions.create(
        model="kimi-k2.5",
        messages=user("What is the weather in Paris? use get_weather"),
        tools=[WEATHER],
        stream=True,
    )
    args, names, finish = {}, {}, None
    for ch in stream_:
        for t in ch.choices[0].delta.tool_calls or []:
            if t.function and t.function.name:
                names[t.index] = t.function.name
            args[t.index] = args.get(t.index, "") + (t.function.arguments or "")
        finish = ch.choices[0].finish_reason or finish
    assert names == {0: "get_weather"} and finish == "tool_calls"
    assert json.loads(args[0])["city"]


# --------------------------------------------------------------------------- raw dialect


def test_raw_tool_tokens(emulator: Emulator) -> None:
    text = 'x [[call web_search {"query": "q"}]] [[call get_weather {"city": "Rome"}]]'
    msgs = [
        *user("before"),
        tool_turn([("functions.a:0", "a")]),
        tool_result("functions.a:0", "r"),
        {"role": "assistant", "content": "ok"},
        *user(text),
    ]
    resp = ok(emulator, "raw", {"messages": msgs, "tools": [SEARCH, WEATHER]})
    choice = resp["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    content = choice["message"]["content"]
    reasoning, sep, section = content.partition("<|tool_calls_section_begin|>")
    assert sep and reasoning.startswith("The user asks") and "</think>" not in content
    assert section == (
        "<|tool_call_begin|>functions.web_search:1<|tool_call_argument_begin|>"
        '{"query": "q"}<|tool_call_end|>'
        "<|tool_call_begin|>functions.get_weather:2<|tool_call_argument_begin|>"
        '{"city": "Rome"}<|tool_call_end|>'
        "<|tool_calls_section_end|>"
    )
    instant = message(
        emulator, "raw", {"messages": user(text), "tools": [SEARCH], **switch("raw", False)}
    )
    assert instant["content"].startswith(
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.web_search:0"
    )


def test_raw_stream_cuts_special_tokens(emulator: Emulator) -> None:
    text = 'x [[call web_search {"query": "q"}]]'
    full = message(emulator, "raw", {"messages": user(text), "tools": [SEARCH]})["content"]
    ds = deltas(stream(emulator, "raw", {"messages": user(text), "tools": [SEARCH]}))
    pieces = [d["content"] for d in ds if d.get("content")]
    assert "".join(pieces) == full
    assert all(len(p) == 7 for p in pieces[:-1])
    assert not any("<|tool_calls_section_begin|>" in p for p in pieces)
    ds = deltas(stream(emulator, "raw", {"messages": user("hi")}))
    assert not any(f in d for d in ds for f in ALL_REASONING_FIELDS)
    assert "</think>Here is my answer" in "".join(d.get("content", "") for d in ds)


# --------------------------------------------------------------------------- output controls


def test_response_format_json_object(emulator: Emulator) -> None:
    msg = message(
        emulator,
        "moonshot",
        {"messages": user("Give me JSON about cats"), "response_format": {"type": "json_object"}},
    )
    assert isinstance(json.loads(msg["content"]), dict)


def test_response_format_json_schema(emulator: Emulator) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
            "score": {"type": "number"},
            "genre": {"type": "string", "enum": ["drama", "comedy"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "director": {"$ref": "#/$defs/Person"},
            "sequel": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
            "ok": {"type": "boolean"},
        },
        "required": ["title", "year", "genre", "director"],
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            }
        },
    }
    rf = {"type": "json_schema", "json_schema": {"name": "Movie", "schema": schema}}
    for dialect in ("vllm", "openrouter", "sglang"):
        msg = message(
            emulator,
            dialect,
            {"messages": user("Describe the movie Heat 1995"), "response_format": rf},
        )
        value = json.loads(msg["content"])
        assert value["title"] == "Describe the movie Heat 1995"
        assert value["year"] == 1995 and value["genre"] == "drama" and value["ok"] is True
        assert isinstance(value["score"], (int, float)) and value["tags"] == [value["title"]]
        assert value["director"] == {"name": value["title"]} and value["sequel"] == {
            "name": value["title"]
        }


def test_stop_and_max_tokens(emulator: Emulator) -> None:
    off = switch("vllm", False)
    msg = message(
        emulator, "vllm", {"messages": user("Tell me about stop words"), "stop": ["answer"], **off}
    )
    assert msg["content"] == "Here is my "
    msg = message(
        emulator, "vllm", {"messages": user("Tell me about stop words"), "stop": "zzz", **off}
    )
    assert msg["content"].startswith("Here is my answer")
    resp = ok(emulator, "vllm", {"messages": user("Tell me about length"), "max_tokens": 4, **off})
    assert resp["choices"][0]["finish_reason"] == "length"
    assert resp["choices"][0]["message"]["content"] == "Here is my answer"
    assert resp["usage"]["completion_tokens"] == 4
    resp = ok(
        emulator, "moonshot", {"messages": user("Tell me about length"), "max_completion_tokens": 5}
    )
    choice = resp["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == ""
    assert choice["message"]["reasoning_content"] == 'The user asks: "'
    chunks = stream(
        emulator, "vllm", {"messages": user("Tell me about length"), "max_tokens": 4, **off}
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_images_are_counted_never_fetched(emulator: Emulator) -> None:
    content = [
        {"type": "text", "text": "What is in these pictures?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "http://203.0.113.9/never-fetched.png"}},
    ]
    msg = message(emulator, "moonshot", {"messages": [{"role": "user", "content": content}]})
    assert msg["content"].startswith("I see 2 images.")
    assert "2 images" in msg["reasoning_content"]
    one = content[:2]
    msg = message(
        emulator, "vllm", {"messages": [{"role": "user", "content": one}], **switch("vllm", False)}
    )
    assert msg["content"].startswith("I see 1 image.")


def test_arithmetic_and_directive_stripping(emulator: Emulator) -> None:
    assert message(emulator, "vllm", {"messages": user("what is 2+3*4")})["content"] == "14"
    assert (
        message(emulator, "vllm", {"messages": user("What is (10 - 4) / 4?")})["content"] == "1.5"
    )
    msg = message(
        emulator, "moonshot", {"messages": user("Summarise this [[latency 0.01]] please")}
    )
    assert "[[" not in msg["content"] and "[[" not in msg["reasoning_content"]
    assert "Summarise this please" in msg["content"]


def test_usage(emulator: Emulator) -> None:
    chunks = stream(
        emulator,
        "sglang",
        {"messages": user("count my tokens"), "stream_options": {"include_usage": True}},
    )
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["total_tokens"] == (
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(
        "usage" not in c for c in stream(emulator, "sglang", {"messages": user("count my tokens")})
    )
    usage = ok(emulator, "moonshot", {"messages": user(f"count my tokens {tag()}")})["usage"]
    # As recorded (WIRE.md §8.3): reasoning tokens reported; no cache fields without a hit.
    assert set(usage) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "completion_tokens_details",
    }
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
    off = ok(
        emulator,
        "moonshot",
        {"messages": user(f"count my tokens {tag()}"), **switch("moonshot", False)},
    )["usage"]
    assert off["completion_tokens"] < usage["completion_tokens"]
    assert "completion_tokens_details" not in off


# --------------------------------------------------------------------------- faults


def test_fault_500_every_request(emulator: Emulator) -> None:
    for _ in range(3):
        r = post(emulator, "moonshot", {"messages": user(f"boom {tag()} [[fault 500]]")})
        assert r.status_code == 500 and r.json()["error"]["message"]


def test_fault_429_retry_after(emulator: Emulator, emulator_openai: Any) -> None:
    r = post(emulator, "vllm", {"messages": user(f"slow down {tag()} [[fault 429]]")})
    assert r.status_code == 429 and r.headers["retry-after"] == "0"
    with pytest.raises(openai.RateLimitError):
        emulator_openai("moonshot").chat.completions.create(
            model="kimi-k2.5", messages=user("x [[fault 429]]")
        )


def test_fault_first_n_then_success(emulator: Emulator, emulator_openai: Any) -> None:
    msgs = user(f"flaky {tag()} [[fault 500 x2]]")
    codes = [post(emulator, "moonshot", {"messages": msgs}).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    other = user(f"flaky {tag()} [[fault 429 x1]]")
    client = emulator_openai("moonshot", max_retries=2)
    resp = client.chat.completions.create(model="kimi-k2.5", messages=other)
    assert resp.choices[0].message.content
    statuses = [r.status for r in emulator.requests if r.last_user == other[0]["content"]]
    assert statuses == [429, 200]


def test_fault_hang_and_client_timeout(emulator: Emulator) -> None:
    m = tag()
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(emulator, "moonshot", {"messages": user(f"wait {m} [[fault hang 30]]")}, timeout=0.3)
    deadline = time.monotonic() + 5
    while record_for(emulator, m).finished is None and time.monotonic() < deadline:
        time.sleep(0.02)
    rec = record_for(emulator, m)
    assert rec.finished is not None and rec.finished - rec.started < 5
    assert time.monotonic() - t0 < 5
    r = post(emulator, "moonshot", {"messages": user(f"short {m} [[fault hang 0.3]]")})
    assert (
        r.status_code == 200
        and record_for(emulator, f"short {m}").finished - record_for(emulator, f"short {m}").started
        >= 0.3
    )


def test_fault_cut(emulator: Emulator) -> None:
    text = f"long story {tag()} [[fault cut]]"
    url = f"{emulator.base_url('vllm')}/chat/completions"
    body = {"model": "kimi-k2.5", "messages": user(text), "stream": True}
    received = ""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", url, json=body, timeout=10) as r:
            assert r.status_code == 200
            for part in r.iter_text():
                received += part
    assert received.count("data: ") >= 2 and "[DONE]" not in received
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json={**body, "stream": False}, timeout=10)
    # the server survives
    assert post(emulator, "vllm", {"messages": user("still there?")}).status_code == 200


def test_latency_directive(emulator: Emulator) -> None:
    t0 = time.monotonic()
    assert post(emulator, "vllm", {"messages": user("slow [[latency 0.3]]")}).status_code == 200
    assert time.monotonic() - t0 >= 0.3


def test_config_knobs_and_error_rate() -> None:
    emu = Emulator(
        EmulatorConfig(latency=0.0, token_delay=0.0, chunk_words=1, error_rate=1.0, seed=7)
    )
    emu.start()
    try:
        codes = [post(emu, "moonshot", {"messages": user("x")}).status_code for _ in range(10)]
        assert set(codes) <= {429, 500} and len(set(codes)) == 2
        emu.set_config(seed=7)
        assert [
            post(emu, "moonshot", {"messages": user("x")}).status_code for _ in range(10)
        ] == codes
        emu.set_config(error_rate=0.0, latency=0.25, token_delay=0.02)
        t0 = time.monotonic()
        chunks = stream(
            emu, "vllm", {"messages": user("one two three four"), **switch("vllm", False)}
        )
        assert time.monotonic() - t0 >= 0.25 + 0.02 * (len(chunks) - 1)
        words = [d["content"] for d in deltas(chunks) if d.get("content")]
        assert all(len(w.split()) == 1 for w in words)
    finally:
        emu.stop()
    with pytest.raises(RuntimeError):
        _ = emu.url


# --------------------------------------------------------------------------- burst & request log


async def test_burst_of_200_concurrent_streams() -> None:
    n, latency = 200, 1.0
    with Emulator(EmulatorConfig(latency=latency)) as emu:
        url = f"{emu.base_url('vllm')}/chat/completions"
        limits = httpx.Limits(max_connections=n + 50, max_keepalive_connections=n + 50)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            async def one(i: int) -> str:
                body = {"model": "kimi-k2.5", "messages": user(f"burst {i}"), "stream": True}
                async with client.stream("POST", url, json=body) as r:
                    assert r.status_code == 200
                    return "".join([part async for part in r.aiter_text()])

            t0 = time.monotonic()
            texts = await asyncio.gather(*(one(i) for i in range(n)))
            elapsed = time.monotonic() - t0
        records = emu.requests
    assert all(t.rstrip().endswith("data: [DONE]") for t in texts)
    assert len(records) == n and all(r.status == 200 for r in records)
    assert elapsed < n * latency / 5, elapsed
    assert max(r.started for r in records) < min(r.finished for r in records), (
        "requests did not overlap"
    )


def test_request_log_endpoint() -> None:
    with Emulator(EmulatorConfig(default_dialect="vllm")) as emu:
        assert emu.base_url().endswith("/v1") and emu.base_url("raw").endswith("/raw/v1")
        post(emu, None, {"messages": user("log me"), "stream": True})
        post(emu, "moonshot", {"messages": user("log me too"), "temperature": 0.1})
        log = httpx.get(f"{emu.url}/_emulator/requests").json()
        assert [(x["dialect"], x["status"], x["stream"], x["last_user"]) for x in log] == [
            ("vllm", 200, True, "log me"),
            ("moonshot", 400, False, "log me too"),
        ]
        assert log[0]["path"] == "/v1/chat/completions" and log[0]["thinking"] is True
        assert log[0]["body"]["messages"] == user("log me")
        assert log[0]["finished"] >= log[0]["started"]
        assert [r.last_user for r in emu.requests] == ["log me", "log me too"]
        assert httpx.delete(f"{emu.url}/_emulator/requests").json() == {"ok": True}
        assert emu.requests == []
        post(emu, None, {"messages": user("again")})
        emu.clear_requests()
        assert httpx.get(f"{emu.url}/_emulator/requests").json() == []
