"""Backpropagation step by step: one frame per node, as `backward()` visits it.

`backward_steps(root)` shows one backward pass from ``root`` (gradient 1): its steps are the
engine's `backward_walk`, one `Step` per node in the order `backward()` visits them, with its
gradient, now complete, and the terms (consumer's gradient times local derivative) it was
summed from. It reads the graph and does not change any `grad`.
``steps.save_animation("steps.html")`` writes one self-contained HTML page (no network, no
external script) with previous/next buttons, a slider and the arrow keys; in Jupyter, the steps
show themselves as that page in an ``<iframe>``.

All frames share one Graphviz layout, so nothing moves between frames: a frame is the drawing
of the finished pass in which the gradients not yet computed show as '?', the node of the
step is highlighted, and so are the edges that carried its gradient. The page holds that
drawing once, and for each step only what changes (a `Frame` and the caption); a script
(``player.js``) applies a step to the drawing, so the page grows linearly with the graph.
`frame_svgs()` applies them in Python, for whoever wants each frame as an SVG of its own.
"""

from __future__ import annotations

import base64
import copy
import functools
import html
import json
import string
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from microgrid.core.check import check_leaves
from microgrid.core.engine import Term, Value, Visit, backward_walk, operand_uses
from microgrid.core.formulas import local_formula, node_names
from microgrid.drawing.collapse import view
from microgrid.drawing.diagram import (
    CHECK_COLOR,
    GRAD_COLOR,
    LOCAL_COLOR,
    SYMBOLS,
    WARN_COLOR,
    Renderer,
    Style,
    _check_options,
    build_digraph,
    build_view_digraph,
    diagram,
    fan_out,
    format_number,
    visible,
)
from microgrid.drawing.render import DPI, TIME_BUDGET, svg_size, write_atomically

SVG = "http://www.w3.org/2000/svg"
HIGHLIGHT = "#ff7f0e"
HIGHLIGHT_FILL = "#ffe8cc"
UNKNOWN = "#b0b0b0"
CONTROLS_HEIGHT = 300  # px of the page besides the drawing (Chromium: 280 at 800-1200 px wide)
LEGEND_LINE = 25  # px of each legend line for local=True and check=True
MAX_IFRAME_HEIGHT = 900  # px
MIN_SCALE = 0.6  # a wide drawing shrinks to the page's width down to this scale, then scrolls


Step = Visit  # a step of the player is a visit of the engine's backward_walk
__all__ = ["BackwardSteps", "Frame", "Step", "Term", "backward_steps"]


@dataclass(frozen=True)
class Frame:
    """What the frame of a step changes in the drawing of the finished pass, by element id
    (the ids `build_digraph` gives: ``v{i}``, ``op{i}``, ``out{i}``, ``e{i}_{k}``)."""

    node: tuple[str, ...]  # the step's node: its box and its operation's circle
    fill: bool  # whether the node's shapes are filled too (not a book-style input's dot)
    edges: tuple[str, ...]  # the edges that carried its gradient
    reveals: tuple[str, ...]  # the node and edges whose gradient is known from this step on


