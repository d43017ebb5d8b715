"""Forward mode beside reverse mode: the same gradients, one sweep per input or one in all."""

from __future__ import annotations

import argparse
import random
import time

from microgrid.core.engine import Value, edges, topological_order
from microgrid.core.forward import forward_grad, forward_sweep
from microgrid.nn.modules import MLP
from microgrid.teaching.demos import apple_orange
from microgrid.teaching.demos._compare import compare, verdict

SIZES = [16, 16, 1]
TOLERANCE = 1e-12


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print both modes' gradients and costs; return the exit status and the apple/orange
    graph, after backward(), for ``-o`` to draw."""
    parser = argparse.ArgumentParser(prog="microgrid demo modes", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="the network's random weights")
    args = parser.parse_args(argv)

    v = apple_orange.build()
    price = v["price"]
    inputs = [v[name] for name in ("apple", "apple_num", "orange", "orange_num", "tax")]
    print("1. Apples and oranges, both ways.")
    print("   Reverse mode, price.backward(): one sweep from price back to the inputs gives")
    print("   dprice/d(input) for every input. Forward mode, forward_grad(price, apple): one")
    print("   sweep from apple to price gives d(node)/dapple for every node, so five sweeps")
    print("   for the five inputs.")
    ok = compare(["", "forward_grad", "backward()"],
                 [(f"dprice/d{x.label}", forward_grad(price, x)[price], x.grad) for x in inputs],
                 tol=TOLERANCE)

    random.seed(args.seed)
    model = MLP(2, SIZES)
    params = model.parameters()
    x = [Value(0.5, "x1"), Value(-1.0, "x2")]
    y = model(x)
    assert isinstance(y, Value)
    order = topological_order(y)
    n_edges = len(edges(y))
    print(f"\n2. The cost: nn.MLP(2, {SIZES}) has P = {len(params)} parameters and its graph "
          f"{len(order)} values, {n_edges} edges.")
    print("   Reverse mode: one sweep, one multiply-add per edge (grad * local derivative).")
    print("   Forward mode: one sweep per parameter, each a multiply-add per edge that its "
          "tangent reaches.")

    start = time.perf_counter()
    y.backward()
    reverse_time = time.perf_counter() - start
    reverse = [p.grad for p in params]

    start = time.perf_counter()
    forward, forward_ops = [], 0
    for p in params:
        tangents, ops = forward_sweep(order, {p: 1.0})
        forward.append(tangents[y])
        forward_ops += ops
    forward_time = time.perf_counter() - start

    visits = len(params) * len(order)
    print(f"  {'':<14}{'sweeps':>8}{'values visited':>16}{'multiply-adds':>15}{'time':>12}")
    print(f"  {'reverse mode':<14}{1:>8}{len(order):>16}{n_edges:>15}"
          f"{reverse_time * 1e3:>9.2f} ms")
    print(f"  {'forward mode':<14}{len(params):>8}{visits:>16}{forward_ops:>15}"
          f"{forward_time * 1e3:>9.2f} ms")
    print(f"  A forward sweep multiplies only along the edges its tangent reaches (all {n_edges}")
    print(f"  would make {len(params) * n_edges}), but it still visits every value: "
          f"{visits // len(order)}x reverse mode's visits,")
    print(f"  {forward_time / reverse_time:.0f}x its time (backward() is the engine's fast loop, "
          "forward_sweep plain Python).")
    print("  One output and many inputs: reverse mode wins, which is why training uses")
    print("  backpropagation. One input and many outputs: forward mode would.")
    worst = max(abs(f - r) / max(1.0, abs(r)) for f, r in zip(forward, reverse, strict=True))
    same = worst <= TOLERANCE
    print(f"  the {len(params)} gradients of both modes differ by at most {worst:.1e}"
          f"{'' if same else '  <-- differs'}")
    ok &= same
    return verdict(ok, "forward mode and reverse mode", TOLERANCE), price


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
