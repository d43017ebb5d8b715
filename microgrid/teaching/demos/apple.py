"""Apples ("Deep Learning from Scratch" by Koki Saitoh, ch. 5): price 220, with layers and Value."""

from __future__ import annotations

from microgrid.core.engine import Value
from microgrid.teaching.demos._compare import against_the_book, language
from microgrid.teaching.labels import label, say
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


def build(lang: str = "en") -> dict[str, Value]:
    """The same graph with `Value`: apple * apple_num * tax, after backward(), its values
    labelled in `lang` (``"zh"``: the seed's 苹果, 消费税, ...), by name."""
    apple, apple_num, tax = Value(APPLE), Value(APPLE_NUM), Value(TAX)
    apple_price = apple * apple_num
    price = apple_price * tax
    v = {"apple": apple, "apple_num": apple_num, "tax": tax, "apple_price": apple_price,
         "price": price}
    for name, value in v.items():
        value.label = label(name, lang)
    price.backward()
    del v["apple_price"]
    return v


def by_value(v: dict[str, Value] | None = None) -> dict[str, float]:
    """The book's numbers from `build()` (or from `v`, a graph it built)."""
    v = v if v is not None else build()
    return {"price": v["price"].data, "dApple": v["apple"].grad,
            "dApple_num": v["apple_num"].grad, "dTax": v["tax"].grad}


def title(argv: list[str] | None = None) -> str | None:
    """The drawing's title in the demo's language, or None for its docstring's (English)."""
    return say("apple_title", _lang(argv)) or None


def _lang(argv: list[str] | None) -> str:
    return language(argv, "microgrid demo apple", __doc__)


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Print the numbers; return the exit status and the graph to draw: the price, after
    backward()."""
    lang = _lang(argv)
    v = build(lang)
    got = by_value(v)
    return against_the_book(got, by_layers(), BOOK, lang), v["price"]


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
