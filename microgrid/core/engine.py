"""A scalar autograd engine.

Every operation creates a `Value` that records, at forward time, its operands and the local
derivative of its result with respect to each of them. `backward()` walks the graph in reverse
topological order and applies the chain rule: each operand receives
``consumer.grad * local_derivative``. `backward_walk`, first below, is that definition, one node
at a time, and `reference_backward` stores the gradients it gives; `Value.backward` is a faster
version of it.

Each operation's rule, its forward computation and its local derivatives, is written once in
`microgrid.core.functions`, with arithmetic that works on floats and on Values alike: the engine
records the derivatives as floats at forward time, and `microgrid.grad(create_graph=True)`
evaluates the same rules on Values to build a graph of the gradient. `apply` makes the node of
any rule, a learner's own `Function` included.

A node holds at most two operands, in the slots ``_a``/``_b``, with their local derivatives in
``_da``/``_db``. An operand that is a plain number (the ``2`` in ``2 * x``) is kept for display
but is not a node, and its derivative slot is ``None``: no gradient flows to a constant. Keeping
operands in slots instead of tuples, and constants out of the graph, keeps a node small and the
engine fast; there are no reference cycles, so a graph is freed as soon as its output is dropped.
A node of more than two operands (`dot`, a neuron's weighted sum, or ``clamp(x, low, high)``)
is a `NaryValue`, a `Value` with three tuples of its own: all its operands, the parents among
them, and their local derivatives. `backward` tells the two kinds apart by their class.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from numbers import Real
from typing import Any, TypeAlias, cast

from microgrid.core import functions as F
from microgrid.core import groups as _groups
from microgrid.core.functions import (
    Function,
    div_derivatives,
    dot_derivatives,
)

Number: TypeAlias = int | float
Operand: TypeAlias = "Value | int | float"


# --- the idea: backpropagation, one node at a time -------------------------------------------
@dataclass(frozen=True)
class Term:
    """One use of a node by `consumer` (as its operand number `index`): the term
    ``consumer_grad * local_grad`` of the node's gradient (the chain rule)."""

    consumer: Value
    index: int  # the node's place among consumer's operands, as in `operand_uses`
    consumer_grad: float  # d(root)/d(consumer), complete before the node is visited
    local_grad: float  # d(consumer)/d(node), recorded at forward time

    @property
    def grad(self) -> float:
        return self.consumer_grad * self.local_grad


@dataclass(frozen=True)
class Visit:
    """Backpropagation reaching `node`: every node that uses it has passed its gradient on, so
    `grad`, d(root)/d(node), is complete: the sum of `terms` (the root's is the seed)."""

    node: Value
    grad: float
    terms: tuple[Term, ...]  # empty for the root


def backward_walk(root: Value, grad: Number = 1.0) -> Iterator[Visit]:
    """The chain rule, written once: the nodes from `root` back to the leaves, each with its
    gradient and the terms it was summed from. Changes no `grad`.

    Each node is visited after every node that uses it (reverse topological order), so its
    gradient is complete; it then passes that gradient to each of its operands, times the
    local derivative recorded at forward time. `reference_backward` stores the gradients, the
    player (`microgrid.backward_steps`) shows the visits, and `Value.backward` is the same
    walk made fast.
    """
    seed = _check_number(grad, "backward_walk")
    received: dict[Value, list[Term]] = {}
    for node in reversed(topological_order(root)):
        terms = received.pop(node, [])
        g = seed if node is root else 0.0
        for term in terms:
            g += term.grad  # d(root)/d(node) = sum over its uses of consumer.grad * local
        yield Visit(node, g, tuple(terms))
        for k, _, parent, local in operand_uses(node):
            if parent is not None and local is not None:  # no gradient flows to a constant
                received.setdefault(parent, []).append(Term(node, k, g, local))


def reference_backward(root: Value, grad: Number = 1.0) -> None:
    """Backpropagation in its plainest form: the definition that `Value.backward` implements.

    Stores each node's gradient from `backward_walk`: an intermediate node gets this pass's,
    a leaf adds it to its own (leaves accumulate, as in PyTorch). Same gradients as
    ``root.backward(grad)``, bit for bit when the leaves start at 0 (onto a nonzero leaf
    gradient, backward() adds the terms one by one: the last bit may differ).
    """
    if root.is_leaf:
        raise ValueError(f"reference_backward: {root!r} is a leaf; nothing to backpropagate")
    with _graph_lock:  # as backward(): all the gradients, checked, then stored
        visits = list(backward_walk(root, _check_number(grad, "reference_backward")))
        for visit in visits:
            if visit.grad - visit.grad:  # not finite
                raise OverflowError(f"reference_backward: the gradient reaching {visit.node!r} "
                                    f"is {visit.grad!r}, not a finite number")
        for visit in visits:
            node = visit.node
            node.grad = node.grad + visit.grad if node.is_leaf else visit.grad


# --- the engine: a node, its local derivatives, and the fast backward -------------------------

class _GradMode(threading.local):
    enabled = True  # each thread starts with recording on, as in PyTorch


_mode = _GradMode()
# True while no thread is inside no_grad(): then every thread records, and the hot path reads
# this one global instead of the thread-local flag. `_no_grad_threads` counts the threads
# inside no_grad() (under `_lock`); the first one in sets it False, the last one out True.
_all_recording = True
_no_grad_threads = 0
_lock = threading.Lock()


def _set_recording(enabled: bool) -> None:
    """Set this thread's grad mode (and `_all_recording`) if it changes."""
    global _all_recording, _no_grad_threads
    if _mode.enabled == enabled:
        return
    with _lock:
        _mode.enabled = enabled
        _no_grad_threads += -1 if enabled else 1
        _all_recording = not _no_grad_threads


