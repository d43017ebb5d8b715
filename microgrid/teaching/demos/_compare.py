"""Side-by-side tables for the demos: autograd beside the hand formula, and the check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

TOLERANCE = 1e-9


class DemoParser(argparse.ArgumentParser):
    """A demo's arguments; a bad one is one line on stderr and exit status 2, as the command
    line's other errors are (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def number(x: float) -> str:
    """`x` to 12 significant digits, without float noise (110, not 110.00000000000001)."""
    return f"{x:.12g}"


def compare(headers: Sequence[str], rows: Sequence[tuple[str, float, float]],
            tol: float = TOLERANCE) -> bool:
    """Print one line per row: name, two numbers and their difference; True if every
    difference is at most `tol`. `headers` names the three columns."""
    width = max(len(headers[0]), *(len(r[0]) for r in rows))
    print(f"  {headers[0]:<{width}}  {headers[1]:>20}  {headers[2]:>20}  {'|diff|':>8}")
    ok = True
    for name, a, b in rows:
        diff = abs(a - b)
        good = diff <= tol
        ok &= good
        print(f"  {name:<{width}}  {number(a):>20}  {number(b):>20}  {diff:8.1e}"
              f"{'' if good else '  <-- differs'}")
    return ok


def against_the_book(got: dict[str, float], by_layers: dict[str, float],
                     book: dict[str, float]) -> int:
    """Print autograd's numbers (flagging any that is not the book's), then the book's layers
    beside autograd; return the exit status: 0 if all three agree."""
    ok = True
    for name, value in got.items():
        match = abs(value - book[name]) <= TOLERANCE * max(1.0, abs(book[name]))
        ok &= match
        print(f"{name + ':':<12} {value:.10g}{'' if match else f'   the book: {book[name]}'}")
    print("\nThe same, by hand with the book's layers (forward, then backward in reverse):")
    ok &= compare(["", "layers (by hand)", "Value.backward()"],
                  [(name, by_layers[name], got[name]) for name in book])
    return verdict(ok, "the layers, autograd and the book")


def verdict(ok: bool, what: str = "autograd and the formula", tol: float = TOLERANCE) -> int:
    """Print the outcome and return the exit status: 0 if `ok`."""
    if ok:
        print(f"OK: {what} agree to within {tol:g}.")
        return 0
    print(f"FAILED: {what} differ by more than {tol:g}.")
    return 1
