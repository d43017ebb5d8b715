"""A safe parser for expressions such as ``(a*b + c).tanh()``, for `microgrid draw`.

The expression is parsed with `ast` and built from a whitelist: numbers, variable names,
``+ - * / **``, unary ``-``/``+``, the functions ``exp log sqrt tanh sigmoid relu sin cos abs``
called as ``tanh(x)`` or as methods ``x.tanh()``, and ``maximum(a, b)``, ``minimum(a, b)``.
Nothing is ever evaluated by Python: anything else (other names or calls, attribute access,
strings, comprehensions, lambdas, ...) is an `ExpressionError` that names what is not allowed
and where. A part without variables
(``2*3``, ``exp(1)``) is folded into one constant, drawn as a dashed input edge; an expression
without any variable has no graph to draw and is refused.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from microgrid.core.engine import Value, maximum, minimum, no_grad

FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs")
PAIRS: dict[str, Callable[[Any, Any], Value]] = {"maximum": maximum, "minimum": minimum}
# functions of one value with constant settings after it: how many constants each takes
SETTINGS = {"leaky_relu": (0, 1), "clamp": (2, 2)}  # leaky_relu(x[, slope]), clamp(x, lo, hi)
BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
OPERATORS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&",
             ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
             ast.Invert: "~", ast.Not: "not"}
MAX_LENGTH = 10_000
MAX_DEPTH = 200


class ExpressionError(ValueError):
    """An expression or a variable that cannot be used; the message says why and where."""


def parse_variables(pairs: Sequence[str]) -> dict[str, float]:
    """``["a=2", "b=-3"]`` as ``{"a": 2.0, "b": -3.0}``, or an `ExpressionError`."""
    variables: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ExpressionError(f"variable {pair!r}: expected NAME=NUMBER, e.g. a=2")
        _check_name(name, f"variable {pair!r}")
        try:
            value = float(text)
        except ValueError:
            raise ExpressionError(f"variable {pair!r}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ExpressionError(f"variable {pair!r}: {text!r} is not a finite number")
        if name in variables:
            raise ExpressionError(f"variable {name!r} is given twice")
        variables[name] = value
    return variables


def _check_name(name: str, where: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ExpressionError(f"{where}: {name!r} is not allowed as a variable name "
                              "(use letters, digits and _, not starting with _ or a digit)")
    if name in FUNCTIONS or name in PAIRS or name in SETTINGS:
        raise ExpressionError(f"{where}: {name!r} is a function, not a variable name")


def parse(expression: str, variables: Mapping[str, float]) -> Value:
    """The `Value` that `expression` computes, each variable a leaf `Value` labelled by name.

    Raises `ExpressionError` for anything outside the whitelist, an unknown or unused variable,
    and numeric errors of the engine (``log(-1)``, division by zero, overflow).
    """
    if not isinstance(expression, str):
        raise ExpressionError(f"the expression must be a str, got {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(expression)} characters long; "
                              f"the limit is {MAX_LENGTH}")
    text = expression.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"syntax error {_where(e, text)}: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is too deeply nested or too large") from None
    leaves = {name: Value(value, label=name) for name, value in variables.items()}
    used: set[str] = set()
    try:
        result = _Builder(leaves, used).build(tree.body, 0)
    except (ArithmeticError, ValueError, TypeError) as e:
        if isinstance(e, ExpressionError):
            raise
        raise ExpressionError(str(e)) from None
    unused = [name for name in leaves if name not in used]
    if unused:
        raise ExpressionError(f"variable {unused[0]!r} is not used in the expression")
    if not isinstance(result, Value):
        raise ExpressionError("the expression uses no variable: there is no graph to draw "
                              "(give it a variable, e.g. 'x * 2' x=3)")
    return result


def _where(e: SyntaxError, text: str) -> str:
    """Where the syntax error `e` in `text` is: 'at column 3' ('at column 3 of line 2' if
    `text` has more than one line); where Python gives column 0 (it does for an expression cut
    short, 'a+') or a column past the end of the line, 'at the end of the expression', or 'at
    the end of line 1' for a line before the last."""
    lines = text.splitlines() or [""]
    lineno = e.lineno if e.lineno and 1 <= e.lineno <= len(lines) else len(lines)
    of_line = f" of line {lineno}" if len(lines) > 1 else ""
    if e.offset and 1 <= e.offset <= len(lines[lineno - 1]):
        return f"at column {e.offset}{of_line}"
    if lineno < len(lines):
        return f"at the end of line {lineno}"
    return "at the end of the expression"