def _grad_mode() -> bool:
    """This thread's grad mode, as `no_grad` and `enable_grad` restore it (a trace of
    `microgrid.compile` replaces this and `_set_recording` with its own)."""
    return _mode.enabled


@contextmanager
def _grad_mode_set(enabled: bool) -> Iterator[None]:
    previous = _grad_mode()
    _set_recording(enabled)
    try:
        yield
    finally:
        _set_recording(previous)


def no_grad() -> AbstractContextManager[None]:
    """Inside this block, this thread's operations record no operands: results are leaves.

    The mode is per thread, as in PyTorch: other threads go on recording meanwhile.
    """
    return _grad_mode_set(False)


def enable_grad() -> AbstractContextManager[None]:
    """Inside this block, this thread's operations record again, also within `no_grad()`
    (PyTorch's ``torch.enable_grad``)."""
    return _grad_mode_set(True)


def is_grad_enabled() -> bool:
    """Whether this thread's operations record the graph (False inside `no_grad()`)."""
    return _all_recording or _mode.enabled


def _check_number(x: Any, where: str) -> float:
    """`x` as a finite float, or a TypeError/ValueError that names `where` and `x`."""
    if x.__class__ is not float:  # the common case first: floats need no conversion
        if isinstance(x, bool) or not isinstance(x, Real):
            raise TypeError(
                f"{where}: expected a real number (int or float), got {type(x).__name__} {x!r}")
        try:
            x = float(x)
        except OverflowError:  # an int past 1.8e308 (10**400)
            size = f" (about 10^{int(math.log10(abs(x)))})" if isinstance(x, int) else ""
            raise OverflowError(f"{where}: {type(x).__name__}{size} is too large for a float, "
                                "which is at most about 1.8e308") from None
    if x - x:  # not finite (inf - inf and nan - nan are nan, which is truthy)
        raise ValueError(f"{where}: expected a finite number, got {x!r}")
    return x


def _not_implemented(error: Exception, op: str, x: Value, other: object, reflected: str) -> Any:
    """After ``x op other`` raised `error`: NotImplemented if `other` is not a number that Python
    should ask instead (`_defers`), else the error `_refused` gives."""
    if not isinstance(other, Value) and _not_real(other) and _defers(other, reflected):
        return NotImplemented  # Python then asks other (a numpy array, say)
    raise _refused(error, op, x, other) from None


def _defers(x: object, reflected: str) -> bool:
    """Whether an operation should return NotImplemented for the operand `x` it does not know,
    so that Python tries `x`'s `reflected` method (``Value(2) * np.array([1, 2])``). Not for
    str, bytes, list and tuple, whose ``*`` repeats: ``Value(2) * "a"`` stays our TypeError."""
    return hasattr(type(x), reflected) and not isinstance(x, str | bytes | list | tuple)


def _not_real(x: object) -> bool:
    """Whether `x` is not a real number (bool is not one here, though Python says it is)."""
    return x.__class__ is not float and (isinstance(x, bool) or not isinstance(x, Real))


def _number(x: Operand, where: str, finite: bool = True) -> float:
    """The number that `x` (a Value or a plain number) stands for, or a TypeError (ValueError)
    that names `where` and `x`: a Value's `data` may have been set by hand to something else
    (to nan or inf, which `finite=False` lets through, for showing the number)."""
    if isinstance(x, Value):
        data = x.data
        if _not_real(data):
            raise _data_error(where, x)
        if finite and data - data:  # not finite: only a data set by hand can be
            raise _nan_error(where, x)
        return data
    return _check_number(x, where)


def _data_error(where: object, v: Value) -> TypeError:
    return TypeError(f"{where}: the data of {v!r} is {type(v.data).__name__} {v.data!r}, not a "
                     "number; set it to a float")


def _nan_error(where: object, v: Value) -> ValueError:
    return ValueError(f"{where}: the data of {v!r} is {v.data!r}, not a finite number; set it "
                      "to a finite float")


# What arithmetic on a `data` set by hand raises: "x" * 2.0 a TypeError, a numpy array's truth
# value (in the finiteness check) a ValueError.
_BAD_DATA = (TypeError, ValueError)


def _refused(error: Exception, op: object, *operands: object) -> Exception:
    """What an operation raises when its arithmetic raised `error` (a `_BAD_DATA` error): a
    TypeError if an operand's `data` is not a number (set by hand: ``v.data = "x"``), else
    `error` itself.

    The operations look at their operands' data only here, after an error, so that the check
    costs nothing when nothing is wrong (a try block is free in Python 3.11+)."""
    for x in operands:
        for v in x if isinstance(x, tuple) else (x,):  # a NaryValue's operands are a tuple
            if isinstance(v, Value) and _not_real(v.data):
                return _data_error(op, v)
    return error


_new = object.__new__


def _node(data: float, op: str | Function, a: Any, da: float | None, b: Operand | None = None,
          db: float | None = None) -> Value:
    """The node of `data`, the result of `op` on the operand `a` (and `b`, if two), whose local
    derivatives d(data)/da and d(data)/db are `da` and `db`: None for an operand that is a
    constant, to which no gradient flows. The engine's own constructor: no argument checks,
    only a check of the result. Its arguments are positional (keywords cost 3-4% of a training
    step, pairs 6-8%, measured): each operand followed by its local derivative, as in
    ``_node(a * b, "*", self, b, other, a)`` for d(ab)/da = b, d(ab)/db = a."""
    # not finite: inf - inf and nan - nan are nan, and nan < 1 is False; a result that is not a
    # real number (a complex, str or list, from a data set by hand) raises here
    if not data - data < 1.0:
        _not_finite(data, op, a, b)
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._uses = 0
    out._group = _groups.this_thread.current if _groups.any_open else None
    if _all_recording or _mode.enabled:  # separate stores: faster than unpacking a tuple
        out._op = op
        out._a = a
        out._da = da
        out._b = b
        out._db = db
    else:
        out._op = ""
        out._a = out._da = out._b = out._db = None
    return out


