import kimi_graph

EXPECTED_ALL = [
    "ChatKimi",
    "Mode",
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
