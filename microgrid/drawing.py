"""Draw a computation graph with the forward value and the gradient on every edge.

`draw(root)` builds the graph's DOT with the `graphviz` package and returns a `Diagram`, which
renders itself (see `microgrid.render`) to SVG, PNG or PDF, saves itself by file suffix and
shows itself in Jupyter. No system Graphviz is needed for SVG and PNG.

Two styles:

- ``"values"``: each `Value` is a box (label, data, grad) and each operation a small circle.
- ``"book"``: as in "Deep Learning from Scratch", ch. 5: operations are the nodes, values
  live on the edges, and inputs enter as labelled edges (``apple 100``).

In both, every edge carries the forward value and, below it in red, the gradient that flows
back along it: for a value used twice, its two edges show the two partial gradients, which sum
to its `grad`.
"""

from __future__ import annotations

import base64
import functools
import html
import math
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from microgrid.engine import Value, topological_order
from microgrid.functions import SYMBOLS  # each operation's symbol, from its rule
from microgrid.render import (
    DPI,
    FONT,
    MAX_PIXELS,
    RENDERERS,
    TIME_BUDGET,
    LayoutTimeout,
    Renderer,
    RenderError,
    png_dpi,
    render,
    svg_size,
    write_atomically,
)

if TYPE_CHECKING:
    import graphviz

__all__ = ["Diagram", "RenderError", "Renderer", "Style", "build_digraph", "draw",
           "format_number", "render"]

Style = Literal["values", "book"]

GRAD_COLOR = "#d62728"  # the gradient's colour: red, as in the book
CONSTANT_COLOR = "#555555"
FAST_LAYOUT_NODES = 500  # past this many values, Graphviz lays the graph out more roughly
# Graphviz's settings for the rough layout: few passes of crossing reduction and of network
# simplex (nslimit is what tames long edges, such as a leaf used at every step of a chain).
FAST_LAYOUT = {"mclimit": "0.01", "remincross": "false", "nslimit": "1", "nslimit1": "1"}


def format_number(x: float, digits: int = 4) -> str:
    """`x` as a person writes it, to `digits` significant digits: 715, 3.3, 0.0001235, 1e+20.

    Float noise is hidden (715.0000000000001 is 715, 3.3000000000000003 is 3.3) and -0 is 0.
    """
    if not math.isfinite(x):
        return repr(float(x))
    rounded = float(f"{x:.{digits}g}")
    if rounded == 0:
        return "0"
    if rounded.is_integer() and abs(rounded) < 1e15:
        return str(int(rounded))
    return repr(rounded)  # the shortest repr of the rounded number


# --- building the DOT ----------------------------------------------------------------------
def draw(root: Value, *, style: Style = "values", rankdir: str = "LR",
         show_grads: bool | None = None, title: str | None = None, digits: int = 4,
         max_nodes: int = 2500, renderer: Renderer = "auto",
         time_budget: float = TIME_BUDGET) -> Diagram:
    """The computation graph of `root`, with forward values and gradients on every edge.

    - `style`: ``"values"`` (a box per value, a circle per operation) or ``"book"``
      (operations as nodes, values on the edges, as in "Deep Learning from Scratch").
    - `rankdir`: ``"LR"`` (left to right) or ``"TB"`` (top to bottom).
    - `show_grads`: whether to show gradients; by default, when a value of the graph has a
      non-zero ``grad``, that is after ``backward()`` (of `root` or of an expression using it).
    - `title`: a caption above the graph. A `Value`'s `label` names its node or edge.
    - `digits`: significant digits of the numbers shown.
    - `max_nodes`: a larger graph is refused (drawing it would take long and show little).
    - `renderer`: ``"auto"`` (graphviz-pure, installed with microgrid), ``"bundled"`` (the
      same, and an error if it is missing) or ``"dot"`` (the system's Graphviz).
    - `time_budget`: seconds a render may take (see `Diagram`).
    """
    _check_options(root, style, rankdir, digits, max_nodes, renderer, time_budget)
    order = topological_order(root)
    _check_size(order, max_nodes)
    if show_grads is None:  # not the root's alone: a dead ReLU's input has grad 0 after backward
        show_grads = any(v.grad != 0 for v in order)
    grad_of: Callable[[Value], float | None] = (lambda v: v.grad) if show_grads else _no_grad
    build = functools.partial(build_digraph, root, order, style=style, rankdir=rankdir,
                              grad_of=grad_of, title=title, digits=digits)
    return diagram(build, len(order), renderer, time_budget)


