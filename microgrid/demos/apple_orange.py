"""Apples and oranges ("Deep Learning from Scratch", ch. 5): price 715 and its gradients."""

from __future__ import annotations

from microgrid.engine import Value


def build() -> dict[str, Value]:
    """The book's graph: (apple * apple_num + orange * orange_num) * tax, after backward()."""
    apple, apple_num = Value(100, "apple"), Value(2, "apple_num")
    orange, orange_num = Value(150, "orange"), Value(3, "orange_num")
    tax = Value(1.1, "tax")
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


def graph() -> Value:
    """The graph to draw (`microgrid demo apple_orange -o graph.svg`): the price, after
    backward()."""
    return build()["price"]


EXPECTED = {"price": 715, "dApple": 2.2, "dApple_num": 110, "dOrange": 3.3,
            "dOrange_num": 165, "dTax": 650}


def main(argv: list[str] | None = None) -> int:
    v = build()
    got = {"price": v["price"].data, "dApple": v["apple"].grad,
           "dApple_num": v["apple_num"].grad, "dOrange": v["orange"].grad,
           "dOrange_num": v["orange_num"].grad, "dTax": v["tax"].grad}
    ok = True
    for name, value in got.items():
        match = abs(value - EXPECTED[name]) <= 1e-9 * max(1.0, abs(EXPECTED[name]))
        ok &= match
        print(f"{name + ':':<12} {value:.10g}{'' if match else f'   expected {EXPECTED[name]}'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
