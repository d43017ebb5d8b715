"""Draw a computation graph with the forward value and the gradient on every edge.

`draw(root)` builds the graph's DOT with the `graphviz` package and returns a `Diagram`, which
renders itself (see `microgrid.drawing.render`) to SVG, PNG or PDF, saves itself by file suffix and
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
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from microgrid.core.check import Check, check_leaves
from microgrid.core.engine import Value, check_fields, operand_uses, topological_order
from microgrid.core.formulas import format_number, formula_value, local_formula, with_number
from microgrid.core.functions import SYMBOLS  # each operation's symbol, from its rule
from microgrid.drawing.collapse import View, view
from microgrid.drawing.render import (
    DPI,
    FONT,
    MAX_PIXELS,
    RENDERERS,
    TIME_BUDGET,
    LayoutTimeout,
    Renderer,
    RenderError,
    missing_glyphs,
    png_dpi,
    png_size,
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
MANY_USES = 20  # and past this many uses of one value
# A PNG of a graph of at most this many DOT statements (nodes and edges) is drawn in one render
# when it fits a square of QUICK_PNG_SIDE pixels: no SVG first to learn its size (see png())
QUICK_PNG_STATEMENTS = 300
QUICK_PNG_SIDE = 2000
# Graphviz's settings for the rough layout: few passes of crossing reduction and of network
# simplex (nslimit is what tames long edges, such as a leaf used at every step of a chain).
FAST_LAYOUT = {"mclimit": "0.01", "remincross": "false", "nslimit": "1", "nslimit1": "1"}

LOCAL_COLOR = "#1f5fa8"  # local derivatives (local=True): blue
CHECK_COLOR = "#2a7f2a"  # a numerical gradient that agrees (check=True): green
WARN_COLOR = "#e6550d"  # one that disagrees: orange, and the leaf's box drawn in it
WARN_FILL = "#fff1e0"


# --- building the DOT ----------------------------------------------------------------------
def draw(root: Value, *, style: Style = "values", rankdir: str = "LR",
         show_grads: bool | None = None, title: str | None = None, digits: int = 4,
         max_nodes: int = 2500, renderer: Renderer = "auto",
         time_budget: float = TIME_BUDGET, local: bool = False, check: bool = False,
         collapse: int = 0, focus: Value | Sequence[Value] | None = None,
         clusters: bool = False) -> Diagram:
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
    - `local`: every edge also shows the local derivative it multiplies the gradient by, as
      the operation's rule and a number (``∂/∂a = b = -3``), in blue.
    - `check`: every input also shows its gradient by central differences and the relative
      error; a mismatch with ``grad`` is drawn in orange (needs gradients: ``backward()``).
    - `collapse`: draw each group (``with microgrid.group(...)``; `microgrid.nn`'s layers and
      neurons) `collapse` levels down as one node: 1 a node per top-level group (an MLP's
      layers), 2 one level down (its neurons). 0 draws every value.
    - `focus`: a `Value` (or several): draw only the paths from it to `root`, every other
      operand as a stub that shows its value.
    - `clusters`: draw every value, each group boxed and named.
    Collapsed and focused drawings take either style, but not `local` or `check`.
    """
    _check_options(root, style, rankdir, digits, max_nodes, renderer, time_budget)
    order = topological_order(root)
    check_fields(order, "draw")  # a label, data or grad set by hand to something else
    if show_grads is None:  # not the root's alone: a dead ReLU's input has grad 0 after backward
        show_grads = any(v.grad != 0 for v in order)
    grad_of: Callable[[Value], float | None] = (lambda v: v.grad) if show_grads else _no_grad
    if check and not show_grads:
        raise ValueError("draw: check=True compares each input's grad with its numerical "
                         "gradient, but no gradients are shown; call backward() first")
    if collapse or focus is not None:
        if local or check:
            raise ValueError("draw: collapse and focus draw without local or check (a block "
                             f"has no single local derivative); got local={local}, "
                             f"check={check}")
        shown = view(root, collapse, focus, order)
        _check_size(shown.nodes, max_nodes)
        build_view = functools.partial(build_view_digraph, shown, style=style, rankdir=rankdir,
                                       grad_of=grad_of, title=title, digits=digits)
        return diagram(build_view, len(shown.nodes), renderer, time_budget)
    _check_size(order, max_nodes)
    checks = check_leaves(root, lambda v: v.grad) if check else None
    build = functools.partial(build_digraph, root, order, style=style, rankdir=rankdir,
                              grad_of=grad_of, title=title, digits=digits, show_local=local,
                              checks=checks, text_inputs=True)
    if clusters:
        return diagram(functools.partial(_with_clusters, build, order), len(order), renderer,
                       time_budget, fan_out(order))
    return diagram(build, len(order), renderer, time_budget, fan_out(order))


