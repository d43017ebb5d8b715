"""Notation (the post "The notation of neural networks, 2"): z, a, L, da, dz, dW, db by name."""

from __future__ import annotations

import random

from microgrid.core.engine import Value
from microgrid.nn.losses import binary_cross_entropy
from microgrid.nn.modules import Layer
from microgrid.teaching.demos._compare import DemoParser, compare, number, verdict

NX, NH = 3, 4  # input features x_0..x_2 (indices from 0), hidden units of the 2-layer net
M = 4  # training examples x(0)..x(3) in a batch
MAX_M = 10_000  # the largest --m: a batch of 10,000 runs in about 2 s

# why `microgrid demo NAME -o FILE`'s full picture is past a slide's 2,000 px (-o says so)
LARGE = ("every weight of the two-layer network with its gradient (dW[1], dW[2]); --collapse "
         "2 draws a node per neuron, --focus 'w[1]_0_0' --style book one weight's paths")


def _example(rng: random.Random) -> tuple[list[float], float]:
    return [rng.gauss(0, 1) for _ in range(NX)], float(rng.choice([0, 1]))


def logistic_regression(seed: int = 0) -> tuple[list[float], float, list[Value], Value,
                                               Value, Value, Value]:
    """x, y, w, b, z = w^T x + b, a = sigmoid(z), L(a, y) = -(y log a + (1 - y) log(1 - a))."""
    rng = random.Random(seed)
    w, b = _logistic_parameters(rng)
    x, y = _example(rng)
    return (x, y, w, b, *_logistic_forward(w, b, x, y))


def logistic_regression_batch(seed: int = 0, m: int = M) -> tuple[
        list[list[float]], list[float], list[Value], Value, list[Value], list[Value],
        list[Value], Value]:
    """m examples x(i), y(i) through the same w, b (x(0), y(0) are the single example's):
    z(i), a(i), L(i) and the cost J = (1/m) Σ_i L(i). Returns xs, ys, w, b, zs, as, Ls, J."""
    rng = random.Random(seed)
    w, b = _logistic_parameters(rng)
    xs, ys = zip(*(_example(rng) for _ in range(m)), strict=True)
    zs, acts, losses = zip(*(_logistic_forward(w, b, x, y, f"({i})")
                             for i, (x, y) in enumerate(zip(xs, ys, strict=True))), strict=True)
    return list(xs), list(ys), w, b, list(zs), list(acts), list(losses), _cost(list(losses))


def _logistic_parameters(rng: random.Random) -> tuple[list[Value], Value]:
    return [Value(rng.uniform(-1, 1), f"w_{i}") for i in range(NX)], Value(rng.uniform(-1, 1), "b")


def _logistic_forward(w: list[Value], b: Value, x: list[float], y: float,
                      tag: str = "") -> tuple[Value, Value, Value]:
    """z, a, L of one example; `tag` is "(i)" for example i of a batch."""
    z = sum((wi * xi for wi, xi in zip(w, x, strict=True)), b)
    z.label = f"z{tag}"
    a = z.sigmoid()
    a.label = f"a{tag}"
    loss = binary_cross_entropy(a, y)
    loss.label = f"L{tag}"
    return z, a, loss


def _cost(losses: list[Value]) -> Value:
    """J = (1/m) Σ_i L(i)."""
    cost = sum(losses[1:], losses[0]) / len(losses)
    cost.label = "J"
    return cost


def two_layer(seed: int = 0) -> tuple[list[float], float, list[Layer], list[list[Value]],
                                      list[list[Value]], Value]:
    """x -> z[1] = W[1] x + b[1] -> a[1] = sigmoid(z[1]) -> z[2] = W[2] a[1] + b[2]
    -> a[2] = sigmoid(z[2]) -> L(a[2], y). Returns x, y, the layers, z, a (per layer), L."""
    rng = random.Random(seed)
    layers = _two_layer_parameters(rng)
    x, y = _example(rng)
    return (x, y, layers, *_two_layer_forward(layers, x, y))


def two_layer_batch(seed: int = 0, m: int = M) -> tuple[
        list[list[float]], list[float], list[Layer], list[list[list[Value]]],
        list[list[list[Value]]], list[Value], Value]:
    """m examples through the same layers (x(0), y(0) are the single example's), and the cost
    J = (1/m) Σ_i L(a[2](i), y(i)). Returns xs, ys, the layers, z and a (per example, per
    layer), the L(i), J."""
    rng = random.Random(seed)
    layers = _two_layer_parameters(rng)
    xs, ys = zip(*(_example(rng) for _ in range(m)), strict=True)
    zs, acts, losses = zip(*(_two_layer_forward(layers, x, y, f"({i})")
                             for i, (x, y) in enumerate(zip(xs, ys, strict=True))), strict=True)
    return list(xs), list(ys), layers, list(zs), list(acts), list(losses), _cost(list(losses))


def _two_layer_parameters(rng: random.Random) -> list[Layer]:
    return [Layer(NX, NH, "linear", seed=rng, layer=1), Layer(NH, 1, "linear", seed=rng, layer=2)]


def _two_layer_forward(layers: list[Layer], x: list[float], y: float, tag: str = "") -> tuple[
        list[list[Value]], list[list[Value]], Value]:
    """z and a of each layer, and L, for one example; `tag` is "(i)" for example i of a batch."""
    zs: list[list[Value]] = []
    activations: list[list[Value]] = []
    inputs: list[Value] | list[float] = x
    for m, layer in enumerate(layers, start=1):
        z = layer(inputs)
        a = [zi.sigmoid() for zi in z]
        for i, (zi, ai) in enumerate(zip(z, a, strict=True)):
            zi.label, ai.label = f"z[{m}]{tag}_{i}", f"a[{m}]{tag}_{i}"
        zs.append(z)
        activations.append(a)
        inputs = a
    loss = binary_cross_entropy(activations[1][0], y)
    loss.label = f"L{tag}"
    return zs, activations, loss


