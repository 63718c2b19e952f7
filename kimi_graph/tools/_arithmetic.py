"""Safe evaluation of plain arithmetic (no names, no calls): `17 * 23 + 4`.

Python's integers have no size limit, so an expression like
`(((10**100)**100)**100)**10` holds the GIL for seconds (and the whole server with
it). Every operation on integers is judged by the size of its result before it is
computed: an exponent above `MAX_EXPONENT` or a result over `MAX_RESULT_DIGITS`
decimal digits is refused at once. Expressions are at most `MAX_EXPRESSION_CHARS`
long.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import TypeAlias

Number: TypeAlias = "int | float"

__all__ = ["MAX_EXPONENT", "MAX_EXPRESSION_CHARS", "MAX_RESULT_DIGITS", "evaluate"]

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
MAX_RESULT_DIGITS = 1000
"""Most decimal digits of any integer result, intermediate ones included."""
MAX_EXPRESSION_CHARS = 1000
"""Longest expression evaluated."""
_MAX_BITS = int(MAX_RESULT_DIGITS * 3.3219280948873626) + 1  # log2(10) bits per digit


def _result_bits(op: ast.operator, left: Number, right: Number) -> int:
    """An upper bound of the result's size in bits, for integer operands (else 0)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0
    a, b = abs(left).bit_length(), abs(right).bit_length()
    if isinstance(op, ast.Pow):
        return a * right if right > 0 else 0
    if isinstance(op, ast.Mult):
        return a + b
    if isinstance(op, (ast.Add, ast.Sub)):
        return max(a, b) + 1
    return a  # //, %: no larger than the left operand


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
        if _result_bits(node.op, left, right) > _MAX_BITS:
            msg = f"result too large (more than {MAX_RESULT_DIGITS} digits)"
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
        ValueError: If it holds anything but numbers and those operators, is longer
            than `MAX_EXPRESSION_CHARS`, nests too deeply, or a result would have
            more than `MAX_RESULT_DIGITS` digits.
        ZeroDivisionError, OverflowError: As Python raises them.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        msg = f"expression too long (at most {MAX_EXPRESSION_CHARS} characters)"
        raise ValueError(msg)
    try:
        value = _evaluate(ast.parse(expression.replace("^", "**").strip(), mode="eval"))
    except RecursionError:
        msg = "expression nested too deeply"
        raise ValueError(msg) from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
