"""Newton's method (DeZero, "Deep Learning from Scratch 3", step 33): x^4 - 2x^2 from x = 2."""

from __future__ import annotations

import argparse

from microgrid.core.autograd import grad
from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import compare, verdict

# DeZero's printed iterates, step 33 of "Deep Learning from Scratch 3"
BOOK = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978, 1.0009084519430513,
        1.0000012353089454, 1.000000000002289, 1.0]
RELATIVE = 1e-15


def f(x: Value) -> Value:
    return x**4 - 2 * x**2


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print each iterate beside the book's and f'' beside 12x^2 - 4; return the exit status and
    the graph of the last first derivative, after backward()."""
    argparse.ArgumentParser(prog="microgrid demo newton", description=__doc__).parse_args(argv)
    x = Value(2.0, "x")
    rows, fpp_rows = [], []
    g = Value(0.0)
    for i in range(len(BOOK)):
        (g,) = grad(f(x), [x], create_graph=True)  # f'(x), a graph that depends on x
        (g2,) = grad(g, [x])  # f''(x)
        rows.append((f"x{i}", x.data, BOOK[i]))
        fpp_rows.append((f"f''(x{i})", g2.data, 12 * x.data**2 - 4))
        if i < len(BOOK) - 1:
            x = Value(x.data - g.data / g2.data, "x")
    print("Newton's method: x <- x - f'(x) / f''(x), with f''(x) = grad(grad(f, x), x)\n")
    ok = compare(["iterate", "microgrid", "DeZero"], rows, tol=0.0)
    ok &= all(abs(a - b) <= RELATIVE * abs(b) for _, a, b in rows)
    print()
    ok &= compare(["second derivative", "grad(grad)", "12x^2 - 4"], fpp_rows,
                  tol=1e-12)
    g.label = "f'(x)"
    g.backward()  # the graph to draw: f'(x) = 4x^3 - 4x as grad built it, with its gradients
    return verdict(ok, "the iterates, DeZero's and the second derivatives"), g


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