def _show(**quantities: float) -> None:
    print("  " + ", ".join(f"{k} = {number(v)}" for k, v in quantities.items()))


def _average(values: list[float]) -> float:
    """(1/m) Σ_i over the m examples."""
    return sum(values) / len(values)


def _logistic_batch(seed: int, m: int) -> bool:
    print(f"\nLogistic regression over m = {m} examples (i): J = (1/m) Σ_i L(a(i), y(i))")
    xs, ys, w, b, zs, acts, losses, cost = logistic_regression_batch(seed, m)
    cost.backward()
    for i, (x, y, z, a, loss) in enumerate(zip(xs, ys, zs, acts, losses, strict=True)):
        _show(**{f"x({i})_{k}": xk for k, xk in enumerate(x)}, **{f"y({i})": y})
        _show(**{f"z({i})": z.data, f"a({i})": a.data, f"L({i})": loss.data})
    _show(J=cost.data)
    dz = [a.data - y for a, y in zip(acts, ys, strict=True)]
    rows = [(f"dz({i})", m * z.grad, dz[i]) for i, z in enumerate(zs)]
    rows += [(f"dw_{k}", wk.grad, _average([xs[i][k] * dz[i] for i in range(m)]))
             for k, wk in enumerate(w)]
    rows.append(("db", b.grad, _average(dz)))
    ok = compare(["", "backward() of J", "closed form"], rows)
    print("  closed forms: dz(i) = a(i) - y(i) (backward() gives ∂J/∂z(i) = dz(i)/m; shown × m),")
    print("                dw = (1/m) Σ_i x(i) dz(i), db = (1/m) Σ_i dz(i)")
    return ok


def _two_layer_batch(seed: int, m: int) -> bool:
    print(f"\nTwo-layer network over m = {m} examples (i): J = (1/m) Σ_i L(a[2](i), y(i))")
    xs, ys, layers, zs, acts, losses, cost = two_layer_batch(seed, m)
    cost.backward()
    for i, (x, y, a, loss) in enumerate(zip(xs, ys, acts, losses, strict=True)):
        _show(**{f"x({i})_{k}": xk for k, xk in enumerate(x)}, **{f"y({i})": y})
        _show(**{f"a[2]({i})_0": a[1][0].data, f"L({i})": loss.data})
    _show(J=cost.data)
    a1 = [[v.data for v in a[0]] for a in acts]
    dz2 = [a[1][0].data - y for a, y in zip(acts, ys, strict=True)]
    w2 = [p.data for p in layers[1].neurons[0].w]
    dz1 = [[w2[j] * dz2[i] * a1[i][j] * (1 - a1[i][j]) for j in range(NH)] for i in range(m)]
    out, hidden = layers[1].neurons[0], layers[0].neurons
    rows = [(f"dz[2]({i})_0", m * z[1][0].grad, dz2[i]) for i, z in enumerate(zs)]
    rows += [(f"dW[2]_0_{j}", out.w[j].grad, _average([dz2[i] * a1[i][j] for i in range(m)]))
             for j in range(NH)]
    rows.append(("db[2]_0", out.b.grad, _average(dz2)))
    rows += [(f"dW[1]_{j}_{k}", hidden[j].w[k].grad,
              _average([dz1[i][j] * xs[i][k] for i in range(m)]))
             for j in range(NH) for k in range(NX)]
    rows += [(f"db[1]_{j}", hidden[j].b.grad, _average([dz1[i][j] for i in range(m)]))
             for j in range(NH)]
    ok = compare(["", "backward() of J", "closed form"], rows)
    print("  closed forms: dz[2](i) = a[2](i) - y(i) (backward() gives dz[2](i)/m; shown × m),")
    print("                dW[2] = (1/m) Σ_i dz[2](i) a[1](i)^T, db[2] = (1/m) Σ_i dz[2](i),")
    print("                dz[1](i) = W[2]^T dz[2](i) * a[1](i) (1 - a[1](i)),")
    print("                dW[1] = (1/m) Σ_i dz[1](i) x(i)^T, db[1] = (1/m) Σ_i dz[1](i)")
    return ok


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print every table; return the exit status and the graph to draw: the two-layer
    network's loss L of the single example, after backward()."""
    parser = DemoParser(prog="microgrid demo notation", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed for x, y and the parameters")
    parser.add_argument("--m", type=int, default=M,
                        help=f"examples in the batch (default {M}, at most {MAX_M})")
    args = parser.parse_args(argv)
    if not 1 <= args.m <= MAX_M:
        parser.error(f"--m must be from 1 to {MAX_M:,}, got {args.m}")

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
    x, y, layers, zs, acts, two_layer_loss = two_layer(args.seed)
    two_layer_loss.backward()
    _show(**{f"x_{i}": xi for i, xi in enumerate(x)}, y=y)
    for m in (1, 2):
        _show(**{f"z[{m}]_{i}": v.data for i, v in enumerate(zs[m - 1])})
        _show(**{f"a[{m}]_{i}": v.data for i, v in enumerate(acts[m - 1])})
    _show(L=two_layer_loss.data)
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
    ok &= _logistic_batch(args.seed, args.m)
    ok &= _two_layer_batch(args.seed, args.m)
    return verdict(ok), two_layer_loss


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
