"""Backpropagation step by step: one frame per node, as `backward()` visits it.

`backward_steps(root)` replays one backward pass from ``root`` (gradient 1), visiting the nodes
in reverse topological order as `backward()` does, and records a `Step` per node: its gradient,
now complete, and the consumers' gradients and local derivatives it was summed from. It reads
the graph and does not change any `grad`. ``steps.save_animation("steps.html")`` writes one
self-contained HTML page (no network, no external script) with each frame as inline SVG,
previous/next buttons, a slider and the arrow keys.

All frames share one Graphviz layout, so nothing moves between frames: a frame is the drawing
of the finished pass in which the gradients not yet computed show as '?', the node of the
step is highlighted, and so are the edges that carried its gradient.
"""

from __future__ import annotations

import copy
import functools
import html
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from microgrid.drawing import (
    GRAD_COLOR,
    SYMBOLS,
    Renderer,
    Style,
    _check_options,
    build_digraph,
    diagram,
    format_number,
)
from microgrid.render import TIME_BUDGET
from microgrid.engine import Value, topological_order

SVG = "http://www.w3.org/2000/svg"
HIGHLIGHT = "#ff7f0e"
HIGHLIGHT_FILL = "#ffe8cc"
UNKNOWN = "#b0b0b0"


@dataclass(frozen=True)
class Term:
    """One use of a node by `consumer`: it adds ``consumer_grad * local_grad`` to its grad."""

    consumer: Value
    consumer_grad: float
    local_grad: float
    edge_id: str  # the id of the edge in the drawing


@dataclass(frozen=True)
class Step:
    """The moment `backward()` reaches `node`: every consumer has passed its gradient on."""

    node: Value
    grad: float  # d root / d node, complete
    terms: tuple[Term, ...]  # empty for the root, whose gradient is the seed 1


class BackwardSteps:
    """The steps of one backward pass from `root`; see the module docstring."""

    def __init__(self, root: Value, *, style: Style = "values", rankdir: str = "LR",
                 title: str | None = None, digits: int = 4, max_steps: int = 300,
                 renderer: Renderer = "auto", time_budget: float = TIME_BUDGET) -> None:
        _check_options(root, style, rankdir, digits, max_steps, renderer, time_budget,
                       caller="backward_steps", size_option="max_steps")
        if root.is_leaf:
            raise ValueError(f"backward_steps: {root!r} is a leaf, not the output of an "
                             "operation; there is no backward pass to show")
        self.root = root
        self.style, self.rankdir, self.title = style, rankdir, title
        self.digits, self.renderer, self.time_budget = digits, renderer, time_budget
        self.order = topological_order(root)
        if len(self.order) > max_steps:
            raise ValueError(
                f"backward_steps: the graph has {len(self.order)} nodes, more than max_steps="
                f"{max_steps}, one frame each; animate a part of it (an intermediate Value "
                "stands for the sub-expression that computes it), or pass a larger max_steps")
        self.ids = {v: i for i, v in enumerate(self.order)}
        self.grads: dict[Value, float] = {root: 1.0}
        terms: dict[Value, list[Term]] = {}
        self.steps: list[Step] = []
        for node in reversed(self.order):  # the order in which backward() visits the nodes
            grad = self.grads[node]
            self.steps.append(Step(node, grad, tuple(terms.get(node, ()))))
            i = self.ids[node]
            values = [k for k, x in enumerate(node.operands) if isinstance(x, Value)]
            for k, p, d in zip(values, node.parents, node.local_grads, strict=True):
                self.grads[p] = self.grads.get(p, 0.0) + grad * d
                terms.setdefault(p, []).append(Term(node, grad, d, f"e{i}_{k}"))

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    def name(self, v: Value) -> str:
        """`v`'s label, or ``#i`` (its place in topological order) for an unlabelled value."""
        return v.label or f"#{self.ids[v]}"

    def caption(self, index: int) -> str:
        """What happens at step `index`, in words and numbers (the chain rule)."""
        step = self.steps[index]
        num = self.num
        name = self.name(step.node)
        if not step.terms:
            return (f"{name}.grad = 1: the gradient of the output with respect to itself. "
                    + self._next(step))
        terms = " + ".join(f"{self.name(t.consumer)}.grad × ∂{self.name(t.consumer)}/∂{name}"
                           for t in step.terms)
        numbers = " + ".join(f"{num(t.consumer_grad)} × {num(t.local_grad)}"
                             for t in step.terms)
        return f"{name}.grad = {terms} = {numbers} = {num(step.grad)}. " + self._next(step)

    def _next(self, step: Step) -> str:
        if step.node.is_leaf:
            return f"{self.name(step.node)} is an input: its gradient is final."
        op = SYMBOLS.get(step.node.op, step.node.op)
        return f"Next, {op} passes it back to its operands, times their local derivatives."

    def num(self, x: float) -> str:
        return format_number(x, self.digits)

    # --- drawing -------------------------------------------------------------------------
    def _final_svg(self) -> ET.Element:
        names = {v: self.name(v) for v in self.order if not v.label}
        build = functools.partial(
            build_digraph, self.root, self.order, style=self.style, rankdir=self.rankdir,
            grad_of=self.grads.get, title=self.title, digits=self.digits, names=names)
        svg = diagram(build, len(self.order), self.renderer, self.time_budget).svg()
        ET.register_namespace("", SVG)
        ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
        return ET.fromstring(svg)

    def frame_svgs(self) -> list[str]:
        """Each step's frame as SVG markup (one Graphviz layout for all)."""
        final = self._final_svg()
        return [self._frame(final, index) for index in range(len(self.steps))]

    def _frame(self, final: ET.Element, index: int) -> str:
        svg = copy.deepcopy(final)
        groups = {g.get("id"): g for g in svg.iter(f"{{{SVG}}}g")}
        done = {self.ids[s.node] for s in self.steps[: index + 1]}
        for gid, g in groups.items():
            texts = list(g.iter(f"{{{SVG}}}text"))
            if not gid or "grad" not in g.get("class", "").split() or not texts:
                continue
            i = int(gid[1:].split("_")[0]) if gid[0] in "ve" else int(gid[3:])
            if i not in done:  # the gradient is not known yet
                last = texts[-1]
                last.text = "grad ?" if (last.text or "").startswith("grad ") else "?"
                last.set("fill", UNKNOWN)
        step = self.steps[index]
        i = self.ids[step.node]
        for gid in (f"v{i}", f"op{i}"):
            for shape in _shapes(groups.get(gid)):
                shape.set("stroke", HIGHLIGHT)
                shape.set("stroke-width", "3")
                if self.style == "values" or step.node.op:
                    shape.set("fill", HIGHLIGHT_FILL)
        for term in step.terms:
            for shape in _shapes(groups.get(term.edge_id)):
                shape.set("stroke", HIGHLIGHT)
                shape.set("stroke-width", "3")
                if shape.tag.endswith("polygon"):
                    shape.set("fill", HIGHLIGHT)
        for gid, g in groups.items():  # ids stay unique when frames share a page
            g.set("id", f"f{index}-{gid}")
        return ET.tostring(svg, encoding="unicode")

    def html(self) -> str:
        """The animation as one self-contained HTML page."""
        frames = self.frame_svgs()
        root = self.root.label or "the output"  # not '#8', the name its captions give it
        title = html.escape(self.title or f"Backpropagation through {root}, step by step")
        figures = "\n".join(
            f'<figure class="frame" id="frame{k}"{"" if k == 0 else " hidden"}>'
            f'<figcaption><b>Step {k + 1} of {len(frames)}.</b> '
            f'{html.escape(self.caption(k))}</figcaption>\n{svg}</figure>'
            for k, svg in enumerate(frames))
        return _PAGE.format(title=title, n=len(frames), last=len(frames) - 1, frames=figures,
                            grad=GRAD_COLOR, highlight=HIGHLIGHT)

    def save_animation(self, path: str | Path) -> Path:
        """Write the animation (see `html`) to `path`, conventionally ``*.html``."""
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path


