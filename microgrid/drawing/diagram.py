"""Draw a computation graph with the forward value and the gradient on every edge.

`draw(root)` builds the graph's DOT with the `graphviz` package and returns a `Diagram`, which
renders itself (see `microgrid.drawing.render`) to SVG, PNG, PDF or TikZ, saves itself by file
suffix and shows itself in Jupyter. No system Graphviz is needed.

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from microgrid.core.check import Check, check_leaves
from microgrid.core.engine import (
    Value,
    check_fields,
    grad_number,
    operand_uses,
    topological_order,
)
from microgrid.core.formulas import (
    format_number,
    formula_value,
    local_formula,
    node_names,
    with_number,
)
from microgrid.core.forward import Nudge, forward_grad
from microgrid.core.forward import nudge as nudge_effects
from microgrid.core.functions import SYMBOLS  # each operation's symbol, from its rule
from microgrid.drawing.collapse import View, view
from microgrid.drawing.render import (
    DPI,
    FONT,
    MAX_DPI,
    MAX_PIXELS,
    REMEDIES,
    RENDERERS,
    TIME_BUDGET,
    LayoutTimeout,
    Renderer,
    RenderError,
    missing_glyphs,
    missing_glyphs_warning,
    png_dpi,
    png_size,
    render,
    svg_size,
    write_atomically,
)
from microgrid.drawing.text import graphviz_width, text_width
from microgrid.drawing.theme import (  # the colours (the light theme's)
    BLOCK_COLOR,
    CHECK_COLOR,
    CONSTANT_COLOR,
    FOCUS_COLOR,
    FORWARD_COLOR,
    GRAD_COLOR,
    LOCAL_COLOR,
    NUDGE_COLOR,
    THEMES,
    WARN_COLOR,
    WARN_FILL,
    Theme,
    with_legend,
    with_theme,
)

if TYPE_CHECKING:
    import graphviz

__all__ = ["Diagram", "RenderError", "Renderer", "Style", "build_digraph", "draw",
           "format_number", "render"]

Style = Literal["values", "book"]

FAST_LAYOUT_NODES = 500  # past this many values, Graphviz lays the graph out more roughly
MANY_USES = 20  # and past this many uses of one value
# A PNG of a graph of at most this many DOT statements (nodes and edges) is drawn in one render
# when it fits a square of QUICK_PNG_SIDE pixels: no SVG first to learn its size (see png())
QUICK_PNG_STATEMENTS = 300
QUICK_PNG_SIDE = 2000
# A PNG's pixels, once laid out, take Graphviz about 0.1 s per megapixel (measured: the 40
# megapixels of an MLP's PNG in 2.9 s): its render is given ten times that beyond the budget
PNG_PIXELS_PER_SECOND = 1e6
SUFFIXES = (".svg", ".png", ".pdf", ".tex", ".dot", ".gv")  # the files `Diagram.save` writes
# In a notebook: the widest a cell usually is (JupyterLab, a laptop's window), and the drawing
# past which a notice says to draw less (its long side in pixels, or its SVG's bytes)
NOTEBOOK_WIDTH = 1000
NOTEBOOK_LARGE = 8000
NOTEBOOK_LARGE_BYTES = 1_000_000
# Graphviz's settings for the rough layout: few passes of crossing reduction and of network
# simplex (nslimit is what tames long edges, such as a leaf used at every step of a chain).
FAST_LAYOUT = {"mclimit": "0.01", "remincross": "false", "nslimit": "1", "nslimit1": "1"}


# --- building the DOT ----------------------------------------------------------------------
def draw(root: Value, *, style: Style = "values", rankdir: str = "LR",
         show_grads: bool | None = None, title: str | None = None, digits: int = 4,
         max_nodes: int = 2500, renderer: Renderer = "auto",
         time_budget: float = TIME_BUDGET, local: bool = False, check: bool = False,
         collapse: int = 0, focus: Value | Sequence[Value] | None = None,
         clusters: bool = False, legend: bool = False, theme: Theme = "light",
         forward: Value | Mapping[Value, float] | None = None,
         nudge: Mapping[Value, float] | None = None) -> Diagram:
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
    - `legend`: say under the drawing (under the title, if any) what its colours mean.
    - `theme`: ``"light"`` (black on white) or ``"dark"`` (light on dark, for dark slides and
      notebooks).
    - `forward`: an input `a` (or ``{a: 1, b: 1}``, a direction): forward mode beside reverse
      mode. Every edge also shows, in purple, d(value)/d(a) of the value it carries, from
      `microgrid.forward_grad`; a legend says which colour is which.
    - `nudge`: ``{a: 0.01}``: every edge also shows how much its value changes when `a` moves
      by h (the forward pass run again at a + h), beside the linear prediction
      d(value)/d(a) × h; the output's line reads ``Δy = 0.0221 (predicted 0.0220)``.
    Collapsed and focused drawings take either style, but not `local`, `check`, `forward` or
    `nudge`.
    """
    _check_options(root, style, rankdir, digits, max_nodes, renderer, time_budget)
    if not isinstance(legend, bool):
        raise TypeError(f"draw: legend must be True or False, got {legend!r}")
    if theme not in THEMES:
        raise ValueError(f"draw: theme must be 'light' or 'dark', got {theme!r}")
    dressed = functools.partial(_dressed, legend=legend, theme=theme,
                                title=_text(title) if title else None)
    order = topological_order(root)
    check_fields(order, "draw")  # a label, data or grad set by hand to something else
    if show_grads is None:  # not the root's alone: a dead ReLU's input has grad 0 after backward
        show_grads = any(grad_number(v) != 0 for v in order)
    # a leaf's grad may be a Value (backward(create_graph=True)): its number is drawn
    grad_of: Callable[[Value], float | None] = grad_number if show_grads else _no_grad
    if check and not show_grads:
        raise ValueError("draw: check=True compares each input's grad with its numerical "
                         "gradient, but no gradients are shown; call backward() first")
    if collapse or focus is not None:
        if local or check:
            raise ValueError("draw: collapse and focus draw without local or check (a block "
                             f"has no single local derivative); got local={local}, "
                             f"check={check}")
        if forward is not None or nudge is not None:
            raise ValueError("draw: collapse and focus draw without forward or nudge (a block "
                             "carries many values); draw the whole graph, or a part of it")
        shown = view(root, collapse, focus, order)
        _check_size(shown.nodes, max_nodes)
        build_view = functools.partial(build_view_digraph, shown, style=style, rankdir=rankdir,
                                       grad_of=grad_of, title=title, digits=digits)
        return diagram(dressed(build_view), len(shown.nodes), renderer, time_budget)
    _check_size(order, max_nodes)
    checks = check_leaves(root, grad_number) if check else None
    tangents = _rename_errors(forward_grad, root, forward) if forward is not None else None
    nudges = _rename_errors(nudge_effects, root, nudge) if nudge is not None else None
    modes_legend = _legend(forward, nudge, root, digits) if tangents or nudges else None
    build = functools.partial(build_digraph, root, order, style=style, rankdir=rankdir,
                              grad_of=grad_of, title=title, digits=digits, show_local=local,
                              checks=checks, text_inputs=True, tangents=tangents,
                              nudges=nudges, legend=modes_legend)
    if clusters:
        build = functools.partial(_with_clusters, build, order)
    return diagram(dressed(build), len(order), renderer, time_budget, fan_out(order))


