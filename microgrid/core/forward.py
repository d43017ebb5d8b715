"""Forward mode beside reverse mode: `forward_grad`, and `nudge`, what a small move does.

`backward()` goes from the output back to the inputs: one sweep gives d(root)/d(node) for every
node. Forward mode goes the other way: pick one input `a`, and give each node its *tangent*,
d(node)/d(a), in the order the values were computed::

    tangent(a) = 1
    tangent(node) = sum of local_derivative * tangent(operand), over the node's operands

The local derivatives are the ones recorded at forward time, from each operation's rule in
`microgrid.core.functions` (a user's `Function` included), the same numbers `backward()` uses.
One sweep gives the derivatives with respect to one input for every node; the full gradient of
a network with P parameters takes P sweeps, where reverse mode takes one.

`nudge` runs the forward pass again with an input moved by h (`microgrid.core.check.replay`),
and puts each node's change beside the linear prediction, d(node)/d(a) * h. `rerun` runs the
forward pass again in place, local derivatives included, at new inputs (what a slider of
`microgrid.interact` does to a graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from microgrid.core.check import replay
from microgrid.core.engine import (
    NaryValue,
    Value,
    _check_number,
    apply,
    enable_grad,
    topological_order,
)
from microgrid.core.functions import rule

__all__ = ["Nudge", "forward_grad", "forward_sweep", "nudge", "rerun"]


def forward_grad(root: Value, wrt: Value | Mapping[Value, float]) -> dict[Value, float]:
    """d(node)/d(wrt) for every node of the graph of `root`, by one forward sweep (a JVP, as
    ``jax.jvp`` or PyTorch's forward-mode AD, for scalars). Reads and changes no ``grad``.

    `wrt` is a `Value` of the graph (an input, or any node, which then counts as an input), or
    a mapping ``{value: tangent}``: the derivative in that direction, such as ``{a: 1, b: 1}``
    for moving `a` and `b` together. A node that does not depend on `wrt` gets 0.
    """
    order = _order(root, "forward_grad")
    tangents, _ = forward_sweep(order, _seeds(wrt, "forward_grad"))
    return {v: tangents.get(v, 0.0) for v in order}


def forward_sweep(order: list[Value], seeds: Mapping[Value, float]
                  ) -> tuple[dict[Value, float], int]:
    """The tangents of the nodes of `order` (a topological order) that depend on `seeds`, and
    how many multiply-adds (local derivative × tangent) the sweep took: one per edge whose
    operand depends on the seeds. A seeded node keeps its seed (its own operands are not
    followed)."""
    tangents = dict(seeds)
    ops = 0
    for node in order:
        if node in seeds or node.is_leaf:
            continue
        t, reached = 0.0, False
        for parent, local in zip(node.parents, node.local_grads, strict=True):
            tp = tangents.get(parent)
            if tp is not None:  # the parent depends on the seeds
                t += local * tp
                reached = True
                ops += 1
        if reached:
            tangents[node] = t
    return tangents, ops


@dataclass(frozen=True)
class Nudge:
    """How much a node changed when the inputs moved: `actual`, by running the forward pass
    again, beside `predicted`, d(node)/d(input) * h (summed over the inputs moved)."""

    actual: float
    predicted: float

    @property
    def error(self) -> float:
        """|actual - predicted|: shrinks like h² as h does (Taylor's theorem)."""
        return abs(self.actual - self.predicted)


def nudge(root: Value, shifts: Mapping[Value, float]) -> dict[Value, Nudge]:
    """Each node of the graph of `root` with its `Nudge` when each input `a` of `shifts` moves
    by ``shifts[a]`` (``{a: 0.01}``): the forward pass run again at ``a + h`` with each
    operation's rule, beside the linear prediction from `forward_grad`. The graph is not
    changed. An input must be a leaf of the graph; a ValueError says so, and says which
    operation fails if the graph cannot be computed at the nudged inputs."""
    order = _order(root, "nudge")
    hs = _seeds(shifts, "nudge")
    in_graph = set(order)
    for a, h in hs.items():
        if a not in in_graph:
            raise ValueError(f"nudge: {a!r} is not a value of the graph of {root!r}")
        if not a.is_leaf:
            raise ValueError(f"nudge: {a!r} is computed by {a.op!r}; nudge an input (a leaf), "
                             "whose value the forward pass can be run again from")
        if not h:
            raise ValueError(f"nudge: the nudge of {a!r} is 0; give a small nonzero h, "
                             "such as 0.01")
    moved = replay(order, {a: a.data + h for a, h in hs.items()})
    if moved is None:
        where = ", ".join(f"{_name(a)} = {a.data + h!r}" for a, h in hs.items())
        raise ValueError(f"nudge: the graph cannot be computed at {where} (an operation "
                         "fails or overflows there); nudge by a smaller h")
    tangents, _ = forward_sweep(order, hs)  # the tangent of direction h: d(node)/da * h
    return {v: Nudge(moved[v] - v.data, tangents.get(v, 0.0)) for v in order}


def rerun(root: Value, inputs: Mapping[Value, float]) -> None:
    """Run the forward pass of the graph of `root` again, in place, with each input (a leaf)
    of `inputs` set to its new number: every node's `data` and local derivatives are
    recomputed by its operation's rule, with the checks of a first run. All or nothing: if an
    operation fails at the new inputs (``log`` of a negative number), its error is raised and
    the graph is left as it was. Gradients are not touched: call ``backward()`` again."""
    order = _order(root, "rerun")
    data = _seeds(inputs, "rerun")
    for a in data:
        if not a.is_leaf:
            raise ValueError(f"rerun: {a!r} is computed by {a.op!r}; set an input (a leaf)")
    fresh: dict[Value, Value] = {}
    with enable_grad():  # a fresh node per node, made as the first run made it
        for v in order:
            if v.is_leaf:
                fresh[v] = Value(data.get(v, v.data))
            else:
                operands = [fresh[x] if isinstance(x, Value) else x for x in v.operands]
                fresh[v] = apply(rule(v._op), operands)
    for v, f in fresh.items():  # all succeeded: copy the numbers over
        v.data = f.data
        if v.is_leaf:
            continue
        if isinstance(v, NaryValue):
            v._local_grads = cast(NaryValue, f)._local_grads
        else:
            v._da, v._db = f._da, f._db


def _order(root: object, where: str) -> list[Value]:
    if not isinstance(root, Value):
        raise TypeError(f"{where}: expected a Value, got {type(root).__name__} {root!r}")
    return topological_order(root)


def _seeds(wrt: object, where: str) -> dict[Value, float]:
    if isinstance(wrt, Value):
        return {wrt: 1.0}
    if not isinstance(wrt, Mapping):
        raise TypeError(f"{where}: expected a Value or a dict {{value: number}}, got "
                        f"{type(wrt).__name__} {wrt!r}")
    if not wrt:
        raise ValueError(f"{where}: the dict of inputs is empty; give at least one, "
                         "such as {a: 1.0}")
    seeds = {}
    for v, t in wrt.items():
        if not isinstance(v, Value):
            raise TypeError(f"{where}: a key must be a Value, got {type(v).__name__} {v!r}")
        seeds[v] = _check_number(t, f"{where}: the number for {_name(v)}")
    return seeds


def _name(v: Value) -> str:
    return v.label or repr(v)