def diagram(build: Callable[..., graphviz.Digraph], size: int, renderer: Renderer,
            time_budget: float) -> Diagram:
    """The `Diagram` of ``build(fast=...)``, a graph of `size` values: the full layout with
    the fast one to fall back on, or, past `FAST_LAYOUT_NODES`, the fast one from the start."""
    if size > FAST_LAYOUT_NODES:
        return Diagram(build(fast=True), renderer, time_budget=time_budget, layout="fast")
    return Diagram(build(fast=False), renderer, time_budget=time_budget,
                   fast=functools.partial(build, fast=True))


def _no_grad(v: Value) -> float | None:
    return None


def _check_options(root: object, style: str, rankdir: str, digits: object, max_nodes: object,
                   renderer: str, time_budget: object, *, caller: str = "draw",
                   size_option: str = "max_nodes") -> None:
    """Check the options shared by `caller` (``draw``, ``backward_steps``), whose size limit,
    `max_nodes`, is its argument `size_option`."""
    if not isinstance(root, Value):
        raise TypeError(f"{caller}: expected a Value, got {type(root).__name__} {root!r}")
    if style not in ("values", "book"):
        raise ValueError(f"{caller}: style must be 'values' or 'book', got {style!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"{caller}: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"{caller}: digits must be an int from 1 to 17, got {digits!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"{caller}: {size_option} must be a positive int, got {max_nodes!r}")
    if renderer not in RENDERERS:
        raise ValueError(f"{caller}: renderer must be 'auto', 'bundled' or 'dot', "
                         f"got {renderer!r}")
    if (isinstance(time_budget, bool) or not isinstance(time_budget, int | float)
            or not 0 < time_budget < math.inf):
        raise ValueError(f"{caller}: time_budget must be a positive number of seconds, "
                         f"got {time_budget!r}")


def _check_size(order: list[Value], max_nodes: int) -> None:
    if len(order) > max_nodes:
        raise ValueError(
            f"draw: the graph has {len(order)} values, more than max_nodes={max_nodes}; "
            "draw a part of it instead (an intermediate Value, e.g. one neuron's output, "
            "draws the sub-expression that computes it), or pass a larger max_nodes")


def build_digraph(root: Value, order: list[Value], *, style: Style, rankdir: str,
                  grad_of: Callable[[Value], float | None], title: str | None, digits: int,
                  names: dict[Value, str] | None = None, fast: bool = False
                  ) -> graphviz.Digraph:
    """The DOT of the graph `order` (``topological_order(root)``).

    `grad_of(v)` is the gradient to show for `v`, or None to show none. `names` names
    unlabelled values. Node ids follow `order`: value ``v{i}``, its operation ``op{i}``, the
    edge of its operand k ``e{i}_{k}``, of a constant operand ``c{i}_{k}``, the edge from the
    operation to its result (or, in the book style, to the output) ``out{i}``. Labels are
    HTML-like, so that the gradient's line can be red; with `fast`, Graphviz's faster settings
    are used and edge labels are placed after the layout (``xlabel``), not ranked with it.
    """
    import graphviz

    ids = {v: i for i, v in enumerate(order)}
    g = graphviz.Digraph("microgrid", format="svg")
    g.attr(rankdir=rankdir, ordering="in", fontname=FONT, bgcolor="white")
    g.attr("node", fontname=FONT, fontsize="12")
    g.attr("edge", fontname=FONT, fontsize="11", arrowsize="0.7")
    edge_label = "xlabel" if fast else "label"
    if fast:
        g.attr(**FAST_LAYOUT)
    if title:
        g.attr(label=_html([_text(title)]), labelloc="t", fontsize="16")

    def num(x: float) -> str:
        return format_number(x, digits)

    def name(v: Value) -> str:
        return v.label or (names or {}).get(v, "")

    def labelled(lines: list[str], grad: float | None, prefix: str = "",
                 key: str = "label") -> dict[str, str]:
        """A label of `lines` with, last, the gradient in red (its element has class 'grad')."""
        if grad is None:
            return {key: _html(lines)}
        return {key: _html([*lines, f'<font color="{GRAD_COLOR}">{prefix}{num(grad)}</font>']),
                "class": "grad"}

    def edge_grad(child: Value, local: float) -> float | None:
        child_grad = grad_of(child)
        return None if child_grad is None else child_grad * local

    for i, v in enumerate(order):
        symbol = SYMBOLS.get(v.op, v.op)
        if style == "values":
            lines = [_text(name(v))] if name(v) else []
            lines.append(f"data {num(v.data)}")
            g.node(f"v{i}", id=f"v{i}", shape="box", style="rounded",
                   **labelled(lines, grad_of(v), "grad "))
            if v.op:
                g.node(f"op{i}", _html([_text(symbol)]), id=f"op{i}", **_op_attrs(0.4))
                g.edge(f"op{i}", f"v{i}", id=f"out{i}",
                       **labelled([num(v.data)], grad_of(v), key=edge_label))
        elif v.op:
            g.node(f"op{i}", _html([_text(symbol)]), id=f"op{i}", **_op_attrs(0.5))
        else:
            g.node(f"v{i}", "", id=f"v{i}", shape="point", width="0.06")
        if v is root and style == "book":
            g.node("out", "", id="out", shape="point", width="0.06")
            tail = f"op{i}" if v.op else f"v{i}"
            g.edge(tail, "out", id=f"out{i}",
                   **labelled([_named(name(v), num(v.data))], grad_of(v), key=edge_label))
        # one edge per operand use, constants included
        parents = iter(zip(v.parents, v.local_grads, strict=True))
        for k, operand in enumerate(v.operands):
            edge_id = f"e{i}_{k}"
            if not isinstance(operand, Value):
                constant = num(float(operand))
                g.node(f"c{i}_{k}", _html([constant]) if style == "values" else "",
                       id=f"c{i}_{k}", shape="plaintext" if style == "values" else "point",
                       width="0.06", fontcolor=CONSTANT_COLOR)
                g.edge(f"c{i}_{k}", f"op{i}", id=edge_id, style="dashed",
                       fontcolor=CONSTANT_COLOR, **{edge_label: _html([constant])})
                continue
            parent, local = next(parents)
            j = ids[parent]
            if style == "values":
                tail, text = f"v{j}", num(parent.data)
            else:
                tail = f"op{j}" if parent.op else f"v{j}"
                text = _named(name(parent), num(parent.data))
            g.edge(tail, f"op{i}", id=edge_id,
                   **labelled([text], edge_grad(v, local), key=edge_label))
    return g


def _op_attrs(min_width: float) -> dict[str, str]:
    """An operation's circle: at least `min_width` inches across, wider if its symbol
    ('tanh', 'Σwx') needs it (a small margin keeps the circle close around the text)."""
    return {"shape": "circle", "width": str(min_width), "margin": "0.02", "fontsize": "14"}


def _html(lines: list[str]) -> str:
    """An HTML-like DOT label of `lines` (already escaped), one under the other."""
    return "<" + "<br/>".join(lines) + ">"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _text(s: str) -> str:
    """User text (a label, a title) for an HTML-like label: markup characters escaped, a
    newline a line break, and other control characters, which DOT, XML and browsers refuse,
    shown as escapes (a bell is ``\\x07``)."""
    lines = re.split(r"\r\n|\r|\n", s.replace("\t", " "))
    return "<br/>".join(_UNSAFE.sub(_escape, html.escape(line)) for line in lines)


def _escape(m: re.Match[str]) -> str:
    code = ord(m[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _named(name: str, number: str) -> str:
    return f"{_text(name)} {number}" if name else number


# --- rendering -----------------------------------------------------------------------------
class Diagram:
    """A drawn graph: `.digraph` (a `graphviz.Digraph`), `.source` (its DOT), `.svg()`,
    `.png()`, `.pdf()`, `.save(path)`; it shows itself inline in Jupyter and IPython.

    Graphviz lays it out once: the SVG is kept for `.save()` and the next display. A render has
    `time_budget` seconds; if the full layout takes more than a quarter of it, the rest goes to
    a faster, rougher layout (`fast`, which builds it; `.layout` then says ``"fast"`` and
    `.digraph` is that layout's DOT), and if that runs out too, a `RenderError` says what to
    draw instead.
    """

    def __init__(self, digraph: graphviz.Digraph, renderer: Renderer = "auto", *,
                 time_budget: float = TIME_BUDGET,
                 fast: Callable[[], graphviz.Digraph] | None = None,
                 layout: Literal["full", "fast"] = "full") -> None:
        self.digraph = digraph
        self.renderer = renderer
        self.time_budget = time_budget
        self.layout = layout
        self._fast = fast
        self._svg: tuple[tuple[str, str], bytes] | None = None  # (source, renderer), SVG

    @property
    def source(self) -> str:
        """The DOT source: the same graph gives the same bytes every time."""
        return str(self.digraph.source)

    def _svg_bytes(self) -> bytes:
        """The SVG, rendered once: Graphviz runs again only if `.digraph` or `.renderer`
        was changed since (the cache is keyed on the DOT source)."""
        key = (self.source, self.renderer)
        if self._svg is None or self._svg[0] != key:
            self._svg = (key, self._render_svg())
        return self._svg[1]

    def _render_svg(self) -> bytes:
        start = time.monotonic()
        first = self.time_budget / 4 if self._fast and self.layout == "full" else None
        try:
            return render(self.source, "svg", self.renderer,
                          time_budget=first or self.time_budget)
        except LayoutTimeout:
            if not first or self._fast is None:
                raise RenderError(self._too_slow()) from None
        self.digraph, self.layout = self._fast(), "fast"
        try:
            return render(self.source, "svg", self.renderer,
                          time_budget=self.time_budget - (time.monotonic() - start))
        except LayoutTimeout:
            raise RenderError(self._too_slow()) from None

    def _too_slow(self) -> str:
        return (f"draw: Graphviz could not lay this graph out within time_budget="
                f"{self.time_budget:g} s, even with its faster settings; draw a part of it (an "
                "intermediate Value, e.g. one neuron's output, draws the sub-expression that "
                "computes it), or pass a larger time_budget")

    def svg(self) -> str:
        return self._svg_bytes().decode("utf-8")

    def png(self, max_pixels: int = MAX_PIXELS) -> bytes:
        """The PNG, at 96 pixels per inch, or less if that would pass `max_pixels` (a warning
        then says so)."""
        width, height = svg_size(self.svg())  # lays the graph out (and falls back) once
        dpi = png_dpi(width, height, max_pixels)
        if dpi < DPI:
            warnings.warn(f"draw: the PNG would be {width * height * (DPI / 72) ** 2 / 1e6:.0f} "
                          f"megapixels; drawn at {dpi:.0f} dpi to stay within max_pixels="
                          f"{max_pixels} (draw a part of the graph for more detail)",
                          stacklevel=2)
        return render(self.source, "png", self.renderer, time_budget=self.time_budget, dpi=dpi)

    def pdf(self) -> bytes:
        return render(self.source, "pdf", self.renderer, time_budget=self.time_budget)

    def save(self, path: str | Path) -> Path:
        """Write the diagram to `path`, in the format its suffix names: .svg .png .pdf .dot .gv
        (through a temporary file: a failure leaves an existing file as it was)."""
        path = Path(path)
        write_atomically(path, self.encode(path))
        return path

    def encode(self, path: str | Path) -> bytes:
        """The bytes of the file `path` would be: the format its suffix names (see `save`)."""
        suffix = Path(path).suffix.lower()
        if suffix in (".dot", ".gv"):
            return self.source.encode("utf-8")
        if suffix == ".svg":
            return self._svg_bytes()
        if suffix == ".png":
            return self.png()
        if suffix == ".pdf":
            return self.pdf()
        raise ValueError(f"save: cannot tell the format from {str(path)!r}; "
                         "use a file name ending in .svg, .png, .pdf, .dot or .gv")

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        """For Jupyter: the picture scaled down to the cell's width when it is wider, and,
        under it, a "full size" toggle that shows it at its own size, scrollable."""
        svg = self.svg()
        width, _ = svg_size(svg)
        src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()
        return (f'<div class="microgrid-diagram"><img src="{src}" alt="computation graph" '
                f'style="max-width:100%;height:auto">'
                f'<details><summary>full size ({width * DPI / 72:.0f} px wide)</summary>'
                f'<div style="overflow:auto;max-height:80vh"><img src="{src}" alt="computation '
                f'graph, full size" style="max-width:none"></div></details></div>')

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "image/svg+xml": self.svg()}

    def __repr__(self) -> str:
        return f"<Diagram: {self.source.count(' -> ')} edges; .svg(), .save('graph.svg')>"
