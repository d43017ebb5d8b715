"""Apples and oranges ("Deep Learning from Scratch" by Koki Saitoh, ch. 5): price 715, gradients."""

from __future__ import annotations

import argparse

from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import against_the_book
from microgrid.teaching.layers import AddLayer, MulLayer

APPLE, APPLE_NUM, ORANGE, ORANGE_NUM, TAX = 100, 2, 150, 3, 1.1
BOOK = {"price": 715, "dApple": 2.2, "dApple_num": 110, "dOrange": 3.3, "dOrange_num": 165,
        "dTax": 650}


def by_layers() -> dict[str, float]:
    """The book's code: forward through the layers, then backward in reverse order."""
    mul_apple_layer, mul_orange_layer = MulLayer(), MulLayer()
    add_apple_orange_layer, mul_tax_layer = AddLayer(), MulLayer()
    # forward
    apple_price = mul_apple_layer.forward(APPLE, APPLE_NUM)  # (1)
    orange_price = mul_orange_layer.forward(ORANGE, ORANGE_NUM)  # (2)
    all_price = add_apple_orange_layer.forward(apple_price, orange_price)  # (3)
    price = mul_tax_layer.forward(all_price, TAX)  # (4)
    # backward
    dprice = 1
    dall_price, dtax = mul_tax_layer.backward(dprice)  # (4)
    dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)  # (3)
    dorange, dorange_num = mul_orange_layer.backward(dorange_price)  # (2)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)  # (1)
    return {"price": price, "dApple": dapple, "dApple_num": dapple_num, "dOrange": dorange,
            "dOrange_num": dorange_num, "dTax": dtax}


def build() -> dict[str, Value]:
    """The book's graph: (apple * apple_num + orange * orange_num) * tax, after backward()."""
    apple, apple_num = Value(APPLE, "apple"), Value(APPLE_NUM, "apple_num")
    orange, orange_num = Value(ORANGE, "orange"), Value(ORANGE_NUM, "orange_num")
    tax = Value(TAX, "tax")
    apple_price = apple * apple_num
    apple_price.label = "apple_price"
    orange_price = orange * orange_num
    orange_price.label = "orange_price"
    all_price = apple_price + orange_price
    all_price.label = "all_price"
    price = all_price * tax
    price.label = "price"
    price.backward()
    return {v.label: v for v in (apple, apple_num, orange, orange_num, tax, price)}


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print the numbers; return the exit status and the graph to draw: the price, after
    backward()."""
    argparse.ArgumentParser(prog="microgrid demo apple_orange",
                            description=__doc__).parse_args(argv)
    v = build()
    got = {"price": v["price"].data, "dApple": v["apple"].grad,
           "dApple_num": v["apple_num"].grad, "dOrange": v["orange"].grad,
           "dOrange_num": v["orange_num"].grad, "dTax": v["tax"].grad}
    return against_the_book(got, by_layers(), BOOK), v["price"]


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
