"""Notation (seed 004): z, a, L and da, dz, dW, db of each layer, from autograd and closed forms."""

from __future__ import annotations

import argparse
import random

from microgrid.demos._compare import compare, number, verdict
from microgrid.engine import Value
from microgrid.losses import binary_cross_entropy
from microgrid.nn import Layer

NX, NH = 3, 4  # input features x_0..x_2 (indices from 0), hidden units of the 2-layer net


def _example(rng: random.Random) -> tuple[list[float], float]:
    return [rng.gauss(0, 1) for _ in range(NX)], float(rng.choice([0, 1]))


def logistic_regression(seed: int = 0) -> tuple[list[float], float, list[Value], Value,
                                               Value, Value, Value]:
    """x, y, w, b, z = w^T x + b, a = sigmoid(z), L(a, y) = -(y log a + (1 - y) log(1 - a))."""
    rng = random.Random(seed)
    w = [Value(rng.uniform(-1, 1), f"w_{i}") for i in range(NX)]
    b = Value(rng.uniform(-1, 1), "b")
    x, y = _example(rng)
    z = sum((wi * xi for wi, xi in zip(w, x, strict=True)), b)
    z.label = "z"
    a = z.sigmoid()
    a.label = "a"
    loss = binary_cross_entropy(a, y)
    loss.label = "L"
    return x, y, w, b, z, a, loss


def two_layer(seed: int = 0) -> tuple[list[float], float, list[Layer], list[list[Value]],
                                      list[list[Value]], Value]:
    """x -> z[1] = W[1] x + b[1] -> a[1] = sigmoid(z[1]) -> z[2] = W[2] a[1] + b[2]
    -> a[2] = sigmoid(z[2]) -> L(a[2], y). Returns x, y, the layers, z, a (per layer), L."""
    rng = random.Random(seed)
    layers = [Layer(NX, NH, "linear", seed=rng, layer=1), Layer(NH, 1, "linear", seed=rng, layer=2)]
    x, y = _example(rng)
    zs: list[list[Value]] = []
    activations: list[list[Value]] = []
    inputs: list[Value] | list[float] = x
    for m, layer in enumerate(layers, start=1):
        z = layer(inputs)  # labelled z[m]_i
        a = [zi.sigmoid() for zi in z]
        for i, ai in enumerate(a):
            ai.label = f"a[{m}]_{i}"
        zs.append(z)
        activations.append(a)
        inputs = a
    loss = binary_cross_entropy(activations[1][0], y)
    loss.label = "L"
    return x, y, layers, zs, activations, loss


def graph(seed: int = 0) -> Value:
    """The two-layer network's loss L, after backward() (for drawing)."""
    loss = two_layer(seed)[-1]
    loss.backward()
    return loss


def _show(**quantities: float) -> None:
    print("  " + ", ".join(f"{k} = {number(v)}" for k, v in quantities.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microgrid demo notation", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed for x, y and the parameters")
    args = parser.parse_args(argv)

    print("Logistic regression: z = w^T x + b, a = σ(z), L(a, y) = -(y log a + (1-y) log(1-a))")
    x, y, w, b, z, a, loss = logistic_regression(args.seed)
    loss.backward()
    _show(**{f"x_{i}": xi for i, xi in enumerate(x)}, y=y)
    _show(z=z.data, a=a.data, L=loss.data)
    ad = a.data
    rows = [("da", a.grad, -y / ad + (1 - y) / (1 - ad)),
            ("dz", z.grad, ad - y)]
    rows += [(f"dw_{i}", wi.grad, x[i] * (ad - y)) for i, wi in enumerate(w)]
    rows.append(("db", b.grad, ad - y))
    ok = compare(["", "backward()", "closed form"], rows)
    print("  closed forms: da = -y/a + (1-y)/(1-a), dz = a - y, dw = x dz, db = dz")

    print("\nTwo-layer network: z[1] = W[1] x + b[1], a[1] = σ(z[1]), z[2] = W[2] a[1] + b[2],"
          " a[2] = σ(z[2]), L(a[2], y)")
    x, y, layers, zs, acts, loss = two_layer(args.seed)
    loss.backward()
    _show(**{f"x_{i}": xi for i, xi in enumerate(x)}, y=y)
    for m in (1, 2):
        _show(**{f"z[{m}]_{i}": v.data for i, v in enumerate(zs[m - 1])})
        _show(**{f"a[{m}]_{i}": v.data for i, v in enumerate(acts[m - 1])})
    _show(L=loss.data)
    a1 = [v.data for v in acts[0]]
    a2 = acts[1][0].data
    dz2 = a2 - y
    w2 = [p.data for p in layers[1].neurons[0].w]
    da1 = [w2[j] * dz2 for j in range(NH)]
    dz1 = [da1[j] * a1[j] * (1 - a1[j]) for j in range(NH)]
    rows = [("da[2]", acts[1][0].grad, -y / a2 + (1 - y) / (1 - a2)),
            ("dz[2]", zs[1][0].grad, dz2)]
    rows += [(f"dW[2]_0_{j}", layers[1].neurons[0].w[j].grad, dz2 * a1[j]) for j in range(NH)]
    rows.append(("db[2]_0", layers[1].neurons[0].b.grad, dz2))
    rows += [(f"da[1]_{j}", acts[0][j].grad, da1[j]) for j in range(NH)]
    rows += [(f"dz[1]_{j}", zs[0][j].grad, dz1[j]) for j in range(NH)]
    rows += [(f"dW[1]_{j}_{i}", layers[0].neurons[j].w[i].grad, dz1[j] * x[i])
             for j in range(NH) for i in range(NX)]
    rows += [(f"db[1]_{j}", layers[0].neurons[j].b.grad, dz1[j]) for j in range(NH)]
    ok &= compare(["", "backward()", "closed form"], rows)
    print("  closed forms: dz[2] = a[2] - y, dW[2] = dz[2] a[1]^T, db[2] = dz[2],")
    print("                da[1] = W[2]^T dz[2],")
    print("                dz[1] = da[1] * σ'(z[1]) = da[1] * a[1] (1 - a[1]),")
    print("                dW[1] = dz[1] x^T, db[1] = dz[1]")
    return verdict(ok)


if __name__ == "__main__":
    raise SystemExit(main())
