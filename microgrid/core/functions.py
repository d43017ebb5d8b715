"""Each operation's rule: how it computes its result, and its local derivatives.

A rule is a `Function`: ``forward(*xs)`` computes the result from the operands' numbers, and
``derivatives(*xs, out)`` returns d(out)/d(x) for each operand, in order. The derivatives are
written once, with arithmetic that works on floats and on `Value`s alike, and every path reads
them:

- at forward time the engine calls them with floats and records the numbers on the node, which
  is all that `Value.backward()` needs (the hottest operations, ``+ - * neg relu``, have theirs
  written out in the engine, where a call would cost 5-10% of a training step; a test checks
  that they record exactly what their rules give);
- ``microgrid.grad(..., create_graph=True)`` calls them with the node's operands and the node
  itself, so each local derivative is a `Value` with a graph of its own, which can be
  differentiated again (``1 - out * out`` for tanh is then a graph that depends on x);
- drawings show each operation's `symbol`.

A learner's own operation is a subclass (see `Function`); the built-in ones below are written the
same way. To write a derivative that needs a function of x, use this module's `sin`, `cos`,
`exp`, `log`, `sqrt` and `tanh`: on a float they return a float, on a `Value` a `Value`.

Conventions at the kinks, as PyTorch's: relu'(0) = 0, leaky_relu'(0) = slope, abs'(0) = 0,
clamp'(x) = 1 at its bounds (inside, bounds included), and at a tie maximum and minimum split
the gradient equally between their two operands.

This module is below the engine: it does not import it (a `Value` is recognised by its `data`);
`Function.__call__` makes the node with the maker the engine hands over (`_apply`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from microgrid.core.engine import Value

__all__ = ["SYMBOLS", "Function", "cos", "exp", "log", "rule", "sin", "sqrt", "tanh"]


class Function:
    """An operation, defined by its forward computation and its local derivatives.

    Subclass it, give it a `name` (what ``op`` and drawings show; the class name by default),
    and define

    - ``forward(self, *xs)``: the result, from the operands' numbers (floats);
    - ``derivatives(self, *xs, out)``: one local derivative d(out)/d(x) per operand, in order,
      as a tuple (or a single number for one operand). Write them with ``+ - * / **`` and this
      module's `sin`, `cos`, `exp`, `log`, `sqrt`, `tanh`, so that they work on floats (for
      `backward`) and on `Value`s (for `grad` with ``create_graph=True``).

    Then an instance is the operation: ``mul = MulLayer(); z = mul(x, y)``. Operands are
    `Value`s or numbers; a number is a constant (no gradient flows to it). Wrong use fails at
    the first call: a forward result or derivative that is not a finite number, or a wrong
    number of derivatives; a name that is a built-in operation's fails when the class is made.
    Each node of a user-defined operation records the Function that made it, so two Functions
    may share a name (a class defined again, as when a notebook cell is run twice).
    """

    name: ClassVar[str] = ""
    symbol: ClassVar[str] = ""  # what drawings show; the name by default
    builtin: ClassVar[bool] = False  # one of this module's operations

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        if not isinstance(cls.name, str) or not cls.name:
            raise TypeError(f"Function {cls.__name__}: name must be a non-empty str, "
                            f"got {cls.name!r}")
        if "symbol" not in cls.__dict__:
            cls.symbol = cls.name
        if not isinstance(cls.symbol, str) or not cls.symbol:
            raise TypeError(f"Function {cls.__name__}: symbol must be a non-empty str (what "
                            f"drawings show), got {type(cls.symbol).__name__} {cls.symbol!r}")
        if cls.name in _RULES:
            raise ValueError(f"Function {cls.__name__}: the name {cls.name!r} is a built-in "
                             "operation's; choose another name")
        if not _builtins_done:  # this module's own: looked up by the name their nodes record
            cls.builtin = True
            _RULES[cls.name] = cls()
        _SYMBOLS[cls.name] = cls.symbol

    def forward(self, *xs: Any, **unused: Any) -> Any:
        raise NotImplementedError(
            f"{self.name}: define forward(self, ...) in {type(self).__name__}")

    def derivatives(self, *xs: Any, **out: Any) -> Any:
        raise NotImplementedError(
            f"{self.name}: define derivatives(self, ..., out) in {type(self).__name__}")

    def __call__(self, *operands: Any) -> Value:
        return _apply(self, operands)

    def __repr__(self) -> str:
        return f"<Function {self.name!r}>"

    def __str__(self) -> str:  # error messages name the operation
        return self.name


_RULES: dict[str, Function] = {}  # the built-in operations' rules, by name
_SYMBOLS: dict[str, str] = {}
SYMBOLS: Mapping[str, str] = MappingProxyType(_SYMBOLS)  # what drawings show, by op name
_builtins_done = False


def _no_engine(fn: Function, operands: Sequence[Any]) -> Value:
    raise RuntimeError(f"{fn.name}: microgrid.core.engine is not imported")


# The engine makes a call's node (`engine.apply`). It is above this module, so it hands its
# maker over when it is imported (as `import microgrid` does), and this module never imports it.
_apply: Callable[[Function, Sequence[Any]], Value] = _no_engine


def rule(op: str | Function) -> Function:
    """The rule of a built-in operation named `op` (a node's ``op``), or `op` itself if it is a
    `Function` (what a user-defined operation's node records)."""
    if isinstance(op, Function):
        return op
    try:
        return _RULES[op]
    except KeyError:
        raise KeyError(f"no built-in operation named {op!r}") from None


# --- helpers that work on floats and on Values alike --------------------------------------
def _number(x: Any) -> float:
    """The number of `x`: its data for a Value, else `x`. Needed for ``==`` only: a Value's
    ``==`` is identity, while ``<``, ``>`` compare data and work on both as they are."""
    return x.data if hasattr(x, "data") else x


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float)


def sin(x: Any) -> Any:
    return math.sin(x) if _is_number(x) else x.sin()


def cos(x: Any) -> Any:
    return math.cos(x) if _is_number(x) else x.cos()


def exp(x: Any) -> Any:
    return math.exp(x) if _is_number(x) else x.exp()


def log(x: Any) -> Any:
    return math.log(x) if _is_number(x) else x.log()


def sqrt(x: Any) -> Any:
    return math.sqrt(x) if _is_number(x) else x.sqrt()


def tanh(x: Any) -> Any:
    return math.tanh(x) if _is_number(x) else x.tanh()


def power(a: float, b: float) -> float:
    """a ** b for floats, with an error that says why where it is undefined."""
    if a == 0 and b < 0:
        raise ZeroDivisionError(f"**: {a!r} ** {b!r} is a division by zero")
    if a < 0 and not b.is_integer():
        raise ValueError(f"**: {a!r} ** {b!r} is undefined: a negative base needs an integer power")
    try:
        return a ** b
    except OverflowError:
        raise OverflowError(f"**: {a!r} ** {b!r} overflows a float") from None


# --- the rules of the hottest operations, as plain functions: the engine calls those of / and
# dot directly; + - * neg and relu have theirs written out in the engine (a test checks that
# they record the same numbers)
def mul_derivatives(a: Any, b: Any) -> tuple[Any, Any]:
    return b, a  # d(ab)/da = b, d(ab)/db = a


def div_derivatives(a: Any, b: Any) -> tuple[Any, Any]:
    return 1.0 / b, -a / b / b  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 (b*b could underflow)


def relu_derivative(x: Any) -> float:
    return 1.0 if x > 0 else 0.0  # a step: constant where defined, so its own derivative is 0


def dot_derivatives(ws: Sequence[Any], xs: Sequence[Any]) -> tuple[Any, ...]:
    return (*xs, *ws, 1.0)  # d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1


ADD_DERIVATIVES = (1.0, 1.0)  # d(a + b)/da, d(a + b)/db: constants
SUB_DERIVATIVES = (1.0, -1.0)
NEG_DERIVATIVE = -1.0


def _power(a: Any, b: Any) -> Any:
    """a ** b, with `power`'s errors for floats."""
    return power(a, b) if _is_number(a) and _is_number(b) else a ** b


# --- arithmetic -------------------------------------------------------------------------------
class Add(Function):
    name = "+"

    def forward(self, a: float, b: float) -> float:
        return a + b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[float, float]:
        return ADD_DERIVATIVES


class Sub(Function):
    name, symbol = "-", "−"

    def forward(self, a: float, b: float) -> float:
        return a - b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[float, float]:
        return SUB_DERIVATIVES


class Mul(Function):
    name, symbol = "*", "×"

    def forward(self, a: float, b: float) -> float:
        return a * b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
        return mul_derivatives(a, b)


class Div(Function):
    name, symbol = "/", "÷"

    def forward(self, a: float, b: float) -> float:
        if b == 0:
            raise ZeroDivisionError(f"/: division by zero ({a!r} / 0)")
        return a / b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
        return div_derivatives(a, b)


class Neg(Function):
    name, symbol = "neg", "−x"

    def forward(self, x: float) -> float:
        return -x

    def derivatives(self, x: Any, out: Any) -> float:
        return NEG_DERIVATIVE


class Pow(Function):
    name, symbol = "**", "^"

    def forward(self, a: float, b: float) -> float:
        return power(a, b)

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
        """d/da a^b = b a^(b-1); d/db a^b = a^b ln a, 0 at a = 0 < b (its limit).
        None where a derivative does not exist: an error if that operand is a Value."""
        an, bn = _number(a), _number(b)
        da = None if an == 0 and 0 < bn < 1 else b * _power(a, b - 1) if bn else 0.0
        db = out * log(a) if an > 0 else 0.0 if an == 0 and bn > 0 else None
        return da, db


class Dot(Function):
    """``sum(w_i x_i) + bias`` over operands ``(*ws, *xs, bias)``: d/dw_i = x_i, d/dx_i = w_i."""

    name, symbol = "dot", "Σwx"

    def forward(self, *operands: float) -> float:
        n = (len(operands) - 1) // 2
        return sum(map(operator.mul, operands[:n], operands[n:2 * n]), operands[-1])

    def derivatives(self, *operands: Any, out: Any) -> tuple[Any, ...]:
        n = (len(operands) - 1) // 2
        return dot_derivatives(operands[:n], operands[n:2 * n])


# --- functions of one variable ------------------------------------------------------------
class Exp(Function):
    name = "exp"

    def forward(self, x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            raise OverflowError(f"exp: exp({x!r}) overflows a float") from None

    def derivatives(self, x: Any, out: Any) -> Any:
        return out  # d(e^x)/dx = e^x


class Log(Function):
    name = "log"

    def forward(self, x: float) -> float:
        if x <= 0:
            raise ValueError(f"log: log({x!r}) is undefined; log needs a positive argument")
        return math.log(x)

    def derivatives(self, x: Any, out: Any) -> Any:
        return 1.0 / x  # d(ln x)/dx = 1/x


class Sqrt(Function):
    name = "sqrt"

    def forward(self, x: float) -> float:
        if x < 0:
            raise ValueError(f"sqrt: sqrt({x!r}) is undefined; sqrt needs a non-negative argument")
        return math.sqrt(x)

    def derivatives(self, x: Any, out: Any) -> Any:
        if _number(out) == 0:
            raise ValueError("sqrt: the derivative of sqrt at 0 is infinite")
        return 0.5 / out  # d(sqrt x)/dx = 1 / (2 sqrt x)


class Tanh(Function):
    name = "tanh"

    def forward(self, x: float) -> float:
        return math.tanh(x)

    def derivatives(self, x: Any, out: Any) -> Any:
        return 1.0 - out * out  # d(tanh x)/dx = 1 - tanh^2 x


class Sigmoid(Function):
    name, symbol = "sigmoid", "σ"

    def forward(self, x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    def derivatives(self, x: Any, out: Any) -> Any:
        return out * (1.0 - out)  # dσ/dx = σ (1 - σ)


class Sin(Function):
    name = "sin"

    def forward(self, x: float) -> float:
        return math.sin(x)

    def derivatives(self, x: Any, out: Any) -> Any:
        return cos(x)  # d(sin x)/dx = cos x


class Cos(Function):
    name = "cos"

    def forward(self, x: float) -> float:
        return math.cos(x)

    def derivatives(self, x: Any, out: Any) -> Any:
        return -sin(x)  # d(cos x)/dx = -sin x


class Relu(Function):
    name = "relu"

    def forward(self, x: float) -> float:
        return x if x > 0 else 0.0

    def derivatives(self, x: Any, out: Any) -> float:
        return relu_derivative(x)


class Abs(Function):
    name, symbol = "abs", "|x|"

    def forward(self, x: float) -> float:
        return abs(x)

    def derivatives(self, x: Any, out: Any) -> float:
        return 1.0 if x > 0 else -1.0 if x < 0 else 0.0  # sign(x), 0 at the kink


class LeakyRelu(Function):
    """x for x > 0, else slope * x; the slope is the second operand, a constant."""

    name = "leaky_relu"

    def forward(self, x: float, slope: float) -> float:
        return x if x > 0 else slope * x

    def derivatives(self, x: Any, slope: Any, out: Any) -> tuple[Any, None]:
        return (1.0 if x > 0 else slope), None  # 1 or slope; none for the constant slope


class Clamp(Function):
    """x limited to [low, high]; low and high are constants."""

    name = "clamp"

    def forward(self, x: float, low: float, high: float) -> float:
        return min(max(x, low), high)

    def derivatives(self, x: Any, low: Any, high: Any, out: Any) -> tuple[float, None, None]:
        return (1.0 if low <= x <= high else 0.0), None, None  # 1 inside, 0 outside


class Maximum(Function):
    name, symbol = "maximum", "max"

    def forward(self, a: float, b: float) -> float:
        return a if a >= b else b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[float, float]:
        return (1.0, 0.0) if a > b else (0.0, 1.0) if a < b else (0.5, 0.5)


class Minimum(Function):
    name, symbol = "minimum", "min"

    def forward(self, a: float, b: float) -> float:
        return a if a <= b else b

    def derivatives(self, a: Any, b: Any, out: Any) -> tuple[float, float]:
        return (1.0, 0.0) if a < b else (0.0, 1.0) if a > b else (0.5, 0.5)


_builtins_done = True

ADD, SUB, MUL, DIV, NEG, POW, DOT = (_RULES[op] for op in ("+", "-", "*", "/", "neg", "**", "dot"))
EXP, LOG, SQRT, TANH, SIGMOID, SIN, COS, RELU, ABS, LEAKY_RELU, CLAMP, MAXIMUM, MINIMUM = (
    _RULES[op] for op in ("exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos", "relu", "abs",
                          "leaky_relu", "clamp", "maximum", "minimum"))

