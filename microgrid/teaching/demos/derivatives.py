"""The n-th derivative of tanh (DeZero, "Deep Learning from Scratch 3", step 35): up to 4th."""

from __future__ import annotations

import argparse
import math

from microgrid.core.autograd import grad
from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import compare, verdict

POINTS = [-1.5, -0.5, 0.0, 0.5, 1.0, 2.0]
ORDERS = 4


def closed_forms(x: float) -> list[float]:
    """tanh's 1st to 4th derivatives, with t = tanh x and s = 1 - t^2 (its first derivative)."""
    t = math.tanh(x)
    s = 1 - t * t
    return [s, -2 * t * s, -2 * s * (1 - 3 * t * t), 8 * t * s * (2 - 3 * t * t)]


def derivatives(x: Value, order: int) -> list[Value]:
    """tanh(x)'s 1st to `order`-th derivatives, each a graph (create_graph=True)."""
    out, y = [], x.tanh()
    for _ in range(order):
        (y,) = grad(y, [x], create_graph=True)
        out.append(y)
    return out


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print each derivative beside its closed form; return the exit status and the graph of the
    `--order`-th derivative at x = 0.5, after backward()."""
    parser = argparse.ArgumentParser(prog="microgrid demo derivatives", description=__doc__)
    parser.add_argument("--order", type=int, default=2, choices=range(1, ORDERS + 1),
                        metavar=f"1..{ORDERS}", help="the derivative to return and draw")
    args = parser.parse_args(argv)
    ok = True
    for k in range(ORDERS):
        print(f"d^{k + 1}/dx^{k + 1} tanh(x):" if k else "d/dx tanh(x):")
        rows = []
        for p in POINTS:
            got = derivatives(Value(p, "x"), k + 1)[k].data
            rows.append((f"x = {p:g}", got, closed_forms(p)[k]))
        ok &= compare(["", "grad", "closed form"], rows, tol=1e-12)
        print()
    root = derivatives(Value(0.5, "x"), args.order)[-1]
    root.label = f"d^{args.order} tanh" if args.order > 1 else "d tanh"
    root.backward()  # its own gradients, drawn on the edges
    return verdict(ok, "grad's derivatives and the closed forms"), root


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
