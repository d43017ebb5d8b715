"""The benchmark workloads, once for object engines and once for the flat tape.

Every engine computes the same numbers from the same inputs, so the runner (and
tests/test_benchmarks.py) can check that all engines agree before comparing their speed.

The flat tape (`Tape`) is the reference: the same ops on indices into flat lists.

- ``mlp``: one training step of an MLP with ReLU hidden layers and a linear output on points of
  two moons, with micrograd's demo loss: ``mean(relu(1 - y_i * score_i)) + 1e-4 * sum(p * p)``,
  then ``backward()`` and an SGD update. Neurons are written as micrograd writes them,
  ``sum((w_i * x_i for ...), b)``, so every engine builds the same graph (65k ops for
  MLP(2, [16, 16, 1]) on 100 points).
- ``chain``: ``x = (x * a + b).relu()`` repeated, 3 ops per step; every op uses the previous
  result, so the graph is as deep as it has ops. ``a`` and ``b`` are leaves, so their gradients
  sum over every step. These ops exist in every engine (micrograd 0.1.0 has no tanh).
- ``tree``: a wide, shallow graph: ``n`` products ``w_i * x_i`` of ``2n`` leaves, summed
  pairwise (a balanced tree of depth log2 n), so ``2n - 1`` ops and as many leaves as ops.

Each workload takes a `mark` callback and calls it at phase boundaries, so one run yields the
times of build (forward), backward and free (dropping the graph); what it returns (loss and
gradients) is read after the last mark, outside the timed region.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

Mark = Callable[[], None]
Weights = list[list[tuple[list[float], float]]]  # per layer, per neuron: (weights, bias)

MLP_SIZES = [16, 16, 1]
MLP_POINTS = 100
ALPHA = 1e-4
LR = 0.05


# --- inputs shared by every engine ----------------------------------------------------------
def moons(n: int, seed: int = 0, noise: float = 0.1) -> tuple[list[list[float]], list[float]]:
    """`n` points of two interleaving half circles (like sklearn's make_moons), labels -1/+1."""
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(n):
        t = math.pi * rng.random()
        if i % 2:
            x, y, label = 1.0 - math.cos(t), 0.5 - math.sin(t), 1.0
        else:
            x, y, label = math.cos(t), math.sin(t), -1.0
        xs.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        ys.append(label)
    return xs, ys


def mlp_weights(nin: int, sizes: list[int], seed: int = 0) -> Weights:
    """Per layer, per neuron: (weights, bias), drawn as micrograd draws them (bias 0)."""
    rng = random.Random(seed)
    dims = [nin, *sizes]
    return [[([rng.uniform(-1, 1) for _ in range(dims[k])], 0.0) for _ in range(dims[k + 1])]
            for k in range(len(sizes))]


def mlp_ops(nin: int, sizes: list[int], n_points: int) -> int:
    """How many ops (non-leaf nodes) the plain MLP loss graph has, as the flat tape counts."""
    dims = [nin, *sizes]
    per_point = sum(dims[k + 1] * (2 * dims[k] + (k < len(sizes) - 1)) for k in range(len(sizes)))
    per_point += 3  # -y * score, 1 + that, relu
    n_params = sum(dims[k + 1] * (dims[k] + 1) for k in range(len(sizes)))
    return n_points * per_point + n_points + 1 + 2 * n_params + 1 + 1  # sums start at 0 + first


def chain_steps(n_ops: int) -> int:
    return max(1, n_ops // 3)


# --- object engines: microgrid, micrograd, torch --------------------------------------------
class Engine:
    """How one engine makes a leaf, runs backward and exposes data and gradients."""

    name = ""

    def leaf(self, x: float) -> Any:
        raise NotImplementedError

    def backward(self, out: Any) -> None:
        out.backward()

    def data(self, v: Any) -> float:
        return float(v.data)

    def grad(self, v: Any) -> float:
        return float(v.grad)

    def zero_grad(self, params: list[Any]) -> None:
        for p in params:
            p.grad = 0.0

    def sgd(self, params: list[Any], lr: float) -> None:
        for p in params:
            p.data -= lr * p.grad

    def mlp(self, weights: Weights) -> tuple[Callable[[list[Any]], Any], list[Any]]:
        """The network of `weights` and its parameters; by default in plain operations."""
        return plain_mlp(self, weights)


def plain_mlp(engine: Engine, weights: Weights) -> tuple[Callable[[list[Any]], Any], list[Any]]:
    """The network of `weights` in plain operations of `engine`: (model, parameters)."""
    layers = [[([engine.leaf(w) for w in ws], engine.leaf(b)) for ws, b in layer]
              for layer in weights]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    last = len(layers) - 1

    def model(x: list[Any]) -> Any:
        for k, layer in enumerate(layers):
            x = [sum((wi * xi for wi, xi in zip(ws, x, strict=True)), b) for ws, b in layer]
            if k < last:
                x = [v.relu() for v in x]
        return x[0]

    return model, params


def mlp_step(engine: Engine, model: Callable[[list[float]], Any], params: list[Any],
             xs: list[list[float]], ys: list[float], mark: Mark) -> tuple[float, list[float]]:
    """One training step (micrograd's demo loss); returns the loss and the gradients."""
    mark()
    engine.zero_grad(params)
    total = mlp_loss(model, params, xs, ys)
    mark()
    engine.backward(total)
    engine.sgd(params, LR)
    mark()
    loss = engine.data(total)
    del total
    mark()
    return loss, [engine.grad(p) for p in params]


def mlp_loss(model: Callable[[list[Any]], Any], params: list[Any], xs: list[Any],
             ys: list[Any]) -> Any:
    """micrograd's demo loss: ``mean(relu(1 - y_i * score_i)) + ALPHA * sum(p * p)``."""
    scores = [model(x) for x in xs]
    losses = [(1 + -y * s).relu() for y, s in zip(ys, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in params)
    return data_loss + reg_loss


def chain(engine: Engine, n_ops: int, mark: Mark) -> tuple[float, list[float]]:
    x, a, b = engine.leaf(1.0), engine.leaf(0.999), engine.leaf(0.001)
    mark()
    y = x
    for _ in range(chain_steps(n_ops)):
        y = (y * a + b).relu()
    mark()
    engine.backward(y)
    mark()
    out = engine.data(y)
    del y
    mark()
    return out, [engine.grad(v) for v in (x, a, b)]


def tree_leaves(n: int) -> tuple[list[float], list[float]]:
    rng = random.Random(1)
    return [rng.uniform(-1, 1) for _ in range(n)], [rng.uniform(-1, 1) for _ in range(n)]


def tree(engine: Engine, n: int, mark: Mark) -> tuple[float, list[float]]:
    wd, xd = tree_leaves(n)
    ws, xs = [engine.leaf(w) for w in wd], [engine.leaf(x) for x in xd]
    mark()
    level = [w * x for w, x in zip(ws, xs, strict=True)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
    out = level.pop()
    mark()
    engine.backward(out)
    mark()
    total = engine.data(out)
    del out
    mark()
    return total, [engine.grad(v) for v in ws[:8] + xs[:8]]


# --- the flat tape: the floor for pure Python ------------------------------------------------
class Tape:
    """Nodes are indices into `vals`. Each op appends its result to `vals` and, for each
    operand, the triple (child, parent, local derivative) to the flat list `edges`; backward
    is one loop over the edges in reverse: ``grads[p] += grads[c] * d``. The ops are closures
    over the two lists (no attribute lookups), so this is a tight floor for pure Python with
    one function call per op, as operator overloading needs."""

    def __init__(self) -> None:
        vals: list[float] = []
        edges: list[int | float] = []
        push, record = vals.append, edges.extend
        self.vals = vals

        def leaf(x: float) -> int:
            push(x)
            return len(vals) - 1

        def add(a: int, b: int) -> int:
            i = len(vals)
            push(vals[a] + vals[b])
            record((i, a, 1.0, i, b, 1.0))
            return i

        def mul(a: int, b: int) -> int:
            i = len(vals)
            va, vb = vals[a], vals[b]
            push(va * vb)
            record((i, a, vb, i, b, va))
            return i

        def addc(a: int, c: float) -> int:
            i = len(vals)
            push(vals[a] + c)
            record((i, a, 1.0))
            return i

        def mulc(a: int, c: float) -> int:
            i = len(vals)
            push(vals[a] * c)
            record((i, a, c))
            return i

        def relu(a: int) -> int:
            i = len(vals)
            v = vals[a]
            if v > 0:
                push(v)
                record((i, a, 1.0))
            else:
                push(0.0)
                record((i, a, 0.0))
            return i

        def backward(root: int) -> list[float]:
            grads = [0.0] * len(vals)
            grads[root] = 1.0
            rev = reversed(edges)
            for d, p, c in zip(rev, rev, rev, strict=True):
                grads[p] += grads[c] * d  # type: ignore[index]
            return grads

        self.leaf, self.add, self.mul, self.addc, self.mulc, self.relu, self.backward = (
            leaf, add, mul, addc, mulc, relu, backward)


def tape_mlp_step(weights: Weights, xs: list[list[float]], ys: list[float], mark: Mark
                  ) -> tuple[float, list[float]]:
    """`mlp_step` on a tape: the same ops in the same order. A tape lives for one step, so
    the parameters are its first leaves and the update writes back into `weights`."""
    mark()
    t = Tape()
    add, mul, addc, mulc, relu = t.add, t.mul, t.addc, t.mulc, t.relu
    layers = [[([t.leaf(w) for w in ws], t.leaf(b)) for ws, b in layer] for layer in weights]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    last = len(layers) - 1
    losses = []
    for x, y in zip(xs, ys, strict=True):
        h: list[int] = []
        for k, layer in enumerate(layers):
            out = []
            for ws, b in layer:
                acc = b
                if k == 0:  # the inputs are constants
                    for wi, xi in zip(ws, x, strict=True):
                        acc = add(acc, mulc(wi, xi))
                else:
                    for wi, hi in zip(ws, h, strict=True):
                        acc = add(acc, mul(wi, hi))
                out.append(relu(acc) if k < last else acc)
            h = out
        losses.append(relu(addc(mulc(h[0], -y), 1.0)))
    acc = addc(losses[0], 0.0)  # sum() starts at 0
    for v in losses[1:]:
        acc = add(acc, v)
    data_loss = mulc(acc, 1.0 / len(losses))
    acc = addc(mul(params[0], params[0]), 0.0)
    for p in params[1:]:
        acc = add(acc, mul(p, p))
    total = add(data_loss, mulc(acc, ALPHA))
    mark()
    grads = t.backward(total)
    flat = [g for layer in weights for ws, b in layer for g in (*ws, b)]
    new = [v - LR * grads[p] for v, p in zip(flat, params, strict=True)]
    mark()
    loss = t.vals[total]
    del t, add, mul, addc, mulc, relu
    mark()
    it = iter(new)
    weights[:] = [[([next(it) for _ in ws], next(it)) for ws, _ in layer] for layer in weights]
    return loss, [grads[p] for p in params]


def tape_chain(n_ops: int, mark: Mark) -> tuple[float, list[float]]:
    t = Tape()
    x, a, b = t.leaf(1.0), t.leaf(0.999), t.leaf(0.001)
    mark()
    add, mul, relu = t.add, t.mul, t.relu
    y = x
    for _ in range(chain_steps(n_ops)):
        y = relu(add(mul(y, a), b))
    mark()
    grads = t.backward(y)
    mark()
    out = t.vals[y]
    del t, add, mul, relu
    mark()
    return out, [grads[x], grads[a], grads[b]]


def tape_tree(n: int, mark: Mark) -> tuple[float, list[float]]:
    wd, xd = tree_leaves(n)
    t = Tape()
    ws, xs = [t.leaf(w) for w in wd], [t.leaf(x) for x in xd]
    mark()
    add, mul = t.add, t.mul
    level = [mul(w, x) for w, x in zip(ws, xs, strict=True)]
    while len(level) > 1:
        level = [add(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    out = level.pop()
    mark()
    grads = t.backward(out)
    mark()
    total = t.vals[out]
    del t, add, mul
    mark()
    return total, [grads[v] for v in ws[:8] + xs[:8]]