def fan_out(order: list[Value]) -> int:
    """The most uses of one value in the graph `order` (0 for a leaf alone)."""
    uses = Counter(p for v in order for p in v.parents)
    return max(uses.values(), default=0)


def diagram(build: Callable[..., graphviz.Digraph], size: int, renderer: Renderer,
            time_budget: float, fan_out: int = 0) -> Diagram:
    """The `Diagram` of ``build(fast=...)``, a graph of `size` values in which one value is
    used at most `fan_out` times: the full layout with the fast one to fall back on, or the
    fast one from the start past `FAST_LAYOUT_NODES` values or `MANY_USES` uses of one value
    (a leaf used at every step of a chain: its long edges take Graphviz's full layout minutes)."""
    if size > FAST_LAYOUT_NODES or fan_out > MANY_USES:
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


def _check_size(order: Sequence[object], max_nodes: int) -> None:
    if len(order) > max_nodes:
        raise ValueError(
            f"draw: the graph has {len(order)} values, more than max_nodes={max_nodes}; "
            "draw a part of it instead (an intermediate Value, e.g. one neuron's output, "
            "draws the sub-expression that computes it), or pass a larger max_nodes")


def build_digraph(root: Value, order: list[Value], *, style: Style, rankdir: str,
                  grad_of: Callable[[Value], float | None], title: str | None, digits: int,
                  names: dict[Value, str] | None = None, fast: bool = False,
                  show_local: bool = False, checks: dict[Value, Check] | None = None,
                  text_inputs: bool = False) -> graphviz.Digraph:
    """The DOT of the graph `order` (``topological_order(root)``).

    `grad_of(v)` is the gradient to show for `v`, or None to show none. `names` names
    unlabelled values. Node ids follow `order`: value ``v{i}``, its operation ``op{i}``, the
    edge of its operand k ``e{i}_{k}``, of a constant operand ``c{i}_{k}``, the edge from the
    operation to its result (or, in the book style, to the output) ``out{i}``. Labels are
    HTML-like, so that the gradient's line can be red; with `fast`, Graphviz's faster settings
    are used and edge labels are placed after the layout (``xlabel``), not ranked with it.
    With `show_local`, an operand's edge shows, above its gradient, the local derivative; `checks`
    (from `check_leaves`) adds, above an input's gradient, its numerical gradient. The
    gradient stays the last line of its element (the player replaces it).

    `text_inputs` (the static drawing; the player keeps every number on its edge) attaches the
    labels of a *fan*, the many operands of a neuron's ``Σwx``, to their edges: Graphviz sets a
    label above its edge, and in a fan the edges that rise to the operation have the edge
    before them just above their label. A fan's operands computed by other operations come
    first, with edges twice as long (their labels in a column of their own, before the edges
    meet), and each label of a fan is underlined and joined to its edge by a line (Graphviz's
    ``decorate``), as are the labels of an operation with a constant operand, whose dashed
    edge may cross them, and every label of a graph past SPACED_NODES values, whose edges crowd.
    In the book style, a constant, and a leaf used once by a fan, is
    drawn as its text (name, value, gradient) where its edge starts, not as a dot and a label.
    """

    ids = {v: i for i, v in enumerate(order)}
    spaced = len(order) <= SPACED_NODES
    g, edge_label = _digraph(rankdir, title, fast, nodesep=NODESEP if spaced else "0.25")
    # a whole network's edges crowd: every label is joined to its edge (not with xlabels)
    crowded = text_inputs and not spaced and not fast
    out_decorated = {"decorate": "true"} if crowded else {}

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

    def local_line(v: Value, k: int, d: float) -> list[str]:
        if not show_local and checks is None:
            return []
        formula = local_formula(v, k)
        expected = formula_value(v, k) if checks is not None else None
        if expected is not None and not math.isclose(expected, d, rel_tol=1e-9, abs_tol=1e-12):
            # check=True: the number recorded is not what the operation's rule gives
            return [f'<font color="{WARN_COLOR}"><b>{_text(f"{formula} = {num(expected)}")}'
                    f' ≠ {num(d)}</b></font>']
        if not show_local:
            return []
        text = f"∂ = {num(d)}" if formula is None else with_number(formula, num(d))
        return [f'<font color="{LOCAL_COLOR}">{_text(text)}</font>']

    def check_line(v: Value) -> list[str]:
        c = None if checks is None else checks.get(v)
        if c is None:
            return []
        if c.numeric is None:
            return [f'<font color="{WARN_COLOR}">numeric: cannot replay</font>']
        if c.ok:
            return [f'<font color="{CHECK_COLOR}">numeric {num(c.numeric)} '
                    f'(error {c.error:.0e})</font>']
        return [f'<font color="{WARN_COLOR}"><b>numeric {num(c.numeric)} ≠ grad '
                f'(error {c.error:.0e})</b></font>']

    def mismatch(v: Value) -> dict[str, str]:
        c = None if checks is None else checks.get(v)
        if c is None or c.ok:
            return {}
        return {"color": WARN_COLOR, "penwidth": "2", "style": "rounded,filled",
                "fillcolor": WARN_FILL}

    def values_node(i: int, v: Value) -> None:
        """The values style: v's box, and its operation's circle with an edge into the box."""
        lines = [_text(name(v))] if name(v) else []
        lines.append(f"data {num(v.data)}")
        lines += check_line(v)
        g.node(f"v{i}", id=f"v{i}", shape="box",
               **{"style": "rounded", **labelled(lines, grad_of(v), "grad "), **mismatch(v)})
        if v.op:
            g.node(f"op{i}", _html([_text(SYMBOLS.get(v.op, v.op))]), id=f"op{i}",
                   **_op_attrs(0.4))
            g.edge(f"op{i}", f"v{i}", id=f"out{i}", **out_decorated,
                   **labelled([num(v.data)], grad_of(v), key=edge_label))

    def book_node(i: int, v: Value) -> None:
        """The book style: v's operation's circle (an input: a dot), the root's edge out."""
        if v in as_text:
            return  # drawn with its edge
        node = _book_node(g, i, v)
        if v is root:
            g.node("out", "", id="out", shape="point", width="0.06")
            g.edge(node, "out", id=f"out{i}", **out_decorated,
                   **labelled([_named(name(v), num(v.data))], grad_of(v), key=edge_label))

    def operand_edges(i: int, v: Value) -> None:
        """One edge per operand use into v's operation, constants included (dashed)."""
        fan = v in fans
        uses = list(operand_uses(v))
        if fan:  # computed operands first (see text_inputs)
            uses.sort(key=lambda use: not (use[2] is not None and use[2].op))
        constants = text_inputs and len(v.parents) < len(v.operands)
        decorated = {"decorate": "true"} if fan or constants or crowded else {}
        for k, operand, parent, local in uses:
            edge_id = f"e{i}_{k}"
            if parent is None or local is None:
                _constant(g, i, v, k, num(float(operand)), style, edge_label, rankdir,
                          as_text=text_inputs and style == "book", **decorated)
                continue
            j = ids[parent]
            if style == "values":
                tail, text = f"v{j}", num(parent.data)
            else:
                tail = f"op{j}" if parent.op else f"v{j}"
                text = _named(name(parent), num(parent.data))
            extra = local_line(v, k, local) + (check_line(parent) if style == "book" else [])
            if parent in as_text:  # the input's text, where its edge starts
                g.node(tail, id=tail, shape="plaintext",
                       **labelled([text, *extra], edge_grad(v, local)))
                g.edge(tail, f"op{i}", id=edge_id)
                continue
            g.edge(tail, f"op{i}", id=edge_id,
                   **labelled([text, *extra], edge_grad(v, local), key=edge_label),
                   **_port(v, k, rankdir), **decorated,
                   **({"minlen": "2"} if fan else {}))

    # with text_inputs: the operations of many operands, and their inputs drawn as text
    fans = {v for v in order if len(v.operands) > 2} if text_inputs else set()
    uses = Counter(p for v in order for p in v.parents)
    as_text = ({p for v in fans for p in v.parents if not p.op and uses[p] == 1}
               if style == "book" else set())
    node = values_node if style == "values" else book_node
    for i, v in enumerate(order):
        node(i, v)
        operand_edges(i, v)
    return g


