"""Drawing: the DOT's edges and labels, both renderers, PNG, goldens, options, bad input.
(How DOT becomes pictures is tested in test_render.py.)"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from conftest import check_golden

from microgrid import (
    Value,
    backward_steps,
    dot,
    draw,
    edges,
    format_number,
)
from microgrid.core.engine import operand_uses, topological_order
from microgrid.drawing import diagram as drawing
from microgrid.drawing import render as rendering
from microgrid.drawing.diagram import GRAD_COLOR, RenderError, render
from microgrid.teaching.demos.apple_orange import build

GOLDEN = Path(__file__).parent / "golden"
SVG_NS = "{http://www.w3.org/2000/svg}"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="no Graphviz dot program on the PATH "
                               "(apt-get install graphviz to test the system-binary path)")

# The book's numbers, edge by edge: (forward value, gradient flowing back along the edge).
# Node ids follow topological order: apple v0, apple_num v1, apple_price v2, orange v3,
# orange_num v4, orange_price v5, all_price v6, tax v7, price v8; edge eI_K is operand K of I.
BOOK_EDGES = {
    "e2_0": ("apple 100", "2.2"), "e2_1": ("apple_num 2", "110"),
    "e5_0": ("orange 150", "3.3"), "e5_1": ("orange_num 3", "165"),
    "e6_0": ("apple_price 200", "1.1"), "e6_1": ("orange_price 450", "1.1"),
    "e8_0": ("all_price 650", "1.1"), "e8_1": ("tax 1.1", "650"),
    "out8": ("price 715", "1"),
}
VALUES_EDGES = {
    "e2_0": ("100", "2.2"), "e2_1": ("2", "110"), "out2": ("200", "1.1"),
    "e5_0": ("150", "3.3"), "e5_1": ("3", "165"), "out5": ("450", "1.1"),
    "e6_0": ("200", "1.1"), "e6_1": ("450", "1.1"), "out6": ("650", "1.1"),
    "e8_0": ("650", "1.1"), "e8_1": ("1.1", "650"), "out8": ("715", "1"),
}
EXPECTED = {"book": BOOK_EDGES, "values": VALUES_EDGES}

EDGE_LINE = re.compile(r'^\t(\S+) -> (\S+) \[(.*)\]$', re.MULTILINE)
ATTRIBUTE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<(?:[^<>]|<[^<>]*>)*>|\S+)')


def dot_edges(source: str) -> list[tuple[str, str, dict[str, str]]]:
    """(tail, head, attributes) of every edge in DOT source written by draw()."""
    result = []
    for tail, head, attrs in EDGE_LINE.findall(source):
        parsed = {k: (q[1:-1] if q[0] in '"<' else q) for k, q in ATTRIBUTE.findall(attrs)}
        result.append((tail, head, parsed))
    return result


def lines(label: str) -> tuple[str, ...]:
    """The text lines of an HTML-like label, without the <font> that colours the gradient."""
    return tuple(re.sub(r"</?font[^>]*>", "", line) for line in label.split("<br/>"))


def edge_labels(source: str) -> dict[str, tuple[str, ...]]:
    return {a["id"]: lines(a["label"]) for _, _, a in dot_edges(source) if "label" in a}


def svg_texts(svg: str) -> dict[str, list[tuple[str, str | None]]]:
    """For each node and edge group of the SVG, by id: its text lines and their fill."""
    root = ET.fromstring(svg)
    groups = {}
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("class", "").split()[:1] in (["node"], ["edge"]):
            groups[g.get("id", "")] = [(t.text or "", t.get("fill"))
                                       for t in g.iter(f"{SVG_NS}text")]
    return groups


@pytest.fixture
def apple_orange() -> Value:
    return build()["price"]


@pytest.fixture
def no_dot(monkeypatch):
    """No system Graphviz on the PATH, as after a plain `pip install` on a fresh machine."""
    monkeypatch.setattr(rendering, "dot_program", lambda: None)


@pytest.mark.parametrize("style", ["values", "book"])
def test_apple_orange_edges_carry_the_books_values_and_gradients(apple_orange, style):
    source = draw(apple_orange, style=style).source
    edges = dot_edges(source)
    # one edge per operand use (4 multiplications/additions with 2 operands each) + outputs
    operand_edges = [e for e in edges if e[2]["id"].startswith("e")]
    assert len(operand_edges) == 8
    output_edges = [e for e in edges if e[2]["id"].startswith("out")]
    assert len(output_edges) == (4 if style == "values" else 1)
    assert edge_labels(source) == EXPECTED[style]
    assert all(a["class"] == "grad" for _, _, a in edges)  # the gradient line is coloured
    assert all(f'<font color="{GRAD_COLOR}">' in a["label"] for _, _, a in edges)


@pytest.mark.parametrize("style", ["values", "book"])
def test_apple_orange_svg_rendered_without_system_graphviz_shows_the_numbers(apple_orange,
                                                                         style, no_dot):
    svg = draw(apple_orange, style=style).svg()
    groups = svg_texts(svg)
    for edge_id, (value, grad) in EXPECTED[style].items():
        assert groups[edge_id] == [(value, None), (grad, GRAD_COLOR)], edge_id
    if style == "values":
        assert groups["v0"] == [("apple", None), ("data 100", None), ("grad 2.2", GRAD_COLOR)]
        assert groups["v7"] == [("tax", None), ("data 1.1", None), ("grad 650", GRAD_COLOR)]
        assert groups["v8"] == [("price", None), ("data 715", None), ("grad 1", GRAD_COLOR)]


@needs_dot
@pytest.mark.parametrize("style", ["values", "book"])
def test_apple_orange_svg_rendered_by_the_dot_program(apple_orange, style):
    diagram = draw(apple_orange, style=style, renderer="dot")
    groups = svg_texts(diagram.svg())
    for edge_id, (value, grad) in EXPECTED[style].items():
        assert groups[edge_id] == [(value, None), (grad, GRAD_COLOR)], edge_id
    assert diagram.pdf().startswith(b"%PDF")


def test_auto_renderer_uses_graphviz_pure_and_dot_only_without_it(apple_orange, monkeypatch):
    calls = []
    real_run = rendering.subprocess.run

    def spy(cmd, *args, **kwargs):
        calls.append(cmd)
        return real_run(cmd, *args, **kwargs)
    monkeypatch.setattr(rendering.subprocess, "run", spy)
    assert "715" in draw(apple_orange).svg()
    assert os.path.basename(calls[-1][0]) == "graphviz-pure" and calls[-1][1] == "-Tsvg"
    if not HAS_DOT:
        pytest.skip("no Graphviz dot program on the PATH (apt-get install graphviz)")
    monkeypatch.setattr(rendering, "bundled_program", lambda: None)
    assert "715" in draw(apple_orange).svg()
    assert os.path.basename(calls[-1][0]) == "dot"


def test_renderer_dot_without_the_program_says_so(apple_orange, no_dot):
    with pytest.raises(RenderError, match="dot program, which is not on the PATH; install"):
        draw(apple_orange, renderer="dot").svg()


def test_pdf_without_the_dot_program_is_drawn_from_the_svg(apple_orange, no_dot, tmp_path):
    pytest.importorskip("svglib", reason="needs the export extra (pip install -e '.[export]')")
    assert draw(apple_orange).save(tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")


def test_pdf_without_the_export_extra_says_what_to_install(apple_orange, no_dot, tmp_path,
                                                          monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "svglib.svglib", None)  # as if svglib were not installed
    with pytest.raises(RenderError, match=r"pip install 'microgrid\[export\]'"):
        draw(apple_orange).save(tmp_path / "g.pdf")
    assert not (tmp_path / "g.pdf").exists()


@pytest.mark.parametrize("style", ["values", "book"])
def test_fan_out_partial_gradients_sum_to_the_grad(style):
    x = Value(3.0, label="x")
    y = x * x + x
    y.backward()
    assert x.grad == 7.0
    source = draw(y, style=style).source
    edges = dot_edges(source)
    mul, add = "op1", "op2"  # x is v0, x*x is v1, y is v2
    leaving_x = [(head, a["label"]) for tail, head, a in edges if tail == "v0"]
    assert sorted(head for head, _ in leaving_x) == [mul, mul, add]
    grads = [float(lines(label)[-1]) for _, label in leaving_x]
    assert sorted(grads) == [1.0, 3.0, 3.0]
    assert sum(grads) == x.grad


def test_constants_are_drawn_as_inputs_without_gradient():
    x = Value(4.0, label="x")
    y = 2 * x
    y.backward()
    edges = dot_edges(draw(y).source)
    constant = [a for tail, _, a in edges if tail.startswith("c")]
    assert len(constant) == 1
    # the number once, as the node where the dashed edge starts, not again on the edge
    assert "label" not in constant[0] and "class" not in constant[0]
    assert constant[0]["style"] == "dashed"
    assert 'c1_0 [label=<2> fontcolor="#555555" id=c1_0 shape=plaintext' in draw(y).source
    assert edge_labels(draw(y).source)["e1_1"] == ("4", "2")


@pytest.mark.parametrize("style", ["values", "book"])
def test_a_constant_is_written_once(style):
    # Issue 24: in the values style each constant was written twice, grey at the start of its
    # dashed edge and again, underlined, on the edge (the 2 of newton, the 0.5/1/2 of E).
    from microgrid.teaching.demos import newton
    x = Value(3.0, "x")
    y = (x * 2.5 + 7.25) ** 3
    y.backward()
    source = draw(y, style=style).source
    for number in ("2.5", "7.25", "<3>"):
        assert source.count(number) == 1, number
    newton_dot = draw(newton.run([])[1], style=style).source
    assert newton_dot.count("<-2>") == 1  # the -2 of -2x² (values: the node; book: the edge)


@pytest.mark.parametrize("style", ["values", "book"])
def test_golden_dot_files(apple_orange, style):
    source = draw(apple_orange, style=style).source
    golden = GOLDEN / f"apple_orange_{style}.dot"
    check_golden(golden, source)


def test_dot_is_deterministic():
    sources = {draw(build()["price"], style=s).source for s in ["book"] * 3}
    assert len(sources) == 1
    a, b = Value(1.0, "a"), Value(2.0, "b")
    y = (a * b + a).tanh()
    y.backward()
    assert draw(y).source == draw(y).source


@pytest.mark.parametrize("renderer", ["auto", "dot"])
def test_png_has_the_svg_size_and_text_pixels(apple_orange, renderer, tmp_path):
    from PIL import Image

    if renderer == "dot" and not HAS_DOT:
        pytest.skip("no Graphviz dot program on the PATH (apt-get install graphviz)")
    diagram = draw(apple_orange, renderer=renderer)
    svg = diagram.svg()
    width_pt, height_pt = map(float, re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                                svg).groups())
    path = diagram.save(tmp_path / "g.png")
    image = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    assert abs(image.size[0] - width_pt * 96 / 72) <= 1
    assert abs(image.size[1] - height_pt * 96 / 72) <= 1
    assert image.size[0] > 400 and image.size[1] > 150
    data = image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    dark = sum(1 for r, g, b in pixels if r + g + b < 200)
    red = sum(1 for r, g, b in pixels if r > 150 and g < 100 and b < 100)
    white = sum(1 for p in pixels if p == (255, 255, 255))
    assert white > 0.7 * len(pixels)  # a white page...
    assert dark > 2000  # ...with black lines and text on it...
    assert red > 200  # ...and red gradients: the text is rendered


def test_save_by_suffix(apple_orange, tmp_path, no_dot):
    from PIL import Image

    diagram = draw(apple_orange)
    assert diagram.save(tmp_path / "g.dot").read_text() == diagram.source
    assert diagram.save(tmp_path / "g.gv").read_text() == diagram.source
    assert diagram.save(tmp_path / "g.svg").read_text() == diagram.svg()
    check_golden(GOLDEN / "apple_orange_values.svg", diagram.svg())  # the expected drawing
    png = diagram.save(tmp_path / "g.PNG").read_bytes()
    assert png == diagram.png()
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (955, 443))  # 716 x 332 pt at 96 dpi
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.tex, \.dot or \.gv"):
        diagram.save(tmp_path / "g.jpeg")


def test_jupyter_display(apple_orange, no_dot):
    import base64
    import html

    diagram = draw(apple_orange)
    bundle = diagram._repr_mimebundle_()
    assert set(bundle) == {"text/html"}  # one copy of the picture
    assert not hasattr(diagram, "_repr_svg_")  # which IPython would add as a second one
    check_golden(GOLDEN / "apple_orange_values.svg", diagram.svg())  # the expected drawing
    # the HTML: the picture, once, at most as wide as the cell; it fits one (955 px), so no
    # line says it is scaled
    page = bundle["text/html"]
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"[^>]*style="([^"]*)"', page)
    assert [style for _, style in images] == ["max-width:100%;height:auto"]
    assert base64.b64decode(images[0][0]).decode() == diagram.svg()
    assert "Scaled" not in page and "large drawing" not in page
    assert html.unescape(page) == page  # nothing in it needed escaping
    assert diagram.digraph.source == diagram.source


def test_options():
    a = Value(2.0, label="a")
    y = (a * 3).exp()
    assert "class=grad" not in draw(y).source  # before backward(): no gradients by default
    y.backward()
    assert "class=grad" in draw(y).source
    assert "class=grad" not in draw(y, show_grads=False).source
    assert "rankdir=TB" in draw(y, rankdir="TB").source
    assert "label=<My graph>" in draw(y, title="My graph").source
    assert "exp" in draw(y).source and "×" in draw(y).source
    labels = edge_labels(draw(y, digits=2).source)
    assert labels["out2"] == ("400", "1")  # e^6 = 403.43 to two significant digits
    assert labels["e2_0"] == ("6", "400")


def test_user_labels_are_text_not_markup():
    a = Value(1.0, label="<b>a\\n</b> & \"q\"")
    y = a + 1
    y.backward()
    source = draw(y).source
    assert ('label=<&lt;b&gt;a\\\\n&lt;/b&gt; &amp; &quot;q&quot;<br/>data 1<br/>'  # \\ doubled
            f'<font color="{GRAD_COLOR}">grad 1</font>>') in source
    source = draw(y, title="<i>title</i>\nline 2", style="book").source
    assert "label=<&lt;i&gt;title&lt;/i&gt;<br/>line 2>" in source


def test_format_number_hides_float_noise():
    assert format_number(715.0000000000001) == "715"
    assert format_number(3.3000000000000003) == "3.3"
    assert format_number(0.1 + 0.2) == "0.3"
    assert format_number(110.00000000000001) == "110"
    assert format_number(-0.0) == "0"
    assert format_number(2.0) == "2"
    assert format_number(-1.5) == "-1.5"
    assert format_number(1e20) == "1e+20"
    assert format_number(0.000012345) == "1.234e-05"
    assert format_number(0.00012) == "0.00012"
    assert format_number(3.14159) == "3.142"
    assert format_number(3.14159, digits=2) == "3.1"
    assert format_number(3.14159, digits=8) == "3.14159"
    assert format_number(1234.5, digits=2) == "1200"
    assert format_number(0.41997434161402614, digits=6) == "0.419974"


def test_size_limit_says_how_to_draw_a_part():
    x = Value(0.5, label="x")
    y = x
    for _ in range(30):
        y = y * 1.01
    with pytest.raises(ValueError, match=r"31 values, more than max_nodes=20.*intermediate.*"
                                         r"collapse=1 or 2 or focus=a_weight"):
        draw(y, max_nodes=20)
    # at the limit, all of it: x and 30 products, their 30 operations and constants 1.01, and
    # 3 edges per product (from the previous value, from the constant, to the product)
    assert drawn_kinds(draw(y, max_nodes=31).source) == ({"v": 31, "op": 30, "c": 30}, 90)


def test_a_large_graph_builds():
    xs = [Value(float(i), label=f"x{i}") for i in range(40)]
    out = Value(0.0)
    for _ in range(25):
        out = out + sum((x * 0.5 for x in xs), Value(0.0)).tanh()
    out.backward()
    # 40 inputs and the first 0; each of 25 rounds adds a sum's start 0, 40 products, 40 sums,
    # a tanh and a sum (83 values, 82 operations, 40 constants 0.5); each operation has an edge
    # per operand and one to its value: 25 * (2 * 81 + 1) + 2050 = 6125 (speed: benchmarks/)
    assert drawn_kinds(draw(out).source) == ({"v": 2116, "op": 2050, "c": 1000}, 6125)


def drawn_kinds(source):
    """How many nodes of each kind (v values, op operations, c constants) a DOT source
    declares, and how many edges."""
    kinds = Counter(re.match(r"[a-z]+", name)[0]
                    for name in re.findall(r"^\t(\w+) \[", source, re.M))
    return {k: n for k, n in kinds.items() if k not in ("node", "edge", "graph")}, \
        source.count(" -> ")


def test_a_tangled_mlp_graph_renders(no_dot):
    # Fourteen examples through one MLP (overflowed the WebAssembly Graphviz's default stack)
    from microgrid.nn import MLP

    model = MLP(2, [16, 16, 1], seed=0)
    out = sum((model([0.5 + k, -0.25]) for k in range(14)), Value(0.0))
    assert isinstance(out, Value)
    out.backward()
    diagram = draw(out, time_budget=120)  # about 10 s: past the default budget
    groups = svg_texts(diagram.svg())
    assert diagram.layout == "fast"  # past FAST_LAYOUT_NODES values
    assert len(groups) > 1000
    assert any(text.startswith("w[2]_15_15") for lines in groups.values() for text, _ in lines)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"style": "fancy"}, ValueError, "style must be 'values' or 'book'"),
    ({"rankdir": "up"}, ValueError, "rankdir must be"),
    ({"digits": 0}, ValueError, "digits must be an int from 1 to 17"),
    ({"digits": 2.5}, ValueError, "digits must be"),
    ({"max_nodes": -1}, ValueError, "max_nodes must be a positive int"),
    ({"renderer": "wasm"}, ValueError, "renderer must be 'auto', 'bundled' or 'dot'"),
    ({"time_budget": 0}, ValueError, "time_budget must be a positive number of seconds"),
    ({"time_budget": float("nan")}, ValueError, "time_budget must be"),
    ({"time_budget": "5"}, ValueError, "time_budget must be"),
])
def test_bad_options(kwargs, error, match):
    y = Value(1.0) + 1
    with pytest.raises(error, match=match):
        draw(y, **kwargs)


def test_drawing_something_else_than_a_value():
    with pytest.raises(TypeError, match="^draw: expected a Value, got float 3.0"):
        draw(3.0)  # type: ignore[arg-type]


def test_a_leaf_draws():
    x = Value(2.0, label="x")
    assert edge_labels(draw(x).source) == {}
    assert "data 2" in draw(x).source


def test_render_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="format must be"):
        render("digraph {}", "gif")


@pytest.mark.parametrize("style", ["values", "book"])
def test_operation_circles_grow_to_fit_their_symbol(style):
    # 'tanh', 'Σwx' and 'σ' must lie inside their circles: the circle grows past its
    # minimum width for a longer symbol, and sigmoid is shown as σ
    from microgrid import dot

    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c")
    y = (dot([a, b], [c, c]) + a * b).tanh().sigmoid()
    y.backward()
    svg = ET.fromstring(draw(y, style=style).svg())
    radius, symbol = {}, {}
    for g in svg.iter(f"{SVG_NS}g"):
        if g.get("class") == "node" and g.get("id", "").startswith("op"):
            (ellipse,) = g.iter(f"{SVG_NS}ellipse")
            (text,) = g.iter(f"{SVG_NS}text")
            symbol[g.get("id")] = text.text
            radius[text.text] = float(ellipse.get("rx", 0))
    assert sorted(radius) == sorted(["Σwx", "×", "+", "tanh", "σ"]), symbol
    assert radius["×"] == radius["+"] == radius["σ"]  # one-character symbols: the minimum
    for text, r in radius.items():  # about 0.55 em per character at font size 14
        assert 2 * r >= 0.55 * 14 * len(text), text
    if style == "values":  # the minimum width is smaller there: the wide symbols grow
        assert radius["tanh"] > radius["+"] and radius["Σwx"] > radius["+"]


def test_gradients_show_when_the_drawn_roots_own_gradient_is_zero():
    # a dead ReLU: its input's gradient is 0 after backward, but the graph below it has some
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    h = x * w
    y = h.relu() + x
    y.backward()
    assert h.grad == 0 and x.grad == 1
    labels = edge_labels(draw(h).source)
    assert labels["e2_0"] == ("2", "0") and labels["out2"] == ("-6", "0")
    assert "class=grad" in draw(h).source
    assert "class=grad" not in draw(h, show_grads=False).source
    z = Value(1.0, label="z") * 2  # before any backward(): no gradients
    assert "class=grad" not in draw(z).source


def test_a_diagram_renders_once_until_its_dot_changes(apple_orange, monkeypatch, tmp_path):
    calls = []
    real_render = drawing.render

    def counting(source, fmt, *args, **kwargs):
        calls.append((source, fmt))
        return real_render(source, fmt, *args, **kwargs)
    monkeypatch.setattr(drawing, "render", counting)
    diagram = draw(apple_orange)
    svg = diagram.svg()
    assert diagram.svg() == svg and svg.encode() in diagram.encode("g.svg")
    assert base64.b64encode(svg.encode()).decode() in diagram._repr_mimebundle_()["text/html"]
    assert diagram.save(tmp_path / "g.svg").read_text() == svg
    assert [fmt for _, fmt in calls] == ["svg"]
    assert diagram.png().startswith(b"\x89PNG")
    assert diagram.save(tmp_path / "g.png").read_bytes() == diagram.png()
    assert [fmt for _, fmt in calls] == ["svg", "png", "png", "png"]  # PNG is drawn each time
    diagram.digraph.attr(label="changed")  # the Digraph is mutable: the SVG follows it
    assert "changed" in diagram.svg() and "changed" not in svg
    assert calls[-1] == (diagram.source, "svg")


def test_a_full_layout_that_used_the_whole_budget_leaves_none_for_the_fast_one(
        apple_orange, monkeypatch):
    from microgrid.drawing.render import LayoutTimeout

    clock = iter([0.0, 7.0])  # the full layout's attempt ended past the budget of 6 s
    monkeypatch.setattr(drawing.time, "monotonic", lambda: next(clock))
    budgets = []

    def too_slow(source, fmt, renderer, *, time_budget):
        budgets.append(time_budget)
        raise LayoutTimeout(time_budget)
    monkeypatch.setattr(drawing, "render", too_slow)
    with pytest.raises(RenderError, match=r"within time_budget=6 s, even with its faster"):
        draw(apple_orange).svg()
    assert budgets == [1.5]  # a quarter for the full layout, and nothing left to try the fast


def _curve(d: str, steps: int = 20) -> list[tuple[float, float]]:
    """Points along an SVG path of cubic Béziers (Graphviz's edges: M p0 C p1 p2 p3 ...)."""
    nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]
    pts = list(zip(nums[::2], nums[1::2], strict=False))
    out = []
    for i in range(0, len(pts) - 3, 3):
        p0, p1, p2, p3 = pts[i:i + 4]
        for k in range(steps + 1):
            t = k / steps
            out.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t * t * c
                             + t ** 3 * e for a, b, c, e in zip(p0, p1, p2, p3, strict=True)))
    return out  # type: ignore[return-value]


