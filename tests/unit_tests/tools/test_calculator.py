"""The demo calculator bounds the size of results, not only exponents (issue 16, item 10)."""

from __future__ import annotations

import time

import pytest

from kimi_graph.tools._arithmetic import MAX_RESULT_DIGITS, evaluate
from kimi_graph.tools.calculator import calculator


@pytest.mark.parametrize(
    "expression",
    [
        "(((10**100)**100)**100)**10",  # 7.8 s of GIL before
        "((((9**99)**99)**99)**99)",
        " * ".join(["10**99"] * 11),
        "(10**100)**11",
    ],
)
def test_huge_results_are_refused_at_once(expression: str) -> None:
    started = time.perf_counter()
    out = calculator.invoke({"expression": expression})
    took = time.perf_counter() - started
    assert out.startswith("Error: cannot evaluate"), out
    assert f"result too large (more than {MAX_RESULT_DIGITS} digits)" in out
    assert took < 0.05, took


def test_results_up_to_the_bound_are_computed() -> None:
    assert evaluate("2**100") == 1267650600228229401496703205376
    assert evaluate("(10**100)**9") == 10**900
    assert len(str(evaluate("10**99 * 10**99 * 10**99 * 10**99"))) == 397
    assert evaluate("17 * 23 + 4") == 395
    assert evaluate("7 / 2") == 3.5
    assert evaluate("2 ^ 10") == 1024


def test_long_and_deep_expressions_are_refused() -> None:
    with pytest.raises(ValueError, match="expression too long"):
        evaluate("1+" * 1000 + "1")
    assert calculator.invoke({"expression": "(" * 300 + "1" + ")" * 300}).startswith("Error:")
