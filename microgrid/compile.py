"""Compile a traced graph to straight-line Python: `compile(fn, *example_args)`.

The trace calls `fn` once on its example arguments made into leaves, and records the graph it
builds. The generated code computes that graph's forward pass (``v7 = v3 * v5``) and its
backward pass (``d_v3 += d_v7 * v5``) with plain floats: no `Value` objects, no dispatch, no
garbage collector. CPython compiles it once; each call of the compiled step then runs it.

No derivative is written here. Each line of code comes from the operation's rule in
`microgrid.functions`, evaluated once per kind of node on symbols instead of numbers: a
symbol's arithmetic writes code (``b * a`` gives ``"(b * a)"``), and a comparison (relu's
``x > 0``) is a branch point, whose two sides are explored in turn and written as a
conditional expression. So the generated code computes what the rules compute, operation for
operation, and gives the same numbers as `Value.backward()` to the last bit. A rule that does
something a symbol cannot follow (``math.exp(x)`` in a forward) is called instead.
"""

from __future__ import annotations

import builtins
import functools
import gc
import inspect
import keyword
import math
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from microgrid import autograd as _autograd
from microgrid import engine as _engine
from microgrid import functions as _functions
from microgrid.engine import Value, enable_grad, is_grad_enabled, topological_order
from microgrid.functions import Function, rule

__all__ = ["CompiledStep", "GuardError", "compile"]

_compile_source = builtins.compile  # this module's `compile` is the public one below
CHUNK = 32000  # statements per generated function (measured: see benchmarks/compile.py)


class GuardError(RuntimeError):
    """New inputs would take another branch (or have another shape) than the trace, and the
    step was compiled with ``retrace=False``."""


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

    # microgrid.functions' sin, cos, ... call these on what is not a number (as on a Value)
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


def _tuple(fn: Function) -> Callable[..., tuple[Any, ...]]:
    def derivatives(*xs: float, out: float) -> tuple[Any, ...]:
        ds = fn.derivatives(*xs, out=out)
        return tuple(ds) if isinstance(ds, tuple | list) else (ds,)
    return derivatives


class _Names:
    """Unique names: of values (after their labels), of their gradients, of rules' calls."""

    def __init__(self) -> None:
        self.used = {"S", "_undefined", *_MATH}
        self.namespace: dict[str, Any] = {"_undefined": _undefined, **_MATH}
        self.rules: dict[int, tuple[str, str]] = {}

    def value(self, label: str, i: int) -> str:
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
            base = fn.name if fn.name.isidentifier() else f"op{len(self.rules)}"
            f, d, k = f"_{base}_forward", f"_{base}_derivatives", 1
            while f in self.used:
                f, d, k = f"_{base}{k}_forward", f"_{base}{k}_derivatives", k + 1
            self.used.update((f, d))
            self.namespace[f] = fn.forward
            self.namespace[d] = _tuple(fn)
            self.rules[key] = (f, d)
        return self.rules[key]


# --- arguments ----------------------------------------------------------------------------
def _take(x: Any, out: list[float], where: str) -> Any:
    """The nesting of the lists and tuples of `x` (None for a number), which a trace's code
    is for, and its numbers, in order, appended to `out`; a TypeError for anything but
    numbers. One pass, with no call per number: `map` takes every item through it."""
    if not isinstance(x, list | tuple):
        if x.__class__ is not float:
            _number(x, where)
        out.append(float(x))
        return None
    shape: list[Any] = []
    for e in x:
        if e.__class__ is float:
            out.append(e)
            shape.append(None)
        elif isinstance(e, list | tuple):
            shape.append(_take(e, out, where))
        else:
            _number(e, where)
            out.append(float(e))
            shape.append(None)
    return (type(x), tuple(shape))


def _number(x: Any, where: str) -> None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"compile: {where}: expected numbers or lists of numbers, got "
                        f"{type(x).__name__} {x!r}")


def _leaves(x: Any, label: str, made: list[Value]) -> Any:
    if isinstance(x, list | tuple):
        items = [_leaves(e, f"{label}_{i}", made) for i, e in enumerate(x)]
        return items if isinstance(x, list) else tuple(items)
    v = Value(x, label=label)
    made.append(v)
    return v


def _argument_names(fn: Callable[..., Any], n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n]
    return names + [f"x{i}" for i in range(len(names), n)]