def _dressed(build: Callable[..., graphviz.Digraph], *, legend: bool, theme: Theme,
             title: str | None) -> Callable[..., graphviz.Digraph]:
    """`build` with, on the Digraph it builds, a legend if asked for, in the colours of
    `theme` (see `microgrid.drawing.theme`)."""
    if not legend and theme == "light":
        return build

    def dressed(fast: bool = False) -> graphviz.Digraph:
        g = build(fast=fast)
        if legend:
            with_legend(g, title)
        return with_theme(g, theme)
    return dressed


def _rename_errors(fn: Callable[..., Any], root: Value, arg: Any) -> Any:
    """``fn(root, arg)`` (forward_grad or nudge), its errors naming draw's option."""
    try:
        return fn(root, arg)
    except (TypeError, ValueError) as e:
        name = "forward" if fn is forward_grad else "nudge"
        raise type(e)(f"draw: {name}=: {str(e).split(': ', 1)[-1]}") from None


def _legend(forward: Value | Mapping[Value, float] | None,
            nudge: Mapping[Value, float] | None, root: Value, digits: int) -> list[str]:
    """The legend's lines: which colour is which (reverse mode, forward mode, the nudge)."""
    def name(v: Value) -> str:
        return _text(v.label) if v.label else "the input"

    def derivative(wrt: Value | Mapping[Value, float]) -> str:
        if isinstance(wrt, Value):
            return f"d(value)/d({name(wrt)})"
        moves = " + ".join(f"{format_number(float(t), digits)} d{name(v)}"
                           for v, t in wrt.items())
        return f"d(value) for ({moves})"

    out = _text(root.label) if root.label else "output"
    lines = [f'<font color="{GRAD_COLOR}">red: d({out})/d(value), reverse mode '
             '(backward)</font>']
    if forward is not None:
        lines.append(f'<font color="{FORWARD_COLOR}">purple: {derivative(forward)}, '
                     'forward mode (forward_grad)</font>')
    if nudge is not None:
        moves = " and ".join(f"{name(v)} moves by {format_number(float(h), digits)}"
                             for v, h in nudge.items())
        (v, h), *more = nudge.items()
        rule = "d(value)/d(input) × h, summed" if more else \
            f"d(value)/d({name(v)}) × {format_number(float(h), digits)}"
        lines.append(f'<font color="{NUDGE_COLOR}">Δ: the change when {moves} '
                     f'(predicted: {rule})</font>')
    return lines


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
            "draws the sub-expression that computes it), draw a network with collapse=1 or 2 "
            "or focus=a_weight, or pass a larger max_nodes")


