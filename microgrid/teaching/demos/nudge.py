"""Nudges: move an input by h, and the output moves by about its gradient times h, to within h²."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from microgrid.core.engine import Value
from microgrid.core.forward import forward_grad, nudge
from microgrid.teaching.demos import apple_orange
from microgrid.teaching.demos._compare import number, verdict

HS = [1.0, 0.1, 0.01, 0.001]
ORDER_TOLERANCE = 0.1  # the measured order of the error may be off by this much
TOLERANCE = 1e-9  # a nudge's change beside the graph built again at a + h


def direct(apple: float, apple_num: float) -> float:
    """The price of the book's example, computed again from scratch."""
    v = apple_orange
    return (apple * apple_num + v.ORANGE * v.ORANGE_NUM) * v.TAX


def orders(errors: list[float]) -> list[float]:
    """How fast each error shrinks when h shrinks tenfold: log10(e(h) / e(h/10))."""
    return [math.log10(big / small) for big, small in zip(errors, errors[1:], strict=False)]


def table(rows: Sequence[tuple[float, ...]], headers: list[str]) -> None:
    print("  " + "  ".join(f"{h:>14}" for h in headers))
    for row in rows:
        print("  " + "  ".join(f"{x:>14.6g}" for x in row))


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print the tables and check them; return the exit status and the apple/orange graph,
    after backward(), for ``-o`` to draw."""
    argparse.ArgumentParser(prog="microgrid demo nudge", description=__doc__).parse_args(argv)
    ok = True
    v = apple_orange.build()
    price, apple, apple_num = v["price"], v["apple"], v["apple_num"]

    print(f"price = (apple * apple_num + orange * orange_num) * tax = {number(price.data)}")
    print(f"backward(): dprice/dapple = {number(apple.grad)}\n")
    print("1. Nudge apple by h = 1: every node's change, run again, beside d(node)/dapple × h")
    effects = nudge(price, {apple: 1.0})
    for node, e in effects.items():
        if node.label and (e.actual or e.predicted):
            print(f"  Δ{node.label:<12} = {number(e.actual):>8}   "
                  f"(predicted {number(e.predicted)})")
    ok &= _same("Δprice, the graph built again", effects[price].actual,
                direct(apple.data + 1, apple_num.data) - price.data)
    print("  The price is linear in apple alone: the prediction is exact, for any h.\n")

    print("2. Nudge apple and apple_num together by h: a product of two moved numbers,")
    print("   so the change has an h² term the gradient cannot see.")
    rows, errors = [], []
    for h in HS:
        e = nudge(price, {apple: h, apple_num: h})[price]
        ok &= _same(f"Δprice at h = {h:g}", e.actual,
                    direct(apple.data + h, apple_num.data + h) - price.data, quiet=True)
        errors.append(e.error)
        rows.append((h, e.actual, e.predicted, e.error, e.error / h**2))
    table(rows, ["h", "Δprice", "predicted", "error", "error / h²"])
    ok &= _order("error", orders(errors), 2)
    print(f"  error / h² = tax = {number(apple_orange.TAX)}: the h² term is exactly tax × h².\n")

    print("3. A curved graph, y = tanh(a * b + 1) at a = 0.5, b = -1: nudge a by ±h.")
    print("   One-sided, Δy - dy/da h shrinks like h²; central, (y(a+h) - y(a-h))/2 - dy/da h,")
    print("   like h³ (the h² terms cancel).")
    a, b = Value(0.5, "a"), Value(-1.0, "b")
    y = (a * b + 1).tanh()
    dy = forward_grad(y, a)[y]
    rows, one_sided, central = [], [], []
    for h in HS[1:]:
        up, down = nudge(y, {a: h})[y], nudge(y, {a: -h})[y]
        one_sided.append(up.error)
        central.append(abs((up.actual - down.actual) / 2 - dy * h))
        rows.append((h, up.actual, up.predicted, one_sided[-1], central[-1]))
    table(rows, ["h", "Δy", "predicted", "one-sided err", "central err"])
    ok &= _order("one-sided error", orders(one_sided), 2)
    ok &= _order("central error", orders(central), 3)
    return verdict(ok, "the nudges and Taylor's orders h² and h³", ORDER_TOLERANCE), price


def _same(what: str, got: float, expected: float, quiet: bool = False) -> bool:
    good = abs(got - expected) <= TOLERANCE * max(1.0, abs(expected))
    if not good or not quiet:
        print(f"  {what}: {number(expected)}{'' if good else f' <-- the nudge says {got!r}'}")
    return good


def _order(what: str, measured: list[float], expected: int) -> bool:
    good = all(abs(m - expected) <= ORDER_TOLERANCE for m in measured)
    shown = ", ".join(f"{m:.3f}" for m in measured)
    print(f"  the {what} shrinks {10 ** expected:g}x per tenfold smaller h: order {shown} "
          f"(expected {expected}){'' if good else '  <-- differs'}")
    return good


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