def _shapes(group: ET.Element | None) -> list[ET.Element]:
    if group is None:
        return []
    return [e for e in group if e.tag.split("}")[-1] in ("polygon", "path", "ellipse")]


def backward_steps(root: Value, *, style: Style = "values", rankdir: str = "LR",
                   title: str | None = None, digits: int = 4, max_steps: int = 300,
                   renderer: Renderer = "auto", time_budget: float = TIME_BUDGET
                   ) -> BackwardSteps:
    """The steps of one backward pass from `root`, to animate: see `BackwardSteps`.

    ``backward_steps(loss).save_animation("steps.html")`` writes the page.
    """
    return BackwardSteps(root, style=style, rankdir=rankdir, title=title, digits=digits,
                         max_steps=max_steps, renderer=renderer, time_budget=time_budget)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }}
.controls {{ display: flex; gap: 0.8em; align-items: center; margin: 1em 0; }}
.controls input {{ flex: 1; max-width: 30em; }}
button {{ font-size: 1em; padding: 0.3em 0.9em; }}
figure {{ margin: 0; }}
figcaption {{ margin-bottom: 0.8em; font-size: 1.05em; min-height: 2.5em; }}
svg {{ max-width: 100%; height: auto; }}
.legend span {{ margin-right: 1.5em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="legend"><span>Each edge: the forward value, and below it
<b style="color:{grad}">the gradient</b> that flows back along it.</span>
<span style="color:{highlight}"><b>Orange</b>: this step's node and the edges that carried its
gradient.</span> <span>? : not computed yet.</span></p>
<div class="controls">
<button id="prev" type="button" aria-label="previous step">&#9664; Previous</button>
<input id="slider" type="range" min="0" max="{last}" value="0" aria-label="step">
<button id="next" type="button" aria-label="next step">Next &#9654;</button>
<span id="counter">1 / {n}</span>
</div>
{frames}
<p><small>Keys: &#8592; &#8594; (and Home, End). Written by microgrid.</small></p>
<script>
(function () {{
  var frames = document.querySelectorAll(".frame");
  var slider = document.getElementById("slider");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var counter = document.getElementById("counter");
  var current = 0;
  function show(k) {{
    current = Math.max(0, Math.min(frames.length - 1, k));
    for (var j = 0; j < frames.length; j++) frames[j].hidden = j !== current;
    slider.value = current;
    counter.textContent = (current + 1) + " / " + frames.length;
    prev.disabled = current === 0;
    next.disabled = current === frames.length - 1;
  }}
  prev.addEventListener("click", function () {{ show(current - 1); }});
  next.addEventListener("click", function () {{ show(current + 1); }});
  slider.addEventListener("input", function () {{ show(Number(slider.value)); }});
  document.addEventListener("keydown", function (e) {{
    if (e.target === slider) return;  // the slider handles its own arrow keys
    if (e.key === "ArrowLeft") show(current - 1);
    else if (e.key === "ArrowRight") show(current + 1);
    else if (e.key === "Home") show(0);
    else if (e.key === "End") show(frames.length - 1);
    else return;
    e.preventDefault();
  }});
  show(0);
}})();
</script>
</body>
</html>
"""
