"""Studio entry modules (`graphs/*.py`) and `langgraph.json`."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from langgraph.graph.state import CompiledStateGraph

from kimi_graph.emulator import Emulator

ROOT = Path(__file__).resolve().parents[3]
MODES = ("instant", "thinking", "agent", "swarm")
ENDPOINT_VARS = ("KIMI_BASE_URL", "MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BACKEND")


def load_fresh(path: Path) -> ModuleType:
    """Import a file as a new module, as `langgraph dev` does."""
    spec = importlib.util.spec_from_file_location(f"studio_{path.stem}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def studio_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIMI_BASE_URL", emulator.base_url("moonshot"))
    monkeypatch.setenv("KIMI_BACKEND", "moonshot")


@pytest.fixture
def config() -> dict:
    return json.loads((ROOT / "langgraph.json").read_text())


@pytest.mark.parametrize("mode", MODES)
def test_graph_module_exposes_a_compiled_graph(studio_env: None, mode: str) -> None:
    module = load_fresh(ROOT / "graphs" / f"{mode}.py")
    assert isinstance(module.graph, CompiledStateGraph)
    assert module.graph.name == f"kimi-{mode}"
    assert module.__doc__


def test_instant_graph_answers_without_reasoning(studio_env: None) -> None:
    graph = load_fresh(ROOT / "graphs" / "instant.py").graph
    answer = graph.invoke({"messages": [("user", "What is 2+3*4?")]})["messages"][-1]
    assert answer.content == "14"
    assert "reasoning_content" not in answer.additional_kwargs


def test_thinking_graph_answers_with_reasoning(studio_env: None) -> None:
    graph = load_fresh(ROOT / "graphs" / "thinking.py").graph
    answer = graph.invoke({"messages": [("user", "What is 2+3*4?")]})["messages"][-1]
    assert answer.content == "14"
    assert answer.additional_kwargs["reasoning_content"].startswith("The user asks")


def test_agent_and_swarm_graphs_have_the_default_tools(studio_env: None) -> None:
    agent = load_fresh(ROOT / "graphs" / "agent.py").graph
    assert {"agent", "tools"} <= set(agent.nodes)
    swarm = load_fresh(ROOT / "graphs" / "swarm.py").graph
    assert {"orchestrator", "subagent", "synthesis"} <= set(swarm.nodes)


@pytest.mark.parametrize("mode", MODES)
def test_graph_module_loads_with_nothing_set(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    graph = load_fresh(ROOT / "graphs" / f"{mode}.py").graph
    schema = graph.get_context_jsonschema()
    assert schema is not None
    assert {"thinking", "base_url", "max_subagents", "max_concurrency"} <= set(schema["properties"])
    assert all(p.get("description") for p in schema["properties"].values())
    # The first run says what to set.
    with pytest.raises(ValueError, match=r"MOONSHOT_API_KEY.*\.env\.example"):
        graph.invoke({"messages": [("user", "hi")]})


def test_graph_without_env_takes_its_endpoint_from_the_context(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    graph = load_fresh(ROOT / "graphs" / "thinking.py").graph
    context = {"base_url": emulator.base_url("vllm"), "backend": "vllm", "thinking": False}
    answer = graph.invoke({"messages": [("user", "What is 2+3*4?")]}, context=context)
    assert answer["messages"][-1].content == "14"
    assert "reasoning_content" not in answer["messages"][-1].additional_kwargs


def test_langgraph_json_object_form(config: dict) -> None:
    assert config["$schema"] == "https://langgra.ph/schema.json"
    assert config["dependencies"] == ["."]
    assert config["env"] == ".env"
    assert sorted(config["graphs"]) == sorted(MODES)
    for spec in config["graphs"].values():
        assert set(spec) == {"path", "description"}
        assert spec["description"]


def test_langgraph_json_points_at_existing_graphs(studio_env: None, config: dict) -> None:
    for name, spec in config["graphs"].items():
        file, _, attr = spec["path"].partition(":")
        path = (ROOT / file).resolve()
        assert path.is_file(), spec["path"]
        assert path.parent == ROOT / "graphs"
        module = load_fresh(path)
        assert isinstance(getattr(module, attr), CompiledStateGraph), name


def test_env_example_lists_the_settings() -> None:
    text = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in text.splitlines() if line and line[0] != "#"}
    assert names == {*ENDPOINT_VARS, "TAVILY_API_KEY"}
    assert all(line.endswith("=") for line in text.splitlines() if line and line[0] != "#")