def _line(t: ET.Element) -> list[tuple[float, float]]:
    """Points along a label's line of text, at mid-height: from where it starts, as wide as
    its characters at 0.5 em each (Arimo's digits are 0.56 em, its narrow letters less)."""
    x, y = float(t.get("x", 0)), float(t.get("y", 0)) - 4
    width = 0.5 * float(t.get("font-size", 11)) * len(t.text or "")
    if t.get("text-anchor") == "middle":
        x -= width / 2
    return [(x + width * k / 10, y) for k in range(11)]


Points = list[tuple[float, float]]


def label_lines(svg: str) -> dict[str, tuple[Points, list[Points], list[Points], Points]]:
    """Each edge of a rendered drawing: points along its curve; its label's lines, each as
    points along it; the text of its tail when that is an input drawn as text where its edge
    starts (an unshaped node with one edge out), as points around the text, from where the
    text starts to where the edge starts: that edge touches it, no other may; and the points of
    its decoration (Graphviz's ``decorate``: the label underlined, a line to its edge)."""
    tree = ET.fromstring(svg)
    edges: dict[str, tuple[Points, list[Points], list[Points], Points]] = {}
    tails: dict[str, list[str]] = {}
    for g in tree.iter(f"{SVG_NS}g"):
        if g.get("class", "").startswith("edge"):
            path = g.find(f"{SVG_NS}path")
            line = g.find(f"{SVG_NS}polyline")
            nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?",
                                                 "" if line is None else line.get("points", ""))]
            steps = 20 if line is None else 200  # a decoration ends on its edge: finely
            edges[g.get("id", "")] = (_curve(path.get("d", ""), steps) if path is not None else [],
                                      [_line(t) for t in g.iter(f"{SVG_NS}text")], [],
                                      list(zip(nums[::2], nums[1::2], strict=True)))
            title = g.findtext(f"{SVG_NS}title", "")
            tails.setdefault(title.split("->")[0], []).append(g.get("id", ""))
    for g in tree.iter(f"{SVG_NS}g"):
        title = g.findtext(f"{SVG_NS}title", "")
        shaped = any(g.find(f"{SVG_NS}{s}") is not None for s in ("ellipse", "polygon", "path"))
        if ("node" not in g.get("class", "").split() or shaped
                or len(tails.get(title, [])) != 1):
            continue
        edge = tails[title][0]
        end = edges[edge][0][0][0]  # the text ends where its edge starts
        texts = [(float(t.get("x", 0)), float(t.get("y", 0))) for t in g.iter(f"{SVG_NS}text")]
        left = min(x for x, _ in texts)
        top, bottom = min(y for _, y in texts) - 12, max(y for _, y in texts) + 3
        edges[edge][2].append(
            [(left + (end - left) * k / 10, y) for k in range(11) for y in (top, bottom)]
            + [(x, top + (bottom - top) * k / 4) for k in range(5) for x in (left, end)])
    return edges


