"""Apples ("Deep Learning from Scratch" by Koki Saitoh, ch. 5): price 220, with layers and Value."""

from __future__ import annotations

import argparse

from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import against_the_book
from microgrid.teaching.layers import MulLayer

APPLE, APPLE_NUM, TAX = 100, 2, 1.1
BOOK = {"price": 220, "dApple": 2.2, "dApple_num": 110, "dTax": 200}


def by_layers() -> dict[str, float]:
    """The book's code: forward through two MulLayers, then backward in reverse order."""
    mul_apple_layer = MulLayer()
    mul_tax_layer = MulLayer()
    # forward
    apple_price = mul_apple_layer.forward(APPLE, APPLE_NUM)
    price = mul_tax_layer.forward(apple_price, TAX)
    # backward
    dprice = 1
    dapple_price, dtax = mul_tax_layer.backward(dprice)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    return {"price": price, "dApple": dapple, "dApple_num": dapple_num, "dTax": dtax}


def build() -> dict[str, Value]:
    """The same graph with `Value`: apple * apple_num * tax, after backward()."""
    apple, apple_num, tax = Value(APPLE, "apple"), Value(APPLE_NUM, "apple_num"), Value(TAX, "tax")
    apple_price = apple * apple_num
    apple_price.label = "apple_price"
    price = apple_price * tax
    price.label = "price"
    price.backward()
    return {v.label: v for v in (apple, apple_num, tax, price)}


def by_value(v: dict[str, Value] | None = None) -> dict[str, float]:
    """The book's numbers from `build()` (or from `v`, a graph it built)."""
    v = v if v is not None else build()
    return {"price": v["price"].data, "dApple": v["apple"].grad,
            "dApple_num": v["apple_num"].grad, "dTax": v["tax"].grad}


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print the numbers; return the exit status and the graph to draw: the price, after
    backward()."""
    argparse.ArgumentParser(prog="microgrid demo apple", description=__doc__).parse_args(argv)
    v = build()
    got = by_value(v)
    return against_the_book(got, by_layers(), BOOK), v["price"]


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
