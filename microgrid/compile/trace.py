"""The trace: `fn` called once on its example arguments made into leaves, with the engine's
reads of ``.data`` replaced so that a branch on a traced number is a guard, and the graph it
builds recorded. Also the arguments: nested lists of numbers, flattened (`_take`).
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from microgrid.core import autograd as _autograd
from microgrid.core import engine as _engine
from microgrid.core import functions as _functions
from microgrid.core.engine import Value


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