def build_digraph(root: Value, order: list[Value], *, style: Style, rankdir: str,
                  grad_of: Callable[[Value], float | None], title: str | None, digits: int,
                  names: dict[Value, str] | None = None, fast: bool = False,
                  show_local: bool = False, checks: dict[Value, Check] | None = None,
                  text_inputs: bool = False, tangents: dict[Value, float] | None = None,
                  nudges: dict[Value, Nudge] | None = None,
                  legend: list[str] | None = None) -> graphviz.Digraph:
    """The DOT of the graph `order` (``topological_order(root)``).

    `grad_of(v)` is the gradient to show for `v`, or None to show none. `names` names
    unlabelled values (by default `node_names`: ``#i``, as the player and `explain` do). Node
    ids follow `order`: value ``v{i}``, its operation ``op{i}``, the
    edge of its operand k ``e{i}_{k}``, of a constant operand ``c{i}_{k}``, the edge from the
    operation to its result (or, in the book style, to the output) ``out{i}``. Labels are
    HTML-like, so that the gradient's line can be red; with `fast`, Graphviz's faster settings
    are used and edge labels are placed after the layout (``xlabel``), not ranked with it.
    With `show_local`, an operand's edge shows, above its gradient, the local derivative; `checks`
    (from `check_leaves`) adds, above an input's gradient, its numerical gradient. The
    gradient stays the last line of its element (the player replaces it). `tangents` (from
    `forward_grad`) adds, above the gradient of every edge, the tangent of the value it
    carries, and `nudges` (from `nudge`) that value's change; `legend` is lines under the
    drawing that say which colour is which.

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
    if legend:
        _add_legend(g, title, legend)
    # a whole network's edges crowd: every label is joined to its edge (not with xlabels)
    crowded = text_inputs and not spaced and not fast
    out_decorated = {"decorate": "true"} if crowded else {}

    def num(x: float) -> str:
        return format_number(x, digits)

    called = node_names(order) if names is None else names

    def name(v: Value) -> str:
        return v.label or called.get(v, "")

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

    def carried(v: Value) -> list[str]:
        """The lines of forward mode and of the nudge for an edge that carries v's value."""
        lines = []
        if tangents is not None:
            lines.append(f'<font color="{FORWARD_COLOR}">{num(tangents[v])}</font>')
        effect = None if nudges is None else nudges[v]
        if effect is not None and (effect.actual or effect.predicted):
            label = name(v) if v is root else ""
            lines.append(f'<font color="{NUDGE_COLOR}">Δ{_text(label)} = {num(effect.actual)} '
                         f'(predicted {num(effect.predicted)})</font>')
        return lines

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
            g.node(f"op{i}", _html([_text(SYMBOLS.get(v.op, v.op))], 14), id=f"op{i}",
                   **_op_attrs(0.4))
            g.edge(f"op{i}", f"v{i}", id=f"out{i}", **out_decorated,
                   **labelled([num(v.data), *carried(v)], grad_of(v), key=edge_label))

    def book_node(i: int, v: Value) -> None:
        """The book style: v's operation's circle (an input: a dot), the root's edge out."""
        if v in as_text:
            return  # drawn with its edge
        node = _book_node(g, i, v)
        if v is root:
            g.node("out", "", id="out", shape="point", width="0.06")
            g.edge(node, "out", id=f"out{i}", **out_decorated,
                   **labelled([_named(name(v), num(v.data)), *carried(v)], grad_of(v),
                              key=edge_label))

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
            extra += carried(parent)
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
        g.attr(label=_html([_text(title)], 16), labelloc="t", fontsize="16")
    return g, "xlabel" if fast else "label"


