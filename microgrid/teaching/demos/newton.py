"""Newton's method (DeZero, "Deep Learning from Scratch 3", step 33) by double backward."""

from __future__ import annotations

import argparse

from microgrid.core.engine import Value, grad_number
from microgrid.teaching.demos._compare import compare, verdict

# DeZero's printed iterates, step 33 of "Deep Learning from Scratch 3"
BOOK = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978, 1.0009084519430513,
        1.0000012353089454, 1.000000000002289, 1.0]
RELATIVE = 1e-15  # the iterates, and f'' beside its formula, agree to this relative difference


def f(x: Value) -> Value:
    return x**4 - 2 * x**2


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print each iterate, in full, beside the book's and f'' beside 12x^2 - 4; return the exit
    status and the graph of the last first derivative, after backward()."""
    argparse.ArgumentParser(prog="microgrid demo newton", description=__doc__).parse_args(argv)
    x = Value(2.0, "x")
    rows, fpp_rows = [], []
    gx = Value(0.0)
    for i in range(len(BOOK)):  # DeZero's loop; x.grad = None is its x.cleargrad()
        rows.append((f"x{i}", x.data, BOOK[i]))
        y = f(x)
        x.grad = None
        y.backward(create_graph=True)
        gx = x.grad  # f'(x), a Value: the output of a graph that depends on x
        x.grad = None
        gx.backward()
        gx2 = grad_number(x)  # f''(x), a number (DeZero's gx2.data)
        fpp_rows.append((f"f''(x{i})", gx2, 12 * x.data**2 - 4))
        if i < len(BOOK) - 1:
            x.data -= gx.data / gx2
    print("Newton's method, as DeZero's step 33 writes it:\n"
          "  y.backward(create_graph=True); gx = x.grad; x.grad = None; gx.backward()\n"
          "  x.data -= gx.data / x.grad          (x <- x - f'(x) / f''(x))\n")
    ok = compare(["iterate", "microgrid", "DeZero"], rows, RELATIVE, show=repr, relative=True)
    print()
    ok &= compare(["second derivative", "x.grad", "12x^2 - 4"], fpp_rows, RELATIVE, show=repr,
                  relative=True)
    gx.label = "f'(x)"
    return verdict(ok, "the iterates and DeZero's, and f'' and 12x^2 - 4,",
                   f"a relative {RELATIVE:g}"), gx


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