# --- tracing ------------------------------------------------------------------------------
_COMPARISONS = {"__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}


_plain = float.__float__  # a float's own number, as a plain float


class _TracedData(float):
    """A Value's `.data` as `fn` reads it during the trace: a float whose comparisons are
    guards, as those of the Value are (``if z.data >= 0:`` in a loss)."""

    value: Value
    trace: _Trace

    def __new__(cls, x: float, value: Value, trace: _Trace) -> _TracedData:
        self = super().__new__(cls, x)
        self.value, self.trace = value, trace
        return self

    def _compare(self, op: str, other: Any, result: bool) -> bool:
        other = other.value if isinstance(other, _TracedData) else other
        self.trace.guards.append((self.value, op, other, result))
        return result

    def __lt__(self, o: Any) -> bool:
        return self._compare("<", o, _plain(self) < o)

    def __le__(self, o: Any) -> bool:
        return self._compare("<=", o, _plain(self) <= o)

    def __gt__(self, o: Any) -> bool:
        return self._compare(">", o, _plain(self) > o)

    def __ge__(self, o: Any) -> bool:
        return self._compare(">=", o, _plain(self) >= o)

    def _computed(self, *args: Any) -> Any:
        raise NotImplementedError(
            f"compile: fn computes with a Value's .data ({_plain(self)!r}); the generated code "
            "would keep the traced number instead of recomputing it; compute with the Value")

    # arithmetic, and float() (which Value(x) calls): each would freeze the traced number
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _computed
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = __abs__ = __float__ = _computed


class _Trace:
    """Records, while `fn` runs, its comparisons of Values (the guards) and the nodes it
    makes inside ``no_grad()`` (and ``detach()``): computed, but no gradient flows through
    them."""

    def __init__(self) -> None:
        self.guards: list[tuple[Value, str, Any, bool]] = []
        self.no_grad = False  # whether fn is inside a no_grad() block (or detach())
        self.stopped: set[Value] = set()  # the nodes made inside them

    def run(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        """``fn(*args)``, recorded. The recording versions of Value's methods are installed
        for the time of the trace, process-wide, but record only in this thread: another
        thread computing with Values meanwhile gets their plain behaviour (a bit slower), and
        a second thread that traces waits for this trace to end."""
        with _TRACING:
            outer = _tracing.trace
            originals = _install() if outer is None else None
            _tracing.trace = self
            try:
                return fn(*args)
            finally:
                _tracing.trace = outer
                if originals is not None:
                    _uninstall(originals)


class _Tracing(threading.local):
    trace: _Trace | None = None  # the trace this thread is running


_tracing = _Tracing()
_TRACING = threading.RLock()  # held by the thread that traces (a nested trace takes it again)
_ENGINE = (vars(_engine), vars(_functions), vars(_autograd))  # their reads of .data are plain


def _install() -> dict[str, Any]:
    """Install the recording versions; return what they replace."""
    originals: dict[str, Any] = {name: Value.__dict__[name]
                                 for name in ("data", "detach", *_COMPARISONS)}
    originals["_set_recording"] = set_recording = _engine._set_recording
    originals["_grad_mode"] = grad_mode = _engine._grad_mode
    originals["_node"], originals["_nary_node"] = _engine._node, _engine._nary_node
    data = originals["data"]  # the slot's descriptor
    get = data.__get__
    engine_globals, functions_globals, autograd_globals = _ENGINE

    def read(self_: Value) -> float:
        x = get(self_)
        trace = _tracing.trace
        if trace is None:
            return x  # another thread
        caller = sys._getframe(1).f_globals
        if caller is engine_globals or caller is functions_globals or caller is autograd_globals:
            return x
        return _TracedData(x, self_, trace)  # fn's own code reads a number

    def compare(name: str, op: str) -> Callable[[Value, Any], bool]:
        original = originals[name]

        def comparison(self_: Value, other: Any) -> bool:
            result = original(self_, other)
            trace = _tracing.trace
            if trace is not None:
                trace.guards.append((self_, op, other, result))
            return cast(bool, result)
        return comparison

    def recording(enabled: bool) -> None:
        # In the tracing thread, no_grad() goes on recording: its nodes are computed by the
        # generated code, and `stop` marks them as the ends of the gradient's paths.
        trace = _tracing.trace
        if trace is None:
            set_recording(enabled)
            return
        trace.no_grad = not enabled

    def mode() -> bool:  # what no_grad() and enable_grad() restore
        trace = _tracing.trace
        return grad_mode() if trace is None else not trace.no_grad

    def stop(make: Callable[..., Value]) -> Callable[..., Value]:
        def made_in_no_grad(*args: Any) -> Value:
            out = make(*args)
            trace = _tracing.trace
            if trace is not None and trace.no_grad:
                trace.stopped.add(out)
            return out
        return made_in_no_grad

    def detach(self_: Value) -> Value:
        trace = _tracing.trace
        if trace is None:
            return cast(Value, originals["detach"](self_))
        previous, trace.no_grad = trace.no_grad, True
        try:
            return self_ * 1.0  # the same number (also -0.0), a node that stops the gradient
        finally:
            trace.no_grad = previous

    setattr(Value, "data", property(read, data.__set__))  # noqa: B010
    for name, op in _COMPARISONS.items():
        setattr(Value, name, compare(name, op))
    setattr(Value, "detach", detach)  # noqa: B010 (mypy: a method)
    _engine._set_recording = recording
    _engine._grad_mode = mode
    _engine._node = stop(_engine._node)
    _engine._nary_node = stop(_engine._nary_node)
    return originals


def _uninstall(originals: dict[str, Any]) -> None:
    for name in ("data", "detach", *_COMPARISONS):
        setattr(Value, name, originals[name])
    _engine._set_recording = originals["_set_recording"]
    _engine._grad_mode = originals["_grad_mode"]
    _engine._node = originals["_node"]
    _engine._nary_node = originals["_nary_node"]


class _Variant:
    """One trace's generated code: for one shape of arguments and one side of each guard."""

    shape: Any  # of its arguments (see `_take`)
    sources: dict[str, str]  # of the functions compiled at their first use (see `_generate`)

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], chunk: int) -> None:
        made: list[Value] = []
        names = _argument_names(fn, len(args))
        leaves = [_leaves(a, name, made) for a, name in zip(args, names, strict=True)]
        trace = _Trace()
        with enable_grad():  # the trace records its graph, also when called inside no_grad()
            out = trace.run(fn, leaves)
        if not isinstance(out, Value):
            raise TypeError(f"compile: fn must return a Value, got {type(out).__name__} "
                            f"{out!r}")
        if out.is_leaf or out in trace.stopped:
            raise ValueError(f"compile: fn returned a leaf ({out!r}), not the result of an "
                             "operation (or one made in no_grad()), so there is nothing to "
                             "differentiate")
        collecting = gc.isenabled()
        gc.disable()  # ordering and generation make many small objects and no cycles
        try:
            self._make_code(made, out, trace, chunk)
        finally:
            if collecting:
                gc.enable()
        self.run = self.namespace["step"]

    def _make_code(self, made: list[Value], out: Value, trace: _Trace, chunk: int) -> None:
        self.n_args = len(made)
        backward_order = topological_order(out)
        nodes, seen = [], set()
        for root in [g[0] for g in trace.guards] + [g[2] for g in trace.guards
                                                    if isinstance(g[2], Value)]:
            if root not in seen:
                for v in topological_order(root):
                    if v not in seen:
                        seen.add(v)
                        nodes.append(v)
        for v in backward_order:
            if v not in seen:
                seen.add(v)
                nodes.append(v)
        arg_ids = {id(v) for v in made}
        self.params = [v for v in nodes if v.is_leaf and id(v) not in arg_ids]
        in_graph = set(backward_order)
        self.grad_params = [p for p in self.params if p in in_graph]
        self.source, self.sources, self.namespace = _generate(
            made, self.params, self.grad_params, nodes, backward_order, out, trace.guards,
            trace.stopped, chunk)
        self._exec(self.source)

    def _exec(self, source: str) -> None:
        for part in source.split("\n\n"):  # one function at a time: a bounded AST
            exec(_compile_source(part, "<microgrid.compile>", "exec"), self.namespace)

    # ``loop(rows, data, grads, outs)``: the step for each row of flat arguments, in order,
    # until one whose guards fail or whose output is not finite. The outputs are appended to
    # `outs`, and the parameters' grads returned, with each row's gradient added. Its twin
    # `forward_loop` runs the forward pass only (until a guard fails) and returns the grads
    # as they were. Each is compiled at its first use; for a graph of more than one generated
    # function, they loop over `run` (or over `forward`).
    @functools.cached_property
    def loop(self) -> Callable[[Iterable[list[float]], list[float], list[float], list[float]],
                               list[float]]:
        if "loop" not in self.sources:
            return functools.partial(self._loop_over_run, backward=True)
        return cast(Callable[..., list[float]], self._compiled("loop"))

    @functools.cached_property
    def forward_loop(self) -> Callable[[Iterable[list[float]], list[float], list[float],
                                        list[float]], list[float]]:
        if "forward_loop" not in self.sources:
            return functools.partial(self._loop_over_run, backward=False)
        return cast(Callable[..., list[float]], self._compiled("forward_loop"))

    def _compiled(self, name: str) -> Callable[..., Any]:
        if name not in self.namespace:
            self._exec(self.sources[name])
        return cast(Callable[..., Any], self.namespace[name])

    def data_and_grads(self) -> tuple[list[float], list[float]]:
        """The parameters' ``.data`` and ``.grad``, as the generated code takes them."""
        return [p.data for p in self.params], [p.grad for p in self.grad_params]

    def forward(self, row: list[float], data: list[float]) -> float | None:
        """The output for one row of flat arguments, by the forward pass only (finite or not);
        None if a guard fails."""
        if "forward_loop" in self.sources:  # one generated function: the loop, once
            outs: list[float] = []
            self.forward_loop([row], data, [], outs)
            return outs[0] if outs else None
        return cast(float | None, self._compiled("forward")(
            [*row, *data, *[0.0] * len(self.grad_params)]))

    def _loop_over_run(self, rows: Iterable[list[float]], data: list[float],
                       grads: list[float], outs: list[float], backward: bool) -> list[float]:
        if not backward:
            for row in rows:
                out = self.forward(row, data)
                if out is None:
                    break
                outs.append(out)
            return grads
        added = grads
        for row in rows:
            r = self.run([*row, *data, *added])
            if r is None or not math.isfinite(r[0]):
                break
            outs.append(r[0])
            added = r[1]
        return added


