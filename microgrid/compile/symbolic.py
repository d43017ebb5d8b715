"""The operations' rules evaluated on symbols instead of numbers: a symbol's arithmetic
writes code (``b * a`` gives ``"(b * a)"``), and a comparison (relu's ``x > 0``) is a branch
point, whose two sides are explored in turn and written as a conditional expression. So the
generated code computes what the rules compute, operation for operation. `_Template` is one
kind of node's code, `_Names` the generated variables' names.
"""

from __future__ import annotations

import functools
import keyword
import math
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import Any, cast

from microgrid.core.functions import Function


# --- symbolic evaluation of the rules ------------------------------------------------------
class _Unsupported(Exception):
    pass


class _Branch(BaseException):  # BaseException: a rule's `except Exception` must not catch it
    def __init__(self, condition: str) -> None:
        self.condition = condition


class _Oracle:
    """Answers a rule's comparisons of symbols from a list of decisions made so far; the
    first comparison past them stops the rule with `_Branch`, to explore both answers."""

    decisions: list[bool] = []
    position = 0


def _decide(condition: str) -> bool:
    o = _Oracle
    if o.position < len(o.decisions):
        o.position += 1
        return o.decisions[o.position - 1]
    raise _Branch(condition)


def _code(x: Any) -> str:
    if isinstance(x, _Sym):
        return x.code
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _Unsupported(repr(x))
    x = float(x)
    if not math.isfinite(x):
        raise _Unsupported(repr(x))
    return f"({x!r})" if x < 0 or (x == 0 and math.copysign(1.0, x) < 0) else repr(x)


class _Sym:
    """A number known by the code that computes it. Arithmetic writes code; comparisons are
    decisions (see `_Oracle`); anything else (``math.exp(sym)``) is a TypeError."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    def __repr__(self) -> str:
        return self.code

    def _bin(self, op: str, other: Any, reflected: bool = False) -> _Sym:
        a, b = (_code(other), self.code) if reflected else (self.code, _code(other))
        return _Sym(f"({a} {op} {b})")

    def __add__(self, o: Any) -> _Sym:
        return self._bin("+", o)

    def __radd__(self, o: Any) -> _Sym:
        return self._bin("+", o, True)

    def __sub__(self, o: Any) -> _Sym:
        return self._bin("-", o)

    def __rsub__(self, o: Any) -> _Sym:
        return self._bin("-", o, True)

    def __mul__(self, o: Any) -> _Sym:
        return self._bin("*", o)

    def __rmul__(self, o: Any) -> _Sym:
        return self._bin("*", o, True)

    def __truediv__(self, o: Any) -> _Sym:
        return self._bin("/", o)

    def __rtruediv__(self, o: Any) -> _Sym:
        return self._bin("/", o, True)

    def __pow__(self, o: Any) -> _Sym:
        return self._bin("**", o)

    def __rpow__(self, o: Any) -> _Sym:
        return self._bin("**", o, True)

    def __neg__(self) -> _Sym:
        return _Sym(f"(-{self.code})")

    def __pos__(self) -> _Sym:
        return self

    def _cmp(self, op: str, o: Any) -> bool:
        return _decide(f"{self.code} {op} {_code(o)}")

    def __lt__(self, o: Any) -> bool:
        return self._cmp("<", o)

    def __le__(self, o: Any) -> bool:
        return self._cmp("<=", o)

    def __gt__(self, o: Any) -> bool:
        return self._cmp(">", o)

    def __ge__(self, o: Any) -> bool:
        return self._cmp(">=", o)

    def __eq__(self, o: Any) -> bool:
        return self._cmp("==", o)

    def __ne__(self, o: Any) -> bool:
        return self._cmp("!=", o)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return _decide(f"{self.code} != 0.0")

    # microgrid.core.functions' sin, cos, ... call these on what is not a number (as on a Value)
    def _call(self, name: str) -> _Sym:
        return _Sym(f"_{name}({self.code})")

    def sin(self) -> _Sym:
        return self._call("sin")

    def cos(self) -> _Sym:
        return self._call("cos")

    def exp(self) -> _Sym:
        return self._call("exp")

    def log(self) -> _Sym:
        return self._call("log")

    def sqrt(self) -> _Sym:
        return self._call("sqrt")

    def tanh(self) -> _Sym:
        return self._call("tanh")


_MATH = {"_sin": math.sin, "_cos": math.cos, "_exp": math.exp, "_log": math.log,
         "_sqrt": math.sqrt, "_tanh": math.tanh}

# A decision tree: ("if", condition, if_true, if_false), ("value", result) or ("raise",)
_Tree = tuple[Any, ...]


def _explore(f: Callable[[], Any], decisions: list[bool]) -> _Tree:
    _Oracle.decisions, _Oracle.position = decisions, 0
    try:
        result = f()
    except _Branch as b:
        return ("if", b.condition, _explore(f, [*decisions, True]),
                _explore(f, [*decisions, False]))
    except (TypeError, AttributeError, _Unsupported) as e:  # a symbol cannot follow the rule
        raise _Unsupported(str(e)) from None
    except Exception:  # the rule raises on this branch: its call will, with the numbers
        return ("raise",)
    return ("value", result)


def _expression(tree: _Tree, pick: Callable[[Any], str], fallback: str) -> str:
    """The code of `tree`'s results, one conditional expression per branch point."""
    if tree[0] == "if":
        yes = _expression(tree[2], pick, fallback)
        no = _expression(tree[3], pick, fallback)
        return yes if yes == no else f"({yes} if {tree[1]} else {no})"
    return pick(tree[1]) if tree[0] == "value" else fallback


