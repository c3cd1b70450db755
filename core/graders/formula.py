"""``calculate_output`` of a multi grader: a safe arithmetic formula over sub-grader scores.

Evaluated with simpleeval (a small, maintained expression evaluator that walks Python's ``ast``
with a whitelist of nodes and refuses attribute access, comprehensions, lambdas and huge powers),
never with ``eval``. Names are the sub-graders' keys; functions: ``min max abs round floor ceil
sqrt exp log`` (and ``clip(x, lo, hi)``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from typing import Any

from simpleeval import DEFAULT_OPERATORS, InvalidExpression, SimpleEval

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min, "max": max, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log,
    "clip": lambda x, lo, hi: max(lo, min(hi, x)),
}
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant,
                  ast.operator, ast.unaryop, ast.Compare, ast.cmpop, ast.IfExp, ast.BoolOp, ast.boolop)


class FormulaError(ValueError):
    """The formula cannot be parsed or names something that is not a grader or function."""


def check_formula(formula: str, names: Mapping[str, Any]) -> None:
    """Raise :class:`FormulaError` unless ``formula`` is arithmetic over ``names`` and FUNCTIONS."""
    if not formula.strip():
        raise FormulaError("calculate_output is empty")
    if len(formula) > 2000:
        raise FormulaError("calculate_output is longer than 2000 characters")
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"calculate_output does not parse: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise FormulaError(f"calculate_output may not use {type(node).__name__}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise FormulaError("calculate_output may call only " + ", ".join(FUNCTIONS))
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise FormulaError("calculate_output may hold only numbers")
        if isinstance(node, ast.Name) and node.id not in names and node.id not in FUNCTIONS:
            raise FormulaError(f"calculate_output names '{node.id}', which is not one of the graders "
                               f"({', '.join(names)})")


def evaluate(formula: str, scores: Mapping[str, float]) -> float:
    """The formula's value for ``scores``; :class:`FormulaError` when it cannot be computed."""
    evaluator = SimpleEval(operators=dict(DEFAULT_OPERATORS), functions=dict(FUNCTIONS), names=dict(scores))
    try:
        value = evaluator.eval(formula)
    except (InvalidExpression, ArithmeticError, ValueError, TypeError) as exc:
        raise FormulaError(f"calculate_output failed: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise FormulaError(f"calculate_output gave {value!r}, not a finite number")
    return float(value)