def _placeholders(template: str) -> list[int]:
    return [int(m) for m in _PLACEHOLDER.findall(template)]


_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_FAILED = "return True"  # a guard's statement ends so: its part returns True when it fails
INLINE = 16  # at most this many operations in one generated expression


def _generate(args: list[Value], params: list[Value], grad_params: list[Value],
              nodes: list[Value], backward_order: list[Value], out: Value,
              guards: list[tuple[Value, str, Any, bool]], stopped: set[Value], chunk: int
              ) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The source of ``step(S)``, those of the functions compiled at their first use (the
    loops `loop` and `forward_loop` of `map`, see `_loop`; for a graph of more than one
    generated function, ``forward(S)``, the forward pass alone), and their namespace.
    ``S`` is a list: the arguments, the parameters' data and grads first, then the slots that
    pass values between the generated functions (each at most `chunk` statements)."""
    names = _Names()
    name: dict[Value, str] = {}
    for i, v in enumerate(nodes):
        name[v] = names.value(v.label, i)
    # per node: its template, its operands, and their names (then its own, the n-th)
    templates: dict[tuple[Any, ...], _Template] = {}
    node_of: dict[Value, tuple[_Template, tuple[Any, ...], list[str]]] = {}
    for v in nodes:
        op = v._op
        if not op:
            continue
        operands = _operands(v)
        key = (op, *[None if isinstance(x, Value) else _constant_key(x) for x in operands])
        t = templates.get(key)
        if t is None:
            t = templates[key] = _Template(
                rule(op), tuple(None if isinstance(x, Value) else float(x) for x in operands),
                names)
        node_of[v] = (t, operands, [*[name[x] if isinstance(x, Value) else "" for x in operands],
                                    name[v]])

    # --- backward: reverse topological order, as Value.backward. A parameter's gradient is
    # added to term by term, in that order; an intermediate value's gradient is the sum of its
    # terms, in the same order, written as one expression when its last term is known
    # (``d_x = d_a * w1 + d_b * w2``: the same additions, without a store and a load per
    # term). A gradient of one term that is a copy of another (through + and leaves' 1.0) is
    # that other variable, not a new line.
    needs: set[Value] = set(grad_params)  # the nodes whose gradient leads to a parameter
    for v in backward_order:  # parents before children
        node = node_of.get(v)
        if node is not None and v not in stopped and any(x in needs for x in node[1]):
            needs.add(v)  # (no gradient flows through a node made in no_grad())
    reached = {out}  # ... and that a gradient reaches from out (not through no_grad() only)
    for v in reversed(backward_order):
        if v in reached and v in needs and v in node_of:
            reached.update(x for x in node_of[v][1] if isinstance(x, Value))
    needs &= reached
    grad_set = set(grad_params)
    waiting: dict[Value, int] = {}  # an intermediate value's terms still to come
    for v in needs:
        node = node_of.get(v)
        if node is not None:
            for i in node[0].value_operands:
                x = node[1][i]
                if x in needs and x not in grad_set:
                    waiting[x] = waiting.get(x, 0) + 1
    terms_of: dict[Value, list[tuple[str, str, tuple[str, ...]]]] = {}
    adds: dict[int, tuple[str, str, str, tuple[str, ...]]] = {}  # a parameter's terms
    backward: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    read_by_backward: set[str] = set()
    gvar: dict[Value, str] = {p: f"d_{name[p]}" for p in grad_params}  # current variable
    root = name[out]
    backward.append((f"d_{root} = 1.0", (f"d_{root}",), ()))
    gvar[out] = f"d_{root}"
    for v in reversed(backward_order):
        node = node_of.get(v)
        if node is None or v not in needs:
            continue
        g = gvar[v]
        t, operands, opnames = node
        for i in t.value_operands:
            x = operands[i]
            if x not in needs:
                continue
            term = t.terms[i](opnames, g)  # type: ignore[misc]
            whole = term[1:-1] if t.terms_wrapped[i] else term  # a statement's right side
            reads = (*[opnames[k] for k in t.reads[i]], g)
            read_by_backward.update(reads)
            if x in grad_set:
                target = gvar[x]
                adds[len(backward)] = (target, term, whole, reads)
                backward.append((f"{target} += {whole}", (target,), (target, *reads)))
                continue
            terms = terms_of.setdefault(x, [])
            terms.append((term, whole, reads))
            waiting[x] -= 1
            if not waiting[x]:
                del terms_of[x]
                if len(terms) == 1 and term == g:
                    gvar[x] = g  # an alias: no line
                else:
                    gvar[x] = _sum_of(terms, "d_" + opnames[i], backward)
    assert not terms_of, "a gradient whose terms did not all arrive"
    final_grads = [gvar[p] for p in grad_params]

    # --- forward: each node once, in order; a value used once, unlabelled, and not read by
    # backward or a guard, is written into the expression that uses it (up to INLINE ops)
    uses: dict[Value, int] = {}
    for t, operands, _ in node_of.values():
        for i in t.value_operands:
            x = operands[i]
            uses[x] = uses.get(x, 0) + 1
    guarded = {g[0] for g in guards} | {g[2] for g in guards if isinstance(g[2], Value)}
    statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [("# forward", (), ())]
    pending: dict[Value, tuple[str, int, tuple[str, ...]]] = {}  # code, size, reads

    def emit(v: Value) -> None:
        code, _, reads = pending.pop(v)
        if node_of[v][0].wrapped:
            code = code[1:-1]
        statements.append((f"{name[v]} = {code}", (name[v],), reads))

    position = {v: i for i, v in enumerate(nodes)}
    guards_after: dict[int, list[tuple[Value, str, Any, bool]]] = {}
    for guard in guards:
        v, _, other, _ = guard
        last = max(position[v], position[other] if isinstance(other, Value) else -1)
        guards_after.setdefault(last, []).append(guard)
    for i, v in enumerate(nodes):
        node = node_of.get(v)
        if node is not None:
            t, operands, opnames = node
            inlinable = t.inlinable
            codes = list(opnames)
            size = 1
            reading: list[str] = []
            for k in t.value_operands:
                x = operands[k]
                if x in pending:
                    code, n, r = pending[x]
                    if inlinable[k] and size + n <= INLINE:
                        del pending[x]
                        codes[k] = code
                        size += n
                        reading.extend(r)
                    else:
                        emit(x)
                        reading.append(opnames[k])
                else:
                    reading.append(opnames[k])
            pending[v] = (t.forward_code(codes), size, tuple(reading))
            if (v is out or v.label or opnames[-1] in read_by_backward or v in guarded
                    or uses.get(v, 0) != 1):  # a labelled value keeps its line, for reading
                emit(v)
        for v, op, other, result in guards_after.get(i, ()):
            other_code = name[other] if isinstance(other, Value) else _code(other)
            test = f"{name[v]} {op} {other_code}"
            statements.append((f"if {'not ' if result else ''}{test}: {_FAILED}", (),
                               (name[v], *([other_code] if isinstance(other, Value) else []))))
    assert not pending, "a value computed but never used"
    statements.append(("# backward", (), ()))
    adds = {len(statements) + j: add for j, add in adds.items()}
    statements.extend(backward)

    n_args = len(args)
    slots: dict[str, int] = {}
    for i, a in enumerate(args):
        if a in name:
            slots[name[a]] = i
    for i, p in enumerate(params):
        slots[name[p]] = n_args + i
    for i, p in enumerate(grad_params):
        slots[f"d_{name[p]}"] = n_args + len(params) + i
    results = [root, *final_grads]
    parts = _parts(statements, adds, chunk)
    initial = n_args + len(params) + len(grad_params)
    given = dict(slots)  # the slots of the arguments, parameters and grads
    source = _chunks(parts, slots, results, initial)
    if len(parts) == 1:  # a small graph: `map` runs it over many items in one call
        arg_names, param_names = [name.get(a, "_") for a in args], [name[p] for p in params]
        later = {kind: _loop(parts[0], arg_names, param_names, final_grads, root, kind)
                 for kind in ("loop", "forward_loop")}
    else:  # `forward(S)`: the forward pass alone, in parts of its own
        forward = statements[:statements.index(("# backward", (), ()))]
        later = {"forward": _chunks(_parts(forward, {}, chunk), given, [root], initial,
                                    "forward")}
    return source, later, names.namespace


def _loop(statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]], args: list[str],
          params: list[str], grads: list[str], root: str, kind: str) -> str:
    """``loop(_rows, _data, _grads, _outs)`` (or ``forward_loop``, the forward pass only), the
    step for each row of arguments in `_rows` (flat lists) in turn: the parameters' `_data` and
    `_grads` are unpacked into locals once, the grads add up there, and the list of them is
    returned. Each output is appended to `_outs`; a row whose guards fail, or whose output is
    not finite, ends the loop before its backward pass (``len(_outs)`` tells where), to be
    called as an ordinary call; the forward loop stops at a guard only. (Its own names begin
    with ``_``, which no value's name does.)"""
    backward = kind == "loop"
    lines = [f"def {kind}(_rows, _data, _grads, _outs):", "    _append = _outs.append"]
    lines += [f"    {', '.join(names)}, = {what}"
              for names, what in ((params, "_data"), (grads if backward else [], "_grads"))
              if names]
    lines.append(f"    for {', '.join(args)}, in _rows:" if args else "    for _ in _rows:")
    for code, _, _ in statements:
        if code == "# backward":
            if not backward:
                break
            lines.append(f"        if {root} - {root} != 0.0: break  # not finite")
        if code.endswith(_FAILED):
            code = code.removesuffix(_FAILED) + "break"
        lines.append(f"        {code}")
    lines += [f"        _append({root})",
              f"    return [{', '.join(grads)}]" if backward else "    return _grads"]
    return "\n".join(lines) + "\n"


def _parts(statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
           adds: dict[int, tuple[str, str, str, tuple[str, ...]]], chunk: int
           ) -> list[list[tuple[str, tuple[str, ...], tuple[str, ...]]]]:
    """The statements in parts of at most `chunk`. In each part, the terms added to one
    parameter's gradient (`adds`: the statements ``d_w += term``) are one sum, where its last
    term is: ``d_w = d_w + t1 + t2 ...``, the same additions in the same order."""
    parts = []
    for start in range(0, len(statements), chunk):
        where = range(start, min(start + chunk, len(statements)))
        last = {adds[j][0]: j for j in where if j in adds}
        part: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        terms: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        for j in where:
            add = adds.get(j)
            if add is None:
                part.append(statements[j])
                continue
            target = add[0]
            terms.setdefault(target, []).append(add[1:])
            if last[target] == j:
                if len(terms[target]) == 1:
                    part.append(statements[j])  # d_w += term
                    del terms[target]
                else:
                    _sum_of(terms.pop(target), target, part, accumulate=True)
        parts.append(part)
    return parts or [[]]


FUSE = 32  # at most this many terms in one generated sum


def _sum_of(terms: list[tuple[str, str, tuple[str, ...]]], target: str,
            backward: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
            accumulate: bool = False) -> str:
    """Append the statements of ``target = t0 + t1 + ...`` (``target = target + t0 + ...``
    to `accumulate`), left to right as backward() adds them, at most `FUSE` terms a
    statement; return `target`."""
    for k in range(0, len(terms), FUSE):
        piece = terms[k:k + FUSE]
        codes = [target] if k or accumulate else []
        reads: list[str] = list(codes)
        alone = len(piece) == 1 and not codes
        for term, whole, r in piece:
            # inside a sum, a conditional expression keeps its parentheses; a product needs none
            codes.append(term if " if " in whole and not alone else whole)
            reads.extend(r)
        backward.append((f"{target} = {' + '.join(codes)}", (target,), tuple(reads)))
    return target


def _operands(v: Value) -> tuple[Any, ...]:
    """``v.operands``, read from the slots (generation reads them once per node)."""
    if v.__class__ is Value:
        b = v._b
        return (v._a,) if b is None else (v._a, b)
    return v.operands


def _constant_key(x: Any) -> Any:
    """A constant operand as a template's key: its value (``-0.0`` apart from ``0.0``)."""
    return x if x else repr(float(x))


def _chunks(groups: list[list[tuple[str, tuple[str, ...], tuple[str, ...]]]],
            slots: dict[str, int], results: list[str], initial: int, entry: str = "step"
            ) -> str:
    """``step(S)`` (or `entry`): one function for each group of statements, each loading from
    ``S`` what earlier ones computed and storing what later ones read. It returns the output
    and, if `results` has them, the gradients."""
    part = "_part" if entry == "step" else f"_{entry}_part"
    loads: list[list[str]] = []
    writes: list[set[str]] = []
    for group in groups:
        written: set[str] = set()
        load: list[str] = []
        seen_load: set[str] = set()
        for _, w, r in group:
            for n in r:
                if n not in written and n not in seen_load:
                    seen_load.add(n)
                    load.append(n)
            written.update(w)
        loads.append(load)
        writes.append(written)
    later: set[str] = set(results)
    stores: list[list[str]] = [[] for _ in groups]
    for k in range(len(groups) - 1, -1, -1):
        stores[k] = sorted(writes[k] & later)
        later -= writes[k]  # in place: a new set each time would copy all of it (quadratic)
        later.update(loads[k])
    next_slot = max(slots.values(), default=-1) + 1
    for k in range(len(groups)):
        for n in stores[k]:
            if n not in slots:
                slots[n] = next_slot
                next_slot += 1
    lines: list[str] = []
    for k, group in enumerate(groups):
        loads[k].sort(key=slots.__getitem__)
        stores[k].sort(key=slots.__getitem__)
        lines.append(f"def {part}{k}(S):")
        for run, where in _runs(loads[k], slots):
            lines.append(f"    {', '.join(run)} = S[{where}]")
        for code, _, _ in group:
            lines.append(f"    {code}")
        for run, where in _runs(stores[k], slots):
            lines.append(f"    S[{where}] = {', '.join(run)}")
        lines.append("")
    lines.append(f"def {entry}(S):")
    if next_slot > initial:
        lines.append(f"    S.extend([0.0] * {next_slot - initial})")
    for k in range(len(groups)):
        lines.append(f"    if {part}{k}(S): return None")
    if len(results) == 1:
        lines.append(f"    return S[{slots[results[0]]}]")
        return "\n".join(lines) + "\n"
    grads = list(_runs(results[1:], slots))
    grads_code = (f"S[{grads[0][1]}]" if len(grads) == 1 and len(grads[0][0]) > 1 else
                  f"[{', '.join(f'S[{slots[n]}]' for n in results[1:])}]")
    lines.append(f"    return S[{slots[results[0]]}], {grads_code}")
    return "\n".join(lines) + "\n"


def _runs(names: list[str], slots: dict[str, int]) -> Iterator[tuple[list[str], str]]:
    """`names` (in the order of their slots) in runs of consecutive slots, each with its
    subscript of ``S``: a slice (``3:7``) moves a run faster than one subscript per name."""
    run: list[str] = []
    for n in names:
        if run and slots[n] != slots[run[-1]] + 1:
            yield run, _subscript(run, slots)
            run = []
        run.append(n)
    if run:
        yield run, _subscript(run, slots)


def _subscript(run: list[str], slots: dict[str, int]) -> str:
    first = slots[run[0]]
    return str(first) if len(run) == 1 else f"{first}:{first + len(run)}"


# --- the compiled step --------------------------------------------------------------------
def _finite(out: float) -> float:
    if not math.isfinite(out):
        raise OverflowError(f"compiled step: the output ({out!r}) is not finite; run fn "
                            "uncompiled to see where")
    return out


def _runs_of_one_shape(items: list[tuple[Any, Any, Any]]) -> Iterator[tuple[int, int]]:
    """The (start, end) of each run of consecutive items of one shape (their third field)."""
    start = 0
    for i in range(1, len(items) + 1):
        if i == len(items) or items[i][2] != items[start][2]:
            yield start, i
            start = i


class CompiledStep:
    """``step(*args)``: the output's value for `args`, its gradient added to each
    parameter's ``.grad``. See `compile`."""

    def __init__(self, fn: Callable[..., Any], example_args: tuple[Any, ...], retrace: bool,
                 chunk: int) -> None:
        self.fn = fn
        self.retrace = retrace
        self.chunk = chunk
        self._variants: dict[Any, list[_Variant]] = {}
        self.traces = 0
        self._arity = len(example_args)
        self._last = self._trace(example_args, _take(example_args, [], "example_args"))

    def _trace(self, args: tuple[Any, ...], shape: Any) -> _Variant:
        variant = _Variant(self.fn, args, self.chunk)
        variant.shape = shape
        self.traces += 1
        variants = self._variants.setdefault(shape, [])
        variants.insert(0, variant)
        del variants[16:]
        return variant

    @property
    def source(self) -> str:
        """The generated Python of the latest trace."""
        return self._last.source

    @property
    def parameters(self) -> list[Value]:
        """The leaves `fn` read but did not create, whose ``.grad`` each call adds to."""
        return list(self._last.grad_params)

    def __call__(self, *args: Any) -> float:
        flat: list[float] = []
        shape = _take(args, flat, "arguments")
        backward = is_grad_enabled()  # inside no_grad(), no gradient is added
        for variant in self._variants.get(shape, ()):
            result = self._run(variant, list(flat), backward)
            if result is not None:
                self._last = variant
                return result
        if not self.retrace:
            what = ("another branch than the trace at a comparison of Values"
                    if shape in self._variants else "arguments of another shape than the trace's")
            raise GuardError(f"compile: these arguments take {what}, and the step was "
                             "compiled with retrace=False")
        variant = self._trace(args, shape)
        result = self._run(variant, flat, backward)
        if result is None:
            raise RuntimeError("compile: the new trace's guards fail on its own arguments; "
                               "is fn's graph random?")
        self._last = variant
        return result

    def map(self, arguments: Iterable[Any]) -> list[float]:
        """``[step(*args) for args in arguments]``: the outputs, and every gradient added to
        the parameters' ``.grad``, in order. Faster for many small calls (the loss of one
        example, over a data set): the parameters' data and grads are read once and written
        once, and for a graph of one generated function the generated code loops over the
        items itself. With one argument, each item is that argument; else a tuple of them.
        Inside ``no_grad()``, the forward pass only: the outputs, and no gradient added. An
        item that takes another branch or shape is an ordinary call. If an item fails, the
        gradients of the items before it are added, as by the calls before it; a gradient that
        is not finite is found when they are written (at the end), and then none of them is."""
        items: list[tuple[tuple[Any, ...], list[float], Any]] = []  # args, flat, shape
        bad: Exception | None = None  # raised after the items before it
        try:
            for item in arguments:
                args = (item,) if self._arity == 1 else tuple(item)
                flat: list[float] = []
                items.append((args, flat, _take(args, flat, "arguments")))
        except Exception as e:
            bad = e
        backward = is_grad_enabled()  # inside no_grad(), the forward pass only
        outputs: list[float] = []
        variant = self._last
        data, grads = variant.data_and_grads()  # grads: with every item's added so far
        try:
            for start, end in _runs_of_one_shape(items):
                rows = [flat for _, flat, _ in items[start:end]]
                unread = iter(rows)  # the loops read the rows from it, each once
                i = start
                while i < end:
                    if items[i][2] == variant.shape:
                        loop = variant.loop if backward else variant.forward_loop
                        done = len(outputs)
                        try:
                            grads = loop(unread, data, grads, outputs)
                        except Exception:  # raised on a row: redo the rows before it
                            grads = loop(rows[i - start:i - start + len(outputs) - done],
                                         data, grads, [])
                        if not backward:  # the forward loop went on past any output
                            for out in outputs[done:]:
                                _finite(out)
                        i += len(outputs) - done
                        if i == end:
                            break
                    else:  # the first item of another shape than the latest trace's
                        next(unread)
                    # An ordinary call: another shape, or a guard failed, or the output is not
                    # finite, or the row raised (the call raises it again). Its row was read.
                    self._write(variant, grads, backward)
                    outputs.append(self(*items[i][0]))
                    i += 1
                    variant = self._last
                    data, grads = variant.data_and_grads()
        except BaseException:
            if all(map(math.isfinite, grads)):
                self._write(variant, grads, backward)  # what the items before it added
            raise
        if items:
            self._write(variant, grads, backward)
        if bad is not None:
            raise bad
        return outputs

    @staticmethod
    def _write(variant: _Variant, grads: list[float], backward: bool) -> None:
        """Set the parameters' grads (with `backward`; inside no_grad(), nothing)."""
        if not backward:
            return
        if not all(map(math.isfinite, grads)):  # a sum of finite and infinite stays so
            raise OverflowError("compiled step: a gradient is not finite; run fn uncompiled "
                                "to see where")
        for p, g in zip(variant.grad_params, grads, strict=True):
            p.grad = g

    @staticmethod
    def _run(variant: _Variant, flat: list[float], backward: bool) -> float | None:
        data, grads = variant.data_and_grads()
        if not backward:  # inside no_grad(): the forward pass only
            out = variant.forward(flat, data)
            return None if out is None else _finite(out)
        r = variant.run([*flat, *data, *grads])
        if r is None:
            return None
        out, added = r
        _finite(out)
        CompiledStep._write(variant, added, backward)
        return cast(float, out)


def compile(fn: Callable[..., Value], *example_args: Any, retrace: bool = True,
            chunk: int = CHUNK) -> CompiledStep:
    """Trace ``fn(*example_args)`` once and compile its forward and backward pass.

    `fn` takes numbers (or lists of numbers, nested) and returns a `Value`. The returned step,
    called with arguments of the same shape, returns the output's value and adds its gradient
    to the ``.grad`` of every leaf `fn` reads but did not create (the parameters), as
    ``backward()`` would; it reads those leaves' ``.data`` at each call, so ``opt.step()``
    between calls works. ``step.source`` is the generated code. ``step.map(items)`` is a
    call for each item, faster for many small calls (the loss of one example, over the data).
    Inside ``no_grad()``, a call (or `map`) computes the output only and adds no gradient, as
    a model called inside ``torch.no_grad()``.

    Comparisons of Values in `fn` (``if loss < 0.01``, builtin ``max``) are guards: when new
    arguments would take another branch, or have another shape, `fn` is traced again (or,
    with ``retrace=False``, a `GuardError` is raised). relu, abs, maximum and the like need no
    guard: they are compiled as conditional expressions. The intermediate Values of the trace
    are not updated by calls of the step.

    ``no_grad()`` blocks and ``detach()`` in `fn` are compiled without gradients: their
    values are computed by the generated code, and no gradient flows back through them, as
    with ``backward()``. (Inside a traced ``no_grad()``, ``is_grad_enabled()`` stays True.)

    While `fn` is traced, `Value`'s comparisons, ``data`` and ``detach`` are replaced by
    recording versions (restored afterwards) that record in the tracing thread only: another
    thread may compute with Values meanwhile, and a second trace waits for the first.
    """
    return CompiledStep(fn, example_args, retrace, chunk)