LABEL_DEMOS = [(demo, style) for demo in ("apple", "apple_orange", "perceptron", "mlp_backprop",
                                          "notation", "newton", "derivatives")
               for style in ("values", "book")]  # compiled draws apple_orange; train: see collapse


@pytest.mark.parametrize(("demo", "style"), LABEL_DEMOS)
def test_every_label_line_is_nearer_its_own_edge_than_any_other(demo, style, capsys):
    # The complaint of issue 12: "150 / 3.3" and "3 / 165" at the lower x of apple/orange,
    # the second operand's label set above its edge, nearer the first one; and the fans of
    # inputs into each Σwx of mlp_backprop and notation (26 of 101 lines and 16 of 81 in the
    # book style, 17 of 148 and 12 of 118 in the values style, were nearer another edge), and
    # the operands of an operation with a constant (newton, derivatives: the tanh's edges into
    # the two x(-1), crossed by the second -1's dashed edge; 1, 2 and 1 lines).
    # A decorated label is joined to its edge by a line: it is checked to be.
    import importlib
    import math
    root = importlib.import_module(f"microgrid.teaching.demos.{demo}").run([])[1]
    edges = label_lines(draw(root, style=style).svg())
    assert len(edges) > 4
    checked = 0
    for edge, (points, lines, boxes, decoration) in edges.items():
        if decoration:  # the label underlined, and a line from it to a point of its edge
            (x0, y0), (x1, y1), end = decoration
            assert y0 == y1 and min(math.dist(end, p) for p in points) < 1
            assert y0 - 8 < max(y for line in lines for _, y in line) < y0  # right under it
            assert min(x0, x1) - 2 <= min(x for line in lines for x, _ in line)
            checked += len(lines)
            lines = []
        for line in lines + boxes:
            checked += 1
            own = min(math.dist(xy, p) for xy in line for p in points)
            other = min(math.dist(xy, p) for xy in line
                        for k, (q, *_) in edges.items() if k != edge for p in q)
            assert own < other, (edge, line[0])
    assert checked >= 10