class BackwardSteps:
    """The steps of one backward pass from `root`; see the module docstring."""

    def __init__(self, root: Value, *, style: Style = "values", rankdir: str = "LR",
                 title: str | None = None, digits: int = 4, max_steps: int = 300,
                 renderer: Renderer = "auto", time_budget: float = TIME_BUDGET,
                 local: bool = False, check: bool = False, collapse: int = 0,
                 focus: Value | Iterable[Value] | None = None) -> None:
        _check_options(root, style, rankdir, digits, max_steps, renderer, time_budget,
                       caller="backward_steps", size_option="max_steps")
        if root.is_leaf:
            raise ValueError(f"backward_steps: {root!r} is a leaf, not the output of an "
                             "operation; there is no backward pass to show")
        if isinstance(collapse, bool) or not isinstance(collapse, int) or collapse < 0:
            raise ValueError(f"backward_steps: collapse must be a non-negative int, "
                             f"got {collapse!r}")
        if collapse:
            raise ValueError(
                f"backward_steps: collapse={collapse} would hide many steps in one node, and "
                "the player shows one value a step; focus= keeps only the paths from some "
                "values to the root (draw(root, collapse=...) draws the collapsed picture)")
        if focus is not None and (local or check):
            raise ValueError(f"backward_steps: focus draws without local or check, as draw "
                             f"does; got local={local}, check={check}")
        self.root = root
        self.style, self.rankdir, self.title = style, rankdir, title
        self.digits, self.renderer, self.time_budget = digits, renderer, time_budget
        self.local, self.check = local, check
        walk = list(backward_walk(root))
        self.order = [step.node for step in reversed(walk)]  # topological order
        # with focus, the values on the paths from the focused ones, one step each
        self.view = None if focus is None else view(root, 0, focus, self.order)
        shown = None if self.view is None else {n for n in self.view.nodes
                                                 if isinstance(n, Value)}
        self.steps: list[Step] = [s for s in walk if shown is None or s.node in shown]
        if len(self.steps) > max_steps:
            raise ValueError(
                f"backward_steps: the graph has {len(self.steps)} nodes, more than max_steps="
                f"{max_steps}, one frame each; animate a part of it (an intermediate Value "
                "stands for the sub-expression that computes it, and focus= keeps only the "
                "paths from some values), or pass a larger max_steps")
        self.ids = {v: i for i, v in enumerate(self.order)}  # i of the drawing's v{i}, e{i}_{k}
        self.names = node_names(self.order)
        self.grads = {step.node: step.grad for step in walk}

    def edge_id(self, term: Term) -> str:
        """The id in the drawing of the edge that carried `term`: ``e{i}_{k}``, i the consumer's
        place in topological order and k the node's among its operands."""
        return f"e{self.ids[term.consumer]}_{term.index}"

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    def name(self, v: Value) -> str:
        """`v`'s label, or ``#i`` (its place in topological order) for an unlabelled value, as
        the drawing names it (`node_names`)."""
        return self.names[v]

    def caption(self, index: int) -> str:
        """What happens at step `index`, in words and numbers (the chain rule)."""
        return f"{self.chain_rule(index)} {self._next(self.steps[index])}"

    def chain_rule(self, index: int) -> str:
        """How step `index`'s gradient is summed from its consumers', as one sentence."""
        step = self.steps[index]
        num = self.num
        name = self.name(step.node)
        if not step.terms:
            return f"{name}.grad = 1: the gradient of the output with respect to itself."
        terms = " + ".join(f"{self.name(t.consumer)}.grad × ∂{self.name(t.consumer)}/∂{name}"
                           for t in step.terms)
        numbers = " + ".join(f"{num(t.consumer_grad)} × {num(t.local_grad)}"
                             for t in step.terms)
        if self.local:  # and the rule of each local derivative
            rules = [local_formula(t.consumer, t.index, self._called)
                     for t in step.terms]
            if any(rules):
                numbers += " (" + "; ".join(
                    f"∂{self.name(t.consumer)}{r[1:]}" for t, r in zip(step.terms, rules,
                                                                      strict=True) if r) + ")"
        return f"{name}.grad = {terms} = {numbers} = {num(step.grad)}."

    def _called(self, x: object, generic: str) -> str:
        return self.name(x) if isinstance(x, Value) else self.num(float(x))  # type: ignore[arg-type]

    def _next(self, step: Step) -> str:
        if step.node.is_leaf:
            return f"{self.name(step.node)} is an input: its gradient is final."
        op = SYMBOLS.get(step.node.op, step.node.op)
        return f"Next, {op} passes it back to its operands, times their local derivatives."

    def num(self, x: float) -> str:
        return format_number(x, self.digits)

    def frames(self) -> list[Frame]:
        """What each step's frame shows differently from the finished drawing.

        Node i's gradient shows on its box ``v{i}`` (values style) and on the edge ``out{i}``
        from its operation (the book style has that edge for the root only); the gradient on
        the edge ``e{i}_{k}`` of its operand k is node i's gradient times a local derivative,
        so it is known as soon as node i's is (constant operands' edges carry none).
        """
        frames = []
        for step in self.steps:
            v, i = step.node, self.ids[step.node]
            if self.style == "values":
                node = (f"v{i}", f"op{i}") if v.op else (f"v{i}",)
                reveals = [f"v{i}"] + ([f"out{i}"] if v.op else [])
            else:
                node = (f"op{i}",) if v.op else (f"v{i}",)
                reveals = [f"out{i}"] if v is self.root else []
            reveals += [f"e{i}_{k}" for k, _, p, _ in operand_uses(v) if p is not None]
            frames.append(Frame(node, self.style == "values" or bool(v.op),
                                tuple(map(self.edge_id, step.terms)), tuple(reveals)))
        return frames

    # --- drawing -------------------------------------------------------------------------
    def _final_svg(self) -> str:
        """The drawing of the finished pass: every gradient known, nothing highlighted."""
        if self.view is not None:
            build_view = functools.partial(
                build_view_digraph, self.view, style=self.style, rankdir=self.rankdir,
                grad_of=self.grads.get, title=self.title, digits=self.digits)
            return diagram(build_view, len(self.view.nodes), self.renderer,
                           self.time_budget).svg()
        checks = check_leaves(self.root, self.grads.__getitem__) if self.check else None
        build = functools.partial(
            build_digraph, self.root, self.order, style=self.style, rankdir=self.rankdir,
            grad_of=self.grads.get, title=self.title, digits=self.digits, names=self.names,
            show_local=self.local, checks=checks)
        return diagram(build, len(self.order), self.renderer, self.time_budget,
                       fan_out(self.order)).svg()

    def frame_svgs(self) -> list[str]:
        """Each step's frame as an SVG of its own (one Graphviz layout for all)."""
        ET.register_namespace("", SVG)
        ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
        final = ET.fromstring(self._final_svg())  # Graphviz's SVG: user text is escaped in it
        frames = self.frames()
        known = {gid: k for k, frame in enumerate(frames) for gid in frame.reveals}
        return [self._frame(final, frame, index, known) for index, frame in enumerate(frames)]

    def _frame(self, final: ET.Element, frame: Frame, index: int, known: dict[str, int]
               ) -> str:
        svg = copy.deepcopy(final)
        groups = {g.get("id"): g for g in svg.iter(f"{{{SVG}}}g")}
        for gid, k in known.items():
            texts = list(groups[gid].iter(f"{{{SVG}}}text")) if gid in groups else []
            if k > index and texts:  # the gradient is not known yet
                last = texts[-1]
                last.text = "grad ?" if (last.text or "").startswith("grad ") else "?"
                last.set("fill", UNKNOWN)
        for gid in frame.node:
            for shape in _shapes(groups.get(gid)):
                shape.set("stroke", HIGHLIGHT)
                shape.set("stroke-width", "3")
                if frame.fill:
                    shape.set("fill", HIGHLIGHT_FILL)
        for gid in frame.edges:
            for shape in _shapes(groups.get(gid)):
                shape.set("stroke", HIGHLIGHT)
                shape.set("stroke-width", "3")
                if shape.tag.endswith("polygon"):
                    shape.set("fill", HIGHLIGHT)
        return ET.tostring(svg, encoding="unicode")

    # --- the page ------------------------------------------------------------------------
    def html(self) -> str:
        """The animation as one self-contained HTML page."""
        return self._page(self._final_svg())

    def _title(self) -> str:
        root = self.root.label or "the output"  # not '#8', the name its captions give it
        return visible(self.title or f"Backpropagation through {root}, step by step")

    def _page(self, svg: str) -> str:
        title = html.escape(self._title(), quote=False)
        captions = [visible(self.caption(k)) for k in range(len(self.steps))]
        steps = [{"caption": caption, "node": frame.node, "fill": frame.fill,
                  "edges": frame.edges, "reveals": frame.reveals}
                 for caption, frame in zip(captions, self.frames(), strict=True)]
        return _template().substitute(
            title=title, n=len(steps), last=len(steps) - 1, caption=html.escape(captions[0]),
            svg=_inline(svg), min_width=f"{svg_size(svg)[0] * DPI / 72 * MIN_SCALE:.0f}px",
            steps=_script_json(steps), script=_script(), grad=GRAD_COLOR, highlight=HIGHLIGHT,
            highlight_fill=HIGHLIGHT_FILL, unknown=UNKNOWN, legend=self._legend())

    def _legend(self) -> str:
        """What the drawing shows besides the gradients: local derivatives, numeric checks."""
        parts = []
        if self.local:
            parts.append(f'<span><b style="color:{LOCAL_COLOR}">Blue</b>: the local derivative '
                         "that an edge multiplies the gradient by: the rule, and its number."
                         "</span>")
        if self.check:
            parts.append(f'<span><b style="color:{CHECK_COLOR}">numeric</b>: an input\'s '
                         "gradient by central differences, and its relative error "
                         f'(<b style="color:{WARN_COLOR}">orange</b> if it disagrees).</span>')
        return "".join(" " + p for p in parts)

    def save_animation(self, path: str | Path) -> Path:
        """Write the animation (see `html`) to `path`, conventionally ``*.html`` (through a
        temporary file: a failure leaves an existing file as it was)."""
        path = Path(path)
        write_atomically(path, self.html().encode("utf-8"))
        return path

    def _repr_html_(self) -> str:
        """For Jupyter: the page in an ``<iframe>`` of its own, where its script may run
        (JupyterLab and Notebook do not run the scripts of a cell's HTML output), and, for a
        saved notebook reopened untrusted, whose ``<iframe>`` JupyterLab's sanitizer removes,
        what it keeps instead: the finished pass as a picture, a note on how to get the player,
        and every step's caption. A browser does not show an ``<iframe>``'s content; the
        sanitizer keeps the content of the tags it removes, so the fallback is put there."""
        svg = self._final_svg()
        legend = LEGEND_LINE * (self.local + self.check)  # the legend's lines for them
        height = min(MAX_IFRAME_HEIGHT,
                     round(svg_size(svg)[1] * DPI / 72) + CONTROLS_HEIGHT + legend)
        return (f'<iframe srcdoc="{html.escape(self._page(svg), quote=True)}" '
                f'sandbox="allow-scripts" title="{html.escape(self._title(), quote=True)}" '
                f'width="100%" height="{height}" '
                f'style="border:1px solid #ddd">{self._fallback(svg)}</iframe>')

    def _fallback(self, svg: str) -> str:
        """The static picture of the finished pass, the note, and the steps in words."""
        src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()
        steps = "".join(f"<li>{html.escape(visible(self.caption(k)))}</li>"
                        for k in range(len(self.steps)))
        return (f'<div class="microgrid-player-static"><p class="microgrid-note">'
                f"<b>{html.escape(self._title())}</b>: the finished pass. The step-by-step "
                "player needs a trusted notebook (run the cell again, or the command "
                "Trust Notebook), or open the page that "
                "backward_steps(...).save_animation('steps.html') writes.</p>"
                f'<img src="{src}" alt="the backward pass, finished" '
                'style="max-width:100%;height:auto">'
                f"<details><summary>The {len(self.steps)} steps, in words</summary>"
                f"<ol>{steps}</ol></details></div>")

    def _repr_mimebundle_(self, include: object = None, exclude: object = None
                          ) -> dict[str, str]:
        return {"text/html": self._repr_html_()}


