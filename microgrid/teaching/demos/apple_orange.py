"""Apples and oranges ("Deep Learning from Scratch" by Koki Saitoh, ch. 5): price 715, gradients."""

from __future__ import annotations

from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import against_the_book, language
from microgrid.teaching.labels import label, say
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


def build(lang: str = "en") -> dict[str, Value]:
    """The book's graph: (apple * apple_num + orange * orange_num) * tax, after backward(),
    its values labelled in `lang` (``"zh"``: the seed's 苹果, 橘子, 消费税, ...), by name."""
    def named(v: Value, name: str) -> Value:
        v.label = label(name, lang)
        return v

    apple, apple_num = named(Value(APPLE), "apple"), named(Value(APPLE_NUM), "apple_num")
    orange, orange_num = named(Value(ORANGE), "orange"), named(Value(ORANGE_NUM), "orange_num")
    tax = named(Value(TAX), "tax")
    apple_price = named(apple * apple_num, "apple_price")
    orange_price = named(orange * orange_num, "orange_price")
    all_price = named(apple_price + orange_price, "all_price")
    price = named(all_price * tax, "price")
    price.backward()
    return {"apple": apple, "apple_num": apple_num, "orange": orange, "orange_num": orange_num,
            "tax": tax, "price": price}


def title(argv: list[str] | None = None) -> str | None:
    """The drawing's title in the demo's language, or None for its docstring's (English)."""
    return say("apple_orange_title", _lang(argv)) or None


def _lang(argv: list[str] | None) -> str:
    return language(argv, "microgrid demo apple_orange", __doc__)


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print the numbers; return the exit status and the graph to draw: the price, after
    backward()."""
    lang = _lang(argv)
    v = build(lang)
    got = {"price": v["price"].data, "dApple": v["apple"].grad,
           "dApple_num": v["apple_num"].grad, "dOrange": v["orange"].grad,
           "dOrange_num": v["orange_num"].grad, "dTax": v["tax"].grad}
    return against_the_book(got, by_layers(), BOOK, lang), v["price"]


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