def _strip(code: str) -> str:
    """`code` without the parentheses around the whole of it, if it has them."""
    if not (code.startswith("(") and code.endswith(")")):
        return code
    depth = 0
    for i, c in enumerate(code):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i < len(code) - 1:
            return code
    return code[1:-1]


# From Python 3.12 on, sum() of floats is compensated (Neumaier), so a rule's forward that calls
# sum (dot) is called, not written out as the chain of + that sum does on symbols.
_SUMS_COMPENSATED = sys.version_info >= (3, 12)


class _Template:
    """The code of one kind of node: a rule applied to Values and given constants. Its
    forward and derivatives are format strings over ``{0}``, ``{1}``, ... (the operands),
    ``{n}`` (the output, n the number of operands)."""

    def __init__(self, fn: Function, constants: tuple[float | None, ...], names: _Names
                 ) -> None:
        n = len(constants)
        syms = [_Sym(f"{{{i}}}") if c is None else c for i, c in enumerate(constants)]
        call_args = ", ".join(f"{{{i}}}" if c is None else _code(c)
                              for i, c in enumerate(constants))
        forward_name, derivatives_name = names.of_rule(fn)
        raising_forward = f"{forward_name}({call_args})"
        try:
            code = getattr(fn.forward, "__code__", None)
            if _SUMS_COMPENSATED and code is not None and "sum" in code.co_names:
                raise _Unsupported("sum")  # floats' sum is not a chain of + from 3.12 on
            tree = _explore(lambda: fn.forward(*syms), [])
            self.forward = _expression(tree, _code, raising_forward)
        except _Unsupported:
            self.forward = raising_forward
        self.derivatives: list[str | None] = []
        out = _Sym(f"{{{n}}}")

        def local(i: int) -> Callable[[Any], str]:
            def pick(ds: Any) -> str:
                d = ds[i] if isinstance(ds, tuple | list) else ds if n == 1 else None
                if d is None:
                    return f"_undefined({fn.name!r}, {i}, ({call_args},))"
                return _code(d)
            return pick

        calling = f"{derivatives_name}({call_args}, out={{{n}}})"
        try:
            tree = _explore(lambda: fn.derivatives(*syms, out=out), [])
        except _Unsupported:
            tree = ("raise",)
        for i, c in enumerate(constants):
            if c is None:
                self.derivatives.append(_expression(tree, local(i), f"{calling}[{i}]"))
            else:
                self.derivatives.append(None)
        slots = _placeholders(self.forward)
        self.inlinable = [slots.count(i) == 1 for i in range(n)]  # operand used once
        self.wrapped = _strip(self.forward) != self.forward  # in parentheses as a whole
        self.reads = [() if d is None else tuple(_placeholders(d)) for d in self.derivatives]
        # What generation calls once per node: the forward's code from the operands' codes,
        # and per operand the code of its gradient term ``g * d`` (g the output's gradient),
        # with ``g * 1.0`` written ``g``, also inside a conditional (relu's ``g if x > 0.0
        # else g * 0.0``): the same numbers, fewer multiplications.
        self.forward_code = _formatter(self.forward)
        self.terms: list[Callable[[list[str], str], str] | None] = []
        self.terms_wrapped: list[bool] = []  # in parentheses as a whole
        for i, c in enumerate(constants):
            term = ("" if c is not None
                    else _expression(tree, _term(local(i)), f"({{g}} * {calling}[{i}])"))
            self.terms.append(_formatter(term) if term else None)
            self.terms_wrapped.append(_strip(term) != term)
        self.value_operands = [i for i, c in enumerate(constants) if c is None]