class _Builder:
    def __init__(self, leaves: dict[str, Value], used: set[str]) -> None:
        self.leaves = leaves
        self.used = used

    def build(self, node: ast.AST, depth: int) -> Value | float:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} deep")
        depth += 1
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _refuse(node, f"the constant {node.value!r}", "only numbers are")
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.leaves:
                if node.id in FUNCTIONS:
                    raise _refuse(node, f"the function {node.id!r} without a call",
                                  f"write {node.id}(x) or x.{node.id}(); only calls are")
                if node.id in PAIRS:
                    raise _refuse(node, f"the function {node.id!r} without a call",
                                  f"write {node.id}(a, b); only calls are")
                raise ExpressionError(f"unknown variable {node.id!r} at column "
                                      f"{node.col_offset + 1}; give its value as {node.id}=NUMBER")
            self.used.add(node.id)
            return self.leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left = self.build(node.left, depth)
            right = self.build(node.right, depth)
            if isinstance(left, float) and isinstance(right, float):  # a constant: fold it,
                with no_grad():  # with the engine's checks and messages
                    return BINARY[type(node.op)](Value(left), right).data
            return BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.build(node.operand, depth)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Attribute):
            raise _refuse(node, f"attribute access '.{node.attr}'",
                          f"only method calls .{'(), .'.join(FUNCTIONS)}() are")
        raise _refuse(node, _describe(node), "only numbers, variables, + - * / **, and calls "
                      f"of {', '.join([*FUNCTIONS, *PAIRS, *SETTINGS])} are")

    def call(self, node: ast.Call, depth: int) -> Value | float:
        func = node.func
        if isinstance(func, ast.Name) and func.id in PAIRS:
            return self.pair(node, func.id, depth)
        if isinstance(func, ast.Name) and func.id in SETTINGS:
            return self.with_settings(node, func.id, node.args, depth)
        if isinstance(func, ast.Attribute) and func.attr in SETTINGS:
            return self.with_settings(node, func.attr, [func.value, *node.args], depth)
        if isinstance(func, ast.Name) and func.id in FUNCTIONS:
            name, args = func.id, node.args
        elif isinstance(func, ast.Attribute) and func.attr in FUNCTIONS:
            name, args = func.attr, [func.value, *node.args]
        else:
            what = (f"'{func.id}'" if isinstance(func, ast.Name) else
                    f"'.{func.attr}'" if isinstance(func, ast.Attribute) else "this")
            raise _refuse(node, f"calling {what}",
                          f"only {', '.join([*FUNCTIONS, *PAIRS, *SETTINGS])} are")
        if node.keywords or len(args) != 1 or any(isinstance(a, ast.Starred) for a in args):
            form = f"{name}(x) or x.{name}()"
            raise _refuse(node, f"this call of {name}", f"{name} takes one argument: {form} is")
        x = self.build(args[0], depth)
        if not isinstance(x, Value):  # a constant, e.g. exp(1): fold it, as 2*3 is folded,
            with no_grad():  # with the engine's checks and messages
                folded: Callable[[], Value] = getattr(Value(x), name)
                return folded().data
        method: Callable[[], Value] = getattr(x, name)
        return method()

    def with_settings(self, node: ast.Call, name: str, args: list[ast.expr], depth: int
                      ) -> Value | float:
        """leaky_relu(x[, slope]) or clamp(x, low, high): x, then constant numbers."""
        least, most = SETTINGS[name]
        if (node.keywords or not least <= len(args) - 1 <= most
                or any(isinstance(a, ast.Starred) for a in args)):
            form = "leaky_relu(x) or leaky_relu(x, slope)" if name == "leaky_relu" else \
                "clamp(x, low, high)"
            raise _refuse(node, f"this call of {name}", f"{form} is")
        x, *settings = (self.build(a, depth) for a in args)
        if any(isinstance(c, Value) for c in settings):
            raise _refuse(node, f"a variable as a setting of {name}",
                          "only numbers after its first argument are")
        if not isinstance(x, Value):  # a constant: fold it
            with no_grad():
                return getattr(Value(x), name)(*settings).data
        method: Callable[..., Value] = getattr(x, name)
        return method(*settings)

    def pair(self, node: ast.Call, name: str, depth: int) -> Value | float:
        """maximum(a, b) or minimum(a, b): one node with a gradient path to both operands."""
        args = node.args
        if node.keywords or len(args) != 2 or any(isinstance(a, ast.Starred) for a in args):
            raise _refuse(node, f"this call of {name}",
                          f"{name} takes two arguments: {name}(a, b) is")
        a, b = self.build(args[0], depth), self.build(args[1], depth)
        if not isinstance(a, Value) and not isinstance(b, Value):  # a constant: fold it
            with no_grad():
                return PAIRS[name](Value(a), b).data
        return PAIRS[name](a, b)


def _refuse(node: ast.AST, what: str, allowed: str) -> ExpressionError:
    column = getattr(node, "col_offset", -1) + 1
    return ExpressionError(f"{what} at column {column} is not allowed: {allowed} allowed")


def _describe(node: ast.AST) -> str:
    names = {
        ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
        ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression",
        ast.Lambda: "a lambda", ast.Subscript: "indexing", ast.Compare: "a comparison",
        ast.BoolOp: "'and'/'or'", ast.IfExp: "'if ... else'", ast.NamedExpr: "':='",
        ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
        ast.JoinedStr: "an f-string", ast.Await: "await", ast.Starred: "'*'",
    }
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return f"the operator {OPERATORS.get(type(node.op), type(node.op).__name__)!r}"
    return names.get(type(node), type(node).__name__)
