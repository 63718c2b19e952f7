"""Safe evaluation of plain arithmetic (no names, no calls): `17 * 23 + 4`."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import TypeAlias

Number: TypeAlias = "int | float"

__all__ = ["MAX_EXPONENT", "evaluate"]

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
MAX_EXPONENT = 100


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # `True` is no number
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            msg = f"exponent too large (at most {MAX_EXPONENT})"
            raise ValueError(msg)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    msg = f"unsupported expression element: {type(node).__name__}"
    raise ValueError(msg)


def evaluate(expression: str) -> float | int:
    """Evaluate `+ - * / // % **` (or `^`) and parentheses on numbers.

    Raises:
        SyntaxError: If the text is not an expression.
        ValueError: If it holds anything but numbers and those operators.
        ZeroDivisionError, OverflowError: As Python raises them.
    """
    value = _evaluate(ast.parse(expression.replace("^", "**").strip(), mode="eval"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
