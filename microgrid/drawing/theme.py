"""A drawing's colours for a light or a dark page, and the legend that says what they mean.

A drawing is built in the light theme's colours (`diagram.py`'s constants); ``theme="dark"``
swaps each for its dark counterpart in the finished DOT, and sets the page, the lines and the
text light on dark. Every colour of text, in both themes, has a contrast of at least 4.5 with
its page and the fills it is drawn on (WCAG's level AA for text), and every colour of lines at
least 3, which `contrast` measures and the tests check.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import graphviz

Theme = Literal["light", "dark"]
THEMES = ("light", "dark")

# the light theme's colours, which the drawing is built in
GRAD_COLOR = "#d62728"  # the gradient's colour: red, as in the book
CONSTANT_COLOR = "#555555"
LOCAL_COLOR = "#1f5fa8"  # local derivatives (local=True): blue
CHECK_COLOR = "#2a7f2a"  # a numerical gradient that agrees (check=True): green
WARN_COLOR = "#c2410c"  # one that disagrees: orange, and the leaf's box drawn in it
WARN_FILL = "#fff1e0"
BLOCK_COLOR = "#f1f4fb"  # a collapsed group's fill
FOCUS_COLOR = "#1f77b4"  # the border of a focused value
FORWARD_COLOR = "#7b3fa6"  # forward mode's tangents (forward=a): purple
NUDGE_COLOR = "#0f7b6c"  # a nudge's changes (nudge={a: h}): teal

LIGHT_PAGE, LIGHT_INK = "#ffffff", "#000000"
DARK_PAGE, DARK_INK = "#1e1e1e", "#e8e8e8"  # VS Code's and JupyterLab's dark backgrounds
DARK = {  # each light colour -> its colour on a dark page
    GRAD_COLOR: "#ff7b72",
    CONSTANT_COLOR: "#a8a8a8",
    LOCAL_COLOR: "#79b8ff",
    CHECK_COLOR: "#56d364",
    WARN_COLOR: "#ffa657",
    WARN_FILL: "#3d2a14",
    BLOCK_COLOR: "#263140",
    FOCUS_COLOR: "#58a6ff",
    FORWARD_COLOR: "#d2a8ff",
    NUDGE_COLOR: "#39c5bb",
}
# what each colour means, for the legend: (colour, its name, what it shows)
MEANINGS = [
    (GRAD_COLOR, "red", "the gradient that flows back along an edge, and a value's grad"),
    (LOCAL_COLOR, "blue", "the local derivative an edge multiplies the gradient by"),
    (CHECK_COLOR, "green", "the gradient by central differences, which agrees"),
    (WARN_COLOR, "orange", "a numerical gradient or local derivative that disagrees"),
    (FOCUS_COLOR, "blue border", "a value focused on (focus=)"),
]


def legend_lines(source: str) -> list[str]:
    """The legend of a drawing whose DOT is `source`: a line for each colour it uses, and
    for its dashed edges, as HTML-like label lines (left-aligned)."""
    lines = [f'<font color="{color}">{name}</font>: {meaning}'
             for color, name, meaning in MEANINGS if color in source]
    if 'style=dashed' in source:
        lines.append(f'<font color="{CONSTANT_COLOR}">- - dashed, grey</font>: a constant, '
                     "through which no gradient flows")
    if BLOCK_COLOR in source:
        lines.append(f'<font color="{CONSTANT_COLOR}">shaded box</font>: a group drawn as '
                     "one node (collapse=)")
    return lines


def with_legend(g: graphviz.Digraph, title: str | None) -> None:
    """Add the legend of `g` under its `title` (at the top; an HTML-like label's text,
    escaped), or, with no title, at the bottom."""
    lines = legend_lines(g.source)
    if not lines:
        return
    text = "".join(f"{line}<br align=\"left\"/>" for line in lines)
    if title:
        label = f'<{title}<br/><font point-size="11">{text}</font>>'
        g.attr(label=label, labelloc="t", labeljust="l")
    else:
        g.attr(label=f'<<font point-size="11">{text}</font>>', labelloc="b", labeljust="l",
               fontsize="11")


def with_theme(g: graphviz.Digraph, theme: Theme) -> graphviz.Digraph:
    """`g` drawn for `theme`: for ``"dark"``, its colours swapped for the dark ones, its page
    dark and its lines and text light."""
    if theme == "light":
        return g
    pattern = re.compile("|".join(map(re.escape, DARK)), re.IGNORECASE)
    g.body[:] = [pattern.sub(lambda m: DARK[m[0].lower()], line) for line in g.body]
    g.attr(bgcolor=DARK_PAGE, color=DARK_INK, fontcolor=DARK_INK)  # the last one counts
    # a node's or edge's defaults count for those after them: first, then
    g.body[:0] = [f'\t{kind} [color="{DARK_INK}" fontcolor="{DARK_INK}"]\n'
                  for kind in ("node", "edge")]
    return g


def page_and_ink(theme: Theme) -> tuple[str, str]:
    """The page's colour and the text's in `theme`."""
    return (DARK_PAGE, DARK_INK) if theme == "dark" else (LIGHT_PAGE, LIGHT_INK)


def palette(theme: Theme, text: bool = True) -> list[str]:
    """Every colour a drawing's text may have in `theme` (with `text` False: its lines'; the
    focus colour is also the legend's word for it, on the page)."""
    light = ([GRAD_COLOR, CONSTANT_COLOR, LOCAL_COLOR, CHECK_COLOR, WARN_COLOR,
              FORWARD_COLOR, NUDGE_COLOR] if text
             else [FOCUS_COLOR, CONSTANT_COLOR, WARN_COLOR]) + [page_and_ink(theme)[1]]
    return [DARK.get(c, c) for c in light] if theme == "dark" else light


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two colours ``#rrggbb``: 1 (the same) to 21 (black on white)."""
    def luminance(color: str) -> float:
        channels = [int(color[k:k + 2], 16) / 255 for k in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    lighter, darker = sorted((luminance(a), luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
