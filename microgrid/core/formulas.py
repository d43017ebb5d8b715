"""How a node is written: numbers as a person writes them, and each operation's local
derivative as a formula with its number. Read by the drawings, the player, `explain`, `tree`
and the quiz, which all write a node the same way.

- `format_number(x)`: 715, 3.3, 0.0001235, 1e+20 (float noise hidden).
- `local_formula(node, k)`: the rule of `node`'s operation for its operand `k`, as text
  (``∂/∂a = b``); `FORMULAS` is the one table of those rules' text.
- `formula_value(node, k)`: what that rule gives with the node's numbers.
- `node_names(order)`: each value's name, its label or, unlabelled, ``#i``: its place in
  `order`, the graph's topological order (the `v{i}` of the drawing's ids).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from microgrid.core.engine import Value

__all__ = ["FORMULAS", "format_number", "formula_value", "local_formula", "node_names",
           "with_number"]


def format_number(x: float, digits: int = 4) -> str:
    """`x` as a person writes it, to `digits` significant digits: 715, 3.3, 0.0001235, 1e+20.

    Float noise is hidden (715.0000000000001 is 715, 3.3000000000000003 is 3.3) and -0 is 0.
    """
    if not math.isfinite(x):
        return repr(float(x))
    rounded = float(f"{x:.{digits}g}")
    if rounded == 0:
        return "0"
    if rounded.is_integer() and abs(rounded) < 1e15:
        return str(int(rounded))
    return repr(rounded)  # the shortest repr of the rounded number


def node_names(order: Sequence[Value]) -> dict[Value, str]:
    """Each value of `order` (``topological_order(root)``) by its name: its label, or for an
    unlabelled value ``#i``, its place in `order`. The drawings, the player, `tree`, `explain`
    and the quiz all name a value so, so that "#2" in a caption is "#2" in the picture."""
    return {v: v.label or f"#{i}" for i, v in enumerate(order)}


# Each operation's local derivative for each operand, as text and as Python: the text names the
# operands {a} and {b} (binary), {x} (unary) and the result {out}; the Python, which the tests
# evaluate against the engine's numbers, uses a, b, x and out. `dot` is written out separately.
FORMULAS: dict[str, tuple[tuple[str, str], ...]] = {
    "+": (("1", "1"), ("1", "1")),
    "-": (("1", "1"), ("−1", "-1")),
    "*": (("{b}", "b"), ("{a}", "a")),
    "/": (("1/{b}", "1 / b"), ("−{a}/{b}²", "-a / b ** 2")),
    "**": (("{b}·{a}^({b}−1)", "b * a ** (b - 1)"), ("{a}^{b}·ln {a}", "a ** b * log(a)")),
    "neg": (("−1", "-1"),),
    "exp": (("exp {x}", "exp(x)"),),
    "log": (("1/{x}", "1 / x"),),
    "sqrt": (("1/(2√{x})", "1 / (2 * sqrt(x))"),),
    "tanh": (("1 − tanh²", "1 - out ** 2"),),
    "sigmoid": (("σ(1 − σ)", "out * (1 - out)"),),
    "relu": (("1 if {x} > 0 else 0", "1.0 if x > 0 else 0.0"),),
    "sin": (("cos {x}", "cos(x)"),),
    "cos": (("−sin {x}", "-sin(x)"),),
    "abs": (("sign {x}", "(x > 0) - (x < 0)"),),
    "leaky_relu": (("1 if {a} > 0 else {b}", "1.0 if a > 0 else b"), ("", "0")),
    "maximum": (("1 if {a} > {b} else 0 (½ at a tie)", "1.0 if a > b else 0.5 if a == b else 0.0"),
                ("1 if {b} > {a} else 0 (½ at a tie)", "1.0 if b > a else 0.5 if a == b else 0.0")),
    "minimum": (("1 if {a} < {b} else 0 (½ at a tie)", "1.0 if a < b else 0.5 if a == b else 0.0"),
                ("1 if {b} < {a} else 0 (½ at a tie)", "1.0 if b < a else 0.5 if a == b else 0.0")),
    "clamp": (("1 if {low} ≤ {x} ≤ {high} else 0", "1.0 if low <= x <= high else 0.0"),
              ("", "0"), ("", "0")),
}
GENERIC = {1: ("x",), 2: ("a", "b"), 3: ("x", "low", "high")}  # the operands' names, by count



# --- local derivatives as formulas ----------------------------------------------------------
def local_formula(node: Value, k: int, names: Callable[[object, str], str] | None = None
                  ) -> str | None:
    """The local derivative of `node` with respect to its operand `k` (its place among all
    operands, constants included) as a formula, e.g. ``∂/∂a = b``; None for an operation
    without a known rule (a Value built by hand).

    The operands are called a and b (x for a unary operation, wᵢ, xᵢ and b for `dot`), or,
    with `names`, ``names(operand, generic_name)``.
    """
    operands = node.operands
    name = names or (lambda operand, generic: generic)
    if node.op == "dot":
        n = (len(operands) - 1) // 2
        if k == len(operands) - 1:
            return f"∂/∂{parenthesized(name(operands[k], 'b'))} = 1"
        i, weight = k % n, k < n
        sub = "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in str(i))
        me, other = (f"w{sub}", f"x{sub}") if weight else (f"x{sub}", f"w{sub}")
        return (f"∂/∂{parenthesized(name(operands[k], me))} = "
                f"{name(operands[(k + n) % (2 * n)], other)}")
    rules = FORMULAS.get(node.op)
    if rules is None or k >= len(rules) or len(operands) != len(rules):
        return None
    generic = GENERIC[len(operands)]
    fill = {g: parenthesized(name(x, g)) for g, x in zip(generic, operands, strict=True)}
    return f"∂/∂{fill[generic[k]]} = " + rules[k][0].format(**fill)


_MATH = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos,
         "__builtins__": {}}


def formula_value(node: Value, k: int) -> float | None:
    """What the rule of `local_formula(node, k)` gives with the node's numbers (its operands'
    data and its own), to compare with the local derivative the node recorded; None without a
    known rule, or where the rule has no value (ln of a negative base)."""
    operands = node.operands
    if node.op == "dot":
        n = (len(operands) - 1) // 2
        if k == len(operands) - 1:
            return 1.0
        other = operands[(k + n) % (2 * n)]
        return other.data if isinstance(other, Value) else float(other)
    rules = FORMULAS.get(node.op)
    if rules is None or k >= len(rules) or len(operands) != len(rules):
        return None
    numbers = [x.data if isinstance(x, Value) else float(x) for x in operands]
    names = dict(zip(GENERIC[len(numbers)], numbers, strict=True))
    try:
        return float(eval(rules[k][1], _MATH, {**names, "out": node.data}))  # our own text
    except (ArithmeticError, ValueError, TypeError):
        return None


def with_number(formula: str, number: str) -> str:
    """``formula = number``, or `formula` alone when it ends in that number already (the
    ``∂/∂b = 1`` of a sum, the ``∂/∂b = −1`` of a difference)."""
    if formula.replace("−", "-").endswith(f"= {number}"):
        return formula
    return f"{formula} = {number}"


def parenthesized(text: str) -> str:
    return f"({text})" if any(c in text for c in " +−×÷^") and not text.startswith("(") else text