def _add_legend(g: graphviz.Digraph, title: str | None, lines: list[str]) -> None:
    """`lines` as the drawing's legend: under the title (in smaller type), or, without one,
    under the drawing, flush left."""
    small = [f'<font point-size="11">{line}</font>' for line in lines]
    if title:
        g.attr(label=_html([_text(title), *small]), labelloc="t", fontsize="16")
    else:
        g.attr(label=_html(small), labelloc="b", labeljust="l")


def _book_node(g: graphviz.Digraph, i: int, v: Value, focused: bool = False) -> str:
    """In the book style, the node of `v`, the `i`-th value: its operation's circle ``op{i}``,
    or for an input a dot ``v{i}``; a focused one drawn in blue. Returns its id."""
    blue = {"color": FOCUS_COLOR, "penwidth": "2.5"} if focused else {}
    if v.op:
        g.node(f"op{i}", _html([_text(SYMBOLS.get(v.op, v.op))], 14), id=f"op{i}",
               **_op_attrs(0.5), **blue)
        return f"op{i}"
    g.node(f"v{i}", "", id=f"v{i}", shape="point",
           **({"width": "0.12", "color": FOCUS_COLOR} if focused else {"width": "0.06"}))
    return f"v{i}"


def _constant(g: graphviz.Digraph, i: int, v: Value, k: int, constant: str, style: Style,
              edge_label: str, rankdir: str, as_text: bool = False, **edge: str) -> None:
    """The constant operand `k` of `v` (the `i`-th value), shown as `constant`, once: in the
    values style (and with `as_text` in the book style) a grey node that is the number, and an
    unlabelled dashed edge into v's operation; in the book style a dot, and the dashed edge
    labelled with the number."""
    text = style == "values" or as_text
    g.node(f"c{i}_{k}", _html([constant]) if text else "", id=f"c{i}_{k}",
           shape="plaintext" if text else "point", fontcolor=CONSTANT_COLOR,
           **({} if as_text else {"width": "0.06"}))
    label = {} if text else {"fontcolor": CONSTANT_COLOR, edge_label: _html([constant]), **edge}
    g.edge(f"c{i}_{k}", f"op{i}", id=f"e{i}_{k}", style="dashed", **label,
           **_port(v, k, rankdir))


def _op_attrs(min_width: float) -> dict[str, str]:
    """An operation's circle: at least `min_width` inches across, wider if its symbol
    ('tanh', 'Σwx') needs it (a small margin keeps the circle close around the text)."""
    return {"shape": "circle", "width": str(min_width), "margin": "0.02", "fontsize": "14"}


def _html(lines: list[str], size: float = 12) -> str:
    """An HTML-like DOT label of `lines` (already escaped), one under the other, in `size`
    points (what its element's ``fontsize`` says; a line's own ``point-size`` wins).

    Graphviz measures text that is not ASCII wrongly (see `microgrid.drawing.text`): a label with
    a line that it would take to be narrower than it is drawn is a table, in which each such
    line is a box of its measured width, its text set from the box's left (Graphviz places a
    line from the width it takes it to have), so that the shape around it is wide enough."""
    plain = "<" + "<br/>".join(lines) + ">"
    if plain.isascii():  # Graphviz measures ASCII right
        return plain
    rows = [row for line in lines for row in _rows(line)]
    sizes = [_measured(row, size) for row in rows]
    if not any(sizes):
        return plain
    cells = "".join(
        f"<TR><TD>{row}</TD></TR>" if box is None else
        f'<TR><TD><TABLE {_NO_BORDER} FIXEDSIZE="TRUE" WIDTH="{box[0]}" HEIGHT="{box[1]}">'
        f'<TR><TD ALIGN="LEFT">{row}</TD></TR></TABLE></TD></TR>'
        for row, box in zip(rows, sizes, strict=True))
    return f'<<TABLE {_NO_BORDER} CELLBORDER="0">{cells}</TABLE>>'


_NO_BORDER = 'BORDER="0" CELLSPACING="0" CELLPADDING="0"'
_ENDS = re.compile(r"^((?:<(?:b|i|u|font\b[^>]*)>)*)(.*?)((?:</(?:b|i|u|font)>)*)$", re.S)
_TAG = re.compile(r"<[^>]*>")


