"""The seeds in their own words: the labels of the book's values and the demos' sentences, in
English (the default) and in Chinese, as the source documents write them.

`label(name, lang)` is a value's label (``label("apple", "zh")`` is ``"苹果"``), `say(key, lang)`
one of the demos' sentences. The Chinese labels are the seed's (苹果, 橘子, 苹果的总价, 总价格)
and its book's figures' (苹果的个数, 消费税).
"""

from __future__ import annotations

import unicodedata

LANGS = ("en", "zh")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "apple": "苹果",
        "apple_num": "苹果的个数",
        "orange": "橘子",
        "orange_num": "橘子的个数",
        "tax": "消费税",
        "apple_price": "苹果的总价",
        "orange_price": "橘子的总价",
        "all_price": "税前总价",
        "price": "总价格",
    },
}

SENTENCES: dict[str, dict[str, str]] = {
    "en": {
        "by_layers": "The same, by hand with the book's layers (forward, then backward in "
                     "reverse):",
        "layers": "layers (by hand)",
        "agree": "OK: {what} agree to within {tol}.",
        "differ": "FAILED: {what} differ by more than {tol}.",
        "the_book": "the book",
        "what": "the layers, autograd and the book",
        "meaning": "",
        "apple_title": "",  # the demo's docstring
        "apple_orange_title": "",
    },
    "zh": {
        "by_layers": "同样的数，用书中的层手算（先正向传播，再按与正向相反的顺序反向传播）：",
        "layers": "层（手算）",
        "agree": "OK：{what}一致，误差不超过 {tol}。",
        "differ": "失败：{what}相差超过 {tol}。",
        "the_book": "书中",
        "what": "层、自动微分（Value.backward()）和书中的结果",
        "meaning": "每个导数的意义：输入每增加 1 个单位，总价格增加多少。"
                   "如 dApple = {dApple} 意味着苹果的价格每增加 1，总价格增加 {dApple}。",
        "apple_title": "购买苹果的计算图",
        "apple_orange_title": "购买苹果和橘子的计算图",
    },
}


def check_lang(lang: str, caller: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"{caller}: lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def label(name: str, lang: str = "en") -> str:
    """The label of the book's value `name` in `lang` (English: the book's code's name)."""
    return LABELS.get(check_lang(lang, "label"), {}).get(name, name)


def say(key: str, lang: str = "en", **values: object) -> str:
    """The demos' sentence `key` in `lang`, with `values` filled in."""
    return SENTENCES[check_lang(lang, "say")][key].format(**values)


def columns(text: str) -> int:
    """How many columns of a terminal `text` takes: two for a wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded with spaces to `width` terminal columns (on the left if `right`)."""
    space = " " * max(0, width - columns(text))
    return space + text if right else text + space
