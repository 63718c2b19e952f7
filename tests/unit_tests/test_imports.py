import importlib
import pkgutil

import pytest

import kimi_graph

EXPECTED_ALL = [
    "ChatKimi",
    "KimiContext",
    "Mode",
    "SwarmControl",
    "create_agent_graph",
    "create_graph",
    "create_instant_graph",
    "create_swarm_graph",
    "create_thinking_graph",
    "__version__",
]


def test_all_imports() -> None:
    assert sorted(kimi_graph.__all__) == sorted(EXPECTED_ALL)
    for name in kimi_graph.__all__:
        assert getattr(kimi_graph, name) is not None


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(kimi_graph.__path__, "kimi_graph."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        names.append(info.name)
    return names


def test_public_modules_are_found() -> None:
    found = _public_modules()
    assert "kimi_graph.chat_models" in found
    assert "kimi_graph.modes.chat" in found
    assert not [n for n in found if "._" in n]


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_declares_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"
