"""Perceptrons (the post "The perceptron"): each dE/dw_jk by autograd and by the formula."""

from __future__ import annotations

import argparse
import random

from microgrid.core.engine import Value, dot
from microgrid.nn.losses import half_squared_error, mse
from microgrid.teaching.demos._compare import compare, number, verdict

N = 10  # input features x_j^0, j = 0 .. N-1, as in the post (x = torch.randn(1, 10))
M = 2  # outputs of the multi-output perceptron (w = torch.randn(2, 10))

# why `microgrid demo NAME -o FILE`'s full picture is past a slide's 2,000 px (-o says so)
LARGE = ("the post's 10 inputs x_j and 10 weights w_j0 feed one Σwx, each with its "
         "gradient; --focus w_00 --style book draws one weight's path")


def perceptron(n_out: int, seed: int = 0) -> tuple[list[Value], list[list[Value]], list[Value]]:
    """The inputs x_j^0, the weights w_jk^1 (input j to output k) and the outputs
    O_k^1 = sigmoid(x_k^1), where x_k^1 = Σ_j w_jk^1 x_j^0, one `dot` node (drawn Σwx); no
    bias, as in the post (the bias operand of `dot` is the constant 0)."""
    rng = random.Random(seed)
    x = [Value(rng.gauss(0, 1), f"x_{j}") for j in range(N)]
    w = [[Value(rng.gauss(0, 1), f"w_{j}{k}") for k in range(n_out)] for j in range(N)]
    outputs = []
    for k in range(n_out):
        xk = dot([w[j][k] for j in range(N)], x)
        xk.label = f"x^1_{k}"
        o = xk.sigmoid()
        o.label = f"O_{k}"
        outputs.append(o)
    return x, w, outputs


def check(n_out: int, seed: int) -> tuple[bool, Value]:
    """Print the perceptron's gradients beside the formula; return whether they agree and the
    loss E, after backward()."""
    x, w, outputs = perceptron(n_out, seed)
    t = [1.0] * n_out  # the target, torch.ones(1, n_out) in the post
    e = half_squared_error(outputs, t)  # E = ½ Σ_k (O_k - t_k)², as in the post
    e.label = "E"
    e.backward()
    out = [o.data for o in outputs]  # O_k
    print("  " + ", ".join(f"O_{k} = {number(out[k])}" for k in range(n_out))
          + f"; t = {', '.join(number(tk) for tk in t)}")
    pairs = [(j, k) for j in range(N) for k in range(n_out)]
    formula = {(j, k): (out[k] - t[k]) * out[k] * (1 - out[k]) * x[j].data for j, k in pairs}
    ok = compare(["", "backward()", "(O_k-t_k)O_k(1-O_k)x_j"],
                 [(f"dE/dw_{j}{k}", w[j][k].grad, formula[j, k]) for j, k in pairs])

    # The post's PyTorch code uses F.mse_loss: the mean of (O_k - t_k)², without the ½.
    # A fresh copy of the same perceptron, so that E's graph keeps E's gradients.
    _, w, outputs = perceptron(n_out, seed)
    mse(outputs, t).backward()
    worst = max(abs(w[j][k].grad - 2 / n_out * formula[j, k]) for j, k in pairs)
    print(f"  F.mse_loss (the mean of (O_k - t_k)², in the post's PyTorch code) gives "
          f"{2 / n_out:g} × the formula: max |diff| {worst:.1e}")
    return ok and worst <= 1e-9, e


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print both perceptrons' tables; return the exit status and the graph to draw: the
    single-output perceptron's loss E, after backward()."""
    parser = argparse.ArgumentParser(prog="microgrid demo perceptron", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed for x and w (default: 0)")
    args = parser.parse_args(argv)
    print(f"Single-layer perceptron: {N} inputs x_j, weights w_j0, O_0 = sigmoid(Σ_j w_j0 x_j),"
          " E = ½(O_0 - t)²")
    ok, e = check(1, args.seed)
    print(f"\nMulti-output perceptron: {N} inputs, {M} outputs, N×M = {N * M} weights w_jk,"
          " E = ½ Σ_k (O_k - t_k)²")
    ok &= check(M, args.seed)[0]
    return verdict(ok), e


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