NODESEP = "0.55"  # inches between neighbours of a rank (Graphviz: 0.25), labels included
# Where a binary operation's operands enter its circle: the first from above, the second from
# below (for LR). Measured on every demo's drawing (each label line's distance to its own edge
# and to the nearest other one): with Graphviz's defaults both edges meet at the circle's left
# and the second one's label, set above it, sits nearer the first edge ("3 / 165" under
# "150 / 3.3"); with these ports and NODESEP, no line of apple, apple_orange or perceptron is
# nearer another edge than its own (147 of 704 lines were, 96 are: the rest are the fans into
# the Σwx of mlp_backprop and notation, which `text_inputs` attaches: 0 are).
# Past SPACED_NODES values, Graphviz's own spacing (0.25 in): a column of a whole network's
# values (draw it with `collapse` instead) would otherwise grow by half, and its PNG with it.
SPACED_NODES = 200
PORTS = {"LR": ("n", "s"), "RL": ("n", "s"), "TB": ("w", "e"), "BT": ("w", "e")}


def _port(v: Value, k: int, rankdir: str) -> dict[str, str]:
    """The head port of operand `k`'s edge into `v`'s operation (see `PORTS`)."""
    if v.op == "dot" or len(v.operands) != 2:
        return {}
    return {"headport": PORTS[rankdir][k]}