def _not_finite(data: float, op: object, a: object, b: object) -> None:
    error = OverflowError if data == data else ValueError  # nan is the one unequal to itself
    raise error(f"{op}: result of {_describe(op, a, b)} is {data!r}, not a finite number")


def _describe(op: object, a: object, b: object) -> str:
    def show(x: object) -> str:
        return repr(x.data) if isinstance(x, Value) else repr(x)
    operands = a if isinstance(a, tuple) else (a,) if b is None else (a, b)
    if len(operands) > 2:
        return f"{op} of {len(operands)} operands"
    return f"{op}({', '.join(map(show, operands))})"


class Value:
    """A scalar in a computation graph: its `data`, its `grad`, and how it was computed."""

    __slots__ = ("data", "grad", "label", "_op", "_a", "_da", "_b", "_db", "_uses",
                 "_group", "__weakref__")

    data: float
    # a float; a Value after backward(create_graph=True); None, set by hand, is "no gradient
    # yet" (PyTorch's). Typed Any so that code may set and read all three (grad_number reads it)
    grad: Any
    label: str
    _op: str | Function  # a built-in operation's name, or a user-defined Function itself
    _a: Any  # an operand: a Value whenever _da is not None, else a constant or None
    _da: float | None  # its local derivative: a float, or None for a constant operand
    _b: Any
    _db: float | None
    _uses: int  # during backward: uses by consumers whose gradient has not yet arrived
    _group: _groups.Group | None  # the innermost `with group(...)` open when it was made

    def __init__(self, data: Number, label: str = "") -> None:
        if isinstance(data, Value):
            raise TypeError(f"Value: data is already a Value ({data!r}); use it directly")
        self.data = _check_number(data, "Value")
        self.grad = 0.0
        if not isinstance(label, str):
            raise TypeError(f"Value: label must be a str, got {type(label).__name__} {label!r}")
        self.label = label
        self._op = ""
        self._a = self._da = self._b = self._db = None
        self._uses = 0
        self._group = _groups.this_thread.current if _groups.any_open else None

    def __reduce_ex__(self, protocol: Any) -> Any:
        """pickle and copy: a leaf as its fields; a node as its whole graph, flat (`_flat`), so
        that a chain of any length pickles without recursion (the leaves stay themselves: a
        model's parameters pickled beside its loss are one set of objects)."""
        if not self._op:
            return super().__reduce_ex__(protocol)
        return _unflatten, (_flat(self),)

    # --- what was recorded at forward time -----------------------------------------------
    @property
    def op(self) -> str:
        """The name of the operation that made this value ('' for a leaf)."""
        op = self._op
        return op if op.__class__ is str else cast(Function, op).name

    @property
    def operands(self) -> tuple[Operand, ...]:
        """All operands in order, constants included (the 2 of ``2 * x``)."""
        return tuple(x for x in (self._a, self._b) if x is not None)

    @property
    def parents(self) -> tuple[Value, ...]:
        """The `Value` operands in order, one entry per use (``x * x`` gives ``(x, x)``)."""
        pairs = ((self._a, self._da), (self._b, self._db))
        return tuple(cast(Value, p) for p, d in pairs if d is not None)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each entry of `parents`, computed at forward time."""
        return tuple(d for d in (self._da, self._db) if d is not None)

    @property
    def group(self) -> _groups.Group | None:
        """The innermost group open when this value was made (see `microgrid.group`)."""
        return self._group

    @property
    def is_leaf(self) -> bool:
        return not self._op

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    def item(self) -> float:
        """The number this Value holds, as in PyTorch: ``loss.item()`` (same as `data`)."""
        return _number(self, "item", finite=False)

    def __float__(self) -> float:
        # math.exp(x) would call this and compute with the number, silently dropping the
        # gradient: refuse, and say what to use instead.
        raise TypeError(
            f"float: {self!r} is not converted to a number implicitly: math functions and float() "
            "would drop its gradient; use the Value's methods (x.exp(), x.log(), x.tanh(), ...) "
            "to compute, and x.item() (or x.data) for the number")

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the number; ``f"{v}"`` is ``repr(v)``."""
        return format(_number(self, "format", finite=False), spec) if spec else repr(self)

    def __round__(self, ndigits: int | None = None) -> float:
        """``round(v, 3)`` is the number rounded, as ``round(v.item(), 3)``: not a Value."""
        return round(_number(self, "round", finite=False), ndigits)

    # Comparisons compare `data` (``if loss < 0.01``, ``max(values)``); ``==`` stays identity,
    # because a Value is a node of a graph (compare ``a.data == b.data`` for numbers).
    def __lt__(self, other: Operand) -> bool:
        return _number(self, "<") < _number(other, "<")

    def __le__(self, other: Operand) -> bool:
        return _number(self, "<=") <= _number(other, "<=")

    def __gt__(self, other: Operand) -> bool:
        return _number(self, ">") > _number(other, ">")

    def __ge__(self, other: Operand) -> bool:
        return _number(self, ">=") >= _number(other, ">=")

    # --- arithmetic ----------------------------------------------------------------------
    # Each operation's local derivatives are its rule's, in microgrid.core.functions. The hottest
    # (+ - * neg, and relu below) have theirs written out, as the comment beside each says: a
    # call of the rule costs 5-10% of a training step. A test checks that they record exactly
    # what their rules give (tests/test_functions.py); every other operation calls its rule.
    # Every operation ends in ``_node(result, op, a, d(result)/da, b, d(result)/db)``: each
    # operand followed by its local derivative, None for a constant (the 2 of ``x * 2``). Its
    # arithmetic runs in a try block, free when nothing is raised: on an error, `_refused` says
    # which operand's data, set by hand, is not a number (else the error is raised as it is).
    def __add__(self, other: Operand) -> Value:  # d(a+b)/da = d(a+b)/db = 1
        try:
            if isinstance(other, Value):
                a, b = self.data, other.data
                return _node(a + b, "+", self, 1.0, other, 1.0)
            c = _check_number(other, "+")
            return _node(self.data + c, "+", self, 1.0, other, None)
        except _BAD_DATA as e:
            return _not_implemented(e, "+", self, other, "__radd__")

    def __radd__(self, other: Number) -> Value:
        try:
            return _node(_check_number(other, "+") + self.data, "+", other, None, self, 1.0)
        except _BAD_DATA as e:
            raise _refused(e, "+", self) from None

    def __sub__(self, other: Operand) -> Value:  # d(a-b)/da = 1, d(a-b)/db = -1
        try:
            if isinstance(other, Value):
                a, b = self.data, other.data
                return _node(a - b, "-", self, 1.0, other, -1.0)
            c = _check_number(other, "-")
            return _node(self.data - c, "-", self, 1.0, other, None)
        except _BAD_DATA as e:
            return _not_implemented(e, "-", self, other, "__rsub__")

    def __rsub__(self, other: Number) -> Value:
        try:
            return _node(_check_number(other, "-") - self.data, "-", other, None, self, -1.0)
        except _BAD_DATA as e:
            raise _refused(e, "-", self) from None

    def __mul__(self, other: Operand) -> Value:  # d(ab)/da = b, d(ab)/db = a
        try:
            if isinstance(other, Value):
                a, b = self.data, other.data
                return _node(a * b, "*", self, b, other, a)
            c = _check_number(other, "*")
            return _node(self.data * c, "*", self, c, other, None)
        except _BAD_DATA as e:
            return _not_implemented(e, "*", self, other, "__rmul__")

    def __rmul__(self, other: Number) -> Value:
        try:
            c = _check_number(other, "*")
            return _node(c * self.data, "*", other, None, self, c)
        except _BAD_DATA as e:
            raise _refused(e, "*", self) from None

    def __truediv__(self, other: Operand) -> Value:  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        try:
            a = self.data
            if isinstance(other, Value):
                b = _nonzero(other.data, "/", a)
                da, db = div_derivatives(a, b)
                return _node(a / b, "/", self, _finite_da(a, b, da), other, _finite_db(a, b, db))
            b = _nonzero(_check_number(other, "/"), "/", a)
            da = div_derivatives(a, b)[0]
            return _node(a / b, "/", self, _finite_da(a, b, da), other, None)
        except _BAD_DATA as e:
            return _not_implemented(e, "/", self, other, "__rtruediv__")

    def __rtruediv__(self, other: Number) -> Value:
        try:
            a = _check_number(other, "/")
            b = _nonzero(self.data, "/", a)
            db = _finite_db(a, b, div_derivatives(a, b)[1])
            return _node(a / b, "/", other, None, self, db)
        except _BAD_DATA as e:
            raise _refused(e, "/", self) from None

    def __neg__(self) -> Value:  # d(-x)/dx = -1
        try:
            return _node(-self.data, "neg", self, -1.0)
        except _BAD_DATA as e:
            raise _refused(e, "neg", self) from None

    def __pos__(self) -> Value:
        return self

    def __pow__(self, other: Operand) -> Value:  # the rule: microgrid.core.functions.POW
        if isinstance(other, Value):
            return _pow(self, other)
        try:
            _check_number(other, "**")
        except _BAD_DATA as e:
            return _not_implemented(e, "**", self, other, "__rpow__")
        return _pow(self, other)

    def __rpow__(self, other: Number) -> Value:
        return _pow(other, self)

    # --- functions: each one's rule (forward, derivative) is in microgrid.core.functions -------
    def exp(self) -> Value:
        return _unary(F.EXP, self)

    def log(self) -> Value:
        return _unary(F.LOG, self)

    def sqrt(self) -> Value:
        return _unary(F.SQRT, self)

    def tanh(self) -> Value:
        return _unary(F.TANH, self)

    def sigmoid(self) -> Value:
        return _unary(F.SIGMOID, self)

    def sin(self) -> Value:
        return _unary(F.SIN, self)

    def cos(self) -> Value:
        return _unary(F.COS, self)

    def relu(self) -> Value:  # d/dx = 1 for x > 0, else 0 (also at the kink)
        x = self.data
        try:
            if x > 0:
                return _node(x, "relu", self, 1.0)
            if x <= 0:
                return _node(0.0, "relu", self, 0.0)
        except _BAD_DATA as e:
            raise _refused(e, "relu", self) from None
        raise _nan_error("relu", self)  # neither: nan, set by hand

    def abs(self) -> Value:
        """|x|; its derivative at 0 is taken as 0."""
        return _unary(F.ABS, self)

    def __abs__(self) -> Value:
        return _unary(F.ABS, self)

    def leaky_relu(self, slope: Number = 0.01) -> Value:
        """x for x > 0, else slope * x (derivative at 0: slope). The slope is a constant."""
        return apply(F.LEAKY_RELU, (self, _constant(slope, "leaky_relu", "slope")))

    def clamp(self, low: Number, high: Number) -> Value:
        """x limited to [low, high] (constants); derivative 1 inside, bounds included, else 0."""
        lo, hi = _constant(low, "clamp", "low"), _constant(high, "clamp", "high")
        if lo > hi:
            raise ValueError(f"clamp: low must be at most high, got low={lo!r}, high={hi!r}")
        return apply(F.CLAMP, (self, lo, hi))

    def detach(self) -> Value:
        """A new leaf with the same data: the graph stops here (DeZero's unchain)."""
        return Value(self.data)

    # --- backpropagation -----------------------------------------------------------------
    def backward(self, grad: Number = 1.0, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf) * grad to the `grad` of every leaf of this graph.

        Leaf gradients accumulate across calls, as in PyTorch: call the optimizer's or the
        model's `zero_grad()` (or set ``leaf.grad = 0.0``) between steps. A leaf whose `grad`
        is None (PyTorch's "no gradient yet", ``x.grad = None``) starts from 0. Intermediate
        nodes are reset first, so after the call each one holds the gradient of this backward
        pass (drawings show it).

        With ``create_graph=True``, as in PyTorch, each leaf's gradient is added as a `Value`,
        the output of a graph of its own (`microgrid.grad(create_graph=True)` builds it), so
        that ``x.grad`` can be differentiated again; intermediate nodes still get numbers.

        A pass that fails (a gradient that overflows) changes no leaf's gradient and leaves
        the other nodes at 0. Passes in several threads take turns (`_graph_lock`), so each
        adds its gradients whole.
        """
        if not self._op:
            raise ValueError(
                f"backward: {self!r} is a leaf (a Value you made, or one computed under "
                "no_grad()), not the output of an operation, so there is nothing to "
                "backpropagate; call backward() on a result, such as a loss")
        if create_graph:  # gradients as Values: microgrid.core.autograd; below, the fast path
            return _backward_with_graph(self, grad)
        seed = _check_number(grad, "backward")
        with _counted_uses(self, []):
            self.grad = seed
            ready = [self]
            while ready:  # a second time only after a leaf whose grad is None
                try:
                    while ready:
                        node = ready.pop()  # every consumer of node has passed its gradient on
                        g = node.grad
                        if g - g:  # not finite, or a Value: a leaf's grad from create_graph=True
                            _check_finite_grad(node)
                        # parent.grad += node.grad * d for each use, as in backward_walk, read from
                        # the slots; a parent is ready when its last consumer is done
                        if node.__class__ is Value:  # one or two operands, in _a/_da and _b/_db
                            da = node._da
                            if da is not None:
                                a = node._a
                                a.grad += g * da
                                a._uses -= 1
                                if not a._uses:
                                    ready.append(a)
                            db = node._db
                            if db is not None:
                                b = node._b
                                b.grad += g * db
                                b._uses -= 1
                                if not b._uses:
                                    ready.append(b)
                        else:  # a NaryValue: its parents and their derivatives in tuples
                            uses = zip(node._parents, node._local_grads, strict=True)  # type: ignore[attr-defined]
                            for p, d in uses:
                                p.grad += g * d
                                p._uses -= 1
                                if not p._uses:
                                    ready.append(p)
                except TypeError:  # x.grad = None, PyTorch's "no gradient yet": from 0
                    if not _start_from_none(node, ready):  # else a grad set by hand to junk
                        raise


def _start_from_none(node: Value, ready: list[Value]) -> bool:
    """After `node` failed to pass its gradient on, in backward(): if the parent it failed at
    has the grad None (``x.grad = None``, PyTorch's "no gradient yet"), start that parent from
    0 and pass the gradient to it and to the parents after it, as backward() would have (a
    parent that is then ready goes on `ready`), and return True; else (a grad set by hand to
    something else) return False. Off the fast path: backward() costs nothing more when no
    grad is None."""
    pairs = list(zip(node.parents, node.local_grads, strict=True))
    # backward() passed node's gradient to its parents in this order: the first parent whose
    # grad is no number is where it stopped (a float, an int or a Value add; None does not)
    k = next((i for i, (p, _) in enumerate(pairs)
              if _not_real(p.grad) and not isinstance(p.grad, Value)), None)
    if k is None or pairs[k][0].grad is not None:
        return False
    g = node.grad
    for p, d in pairs[k:]:
        p.grad = (0.0 if p.grad is None else p.grad) + g * d
        p._uses -= 1
        if not p._uses:
            ready.append(p)
    return True


def _check_finite_grad(node: Value) -> None:
    """Raise unless `node.grad` is a Value of a finite number (a leaf's gradient after
    ``backward(create_graph=True)``, to which backward() adds numbers, as PyTorch does)."""
    g = node.grad
    if not (isinstance(g, Value) and math.isfinite(g.data)):
        raise OverflowError(f"backward: the gradient reaching {node!r} is not finite")


def _backward_with_graph(root: Value, grad_output: Number | Value = 1.0) -> None:
    """``root.backward(grad, create_graph=True)``: `microgrid.core.autograd` puts its
    `backward_with_graph` here when it is imported (it imports the engine, not the reverse)."""
    raise NotImplementedError("backward(create_graph=True) needs microgrid.core.autograd")


def dot(weights: Sequence[Operand], inputs: Sequence[Operand], bias: Operand = 0.0) -> Value:
    """``sum(w * x for w, x in zip(weights, inputs)) + bias`` as one node: a neuron's sum.

    Same value and gradients as the chain of ``*`` and ``+`` it replaces, in one node with an
    edge to each operand instead of 2n nodes, so networks build and backpropagate faster.
    """
    n = len(weights)
    if len(inputs) != n:
        raise ValueError(f"dot: {n} weights but {len(inputs)} inputs; they must pair up")
    operands = (*weights, *inputs, bias)
    if _only_values(operands):  # the common case, in C: no per-operand Python code
        data = [x.data for x in operands]  # type: ignore[union-attr]
        parents = operands
    else:
        data = [x.data if isinstance(x, Value) else _check_number(x, "dot") for x in operands]
        parents = tuple(x for x in operands if isinstance(x, Value))
    ws, xs = data[:n], data[n:-1]
    try:
        out = sum(map(operator.mul, ws, xs), data[-1])
        if not (_all_recording or _mode.enabled):
            return _node(out, "dot", operands, None)  # not recorded: a leaf
        local = dot_derivatives(ws, xs)
        if parents is not operands:  # keep the derivatives of the Value operands only
            local = tuple(d for x, d in zip(operands, local, strict=True) if isinstance(x, Value))
        return _nary_node(out, "dot", operands, parents, local)  # type: ignore[arg-type]
    except _BAD_DATA as e:
        raise _refused(e, "dot", operands) from None


def _only_values(xs: tuple[object, ...]) -> bool:
    return set(map(type, xs)) <= _NODE_TYPES


def _nonzero(x: float, op: str, numerator: object) -> float:
    if x == 0:
        raise ZeroDivisionError(f"{op}: division by zero ({numerator!r} / 0)")
    return x


def _finite_da(a: float, b: float, da: float) -> float:
    """d(a/b)/da = 1/b, checked: it overflows for a b under 2**-1024 (about 5.6e-309), where
    a/b itself may be finite (0 / 5e-324, or 1e-20 / 1e-310; a result that overflows is
    reported as such when its node is made)."""
    if da - da and math.isfinite(a / b):  # not finite
        raise OverflowError(f"/: d(a/b)/da = 1/b overflows a float at b = {b!r}")
    return da


def _finite_db(a: float, b: float, db: float) -> float:
    """d(a/b)/db = -a/b², checked: it can overflow where a/b itself is finite (a result that
    overflows is reported as such when its node is made)."""
    if not math.isfinite(db) and math.isfinite(a / b):
        raise OverflowError(f"/: d(a/b)/db = -a/b^2 overflows a float at a = {a!r}, b = {b!r}")
    return db


def _pow(base: Operand, exponent: Operand) -> Value:
    """a ** b; its derivatives (the rule's) are recorded for whichever operands are Values."""
    a, b = _number(base, "**"), _number(exponent, "**")
    out = F.power(a, b)
    if not (_all_recording or _mode.enabled):
        return _node(out, "**", base, None, exponent, None)  # not recorded: a leaf
    da, db = F.POW.derivatives(a, b, out=out)
    if not isinstance(base, Value):
        da = None
    elif da is None:
        raise ValueError(f"**: the derivative of x ** {b!r} at x = 0 is infinite")
    if not isinstance(exponent, Value):
        db = None
    elif db is None:
        raise ValueError(f"**: d/db a ** b = a ** b ln a is undefined for the base a = {a!r}; "
                         "use a positive base or a constant exponent")
    if (da is not None and da - da) or (db is not None and db - db):  # a ** b is finite, but
        what = "d/da a ** b = b a ** (b - 1)" if da is not None and da - da else \
            "d/db a ** b = a ** b ln a"  # ... a derivative overflows
        raise OverflowError(f"**: {what} overflows a float at a = {a!r}, b = {b!r}")
    return _node(out, "**", base, da, exponent, db)


def _unary(fn: Function, x: Value) -> Value:
    """fn(x) for a built-in function of one Value: its forward, then its derivative."""
    data = x.data
    try:
        out = fn.forward(data)
        if not (_all_recording or _mode.enabled):
            return _node(out, fn.name, x, None)  # not recorded: a leaf
        d = fn.derivatives(data, out=out)
    except _BAD_DATA as e:
        raise _refused(e, fn.name, x) from None
    if d - d:  # not finite (1/x at a tiny x)
        raise OverflowError(f"{fn.name}: its derivative at {data!r} is {d!r}, not a finite number")
    return _node(out, fn.name, x, d)


def _constant(x: Any, op: str, what: str) -> float:
    if isinstance(x, Value):
        raise TypeError(f"{op}: {what} must be a number (a constant), got {x!r}; "
                        "use maximum/minimum for a bound that is a Value")
    return _check_number(x, f"{op} {what}")


def apply(fn: Function, operands: Sequence[Operand]) -> Value:
    """The node of `fn` (a `Function`) applied to `operands` (Values or numbers).

    The general way to make a node, which user-defined functions use: forward on the numbers,
    then the local derivatives, each checked, since a learner's rule may be wrong. A built-in
    operation's node records its name; a user-defined one's records the Function itself, so
    that two of them with the same name never mix up their rules.
    """
    name = fn.name
    op: str | Function = name if fn.builtin else fn
    if not operands:
        raise TypeError(f"{name}: needs at least one operand")
    xs = [_number(x, name) for x in operands]
    out = fn.forward(*xs)
    if isinstance(out, bool) or not isinstance(out, Real):
        raise TypeError(f"{name}: forward must return a number, got {type(out).__name__} "
                        f"{out!r}")
    out = float(out)
    if not (_all_recording or _mode.enabled):
        return _node(out, op, tuple(operands), None)  # not recorded: a leaf
    ds = fn.derivatives(*xs, out=out)
    if not isinstance(ds, tuple | list):
        ds = (ds,)
    if len(ds) != len(operands):
        raise ValueError(f"{name}: derivatives returned {len(ds)} values for {len(operands)} "
                         f"operands; return one local derivative per operand, in order")
    local: list[float | None] = []
    for i, (x, d) in enumerate(zip(operands, ds, strict=True)):
        if not isinstance(x, Value):
            local.append(None)
        elif isinstance(d, Value):
            raise TypeError(f"{name}: derivative {i} is a Value; at forward time derivatives "
                            "get floats and must return numbers")
        elif d is None or isinstance(d, bool) or not isinstance(d, Real) or not math.isfinite(d):
            raise ValueError(f"{name}: derivative {i} is {d!r} at {xs}, not a finite number")
        else:
            local.append(float(d))
    if len(operands) > 2:
        parents = tuple(x for x in operands if isinstance(x, Value))
        local_grads = tuple(d for d in local if d is not None)
        return _nary_node(out, op, tuple(operands), parents, local_grads)
    if len(operands) == 1:
        return _node(out, op, operands[0], local[0])
    return _node(out, op, operands[0], local[0], operands[1], local[1])


F._apply = apply  # what calling a Function does (functions.py does not import the engine)


class NaryValue(Value):
    """A node of more than two operands (`dot`, ``clamp(x, low, high)``, a `Function` of three
    or more): the same as a `Value`, but its operands are in tuples of its own (its slots
    ``_a``, ``_da``, ``_b`` and ``_db`` stay None)."""

    __slots__ = ("_operands", "_parents", "_local_grads")

    _operands: tuple[Operand, ...]  # all of them, constants included
    _parents: tuple[Value, ...]  # the Value operands, in order
    _local_grads: tuple[float, ...]  # d(self)/d(parent) for each of _parents

    @property
    def operands(self) -> tuple[Operand, ...]:
        return self._operands

    @property
    def parents(self) -> tuple[Value, ...]:
        return self._parents

    @property
    def local_grads(self) -> tuple[float, ...]:
        return self._local_grads


_NODE_TYPES = {Value, NaryValue}


def _nary_node(data: float, op: str | Function, operands: tuple[Operand, ...],
               parents: tuple[Value, ...], local_grads: tuple[float, ...]) -> Value:
    """The node of more than two operands, recorded (the caller checks that recording is on)."""
    if not data - data < 1.0:  # not finite, or (a TypeError) not a number: see _node
        _not_finite(data, op, operands, None)
    out = _new(NaryValue)
    out.data = data
    out.grad = 0.0
    out.label = ""
    out._uses = 0
    out._group = _groups.this_thread.current if _groups.any_open else None
    out._op = op
    out._a = out._da = out._b = out._db = None
    out._operands = operands
    out._parents = parents
    out._local_grads = local_grads
    return out


def _flat(root: Value) -> list[Any]:
    """`root`'s graph as a list in topological order: each leaf as itself, each node as a tuple
    of its fields, an operand that is a Value as ``(i,)``, its place in the list."""
    order = topological_order(root)
    index = {v: i for i, v in enumerate(order)}

    def ref(x: Any) -> Any:
        return (index[x],) if isinstance(x, Value) else x
    entries: list[Any] = []
    for v in order:
        if not v._op:
            entries.append(v)
        elif v.__class__ is Value:
            entries.append((v.data, v.grad, v.label, v._op, v._group, ref(v._a), v._da,
                            ref(v._b), v._db))
        else:
            n = cast(NaryValue, v)
            entries.append((n.data, n.grad, n.label, n._op, n._group,
                            tuple(map(ref, n._operands)), n._local_grads))
    return entries


def _unflatten(entries: list[Any]) -> Value:
    """The graph that `_flat` wrote, its last node returned."""
    nodes: list[Value] = []

    def get(x: Any) -> Any:
        return nodes[x[0]] if isinstance(x, tuple) else x
    for e in entries:
        if isinstance(e, Value):
            nodes.append(e)
            continue
        v = _new(Value if len(e) == 9 else NaryValue)
        v.data, v.grad, v.label, v._op, v._group = e[:5]
        v._uses = 0
        if len(e) == 9:
            v._a, v._da, v._b, v._db = get(e[5]), e[6], get(e[7]), e[8]
        else:
            n = cast(NaryValue, v)
            n._a = n._da = n._b = n._db = None
            n._operands = tuple(map(get, e[5]))
            n._parents = tuple(x for x in n._operands if isinstance(x, Value))
            n._local_grads = e[6]
        nodes.append(v)
    return nodes[-1]


def maximum(a: Operand, b: Operand) -> Value:
    """The larger of `a` and `b`, with a gradient path to both (at a tie, half to each).

    Builtin ``max(a, b)`` returns one of the two objects, so the other gets no gradient.
    """
    return apply(F.MAXIMUM, (a, b))


def minimum(a: Operand, b: Operand) -> Value:
    """The smaller of `a` and `b`, with a gradient path to both (at a tie, half to each)."""
    return apply(F.MINIMUM, (a, b))


# --- graph helpers --------------------------------------------------------------------------
def _count_uses(root: Value, saved: list[tuple[Value, Any]] | None) -> None:
    """Set each node's `_uses` to how many times the graph of `root` uses it as an operand.

    Between calls every count is 0, so a count of 0 marks a node not yet seen. With a list
    `saved` (for backward), intermediate nodes get grad 0 and the leaves keep theirs (they
    accumulate), which `saved` gets, as (leaf, grad), for a pass cut short to give back
    (`_reset`). Saving the intermediate nodes' grads too would cost backward() 5%.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        # for each parent of node (one per use), as in `backward`: the slots or the tuple
        if node.__class__ is Value:
            if node._da is not None:
                a = node._a
                if not a._uses:  # first seen
                    stack.append(a)
                    if saved is not None:
                        if a._op:
                            a.grad = 0.0
                        else:  # a leaf: its grad accumulates
                            saved.append((a, a.grad))
                a._uses += 1
            if node._db is not None:
                b = node._b
                if not b._uses:
                    stack.append(b)
                    if saved is not None:
                        if b._op:
                            b.grad = 0.0
                        else:
                            saved.append((b, b.grad))
                b._uses += 1
        else:  # a NaryValue
            for p in node._parents:  # type: ignore[attr-defined]
                if not p._uses:
                    stack.append(p)
                    if saved is not None:
                        if p._op:
                            p.grad = 0.0
                        else:
                            saved.append((p, p.grad))
                p._uses += 1


# Held by every pass that counts uses (backward, topological_order and so every walk of a graph)
# and by every write of gradients (compiled steps): the per-node counts `_uses` and the leaves'
# `grad` are shared by all the graphs a node is part of, so two such passes at once, in two
# threads, would mix their counts. With it, passes in threads take turns, and each is right.
_graph_lock = threading.RLock()


@contextmanager
def _counted_uses(root: Value, saved: list[tuple[Value, Any]] | None = None) -> Iterator[None]:
    """`_count_uses` for a pass that brings every count back to 0, holding `_graph_lock`. If the
    pass is cut short (an error, Ctrl-C), the counts are reset so that the next pass starts
    clean, and, with `saved`, every leaf gets back its grad from before the pass and every
    other node grad 0: a failed backward() changes no leaf's gradient."""
    with _graph_lock:
        try:
            _count_uses(root, saved)
            yield
        except BaseException as e:
            seen = _reset(root, saved)
            if isinstance(e, TypeError | AttributeError):  # a field set by hand, most likely
                check_fields(seen, "backward", ("data",))
                check_fields([v for v in seen if v.grad is not None], "backward")  # None: from 0
            raise


def _reset(root: Value, saved: list[tuple[Value, Any]] | None) -> set[Value]:
    """Set every count of `root`'s graph to 0 and, with `saved` (see `_count_uses`), give every
    leaf its grad from before the pass and every other node grad 0; return the nodes."""
    seen, stack = {root}, [root]
    while stack:
        node = stack.pop()
        node._uses = 0
        if saved is not None and node._op:
            node.grad = 0.0
        for p in node.parents:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    for v, g in saved or ():
        v.grad = g
    return seen


def check_fields(values: Iterable[Value], where: str,
                 fields: tuple[str, ...] = ("data", "grad")) -> None:
    """Raise a one-line TypeError or ValueError naming the first of `values` whose `data` or
    `grad` (those of `fields`) is not a finite number, or whose `label` is not a str: fields set
    by hand (``v.grad = None``) are checked where they are used, not on every store. A `grad`
    that is a Value (from ``backward(create_graph=True)``) is checked by its number."""
    for v in values:
        for field in fields:
            x = getattr(v, field)
            if field == "grad" and isinstance(x, Value):
                x = x.data
            if _not_real(x):
                raise TypeError(f"{where}: the {field} of {v!r} is {type(x).__name__} {x!r}, "
                                f"not a number; set it to a float")
            if x - x:  # not finite
                raise ValueError(f"{where}: the {field} of {v!r} is {x!r}, not a finite number")
        if not isinstance(v.label, str):
            raise TypeError(f"{where}: the label of {v!r} is {type(v.label).__name__} "
                            f"{v.label!r}, not a str")


def grad_number(v: Value) -> float:
    """The number of `v`'s gradient: its `grad`, or, where ``backward(create_graph=True)`` made
    the gradient a `Value`, that Value's data (what drawings show and optimizers use)."""
    g = v.grad
    return g.data if isinstance(g, Value) else g


def topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, each after all of its parents, `root` last.

    Kahn's algorithm, iterative so that graphs of any depth work: a node is emitted once every
    consumer of it has been, which is also the order in which `backward` visits the nodes.
    """
    order, ready = [], [root]
    with _counted_uses(root):
        while ready:
            node = ready.pop()
            order.append(node)
            for p in node.parents:
                p._uses -= 1
                if not p._uses:
                    ready.append(p)
    order.reverse()
    return order


def operand_uses(node: Value) -> Iterator[tuple[int, Operand, Value | None, float | None]]:
    """Each operand of `node` as ``(k, operand, parent, local_grad)``, in order.

    `k` is the operand's place among all of `node`'s operands, constants included (the 2 of
    ``2 * x`` is operand 0, x operand 1), the index that `Edge.index` and the drawings' edge ids
    ``e{i}_{k}`` use. For a `Value` operand, `parent` is that Value and `local_grad` is
    d(node)/d(operand); for a constant, both are None: no gradient flows to it. The one walk of
    a node's operands that edges(), the drawings, the player and `explain` share.
    """
    parents = iter(zip(node.parents, node.local_grads, strict=True))
    for k, operand in enumerate(node.operands):
        if isinstance(operand, Value):
            parent, local = next(parents)
            yield k, operand, parent, local
        else:
            yield k, operand, None, None


@dataclass(frozen=True)
class Edge:
    """One use of `parent` by `child`, and the gradient that flows back along it."""

    parent: Value
    child: Value
    index: int  # the place of this use among child's operands, constants included
    local_grad: float

    @property
    def grad(self) -> float:
        """d(output)/d(child) * d(child)/d(parent): this edge's share of ``parent.grad``."""
        return self.child.grad * self.local_grad


def edges(root: Value) -> list[Edge]:
    """Every edge of the graph in topological order of its consumer, one per operand use."""
    return [Edge(p, node, k, d) for node in topological_order(root)
            for k, _, p, d in operand_uses(node) if p is not None and d is not None]
