"""Gradients as values, to any order: `grad`, PyTorch's ``torch.autograd.grad`` for scalars.

`Value.backward()` adds numbers to the leaves' ``.grad``. `grad` instead returns the gradients,
and with ``create_graph=True`` returns them as outputs of a graph of their own, built from each
operation's rule (`microgrid.core.functions`) applied to the node's operands: so the gradient can be
differentiated again::

    x = Value(0.5)
    y = x.tanh()
    (dy,) = grad(y, [x], create_graph=True)   # 1 - tanh(x)^2, as a graph that depends on x
    (d2y,) = grad(dy, [x])                    # -2 tanh(x) (1 - tanh(x)^2)

`backward_with_graph` is ``y.backward(create_graph=True)``: PyTorch's spelling of the same, which
adds each gradient to its leaf's ``.grad`` as a `Value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microgrid.core import engine
from microgrid.core.engine import Number, Value, _check_number, check_fields, topological_order
from microgrid.core.functions import rule

__all__ = ["backward_with_graph", "grad", "local_derivatives"]


def grad(output: Value, inputs: Sequence[Value], grad_output: Number | Value = 1.0,
         create_graph: bool = False) -> tuple[Value, ...]:
    """d(output)/d(input) * grad_output for each of `inputs`, as `Value`s, in order.

    No ``.grad`` is read or changed. An input that `output` does not depend on gets 0 (PyTorch's
    ``allow_unused=True``, with 0 instead of None). An input may be any node of the graph, not
    only a leaf.

    With ``create_graph=False`` the results are leaves. With ``create_graph=True`` each result
    is the output of a graph made of the usual operations (each operation's local derivative
    from its rule, applied to its operands), so ``grad(grad(y, [x], create_graph=True)[0],
    [x])`` is the second derivative, and so on to any order. That graph is recorded only
    where gradient recording is on (not inside `no_grad`).
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__} {output!r}")
    if isinstance(inputs, Value):
        raise TypeError("grad: inputs must be a sequence of Values, such as [x]; got one Value")
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: input {i} must be a Value, got {type(x).__name__} {x!r}")
    seed: Any = grad_output
    if not isinstance(seed, Value):
        seed = _check_number(seed, "grad: grad_output")
    elif not create_graph:
        seed = seed.data

    # In reverse topological order every consumer of a node has passed its gradient on
    # before the node passes its own: the same order as backward().
    grads: dict[Value, Any] = {output: seed}
    for node in reversed(topological_order(output)):
        g = grads.get(node)
        if g is None:
            continue
        if g.__class__ is float and g - g:  # not finite (a Value's data always is)
            raise OverflowError(f"grad: the gradient reaching {node!r} is {g!r}, not a finite "
                                "number")
        if node.is_leaf:
            continue
        local = local_derivatives(node) if create_graph else node.local_grads
        for parent, d in zip(node.parents, local, strict=True):
            contribution = _times(g, d)
            previous = grads.get(parent)
            grads[parent] = contribution if previous is None else previous + contribution
    return tuple(_as_value(grads.get(x, 0.0)) for x in inputs)


def local_derivatives(node: Value) -> tuple[Any, ...]:
    """d(node)/d(parent) for each of ``node.parents``, as the node's rule gives them for its
    operands and itself: `Value`s where they depend on the operands (1 - out * out for tanh),
    numbers where they are constants (1 for +). Their data equal ``node.local_grads``."""
    operands = node.operands
    ds = rule(node._op).derivatives(*operands, out=node)  # _op: a name, or the Function
    if not isinstance(ds, tuple | list):
        ds = (ds,)
    return tuple(d for x, d in zip(operands, ds, strict=True) if isinstance(x, Value))


def _times(g: Any, d: Any) -> Any:
    """g * d, without a node for a factor of 1 (the local derivative of + and of a leaf)."""
    if d.__class__ is float and d == 1.0:
        return g
    return g * d


def _as_value(g: Any) -> Value:
    return g if isinstance(g, Value) else Value(g)


def backward_with_graph(root: Value, grad_output: Number | Value = 1.0) -> None:
    """``root.backward(grad_output, create_graph=True)``, as in PyTorch: add d(root)/d(leaf) *
    grad_output to each leaf's ``.grad`` as a `Value` made by `grad` with ``create_graph=True``,
    which can be differentiated again (DeZero's and PyTorch's double backward).

    A leaf whose grad is 0 or None gets the gradient's Value itself; onto another grad it is
    added (``old + new``, a node of the graph when the old one is a Value). Each intermediate
    node gets the number of its gradient in this pass, as ``backward()`` gives it, so that
    drawings show it. Leaves are checked before anything changes: a grad set by hand to
    something else than a number, a Value or None is named.
    """
    seed: Any = grad_output if isinstance(grad_output, Value) else _check_number(
        grad_output, "backward")
    nodes = topological_order(root)
    leaves = [node for node in nodes if node.is_leaf]
    check_fields([x for x in leaves if x.grad is not None], "backward")
    grads = grad(root, nodes, seed, create_graph=True)
    for node, g in zip(nodes, grads, strict=True):
        if not node.is_leaf:
            node.grad = g.data
            continue
        old: Any = node.grad
        new = g if old is None or (not isinstance(old, Value) and old == 0) else old + g
        node.grad = new


engine._backward_with_graph = backward_with_graph  # Value.backward(create_graph=True)
