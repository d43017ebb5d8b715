"""Side-by-side tables for the demos: autograd beside the hand formula, and the check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from microgrid.teaching.labels import LANGS, pad, say

TOLERANCE = 1e-9


class DemoParser(argparse.ArgumentParser):
    """A demo's arguments; a bad one is one line on stderr and exit status 2, as the command
    line's other errors are (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def language(argv: list[str] | None, prog: str, description: str | None) -> str:
    """A demo's one argument, ``--lang``: en, or zh for the seed's labels and explanation."""
    parser = DemoParser(prog=prog, description=description)
    parser.add_argument("--lang", choices=LANGS, default="en",
                        help="the labels and the explanation: en (default) or zh, the seed's")
    return parser.parse_args(argv).lang


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
    print(f"  {headers[0]:<{width}}  {pad(headers[1], wide, right=True)}  "
          f"{pad(headers[2], wide, right=True)}  {column:>8}")
    ok = True
    for name, a, b in rows:
        diff = abs(a - b) / (abs(b) if relative and b else 1.0)
        good = diff <= tol
        ok &= good
        print(f"  {name:<{width}}  {show(a):>{wide}}  {show(b):>{wide}}  {diff:8.1e}"
              f"{'' if good else '  <-- differs'}")
    return ok


def against_the_book(got: dict[str, float], by_layers: dict[str, float],
                     book: dict[str, float], lang: str = "en") -> int:
    """Print autograd's numbers (flagging any that is not the book's), then the book's layers
    beside autograd, in `lang` (see `microgrid.teaching.labels`); return the exit status: 0 if
    all three agree."""
    ok = True
    for name, value in got.items():
        match = abs(value - book[name]) <= TOLERANCE * max(1.0, abs(book[name]))
        ok &= match
        flag = "" if match else f"   {say('the_book', lang)}: {book[name]}"
        print(f"{name + ':':<12} {value:.10g}{flag}")
    print("\n" + say("by_layers", lang))
    ok &= compare(["", say("layers", lang), "Value.backward()"],
                  [(name, by_layers[name], got[name]) for name in book])
    meaning = say("meaning", lang, dApple=number(got["dApple"]))
    if meaning:  # what a gradient means, as the seed says it
        print(meaning)
    return verdict(ok, say("what", lang), lang=lang)


def verdict(ok: bool, what: str = "autograd and the formula", tol: float | str = TOLERANCE,
            lang: str = "en") -> int:
    """Print the outcome, in `lang`, and return the exit status: 0 if `ok`. `tol` is the
    tolerance, or its words ("relative 1e-15")."""
    within = tol if isinstance(tol, str) else f"{tol:g}"
    print(say("agree" if ok else "differ", lang, what=what, tol=within))
    return 0 if ok else 1