def _rows(line: str) -> list[str]:
    """The rows of a label's `line`: one per line break (a label's newline), each in the
    line's font."""
    start, middle, end = _ENDS.match(line).groups()  # type: ignore[union-attr]
    pieces = middle.split("<br/>")
    if len(pieces) == 1 or _TAG.search(middle.replace("<br/>", "")):
        return [line]
    return [f"{start}{piece}{end}" for piece in pieces]


def _measured(row: str, size: float) -> tuple[int, int] | None:
    """The width and height in points of a label's `row`, if Graphviz would take it to be
    narrower than it is drawn (by more than a point, which the margins take), else None."""
    text = html.unescape(_TAG.sub("", row))
    if text.isascii():
        return None
    point_size = re.search(r'point-size="([\d.]+)"', row)
    if point_size:
        size = float(point_size[1])
    width = text_width(text, size, bold="<b>" in row)
    if width <= graphviz_width(text, size) + 1:
        return None
    return math.ceil(width), round(size * 1.2)  # Graphviz's line: 1.2 times the font size


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

    def _laid_out(self, fmt: str, **options: Any) -> bytes:
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
                f"{self.time_budget:g} s, even with its faster settings; {REMEDIES}")

    def svg(self) -> str:
        return self._svg_bytes().decode("utf-8")

    def png(self, max_pixels: int = MAX_PIXELS, dpi: float = DPI) -> bytes:
        """The PNG, at `dpi` pixels per inch (96, as a screen; up to 300, for slides and
        print), or less if that would pass `max_pixels` (a warning then says so, as it does
        for letters that the PNG's font lacks)."""
        if (isinstance(dpi, bool) or not isinstance(dpi, int | float)
                or not 1 <= dpi <= MAX_DPI):
            raise ValueError(f"png: dpi must be a number from 1 to {MAX_DPI:g}, got {dpi!r}")
        missing = missing_glyphs(self.source) if self.renderer != "dot" else ""
        if missing:
            warnings.warn(missing_glyphs_warning(missing), stacklevel=2)
        quick = self._quick_png(max_pixels, dpi)
        if quick is not None:
            return quick
        width, height = svg_size(self.svg())  # lays the graph out (and falls back) once
        fitted = png_dpi(width, height, max_pixels, dpi)
        if fitted < dpi:
            warnings.warn(f"draw: the PNG would be {width * height * (dpi / 72) ** 2 / 1e6:.0f} "
                          f"megapixels; drawn at {fitted:.0f} dpi to stay within max_pixels="
                          f"{max_pixels} (draw a part of the graph for more detail)",
                          stacklevel=2)
        # The layout is known to take less than the budget (the SVG's, of this same source);
        # drawing the pixels takes time of its own, about 0.1 s per megapixel: allow ten times
        pixels = width * height * (fitted / 72) ** 2
        budget = self.time_budget + pixels / PNG_PIXELS_PER_SECOND
        try:
            return render(self.source, "png", self.renderer, time_budget=budget, dpi=fitted)
        except LayoutTimeout:
            raise RenderError(
                f"draw: Graphviz could not draw this PNG of {pixels / 1e6:.0f} megapixels within "
                f"{budget:.0f} s; pass a lower dpi or max_pixels, save it as SVG or PDF, "
                f"{REMEDIES}") from None

    def _quick_png(self, max_pixels: int, dpi: float = DPI) -> bytes | None:
        """A small graph's PNG in one render, or None. Its size must be known before it is
        drawn (the pixel budget), which takes a render of its own; for a small graph whose SVG
        is not made yet, draw instead within a square that is within the budget: the picture is
        final unless Graphviz had to scale it down to fit, which its size then tells."""
        if self._svg is not None or len(self.digraph.body) > QUICK_PNG_STATEMENTS:
            return None
        side = min(round(QUICK_PNG_SIDE * dpi / DPI), math.isqrt(max_pixels))
        png = self._laid_out("png", max_side=side, dpi=dpi)  # falls back to the fast layout
        return png if max(png_size(png)) < side - 2 else None  # a margin for rounding

    def pdf(self) -> bytes:
        """The PDF: vector art with its text as text. Drawn from the SVG (its layout reused)
        with svglib and ReportLab, ``pip install 'microgrid[export]'``; with renderer='dot',
        by the system's Graphviz."""
        if self.renderer == "dot":
            return render(self.source, "pdf", self.renderer, time_budget=self.time_budget)
        from microgrid.drawing.export import pdf

        return pdf(self.svg())

    def tikz(self) -> str:
        """The drawing as a LaTeX document of one TikZ picture (see
        `microgrid.drawing.export.tikz`): pdflatex or lualatex compiles it."""
        from microgrid.drawing.export import tikz

        return tikz(self.svg())

    def save(self, path: str | Path, *, dpi: float | None = None) -> Path:
        """Write the diagram to `path`, in the format its suffix names: .svg .png .pdf .tex
        (TikZ) .dot .gv (through a temporary file: a failure leaves an existing file as it
        was). `dpi` is a PNG's resolution (96 by default; 300 for slides)."""
        if isinstance(path, str) and path.endswith(("/", os.sep)):  # Path() would drop the /
            raise IsADirectoryError(f"cannot write {path!r}: a name that ends in / is a folder")
        path = Path(path)
        write_atomically(path, self.encode(path, dpi=dpi))
        return path

    def encode(self, path: str | Path, *, dpi: float | None = None) -> bytes:
        """The bytes of the file `path` would be: the format its suffix names (see `save`)."""
        suffix = Path(path).suffix.lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"save: cannot tell the format from {str(path)!r}; "
                             "use a file name ending in .svg, .png, .pdf, .tex, .dot or .gv")
        if dpi is not None and suffix != ".png":
            raise ValueError(f"save: dpi is a PNG's resolution; {str(path)!r} is not a .png "
                             "(SVG, PDF and TikZ are vector art, sharp at any size)")
        if suffix in (".dot", ".gv"):
            return self.source.encode("utf-8")
        if suffix == ".svg":
            return self._svg_bytes()
        if suffix == ".png":
            return self.png(dpi=DPI if dpi is None else dpi)
        if suffix == ".pdf":
            return self.pdf()
        return self.tikz().encode("utf-8")

    def _repr_html_(self) -> str:
        """For Jupyter: the picture, once, scaled down to the cell's width when it is wider
        (a line under it then says so); a picture past `NOTEBOOK_LARGE` pixels or bytes
        has a notice above it that says how to draw less."""
        svg = self.svg()
        width, height = (round(x * DPI / 72) for x in svg_size(svg))
        src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()
        parts = ['<div class="microgrid-diagram">']
        if max(width, height) > NOTEBOOK_LARGE or len(svg) > NOTEBOOK_LARGE_BYTES:
            parts.append(
                f'<p class="microgrid-notice"><b>A large drawing '
                f"({width} × {height} px, {len(svg) / 1e6:.1f} MB)</b>: too much to read here. "
                "Draw less: draw(root, collapse=1) draws a node per layer, collapse=2 a node "
                "per neuron, focus=a_weight only its paths to the output; or draw a part (an "
                "intermediate Value).</p>")
        parts.append(f'<img src="{src}" alt="computation graph" '
                     f'style="max-width:100%;height:auto">')
        if width > NOTEBOOK_WIDTH:
            parts.append('<p class="microgrid-scaled" style="font-size:smaller;opacity:0.75">'
                         f"Scaled to fit the cell where it is wider: {width} px wide at full "
                         "size (.save('graph.svg') and open it to zoom).</p>")
        return "".join(parts) + "</div>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, str]:
        """One copy of the picture: HTML, which JupyterLab shows in trusted and untrusted
        notebooks alike (it does not show an untrusted notebook's SVG output)."""
        return {"text/html": self._repr_html_()}

    def __repr__(self) -> str:
        return f"<Diagram: {self.source.count(' -> ')} edges; .svg(), .save('graph.svg')>"


# --- collapsed and focused drawings --------------------------------------------------------
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
    names = node_names(v.order)  # '#i' for an unlabelled value, as in the full drawing
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
        return [_named(names[values[0]], num(values[0].data)) if book else num(values[0].data)]

    def root_edge(tail: str) -> None:
        """In the book style, the root's edge out of the drawing, with its value and grad."""
        root = v.root
        g.node("out", "", id="out", shape="point", width="0.06")
        g.edge(tail, "out", id=f"out{ids[root]}",
               **labelled([_named(names[root], num(root.data))], grad_of(root), key=edge_label))

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
            lines = [_text(names[n]), f"data {num(n.data)}"]
            extra = {"color": FOCUS_COLOR, "penwidth": "2.5"} if n in focus else {}
            g.node(f"v{i}", id=f"v{i}", shape="box", style="rounded",
                   **labelled(lines, grad_of(n), "grad "), **extra)
            if n.op:
                g.node(f"op{i}", _html([_text(SYMBOLS.get(n.op, n.op))], 14), id=f"op{i}",
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
                text = _named(names[x], num(x.data))
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