def _term(derivative: Callable[[Any], str]) -> Callable[[Any], str]:
    def pick(ds: Any) -> str:
        d = derivative(ds)
        return "{g}" if d == "1.0" else "(-{g})" if d == "(-1.0)" else f"({{g}} * {d})"
    return pick


@functools.lru_cache(maxsize=1024)  # a network's templates repeat from trace to trace
def _formatter(template: str) -> Callable[..., str]:
    """`template` (``"({0} * {g})"``) as a function of the operands' codes ``o`` (and ``g``):
    an f-string, made once per template, formats faster than `str.format` per node."""
    body = _PLACEHOLDER.sub(lambda m: f"{{o[{m.group(1)}]}}", template)
    return cast(Callable[..., str], eval(f"lambda o, g='': f{body!r}"))  # noqa: S307


def _undefined(op: str, i: int, operands: tuple[float, ...]) -> float:
    raise ValueError(f"{op}: derivative {i} is undefined at {list(operands)}")


def _not_finite(op: str, x: float) -> None:
    what = f"the result of {op}" if op else "an argument or parameter"
    raise OverflowError(f"compiled step: {what} is {x!r}, not a finite number (backward() "
                        "refuses it where it is made); run fn uncompiled to see where")


def _tuple(fn: Function) -> Callable[..., tuple[Any, ...]]:
    def derivatives(*xs: float, out: float) -> tuple[Any, ...]:
        ds = fn.derivatives(*xs, out=out)
        return tuple(ds) if isinstance(ds, tuple | list) else (ds,)
    return derivatives


class _Names:
    """Unique names: of values (after their labels), of their gradients, of rules' calls."""

    def __init__(self) -> None:
        self.used = {"S", "_undefined", "_not_finite", *_MATH}
        self.namespace: dict[str, Any] = {"_undefined": _undefined, "_not_finite": _not_finite,
                                          **_MATH}
        self.rules: dict[int, tuple[str, str]] = {}

    def value(self, label: str, i: int) -> str:
        # Python reads an identifier in its NFKC form (the micro sign µ is the Greek mu μ, ﬁ is
        # fi, Ｓ is S): names are made unique in that form, the one the generated code has.
        label = unicodedata.normalize("NFKC", label)
        name = label if (label.isidentifier() and not keyword.iskeyword(label)
                         and not label.startswith(("_", "d_")) and label != "S") else f"v{i}"
        base, k = name, 1
        while name in self.used or f"d_{name}" in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def of_rule(self, fn: Function) -> tuple[str, str]:
        key = id(fn)
        if key not in self.rules:
            base = unicodedata.normalize("NFKC", fn.name)  # as Python reads it (see `value`)
            base = base if base.isidentifier() else f"op{len(self.rules)}"
            f, d, k = f"_{base}_forward", f"_{base}_derivatives", 1
            while f in self.used:
                f, d, k = f"_{base}{k}_forward", f"_{base}{k}_derivatives", k + 1
            self.used.update((f, d))
            self.namespace[f] = fn.forward
            self.namespace[d] = _tuple(fn)
            self.rules[key] = (f, d)
        return self.rules[key]


def _placeholders(template: str) -> list[int]:
    return [int(m) for m in _PLACEHOLDER.findall(template)]


_PLACEHOLDER = re.compile(r"\{(\d+)\}")
