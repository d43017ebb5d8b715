"""A hidden layer (the post "Backpropagation in the multi-layer perceptron"): each gradient."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence

from microgrid.core.engine import Value
from microgrid.core.groups import group
from microgrid.nn.losses import half_squared_error
from microgrid.nn.modules import MLP, Neuron
from microgrid.teaching.demos._compare import compare, number, verdict

N, J, K = 4, 3, 2  # inputs x_i, hidden nodes O_j, outputs O_k

COLLAPSE = 2  # `microgrid demo mlp_backprop -o FILE` draws a node per neuron, a slide's size
# why the full picture (--collapse 0) is past a slide's 2,000 px (the CLI says so)
LARGE = ("every weight of the network with its gradient, as in the tables above; --focus "
         "'w[1]_0_0' --style book draws one weight's paths")


def network(seed: int = 0) -> tuple[MLP, list[float], list[float]]:
    """A sigmoid MLP N -> J -> K, one input x and its target t, all from `seed`."""
    rng = random.Random(seed)
    model = MLP(N, [J, K], activation="sigmoid", output_activation="sigmoid", seed=rng)
    x = [rng.gauss(0, 1) for _ in range(N)]
    t = [rng.choice([0.0, 1.0]) for _ in range(K)]
    return model, x, t


def forward(model: MLP, x: list[float], t: list[float]) -> tuple[list[Value], list[Value], Value]:
    """Hidden outputs O_j, outputs O_k and E = ½ Σ_k (O_k - t_k)². The inputs are Values x_i
    (a drawing with a node per neuron shows them) and E is a group (it is one node there)."""
    hidden = model.layers[0]([Value(xi, f"x_{i}") for i, xi in enumerate(x)])
    outputs = model.layers[1](hidden)
    with group("E"):
        e = half_squared_error(outputs, t)
    e.label = "E"
    return hidden, outputs, e


def _rows(layer: list[Neuron], deltas: list[float], inputs: Sequence[float]
          ) -> list[tuple[str, float, float]]:
    """Each weight's gradient beside δ times its input, and each bias's beside δ."""
    rows = []
    for neuron, delta in zip(layer, deltas, strict=True):
        rows += [(f"dE/d{w.label}", w.grad, delta * xi)
                 for w, xi in zip(neuron.w, inputs, strict=True)]
        rows.append((f"dE/d{neuron.b.label}", neuron.b.grad, delta))
    return rows


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print each layer's table; return the exit status and the graph to draw: the loss E of
    the network, after backward()."""
    parser = argparse.ArgumentParser(prog="microgrid demo mlp_backprop", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed for x, t and the weights")
    args = parser.parse_args(argv)
    model, x, t = network(args.seed)
    hidden, outputs, e = forward(model, x, t)
    e.backward()
    o_j = [h.data for h in hidden]
    o_k = [o.data for o in outputs]
    out_layer, hidden_layer = model.layers[1].neurons, model.layers[0].neurons
    print(f"Network: {N} inputs x_i -> {J} sigmoid nodes O_j -> {K} sigmoid outputs O_k, "
          "E = ½ Σ_k (O_k - t_k)²")
    print(f"  O_j = {', '.join(number(v) for v in o_j)}")
    print(f"  O_k = {', '.join(number(v) for v in o_k)}; t_k = {', '.join(map(number, t))}")
    print("  Labels: w[2]_k_j is the post's w_jk (from hidden node j to output k), "
          "w[1]_j_i the weight from input i to hidden node j.")

    # Output layer: cover the earlier layers; the O_j are its inputs (the perceptron result).
    delta_k = [(o_k[k] - t[k]) * o_k[k] * (1 - o_k[k]) for k in range(K)]
    print("\nOutput layer: dE/dw_jk = (O_k - t_k) O_k (1 - O_k) O_j = δ_k O_j, dE/db_k = δ_k")
    ok = compare(["", "backward()", "δ_k O_j"], _rows(out_layer, delta_k, o_j))

    # Hidden layer: one step further back, the chain rule sums over every output k that O_j feeds.
    delta_j = [o_j[j] * (1 - o_j[j]) * sum(delta_k[k] * out_layer[k].w[j].data for k in range(K))
               for j in range(J)]
    print("\nHidden layer: dE/dw_ij = O_j (1 - O_j) [Σ_k δ_k w_jk] x_i = δ_j x_i, dE/db_j = δ_j")
    ok &= compare(["", "backward()", "δ_j x_i"], _rows(hidden_layer, delta_j, x))
    return verdict(ok), e


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