def _shapes(group: ET.Element | None) -> list[ET.Element]:
    if group is None:
        return []
    return [e for e in group if e.tag.split("}")[-1] in ("polygon", "path", "ellipse")]


def _inline(svg: str) -> str:
    """Graphviz's SVG for inside HTML: from its ``<svg>`` tag on, without the ``<?xml ...?>``
    and ``<!DOCTYPE svg ...>`` before it."""
    return svg[max(svg.find("<svg"), 0):]


def _script_json(data: object) -> str:
    """`data` as JSON to put inside a ``<script>`` element: no '<' (so no ``</script>`` or
    ``<!--`` from a label), '>' or '&' in it, only their escapes, which JSON.parse reads back."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _template() -> string.Template:
    """The page, ``microgrid/drawing/player.html``, with ``$name`` placeholders."""
    return string.Template(resources.files("microgrid.drawing").joinpath("player.html")
                           .read_text(encoding="utf-8"))


@functools.cache
def _script() -> str:
    """The page's script, ``microgrid/drawing/player.js``."""
    return resources.files("microgrid.drawing").joinpath("player.js").read_text(encoding="utf-8")


def backward_steps(root: Value, *, style: Style = "values", rankdir: str = "LR",
                   title: str | None = None, digits: int = 4, max_steps: int = 300,
                   renderer: Renderer = "auto", time_budget: float = TIME_BUDGET,
                   local: bool = False, check: bool = False, collapse: int = 0,
                   focus: Value | Iterable[Value] | None = None) -> BackwardSteps:
    """The steps of one backward pass from `root`, to animate: see `BackwardSteps`.

    ``backward_steps(loss).save_animation("steps.html")`` writes the page. With `local` and
    `check`, the drawing shows local derivatives and numerical gradients, as `draw`'s do.
    `focus` (a Value or several), as `draw`'s: only the values on a path from them to `root`,
    a step each, drawn as `draw(root, focus=...)` draws them. `collapse` is `draw`'s alone: a
    collapsed node would hide many steps, so any depth but 0 is a `ValueError` that says so.
    """
    return BackwardSteps(root, style=style, rankdir=rankdir, title=title, digits=digits,
                         max_steps=max_steps, renderer=renderer, time_budget=time_budget,
                         local=local, check=check, collapse=collapse, focus=focus)