def _digraph(rankdir: str, title: str | None, fast: bool, **graph: str
             ) -> tuple[graphviz.Digraph, str]:
    """An empty drawing with microgrid's fonts and sizes, and the attribute that edge labels
    go in: ``label``, or with `fast` Graphviz's faster settings and ``xlabel``."""
    import graphviz

    g = graphviz.Digraph("microgrid", format="svg")
    g.attr(rankdir=rankdir, ordering="in", fontname=FONT, bgcolor="white", **graph)
    g.attr("node", fontname=FONT, fontsize="12")
    g.attr("edge", fontname=FONT, fontsize="11", arrowsize="0.7")
    if fast:
        g.attr(**FAST_LAYOUT)
    if title:
        g.attr(label=_html([_text(title)]), labelloc="t", fontsize="16")
    return g, "xlabel" if fast else "label"


def _book_node(g: graphviz.Digraph, i: int, v: Value, focused: bool = False) -> str:
    """In the book style, the node of `v`, the `i`-th value: its operation's circle ``op{i}``,
    or for an input a dot ``v{i}``; a focused one drawn in blue. Returns its id."""
    blue = {"color": FOCUS_COLOR, "penwidth": "2.5"} if focused else {}
    if v.op:
        g.node(f"op{i}", _html([_text(SYMBOLS.get(v.op, v.op))]), id=f"op{i}",
               **_op_attrs(0.5), **blue)
        return f"op{i}"
    g.node(f"v{i}", "", id=f"v{i}", shape="point",
           **({"width": "0.12", "color": FOCUS_COLOR} if focused else {"width": "0.06"}))
    return f"v{i}"


def _constant(g: graphviz.Digraph, i: int, v: Value, k: int, constant: str, style: Style,
              edge_label: str, rankdir: str, as_text: bool = False, **edge: str) -> None:
    """The constant operand `k` of `v` (the `i`-th value), shown as `constant`: a grey node
    (in the book style a dot) and a dashed edge into v's operation, labelled; `as_text`, in
    the book style: the node is the number, the edge unlabelled."""
    text = style == "values" or as_text
    g.node(f"c{i}_{k}", _html([constant]) if text else "", id=f"c{i}_{k}",
           shape="plaintext" if text else "point", fontcolor=CONSTANT_COLOR,
           **({} if as_text else {"width": "0.06"}))
    label = {} if as_text else {"fontcolor": CONSTANT_COLOR, edge_label: _html([constant])}
    g.edge(f"c{i}_{k}", f"op{i}", id=f"e{i}_{k}", style="dashed", **label,
           **_port(v, k, rankdir), **({} if as_text else edge))


