"""Pictures for slides and papers: PNG at 300 dpi, PDF and TikZ without the system's Graphviz,
the legend and the dark theme; and a PNG after its SVG, whose render is given time to draw."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from microgrid import Value, draw, nn, topological_order
from microgrid.cli import main
from microgrid.drawing import diagram as drawing
from microgrid.drawing import render
from microgrid.drawing import theme as themes
from microgrid.drawing.render import LayoutTimeout, RenderError
from microgrid.teaching.demos.apple_orange import build

EXPORT = "needs the export extra (pip install -e '.[export]')"


@pytest.fixture
def no_dot(monkeypatch):
    """No system Graphviz on the PATH, as after a plain `pip install` on a fresh machine."""
    monkeypatch.setattr(render, "dot_program", lambda: None)


def neuron(local: bool = False) -> Value:
    a, b, c = Value(2, "a"), Value(-3, "b"), Value(10, "c")
    y = (a * b + c).tanh()
    y.label = "y"
    y.backward()
    return y


def rgb_pixels(png: bytes) -> list[tuple[int, int, int]]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    data = image.tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def test_a_300_dpi_png_for_slides_has_the_size_and_the_text(tmp_path):
    from PIL import Image

    diagram = draw(build()["price"])
    screen = diagram.save(tmp_path / "screen.png").read_bytes()
    slide = diagram.save(tmp_path / "slide.png", dpi=300).read_bytes()
    assert Image.open(io.BytesIO(screen)).size == (955, 443)  # 716 x 332 pt at 96 dpi
    width, height = Image.open(io.BytesIO(slide)).size
    assert abs(width - 716 * 300 / 72) <= 2 and abs(height - 332 * 300 / 72) <= 2
    # the text is drawn at that resolution: (300/96)^2 = 9.8 times the red and dark pixels
    for is_ink in (lambda r, g, b: r + g + b < 200,  # black lines and text
                   lambda r, g, b: r > 150 and g < 100 and b < 100):  # red gradients
        few = sum(1 for p in rgb_pixels(screen) if is_ink(*p))
        many = sum(1 for p in rgb_pixels(slide) if is_ink(*p))
        assert few > 200 and 6 < many / few < 14, (few, many)


def test_a_png_at_300_dpi_stays_within_the_pixel_budget():
    diagram = draw(build()["price"])
    with pytest.warns(UserWarning, match=r"drawn at \d+ dpi to stay within max_pixels=2000000"):
        png = diagram.png(max_pixels=2_000_000, dpi=300)
    assert render.png_size(png)[0] * render.png_size(png)[1] <= 2_000_000 * 1.02


@pytest.mark.parametrize("dpi", [0, 301, -5, True, "300"])
def test_a_bad_dpi_is_refused(dpi, tmp_path):
    with pytest.raises(ValueError, match=r"dpi must be a number from 1 to 300, got"):
        draw(build()["price"]).save(tmp_path / "g.png", dpi=dpi)


def test_dpi_is_for_png_only(tmp_path):
    with pytest.raises(ValueError, match=r"dpi is a PNG's resolution; '.*g.svg' is not a .png"):
        draw(build()["price"]).save(tmp_path / "g.svg", dpi=300)


def test_a_png_after_its_svg_gets_time_to_draw_its_pixels(monkeypatch):
    """The docs' MLP with clusters: its SVG laid out within the budget, its PNG (40
    megapixels) raised LayoutTimeout: Graphviz needed longer to draw its pixels than the
    budget, which was the layout's. Now the PNG's render gets the budget and time per pixel."""
    budgets: dict[str, float] = {}
    real = drawing.render

    def recording(source, fmt, renderer, **kwargs):
        budgets[fmt] = kwargs["time_budget"]
        if fmt == "png":  # the pixels are not what is tested: a small stand-in
            return real(source, fmt, renderer, dpi=10, time_budget=60)
        return real(source, fmt, renderer, **kwargs)
    monkeypatch.setattr(drawing, "render", recording)
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    diagram = draw(out, clusters=True, time_budget=60)
    diagram.svg()
    with pytest.warns(UserWarning, match="megapixels"):
        diagram.png()
    assert budgets["svg"] <= 60
    assert budgets["png"] >= 60 + 40  # the budget, and 1 s per megapixel of the 40


def test_a_png_that_still_runs_out_says_what_to_do(monkeypatch):
    real = drawing.render

    def slow_png(source, fmt, renderer, **kwargs):
        if fmt == "png":
            raise LayoutTimeout(kwargs["time_budget"])
        return real(source, fmt, renderer, **kwargs)
    monkeypatch.setattr(drawing, "render", slow_png)
    diagram = draw(build()["price"])
    diagram.svg()
    with pytest.raises(RenderError, match=r"could not draw this PNG .* lower dpi or max_pixels, "
                                          r"save it as SVG or PDF, draw a part .*collapse=1 or 2 "
                                          r"or focus=a_weight, or pass a larger time_budget"):
        diagram.png()


def test_every_render_error_names_the_remedies():
    for message in (str(LayoutTimeout(6)), drawing.Diagram(draw(neuron()).digraph)._too_slow()):
        assert "draw a part of it" in message and "collapse=" in message
        assert "focus=" in message and "larger time_budget" in message


def pdf_fonts(data: bytes) -> list[str]:
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (pip install -e '.[dev]')")
    fonts = pypdf.PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"]
    return [str(fonts[k].get_object()["/BaseFont"]) for k in fonts]


def pdf_text(data: bytes) -> tuple[str, list[str]]:
    """The text of a one-page PDF, and the names of its fonts that are embedded."""
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (pip install -e '.[dev]')")
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    fonts = page["/Resources"]["/Font"]
    embedded = [str(f["/BaseFont"]) for f in (fonts[k].get_object() for k in fonts)
                if "/FontDescriptor" in f and "/FontFile2" in f["/FontDescriptor"]]
    return page.extract_text(), embedded


def test_a_pdf_without_graphviz_keeps_its_text_as_text_in_the_embedded_font(no_dot, tmp_path):
    pytest.importorskip("svglib", reason=EXPORT)
    path = draw(neuron(), local=True, check=True).save(tmp_path / "g.pdf")
    text, embedded = pdf_text(path.read_bytes())
    words = text.split()
    for label in ("a", "b", "c", "data", "grad", "tanh", "-0.004023", "0.9993", "numeric"):
        assert label in words, label
    assert "∂/∂a" in text and "1 − tanh² = 0.001341" in text  # not only ASCII
    assert embedded and all(name.endswith("Arimo-Regular") for name in embedded), embedded
    assert len(embedded) == len(pdf_fonts(path.read_bytes()))  # every font is embedded
    assert draw(neuron(), local=True, check=True).pdf() == path.read_bytes()  # reproducible


def compile_tex(tex_path) -> bytes:
    engine = shutil.which("pdflatex") or shutil.which("lualatex")
    if engine is None:
        pytest.skip("no LaTeX (apt-get install texlive-latex-base texlive-pictures)")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error",
                             tex_path.name], cwd=tex_path.parent, capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout.decode(errors="replace")[-3000:]
    return tex_path.with_suffix(".pdf").read_bytes()


@pytest.mark.parametrize("style", ["values", "book"])
def test_tikz_compiles_and_keeps_every_number(no_dot, tmp_path, style):
    pytest.importorskip("pypdf", reason="needs pypdf (pip install -e '.[dev]')")
    y = neuron()
    path = draw(y, local=True, style=style, title="a neuron & its {grads} at 100%").save(
        tmp_path / "g.tex")
    tex = path.read_text()
    assert r"\begin{tikzpicture}" in tex and r"$\partial$" in tex
    text, _ = pdf_text(compile_tex(path))
    words = text.split()
    for number in ("-0.004023", "0.002682", "0.9993", "0.001341"):
        assert number in words, number
    assert "a neuron & its {grads} at 100%" in text  # LaTeX's special characters, escaped


def test_a_pdf_warns_of_letters_its_font_lacks(no_dot):
    pytest.importorskip("svglib", reason=EXPORT)
    with pytest.warns(UserWarning, match=r"the PDF's font \(Arimo\) has no letters for '学习✓'"):
        draw(Value(1.0, "学习 ✓")).pdf()


def test_tikz_of_labels_in_other_scripts_still_compiles(no_dot, tmp_path):
    x = Value(2.0, "学习")
    y = (x * x).tanh()
    y.label = "输出 ✓"
    y.backward()
    tex = draw(y, legend=True).save(tmp_path / "g.tex").read_text()
    assert r"\DeclareUnicodeCharacter{5B66}{?}" in tex  # pdflatex: a '?'; lualatex: itself
    text, _ = pdf_text(compile_tex(tmp_path / "g.tex"))
    assert "0.9993" in text.split()


def test_cli_demo_draws_pdf_and_tikz_with_no_graphviz(no_dot, tmp_path, capsys):
    pytest.importorskip("svglib", reason=EXPORT)
    for name in ("ao.pdf", "ao.tex"):
        assert main(["demo", "apple_orange", "-o", str(tmp_path / name)]) == 0
        assert f"drew the graph to {tmp_path / name}" in capsys.readouterr().out
    assert (tmp_path / "ao.pdf").read_bytes().startswith(b"%PDF")
    assert "715" in (tmp_path / "ao.tex").read_text()


def test_the_legend_says_what_each_colour_shown_means():
    plain = draw(neuron(), legend=True).source
    assert "red</font>: the gradient" in plain and "dashed" not in plain
    assert "blue" not in plain and "green" not in plain  # only what the drawing shows
    full = draw(neuron(), local=True, check=True, legend=True, title="t").source
    for meaning in ("red</font>: the gradient", "blue</font>: the local derivative",
                    "green</font>: the gradient by central differences"):
        assert meaning in full
    assert re.search(r'label=<t<br/><font point-size="11">', full)  # under the title
    x = Value(2.0, "x")
    y = 2 * x
    y.backward()
    assert "dashed, grey</font>: a constant" in draw(y, legend=True).source
    assert "the gradient that flows" not in draw(neuron()).source


def test_the_legend_is_drawn_under_the_picture():
    svg = draw(neuron(), legend=True).svg()
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "red" in texts
    assert ": the gradient that flows back along an edge, and a value's grad" in texts
    assert render.svg_size(svg)[1] > render.svg_size(draw(neuron()).svg())[1]


def test_the_dark_theme_swaps_every_colour():
    y = neuron()
    dark = draw(y, theme="dark", local=True, check=True, legend=True).source
    assert 'bgcolor="#1e1e1e"' in dark
    for light in themes.DARK:
        assert light not in dark
    assert themes.DARK[themes.GRAD_COLOR] in dark and themes.DARK[themes.LOCAL_COLOR] in dark
    model = nn.MLP(2, [4, 1], seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    collapsed = draw(out, collapse=1, theme="dark").source
    assert themes.BLOCK_COLOR not in collapsed and themes.DARK[themes.BLOCK_COLOR] in collapsed
    x = next(v for v in topological_order(y) if v.label == "a")
    for options, colour in [({"forward": x}, themes.FORWARD_COLOR),
                            ({"nudge": {x: 0.01}}, themes.NUDGE_COLOR)]:
        light = draw(y, **options).source  # forward mode's purple, a nudge's teal
        dark = draw(y, theme="dark", **options).source
        assert colour in light and colour not in dark and themes.DARK[colour] in dark
    with pytest.raises(ValueError, match="theme must be 'light' or 'dark', got 'night'"):
        draw(y, theme="night")  # type: ignore[arg-type]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_colour_is_readable_on_its_page_and_in_a_collapsed_box(theme):
    page, ink = themes.page_and_ink(theme)
    box = themes.DARK[themes.BLOCK_COLOR] if theme == "dark" else themes.BLOCK_COLOR
    warn = themes.DARK[themes.WARN_FILL] if theme == "dark" else themes.WARN_FILL
    for color in themes.palette(theme):  # text: WCAG AA
        for background in (page, box, warn):
            assert themes.contrast(color, background) >= 4.5, (color, background)
    focus = themes.DARK[themes.FOCUS_COLOR] if theme == "dark" else themes.FOCUS_COLOR
    assert themes.contrast(focus, page) >= 4.5  # the legend's "blue border", on the page
    for color in themes.palette(theme, text=False):  # lines and borders: 3
        assert themes.contrast(color, page) >= 3, color


def test_a_dark_png_is_dark_with_light_text():
    pixels = rgb_pixels(draw(neuron(), theme="dark").png())
    dark = sum(1 for r, g, b in pixels if r + g + b < 120)
    light = sum(1 for r, g, b in pixels if r + g + b > 600)
    red = sum(1 for r, g, b in pixels if r > 200 and g < 150 and b < 150)
    assert dark > 0.7 * len(pixels) and light > 500 and red > 200


def test_tikz_centres_each_line_where_graphviz_does():
    """Graphviz starts each line of a box's label where Arimo's widths centre it; TikZ, in
    another font, centres it there: at the box's middle."""
    pytest.importorskip("fontTools", reason=EXPORT)
    from microgrid.drawing.export import SVG, _width

    root = ET.fromstring(draw(build()["price"]).svg())
    checked = 0
    for group in root.iter(f"{SVG}g"):
        if "node" not in (group.get("class") or "").split() or not group.get("id", "")[:1] == "v":
            continue
        path = group.find(f"{SVG}path")
        xs = [float(x) for x in re.findall(r"(-?[\d.]+),", path.get("d", ""))]
        middle = (min(xs) + max(xs)) / 2
        for text in group.iter(f"{SVG}text"):
            assert text.get("text-anchor") == "start"
            centre = float(text.get("x")) + _width(text.text, float(text.get("font-size"))) / 2
            assert abs(centre - middle) < 1.0, (text.text, centre, middle)
            checked += 1
    assert checked == 27  # 9 boxes of 3 lines
    tex = draw(build()["price"]).tikz()
    assert r"\node[anchor=base west" not in tex  # every line centred (anchor=base)
