"""Side-by-side tables for the demos: autograd beside the hand formula, and the check."""

from __future__ import annotations

from collections.abc import Callable, Sequence

TOLERANCE = 1e-9


def number(x: float) -> str:
    """`x` to 12 significant digits, without float noise (110, not 110.00000000000001)."""
    return f"{x:.12g}"


def compare(headers: Sequence[str], rows: Sequence[tuple[str, float, float]],
            tol: float = TOLERANCE, *, show: Callable[[float], str] = number,
            relative: bool = False) -> bool:
    """Print one line per row: name, two numbers and their difference; True if every
    difference is at most `tol`. `headers` names the three columns. `show` writes a number
    (`repr` writes every digit); with `relative`, the difference is relative to the second
    number's size (|a - b| / |b|, or |a - b| where b is 0)."""
    width = max(len(headers[0]), *(len(r[0]) for r in rows))
    wide = max(20, *(len(show(x)) for r in rows for x in r[1:]))
    column = "|rel diff|" if relative else "|diff|"
    print(f"  {headers[0]:<{width}}  {headers[1]:>{wide}}  {headers[2]:>{wide}}  {column:>8}")
    ok = True
    for name, a, b in rows:
        diff = abs(a - b) / (abs(b) if relative and b else 1.0)
        good = diff <= tol
        ok &= good
        print(f"  {name:<{width}}  {show(a):>{wide}}  {show(b):>{wide}}  {diff:8.1e}"
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


def verdict(ok: bool, what: str = "autograd and the formula", tol: float | str = TOLERANCE
            ) -> int:
    """Print the outcome and return the exit status: 0 if `ok`. `tol` is the tolerance, or
    its words ("relative 1e-15")."""
    within = tol if isinstance(tol, str) else f"{tol:g}"
    if ok:
        print(f"OK: {what} agree to within {within}.")
        return 0
    print(f"FAILED: {what} differ by more than {within}.")
    return 1
