"""Apples and oranges, compiled: microgrid.compile's generated code beside the book's layers."""

from __future__ import annotations

import argparse
import inspect

from microgrid.compile import compile as compile_step
from microgrid.core.engine import Value
from microgrid.teaching.demos import apple_orange
from microgrid.teaching.demos._compare import against_the_book


def graph() -> tuple[dict[str, Value], Value]:
    """The leaves of the book's graph and its price: (apple * apple_num + orange * orange_num)
    * tax, every value labelled as in the book's code."""
    A = apple_orange
    v = {"apple": Value(A.APPLE, "apple"), "apple_num": Value(A.APPLE_NUM, "apple_num"),
         "orange": Value(A.ORANGE, "orange"), "orange_num": Value(A.ORANGE_NUM, "orange_num"),
         "tax": Value(A.TAX, "tax")}

    return v, graph_of(v)


def generated_body(source: str) -> list[str]:
    """The lines of the generated code between its loads and its stores."""
    lines = [line.strip() for line in source.splitlines()]
    skip = ("def ", "S[", "S.extend", "if ", "return")
    return [line for line in lines if line and not line.startswith(skip) and "= S[" not in line]


def book_body() -> list[str]:
    lines = inspect.getsource(apple_orange.by_layers).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# forward")
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("return"))
    return [line.strip().split("  #")[0] for line in lines[start:end]]


def targets(line: str) -> set[str]:
    """The names a line of code assigns, with no underscores (the book's ``dall_price`` is the
    generated code's ``d_all_price``); a comment is its own target."""
    if line.startswith("#"):
        return {line}
    left = line.split("+=")[0] if "+=" in line else line.split("=")[0]
    return {name.strip().replace("_", "") for name in left.split(",")}


def paired(book: list[str], generated: list[str]) -> list[tuple[str, str]]:
    """Each line of the book's code beside the generated lines that compute what it assigns
    (a layer's backward gives two gradients, the generated code one a line; the + layer's
    backward, which passes its gradient on as it is, has no generated line of its own)."""
    rows: list[tuple[str, str]] = []
    used: set[int] = set()
    for line in book:
        mine = [k for k, g in enumerate(generated) if k not in used and targets(g) & targets(line)]
        used.update(mine)
        if not mine:
            passed = line[line.rfind("(") + 1:line.rfind(")")]
            rows.append((line, f"(no line: the gradient {passed} is used as it is)"))
        rows += [(line if n == 0 else "", generated[k]) for n, k in enumerate(mine)]
    rows += [("", g) for k, g in enumerate(generated) if k not in used]
    return rows


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print both codes side by side and the compiled step's numbers; return the exit status
    and the graph, after backward()."""
    argparse.ArgumentParser(prog="microgrid demo compiled", description=__doc__).parse_args(argv)
    leaves, _ = graph()
    step = compile_step(lambda: graph_of(leaves))
    price = step()
    rows = paired(book_body(), generated_body(step.source))
    width = max(len(left) for left, _ in rows) + 4
    print(f"{'the book (layers, by hand)':<{width}}microgrid.compile (generated)")
    for left, right in rows:
        print(f"{left:<{width}}{right}".rstrip())
    print()
    got = {"price": price, "dApple": leaves["apple"].grad,
           "dApple_num": leaves["apple_num"].grad, "dOrange": leaves["orange"].grad,
           "dOrange_num": leaves["orange_num"].grad, "dTax": leaves["tax"].grad}
    status = against_the_book(got, apple_orange.by_layers(), apple_orange.BOOK)
    _, root = graph()
    root.backward()
    return status, root


def graph_of(leaves: dict[str, Value]) -> Value:
    """The price computed from `leaves` (what the step traces)."""
    apple_price = leaves["apple"] * leaves["apple_num"]
    apple_price.label = "apple_price"
    orange_price = leaves["orange"] * leaves["orange_num"]
    orange_price.label = "orange_price"
    all_price = apple_price + orange_price
    all_price.label = "all_price"
    price = all_price * leaves["tax"]
    price.label = "price"
    return price


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
