"""Gradients checked by central differences: `gradcheck(f, inputs)` for a function, and
`check_leaves(root, grads)` for a graph already built (the graph replayed, with each
operation's forward rule, with one leaf nudged by ±h), which ``draw(root, check=True)``, the
player and `explain` show beside the gradients of `backward()`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from microgrid.core.engine import Operand, Value, _check_number, no_grad, topological_order
from microgrid.core.functions import rule

__all__ = ["Check", "GradcheckError", "GradcheckRow", "check_leaves", "gradcheck",
           "numeric_grads", "replay"]


@dataclass(frozen=True)
class GradcheckRow:
    index: int
    label: str
    analytic: float
    numeric: float
    error: float


class GradcheckError(AssertionError):
    pass


def gradcheck(f: Callable[..., Value], inputs: Sequence[Operand], *, eps: float = 1e-6,
              atol: float = 1e-6, rtol: float = 1e-4, raise_on_failure: bool = True
              ) -> list[GradcheckRow]:
    """Compare the gradients of ``f(*inputs)`` from `backward` with central differences.

    `f` takes one `Value` per input and returns a `Value`. Returns one row per input with the
    analytic value, the numeric value and the error; raises `GradcheckError` on a mismatch
    (error > atol + rtol * |numeric|) unless `raise_on_failure` is false.
    """
    _step(eps, "gradcheck")
    _tolerances(atol, rtol, "gradcheck")
    xs = [_check_number(x.data if isinstance(x, Value) else x, f"gradcheck input {i}")
          for i, x in enumerate(inputs)]
    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(xs)]
    out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    if out.is_leaf:
        analytic = [1.0 if leaf is out else 0.0 for leaf in leaves]
    else:
        out.backward()
        analytic = [leaf.grad for leaf in leaves]

    def at(i: int, x: float) -> float:
        with no_grad():
            return f(*[Value(x if j == i else v) for j, v in enumerate(xs)]).data

    rows, bad = [], []
    for i, x in enumerate(xs):
        h = eps * max(1.0, abs(x))
        numeric = (at(i, x + h) - at(i, x - h)) / (2 * h)
        row = GradcheckRow(i, leaves[i].label, analytic[i], numeric, abs(analytic[i] - numeric))
        rows.append(row)
        if not row.error <= atol + rtol * abs(numeric):
            bad.append(row)
    if bad and raise_on_failure:
        lines = "\n".join(f"  input {r.index}: analytic {r.analytic!r}, numeric {r.numeric!r}, "
                          f"error {r.error:.3g}" for r in bad)
        raise GradcheckError(f"gradcheck: {len(bad)} of {len(rows)} gradients disagree with "
                             f"central differences at inputs {xs}:\n{lines}")
    return rows


def _step(eps: float, where: str) -> None:
    """A step for central differences: a finite number above 0 (an eps of 0 divides by 0)."""
    if not _check_number(eps, f"{where}: eps") > 0:
        raise ValueError(f"{where}: eps must be above 0 (the step of the central differences), "
                         f"got {eps!r}")


def _tolerances(atol: float, rtol: float, where: str) -> None:
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if _check_number(tol, f"{where}: {name}") < 0:  # (nan and inf are refused there)
            raise ValueError(f"{where}: {name} must be 0 or more, got {tol!r}")


def replay(order: list[Value], data: dict[Value, float]) -> dict[Value, float] | None:
    """Every node's value recomputed from its operands' (a leaf's from `data`, or its own),
    with each operation's forward rule; None if an operation fails there."""
    values: dict[Value, float] = {}
    for v in order:
        if v.is_leaf:
            values[v] = data.get(v, v.data)
            continue
        args = [values[x] if isinstance(x, Value) else float(x) for x in v.operands]
        try:  # each operation's forward, from its rule (a user's Function's too)
            values[v] = float(rule(v._op).forward(*args))
        except (ArithmeticError, ValueError, TypeError, KeyError):  # KeyError: no such rule
            return None
        if isinstance(values[v], complex) or not math.isfinite(values[v]):
            return None
    return values


def numeric_grads(root: Value, eps: float = 1e-6) -> dict[Value, float | None]:
    """Each leaf's d(root)/d(leaf) by central differences, the graph replayed with the leaf
    nudged by ±h (h = eps × max(1, |leaf|)); None where the graph cannot be replayed (an
    operation without a known forward rule, or one that fails when nudged)."""
    _step(eps, "numeric_grads")
    order = topological_order(root)
    result: dict[Value, float | None] = {}
    for leaf in (v for v in order if v.is_leaf):
        h = eps * max(1.0, abs(leaf.data))
        up = replay(order, {leaf: leaf.data + h})
        down = replay(order, {leaf: leaf.data - h})
        result[leaf] = None if up is None or down is None else (up[root] - down[root]) / (2 * h)
    return result


@dataclass(frozen=True)
class Check:
    """A leaf's gradient from backward() beside central differences."""

    analytic: float
    numeric: float | None
    error: float | None  # |analytic - numeric| / max(|analytic|, |numeric|), 0 if both are 0
    ok: bool | None  # None when there is no numeric gradient


def check_leaves(root: Value, grads: Callable[[Value], float], *, atol: float = 1e-6,
                 rtol: float = 1e-4) -> dict[Value, Check]:
    """`Check` of each leaf's gradient `grads(leaf)`, as `gradcheck` judges it: a mismatch is
    a difference of more than atol + rtol × |numeric|."""
    _tolerances(atol, rtol, "check_leaves")
    checks = {}
    for leaf, numeric in numeric_grads(root).items():
        analytic = grads(leaf)
        if numeric is None:
            checks[leaf] = Check(analytic, None, None, None)
            continue
        diff = abs(analytic - numeric)
        scale = max(abs(analytic), abs(numeric))
        checks[leaf] = Check(analytic, numeric, diff / scale if scale else 0.0,
                             diff <= atol + rtol * abs(numeric))
    return checks