def _op_attrs(min_width: float) -> dict[str, str]:
    """An operation's circle: at least `min_width` inches across, wider if its symbol
    ('tanh', 'Σwx') needs it (a small margin keeps the circle close around the text)."""
    return {"shape": "circle", "width": str(min_width), "margin": "0.02", "fontsize": "14"}


def _html(lines: list[str]) -> str:
    """An HTML-like DOT label of `lines` (already escaped), one under the other."""
    return "<" + "<br/>".join(lines) + ">"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """`text` with the control characters that DOT, XML and HTML refuse (all but newline and
    tab), lone surrogates and non-characters shown as escapes: a bell is ``\\x07``."""
    return _CONTROL.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    code = ord(m[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _text(s: str) -> str:
    """User text (a label, a title) for an HTML-like label: markup characters escaped, a
    newline a line break, a tab a space, and other control characters shown as escapes. A
    backslash is doubled: Graphviz reads ``\\G``, ``\\N``, ``\\E``, ``\\T`` and ``\\H`` in any
    label as the graph's, node's or edge's names, and ``\\\\`` as one backslash."""
    lines = re.split(r"\r\n|\r|\n", s.replace("\t", " "))
    return "<br/>".join(visible(html.escape(line)).replace("\\", "\\\\") for line in lines)


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
            self._svg = (key, self._laid_out("svg"))
        return self._svg[1]

    def _laid_out(self, fmt: str, **options: int) -> bytes:
        """`fmt` rendered within the time budget: the full layout for a quarter of it, then,
        if that runs out, the fast layout (kept from then on) for the rest."""
        deadline = time.monotonic() + self.time_budget
        if self._fast is not None and self.layout == "full":
            try:
                return render(self.source, fmt, self.renderer,
                              time_budget=self.time_budget / 4, **options)
            except LayoutTimeout:
                self.digraph, self.layout = self._fast(), "fast"
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise LayoutTimeout(self.time_budget)
            return render(self.source, fmt, self.renderer, time_budget=left, **options)
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
        then says so, as it does for letters that the PNG's font lacks)."""
        missing = missing_glyphs(self.source) if self.renderer != "dot" else ""
        if missing:
            warnings.warn(f"draw: the PNG's font (Arimo) has no letters for {missing!r}, which "
                          "show as empty boxes; an SVG shows them in the viewer's fonts, and "
                          "renderer='dot' draws them with the system's (Graphviz installed)",
                          stacklevel=2)
        quick = self._quick_png(max_pixels)
        if quick is not None:
            return quick
        width, height = svg_size(self.svg())  # lays the graph out (and falls back) once
        dpi = png_dpi(width, height, max_pixels)
        if dpi < DPI:
            warnings.warn(f"draw: the PNG would be {width * height * (DPI / 72) ** 2 / 1e6:.0f} "
                          f"megapixels; drawn at {dpi:.0f} dpi to stay within max_pixels="
                          f"{max_pixels} (draw a part of the graph for more detail)",
                          stacklevel=2)
        return render(self.source, "png", self.renderer, time_budget=self.time_budget, dpi=dpi)

    def _quick_png(self, max_pixels: int) -> bytes | None:
        """A small graph's PNG in one render, or None. Its size must be known before it is
        drawn (the pixel budget), which takes a render of its own; for a small graph whose SVG
        is not made yet, draw instead within a square that is within the budget: the picture is
        final unless Graphviz had to scale it down to fit, which its size then tells."""
        if self._svg is not None or len(self.digraph.body) > QUICK_PNG_STATEMENTS:
            return None
        side = min(QUICK_PNG_SIDE, math.isqrt(max_pixels))
        png = self._laid_out("png", max_side=side)  # falls back to the fast layout, as SVG
        return png if max(png_size(png)) < side - 2 else None  # a margin for rounding

    def pdf(self) -> bytes:
        return render(self.source, "pdf", self.renderer, time_budget=self.time_budget)

    def save(self, path: str | Path) -> Path:
        """Write the diagram to `path`, in the format its suffix names: .svg .png .pdf .dot .gv
        (through a temporary file: a failure leaves an existing file as it was)."""
        if isinstance(path, str) and path.endswith(("/", os.sep)):  # Path() would drop the /
            raise IsADirectoryError(f"cannot write {path!r}: a name that ends in / is a folder")
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


# --- collapsed and focused drawings --------------------------------------------------------
BLOCK_COLOR = "#eef2fa"  # a collapsed group's fill
FOCUS_COLOR = "#1f77b4"  # the border of a focused value


def build_view_digraph(v: View, *, style: Style = "values", rankdir: str,
                       grad_of: Callable[[Value], float | None], title: str | None,
                       digits: int, fast: bool = False) -> graphviz.Digraph:
    """The DOT of a collapsed or focused `View` (see `microgrid.drawing.collapse`), in either style.

    Ids: a value ``v{i}`` and its operation ``op{i}`` (``i`` its place in the full graph's
    topological order, as in `build_digraph`; in the book style an operation is its value's
    node, and an input is the dot ``v{i}``), a block ``g{k}``, a bus ``j{k}``, a stub ``s{k}``;
    the edge of operand k of value i ``e{i}_{k}``, of a constant ``c{i}_{k}``, into block k
    from its t-th source ``b{k}_{t}``, into bus k ``i{k}_{t}``, from an operation to its value
    (in the book style: from the root to the output) ``out{i}``.
    """

    from microgrid.drawing.collapse import Block, Bus

    book = style == "book"
    ids = {x: i for i, x in enumerate(v.order)}
    g, edge_label = _digraph(rankdir, title, fast)

    def num(x: float) -> str:
        return format_number(x, digits)

    def red(x: str) -> str:
        return f'<font color="{GRAD_COLOR}">{x}</font>'

    def labelled(lines: list[str], grad: float | None, prefix: str = "",
                 key: str = "label") -> dict[str, str]:
        if grad is None:
            return {key: _html(lines)}
        return {key: _html([*lines, red(f"{prefix}{num(grad)}")]), "class": "grad"}

    def summary(values: list[Value]) -> str:
        return summary_numbers([x.data for x in values], num)

    def carried(values: list[Value]) -> list[str]:
        """The lines an edge carrying `values` shows (the book names a single one)."""
        if len(values) > 1:
            return [f"{len(values)} values", summary(values)]
        return [_named(values[0].label, num(values[0].data)) if book else num(values[0].data)]

    def root_edge(tail: str) -> None:
        """In the book style, the root's edge out of the drawing, with its value and grad."""
        root = v.root
        g.node("out", "", id="out", shape="point", width="0.06")
        g.edge(tail, "out", id=f"out{ids[root]}",
               **labelled([_named(root.label, num(root.data))], grad_of(root), key=edge_label))

    node_id: dict[int, str] = {}
    blocks = stubs = buses = 0
    focus = set(v.focus)
    for n in v.nodes:
        if isinstance(n, Value):
            i = ids[n]
            if book:
                node_id[id(n)] = _book_node(g, i, n, focused=n in focus)
                if n is v.root:
                    root_edge(node_id[id(n)])
                continue
            node_id[id(n)] = f"v{i}"
            lines = [_text(n.label)] if n.label else []
            lines.append(f"data {num(n.data)}")
            extra = {"color": FOCUS_COLOR, "penwidth": "2.5"} if n in focus else {}
            g.node(f"v{i}", id=f"v{i}", shape="box", style="rounded",
                   **labelled(lines, grad_of(n), "grad "), **extra)
            if n.op:
                g.node(f"op{i}", _html([_text(SYMBOLS.get(n.op, n.op))]), id=f"op{i}",
                       **_op_attrs(0.4))
                g.edge(f"op{i}", f"v{i}", id=f"out{i}",
                       **labelled([num(n.data)], grad_of(n), key=edge_label))
        elif isinstance(n, Block):
            name = f"g{blocks}"
            blocks += 1
            node_id[id(n)] = name
            lines = [f"<b>{_text(n.name)}</b>"]
            outs = [] if book else n.outputs  # the book: the values are on the edges out
            if len(outs) == 1:
                lines.append(f"data {num(outs[0].data)}")
                grad = grad_of(outs[0])
                if grad is not None:
                    lines.append(red(f"grad {num(grad)}"))
            elif outs:
                lines.append(f"{len(outs)} outputs: {summary(outs)}")
                grads = [grad_of(o) for o in outs]
                if all(x is not None for x in grads):
                    lines.append(red(f"grads {summary_numbers(grads, num)}"))  # type: ignore[arg-type]
            off = f", {len(n.off_path)} inputs off the path" if n.off_path else ""
            count = f"{len(n.members)} value{'s' if len(n.members) > 1 else ''}"
            lines.append(f'<font point-size="10" color="{CONSTANT_COLOR}">{count}{off}</font>')
            g.node(name, _html(lines), id=name, shape="box", style="rounded,filled",
                   fillcolor=BLOCK_COLOR, penwidth="1.5")
            if book and v.root in n.members:
                root_edge(name)
        elif isinstance(n, Bus):
            name = f"j{buses}"
            buses += 1
            node_id[id(n)] = name
            g.node(name, _html([f"into {_text(n.name)}"]), id=name, shape="box",
                   style="rounded,dashed", fontsize="10", fontcolor=CONSTANT_COLOR,
                   color=CONSTANT_COLOR, margin="0.04,0.02", height="0.2")
        else:
            name = f"s{stubs}"
            stubs += 1
            node_id[id(n)] = name
            if book:  # an input off the path: a grey dot, its value on its edge
                g.node(name, "", id=name, shape="point", width="0.06", color=CONSTANT_COLOR)
                continue
            if len(n.values) == 1:
                x = n.values[0]
                text = _named(x.label, num(x.data))
            else:
                text = f"{len(n.values)} values: {summary(n.values)}"
            g.node(name, _html([text]), id=name, shape="plaintext", fontcolor=CONSTANT_COLOR)

    into: dict[str, int] = {}
    for e in v.edges:
        tail, head = node_id[id(e.tail)], node_id[id(e.head)]
        values = e.values
        grads = [grad_of(u.child) for u in e.uses]
        grad = None if any(x is None for x in grads) else e.grad
        port: dict[str, str] = {}
        if isinstance(e.head, Value):
            i = ids[e.head]
            edge_id, target = f"e{i}_{e.index}", f"op{i}"
            port = _port(e.head, e.index, rankdir)
        else:  # into a block or a bus
            t = into.get(head, 0)
            into[head] = t + 1
            edge_id, target = f"{'b' if head[0] == 'g' else 'i'}{head[1:]}_{t}", head
        dashed = {"style": "dashed", "color": CONSTANT_COLOR} if tail.startswith("s") else {}
        g.edge(tail, target, id=edge_id, **labelled(carried(values), grad, "Σ " if len(values) > 1
                                                    else "", key=edge_label), **dashed, **port)
    # constants of drawn values, as in the full drawing
    for n in v.nodes:
        if isinstance(n, Value):
            for k, operand in enumerate(n.operands):
                if not isinstance(operand, Value):
                    _constant(g, ids[n], n, k, num(float(operand)), style, edge_label, rankdir)
    return g


def summary_numbers(xs: list[float], num: Callable[[float], str]) -> str:
    lo, hi = min(xs), max(xs)
    return f"{num(lo)} … {num(hi)}" if lo != hi else num(lo)


def _with_clusters(build: Callable[..., graphviz.Digraph], order: list[Value],
                   fast: bool = False) -> graphviz.Digraph:
    """``build(fast=fast)`` with each group's values (their boxes, operations and constants)
    boxed and named, a group's box inside its parent's: Graphviz's clusters."""
    import graphviz

    g = build(fast=fast)
    members: dict[tuple[str, ...], list[str]] = {}
    for i, v in enumerate(order):
        if v.group is None:
            continue
        path = v.group.path
        for k in range(1, len(path)):
            members.setdefault(path[:k], [])
        ids = [f"v{i}"] + ([f"op{i}"] if v.op else [])
        ids += [f"c{i}_{k}" for k, x in enumerate(v.operands) if not isinstance(x, Value)]
        members.setdefault(path, []).extend(ids)
    paths = sorted(members)
    number = {path: n for n, path in enumerate(paths)}

    def cluster(path: tuple[str, ...]) -> graphviz.Digraph:
        c = graphviz.Digraph(name=f"cluster_{number[path]}")
        c.attr(label=_html([f"<b>{_text(path[-1])}</b>"]), style="rounded,dashed",
               color=CONSTANT_COLOR, fontcolor=CONSTANT_COLOR, fontsize="12")
        for node in members[path]:
            c.node(node)
        for child in paths:
            if len(child) == len(path) + 1 and child[:-1] == path:
                c.subgraph(cluster(child))
        return c

    for path in paths:
        if len(path) == 1:
            g.subgraph(cluster(path))
    return g