@pytest.mark.parametrize("style", ["values", "book"])
def test_a_whole_networks_labels_are_each_joined_to_their_own_edge(style):
    # Past SPACED_NODES values (here README's network on one input, 402 values; the train
    # demo draws one of 411) the edges crowd, and 29 of the train demo's 1,487 label lines
    # (values style; book: 9 of 1,004) sat nearer another edge than their own: every label is
    # joined to its edge by a line, and that line ends nearer its own edge than any other.
    import math

    import numpy as np

    from microgrid import nn
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    assert len(topological_order(out)) > drawing.SPACED_NODES
    # the full layout, also on a loaded machine (past the time budget, the fast one is drawn)
    edges = label_lines(draw(out, style=style, time_budget=120).svg())
    cell = 100.0  # points of every edge, by square cells of this size
    grid: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
    for k, (curve, *_) in enumerate(edges.values()):
        for x, y in curve:
            grid.setdefault((int(x // cell), int(y // cell)), []).append((x, y, k))

    def nearest_edge(line: Points) -> int:
        """The edge nearest to `line`'s points, among those in the cells around them."""
        cells = {(int(x // cell) + i, int(y // cell) + j) for x, y in line
                 for i in (-1, 0, 1) for j in (-1, 0, 1)}
        near = np.array([p for c in cells for p in grid.get(c, ())])
        d = np.sqrt(((np.array(line)[:, None, :] - near[None, :, :2]) ** 2).sum(-1)).min(0)
        return int(near[d.argmin(), 2])

    checked = 0
    for k, (edge, (_, lines, boxes, decoration)) in enumerate(edges.items()):
        assert decoration or not lines, edge  # a label on the edge is joined to it
        if decoration:
            assert math.isclose(decoration[0][1], decoration[1][1])  # the underline
            assert nearest_edge([decoration[2]]) == k, edge  # and the line to its edge
            checked += 1
        for box in boxes:  # an input drawn as text where its edge starts
            assert nearest_edge(box) == k, edge
            checked += 1
    assert checked > 600


def test_a_value_used_many_times_is_laid_out_fast_from_the_start(monkeypatch):
    # A leaf used at every step of a chain has long edges, which take Graphviz's full layout
    # minutes: such a graph goes to the fast layout at once, without trying the full one.
    a, y = Value(0.5, "a"), Value(0.0, "y0")
    for _ in range(drawing.MANY_USES + 1):
        y = (y * 0.9 + a).tanh()
    calls = []
    real_render = drawing.render

    def counting(source, fmt, *args, **kwargs):
        calls.append(source)
        return real_render(source, fmt, *args, **kwargs)
    monkeypatch.setattr(drawing, "render", counting)
    diagram = draw(y)
    assert diagram.layout == "fast" and drawing.fan_out(topological_order(y)) == 21
    diagram.svg()
    assert len(calls) == 1 and "nslimit=1" in calls[0]
    b, z = Value(0.5, "b"), Value(0.0, "z0")
    for _ in range(drawing.MANY_USES):
        z = (z * 0.9 + b).tanh()
    assert draw(z).layout == "full"


# --- one meaning of an operand's index ------------------------------------------------------
def graphs_with_constants() -> list[Value]:
    x, w = Value(3.0, "x"), Value(-2.0, "w")
    return [2 * x, x * 2, 1 - x, x - 1, x.clamp(-5, 5), x.leaky_relu(0.1), 2 ** x,
            dot([w, 0.5], [x, x], 1.0), dot([2.0, w], [x, 4.0], w), (2 * x) * (x + 1) / w]


def test_operand_uses_numbers_operands_among_all_operands():
    x = Value(3.0, "x")
    assert list(operand_uses(2 * x)) == [(0, 2, None, None), (1, x, x, 2.0)]
    assert list(operand_uses(x * 2)) == [(0, x, x, 2.0), (1, 2, None, None)]
    assert list(operand_uses(x.clamp(-5, 5))) == [(0, x, x, 1.0), (1, -5.0, None, None),
                                                  (2, 5.0, None, None)]
    assert list(operand_uses(x)) == []


@pytest.mark.parametrize("style", ["values", "book"])
@pytest.mark.parametrize("k", range(len(graphs_with_constants())))
def test_edge_index_names_the_drawn_edge(style, k):
    """edges()'s index k of a use of parent j by node i is the drawing's edge e{i}_{k}, which
    goes from the parent (its box, or its operation in the book style) to node i's operation;
    the player's terms name the same edges."""
    root = graphs_with_constants()[k]
    root.backward()
    order = topological_order(root)
    ids = {v: i for i, v in enumerate(order)}
    drawn = {m["id"]: (m["tail"], m["head"]) for m in re.finditer(
        r"^\t(?P<tail>\w+) -> (?P<head>\w+) \[.*\bid=(?P<id>\w+)", draw(root, style=style).source,
        re.M)}
    expected = {}
    for e in edges(root):
        i, j = ids[e.child], ids[e.parent]
        tail = f"op{j}" if style == "book" and e.parent.op else f"v{j}"
        expected[f"e{i}_{e.index}"] = (tail, f"op{i}")
        assert e.child.operands[e.index] is e.parent
    assert {gid: ends for gid, ends in drawn.items() if not ends[0].startswith("c")
            and ends[1] != "out" and not gid.startswith("out")} == expected
    steps = backward_steps(root, style=style)
    terms = {steps.edge_id(t): (ids[s.node], ids[t.consumer]) for s in steps for t in s.terms}
    assert terms == {f"e{ids[e.child]}_{e.index}": (ids[e.parent], ids[e.child])
                     for e in edges(root)}
