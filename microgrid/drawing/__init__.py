"""Pictures of a graph: the forward value and the gradient on every edge.

- `diagram`: a graph to DOT (`draw`, the two styles, local derivatives and checks, groups
  boxed) and the `Diagram` that saves and shows itself. A new drawing option goes here.
- `collapse`: what a collapsed or focused drawing shows (a `View`), computed without DOT.
- `render`: DOT to SVG, PNG and PDF (graphviz-pure or the system's dot), the fonts
  (``fonts/``), time budgets, files written whole.
- `export`: a drawing's SVG as PDF (svglib, ReportLab) and as TikZ for LaTeX.
- `theme`: the colours, light and dark, and the legend that says what they mean.
- `player`: the step-by-step backward player (`backward_steps`), its page ``player.html`` and
  script ``player.js``.

Imports the core only: drawing knows graphs, not teaching.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (imported at first use: the command line reads `render` without them)
    from microgrid.core.formulas import format_number
    from microgrid.drawing.diagram import Diagram, Style, build_digraph, draw
    from microgrid.drawing.render import Renderer, RenderError

_WHERE = {"Diagram": "drawing.diagram", "Style": "drawing.diagram",
          "build_digraph": "drawing.diagram", "draw": "drawing.diagram",
          "Renderer": "drawing.render", "RenderError": "drawing.render",
          "format_number": "core.formulas"}

if not TYPE_CHECKING:
    def __getattr__(name: str):
        if name not in _WHERE:
            raise AttributeError(f"module 'microgrid.drawing' has no attribute {name!r}")
        return getattr(importlib.import_module(f"microgrid.{_WHERE[name]}"), name)


__all__ = ["Diagram", "RenderError", "Renderer", "Style", "build_digraph", "draw",
           "format_number"]
