"""Compile a traced graph to straight-line Python: `compile(fn, *example_args)`.

The trace calls `fn` once on its example arguments made into leaves, and records the graph it
builds. The generated code computes that graph's forward pass (``v7 = v3 * v5``) and its
backward pass (``d_v3 += d_v7 * v5``) with plain floats: no `Value` objects, no dispatch, no
garbage collector. CPython compiles it once; each call of the compiled step then runs it.

No derivative is written here. Each line of code comes from the operation's rule in
`microgrid.core.functions`, evaluated once per kind of node on symbols instead of numbers: a
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
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from microgrid.compile.generate import _generate
from microgrid.compile.trace import _TRACING, _argument_names, _leaves, _take, _Trace
from microgrid.core.engine import (
    Value,
    _graph_lock,
    check_fields,
    enable_grad,
    is_grad_enabled,
    topological_order,
)

__all__ = ["CompiledStep", "GuardError", "compile"]

_compile_source = builtins.compile  # this module's `compile` is the public one below
CHUNK = 32000  # statements per generated function (measured: see benchmarks/compile.py)


class GuardError(RuntimeError):
    """New inputs would take another branch (or have another shape) than the trace, and the
    step was compiled with ``retrace=False``."""


class _Variant:
    """One trace's generated code: for one shape of arguments and one side of each guard."""

    shape: Any  # of its arguments (see `_take`)
    sources: dict[str, str]  # of the functions compiled at their first use (see `_generate`)

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], chunk: int) -> None:
        made: list[Value] = []
        names = _argument_names(fn, len(args))
        leaves = [_leaves(a, name, made) for a, name in zip(args, names, strict=True)]
        trace = _Trace()
        with _TRACING, enable_grad():  # one trace (and its code) at a time; it records its
            out = trace.run(fn, leaves)  # graph, also when called inside no_grad()
            self._generate(out, trace, made, chunk)
        self.run = self.namespace["step"]

    def _generate(self, out: Any, trace: _Trace, made: list[Value], chunk: int) -> None:
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
        check_fields(nodes, "compile", fields=())  # a label set by hand to None, say
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
        # The grads are read, then written: calls from threads take turns, with backward()
        # passes (`_graph_lock`) and traces (`_TRACING`, which is always taken first).
        with _TRACING, _graph_lock:
            return self._call(args)

    def _call(self, args: tuple[Any, ...]) -> float:
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
        is not finite is found when they are written (at the end), and then none of them is.
        Calls and maps from several threads take turns, as backward() passes do."""
        with _TRACING, _graph_lock:
            return self._map(arguments)

    def _map(self, arguments: Iterable[Any]) -> list[float]:
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
