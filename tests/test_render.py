"""Rendering: one font on every machine, text inside its shapes, threads, the time budget,
Ctrl-C, crashes and bad text as one-line errors, pixel budget, atomic writes."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from microgrid import Value, draw, topological_order
from microgrid.drawing import diagram as drawing
from microgrid.drawing import render
from microgrid.drawing.render import FONT, LayoutTimeout, RenderError, embed_font, write_atomically
from microgrid.teaching.demos.apple_orange import build

SVG_NS = "{http://www.w3.org/2000/svg}"
FONT_FILE = Path(render.__file__).parent / "fonts" / "Arimo-subset.woff2"


def recurrent_chain(steps: int) -> Value:
    """y = tanh(0.9 y + a), unrolled: a leaf used at every step, whose long edges made
    Graphviz's full layout take minutes at 45 steps."""
    a, y = Value(0.5, "a"), Value(0.0, "y0")
    for _ in range(steps):
        y = (y * 0.9 + a).tanh()
    y.backward()
    return y


def full_layout_source(y: Value) -> str:
    """The DOT of `y` for Graphviz's full layout (which `draw` would not try on a chain)."""
    from microgrid.drawing.diagram import build_digraph
    return build_digraph(y, topological_order(y), style="values", rankdir="LR",
                         grad_of=lambda v: v.grad, title=None, digits=4).source


# LaTeX's fonts, which fontconfig finds too (Debian's fonts-lmodern, with texlive-latex-base)
TEX_FONTS = ("/usr/share/texmf/fonts", "/usr/share/texlive/texmf-dist/fonts")


def without_system_fonts(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run Python `code` with every system font folder hidden, as on a machine with no font
    package (a private mount namespace with empty font folders; needs root and unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding the system fonts needs root and unshare (a mount namespace)")
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    folders = [f for f in ("/usr/share/fonts", "/usr/local/share/fonts", "/root/.fonts",
                           "/root/.local/share/fonts", *TEX_FONTS) if Path(f).is_dir()]
    mounts = "".join(f"mount -t tmpfs none {f} && " for f in folders)
    check = "test -z \"$(fc-list 2>/dev/null)\" && "  # fontconfig finds nothing
    result = subprocess.run(["unshare", "-m", "sh", "-c",
                             f"{mounts}{check}{sys.executable} {script}"],
                            capture_output=True, text=True, timeout=300)
    if result.returncode and "unshare:" in result.stderr:
        pytest.skip(f"no mount namespace here: {result.stderr.strip()}")
    return result


def node_boxes(svg: str) -> dict[str, tuple[float, float, float, float, list[ET.Element]]]:
    """Each values-style box of the SVG, by id: (left, top, right, bottom) in SVG user units,
    graph translation applied, and its text elements."""
    root = ET.fromstring(svg)
    graph = next(g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "graph")
    tx, ty = map(float, re.search(r"translate\(([-\d.]+) ([-\d.]+)\)",
                                  graph.get("transform", "")).groups())
    boxes = {}
    for g in root.iter(f"{SVG_NS}g"):
        if (g.get("class") or "").startswith("node") and (g.get("id") or "").startswith("v"):
            path = g.find(f"{SVG_NS}path")
            if path is None:
                continue
            numbers = [float(n) for n in re.findall(r"-?[\d.]+", path.get("d", ""))]
            xs, ys = numbers[0::2], numbers[1::2]
            boxes[g.get("id")] = (min(xs) + tx, min(ys) + ty, max(xs) + tx, max(ys) + ty,
                                  list(g.iter(f"{SVG_NS}text")))
    return boxes


def test_every_svg_carries_the_font_it_is_drawn_in():
    svg = draw(build()["price"]).svg()
    match = re.search(r'@font-face\{font-family:"Arimo";src:url\(data:font/woff2;base64,'
                      r'([A-Za-z0-9+/=]+)\)', svg)
    assert match and base64.b64decode(match[1]) == FONT_FILE.read_bytes()
    families = set(re.findall(r'font-family="([^"]*)"', svg))
    assert families == {"Arimo,Arial,Helvetica,sans-serif"}
    ET.fromstring(svg)  # still well-formed XML


def test_the_bundled_font_is_the_one_graphviz_measures_with():
    # Graphviz sizes text with Arial's widths when the font is named Arimo (it warns and falls
    # back to Times for a name it does not know, such as "Helvetica,Arial,sans-serif").
    assert FONT == "Arimo"
    from PIL import ImageFont
    arimo = ImageFont.truetype(str(FONT_FILE), 1000)
    assert arimo.getlength("W") == pytest.approx(943.8, abs=1)  # Arial's advance widths
    assert arimo.getlength("i") == pytest.approx(222.2, abs=1)
    for character in "Σσ×−÷∂²·":
        assert arimo.getmask(character).getbbox() is not None, character  # has the glyph


@pytest.mark.parametrize("style", ["values", "book"])
def test_text_stays_inside_its_shape_by_the_fonts_metrics(style):
    # The widest labels of the demos and of a neuron: every line of every box, measured in
    # the embedded font, is narrower than its box; every operation's symbol than its circle.
    from PIL import ImageFont

    from microgrid import nn
    model = nn.MLP(2, [3, 1], seed=0)
    out = model([0.5, -1.25])
    loss = (out - Value(0.004023, "target_value_0")) ** 2
    loss.backward()
    svg = draw(loss, style=style).svg()
    fonts: dict[float, ImageFont.FreeTypeFont] = {}
    for g in ET.fromstring(svg).iter(f"{SVG_NS}g"):
        shape = g.find(f"{SVG_NS}path")
        if shape is None:
            shape = g.find(f"{SVG_NS}ellipse")
        if not (g.get("class") or "").startswith("node") or shape is None:
            continue
        if shape.tag.endswith("ellipse"):
            width = 2 * float(shape.get("rx"))
        else:
            xs = [float(n) for n in re.findall(r"-?[\d.]+", shape.get("d"))][0::2]
            width = max(xs) - min(xs)
        for text in g.iter(f"{SVG_NS}text"):
            size = float(text.get("font-size"))
            font = fonts.setdefault(size, ImageFont.truetype(str(FONT_FILE), size))
            assert font.getlength(text.text) < width - 2, (g.get("id"), text.text, width)


PNG_OF_EVERY_STYLE = """
    import io, json, sys
    from PIL import Image
    from microgrid import draw
    from microgrid.teaching.demos.apple_orange import build
    result = {}
    for style in ("values", "book"):
        diagram = draw(build()["price"], style=style)
        result[style] = {"svg": diagram.svg(),
                         "png": diagram.png().hex()}
    json.dump(result, sys.stdout)
"""


def pixels(png: bytes):
    from PIL import Image
    return Image.open(io.BytesIO(png)).convert("RGB")


def is_red(p: tuple[int, int, int]) -> bool:
    return p[0] > 150 and p[1] < 110 and p[2] < 110


def is_dark(p: tuple[int, int, int]) -> bool:
    return sum(p) < 250


def test_png_text_with_no_system_fonts_is_there_and_inside_its_boxes(tmp_path):
    # On a machine with no fonts at all (the system's font folders hidden), the PNG of the
    # apple/orange graph shows every label, value and red gradient, and each box's text lies
    # inside the box. (Before graphviz-pure and its built-in Arimo, resvg found no font here
    # and drew no text at all: no dark and no red pixel inside a box.)
    import json
    result = without_system_fonts(PNG_OF_EVERY_STYLE, tmp_path)
    assert result.returncode == 0, result.stderr
    drawn = json.loads(result.stdout)
    if os.environ.get("MICROGRID_KEEP_PICTURES"):  # to look at them
        for style, picture in drawn.items():
            Path(f"no-fonts-{style}.png").write_bytes(bytes.fromhex(picture["png"]))
    for style, picture in drawn.items():
        image = pixels(bytes.fromhex(picture["png"]))
        width, height = image.size
        svg_w, svg_h = map(float, re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                            picture["svg"]).groups())
        assert abs(width - svg_w * 96 / 72) <= 1 and abs(height - svg_h * 96 / 72) <= 1
        px = 96 / 72
        data = image.tobytes()
        red_total = sum(map(is_red, zip(data[0::3], data[1::3], data[2::3], strict=True)))
        assert red_total > 300, style  # the gradients, in red
        if style != "values":
            continue
        boxes = node_boxes(picture["svg"])
        assert len(boxes) == 9
        for node, (left, top, right, bottom, texts) in boxes.items():
            inside = [image.getpixel((x, y))
                      for x in range(int(left * px) + 3, int(right * px) - 2)
                      for y in range(int(top * px) + 3, int(bottom * px) - 2)]
            assert sum(map(is_dark, inside)) > 60, node  # label and data, in black
            assert sum(map(is_red, inside)) > 30, node  # the gradient, in red
            # no red text spills out of the box: the gradient's rows just outside it are clear
            grad_y = float(texts[-1].get("y")) + (top - min(float(t.get("y")) for t in texts))
            rows = range(int((top + (bottom - top) * 0.6) * px), int(bottom * px) - 2)
            for x in (*range(int(left * px) - 8, int(left * px) - 1),
                      *range(int(right * px) + 2, int(right * px) + 8)):
                for y in rows:
                    if 0 <= x < width:
                        assert not is_red(image.getpixel((x, y))), (node, x, y, grad_y)


def test_threads_render_at_once():
    # Four threads, five renders each: with the WebAssembly renderer shared with no lock, this
    # killed Python with signal 11. Graphviz now runs as a program of its own per render.
    y = build()["price"]
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(draw(y).svg())
        except BaseException as e:  # noqa: B036 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 20
    for svg in results:
        ET.fromstring(svg)
        assert "715" in svg
    assert len(set(results)) == 1


def test_a_slow_layout_falls_back_to_the_fast_settings(monkeypatch):
    # 45 steps of a recurrent chain: the full layout takes minutes; the fast one well under a
    # second, so the drawing comes in the budget, marked as the fast layout. (Its leaf used 45
    # times would send it to the fast layout at once: that shortcut is off here.)
    from microgrid.drawing import diagram as drawing
    monkeypatch.setattr(drawing, "MANY_USES", 10**9)
    y = recurrent_chain(45)
    diagram = draw(y, time_budget=30)  # its speed is measured in benchmarks/drawing.py
    svg = diagram.svg()
    assert diagram.layout == "fast" and "nslimit=1" in diagram.source
    assert "xlabel=" in diagram.source and " label=<0.5" not in diagram.source
    ET.fromstring(svg)
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]
    assert f"grad {y.grad:g}" in texts and texts.count("0.9") == 90  # every edge still labelled


def test_a_layout_past_the_budget_says_what_to_draw_instead():
    y = recurrent_chain(45)
    start = time.monotonic()
    with pytest.raises(RenderError, match=r"within time_budget=0.05 s.*draw a part of it.*"
                                          r"larger time_budget") as caught:
        draw(y, time_budget=0.05).svg()
    assert time.monotonic() - start < 5  # not the minutes the layout would take
    assert "\n" not in str(caught.value)


def test_render_stops_graphviz_when_the_budget_runs_out():
    source = full_layout_source(recurrent_chain(45))  # the full layout: minutes
    start = time.monotonic()
    with pytest.raises(LayoutTimeout, match="within 0.5 s"):
        render.render(source, "svg", time_budget=0.5)
    assert time.monotonic() - start < 5  # not the minutes the layout would take


def test_ctrl_c_stops_a_render_within_a_second(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import sys
        from microgrid import Value, topological_order
        from microgrid.drawing.diagram import build_digraph
        from microgrid.drawing.render import render
        a, y = Value(0.5, "a"), Value(0.0)
        for _ in range(60):
            y = (y * 0.9 + a).tanh()
        source = build_digraph(y, topological_order(y), style="values", rankdir="LR",
                               grad_of=lambda v: v.grad, title=None, digits=4).source
        print("rendering", flush=True)
        try:
            render(source, "svg", time_budget=300)  # the full layout: many minutes
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "rendering\n"
    time.sleep(1.0)  # Graphviz is at work
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                              text=True).stdout.split()
    assert children, "Graphviz runs as a program of its own"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert time.monotonic() - sent < 5  # well within the budget of 300 s (about 0.1 s idle)
    assert process.stdout.read() == "interrupted\n"
    for child in children:  # and Graphviz was stopped with it
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(
            f"/proc/{child}/status").read_text().lower()


@pytest.mark.parametrize("text", ["bell\x07", "nul\x00here", "esc\x1b[31m", "cr\rlf\n",
                                  "lone \ud800 surrogate", "<b>&amp;</b> \"q\" 'a'"])
@pytest.mark.parametrize("style", ["values", "book"])
def test_control_characters_and_markup_in_labels_and_titles(text, style):
    a = Value(2.0, label=text)
    y = a * 3
    y.label = text
    y.backward()
    svg = draw(y, style=style, title=text).svg()
    root = ET.fromstring(svg)  # valid XML, so a browser opens it
    shown = " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
    for visible in re.findall(r"[a-z]{2,}", text):
        assert visible in shown
    if "\x07" in text:
        assert "bell\\x07" in shown
    if "\x00" in text:
        assert "nul\\x00here" in shown
    if "<b>" in text:
        assert "<b>&amp;</b>" in shown  # markup shown as text


def test_a_graphviz_failure_is_one_line(monkeypatch):
    with pytest.raises(RenderError) as caught:
        render.render("digraph { a -> }", "svg")
    message = str(caught.value)
    assert message.startswith("render: graphviz-pure failed: ") and "\n" not in message
    assert "syntax error" in message.lower()


def test_a_graphviz_crash_is_a_render_error(tmp_path, monkeypatch):
    crashing = tmp_path / "graphviz-pure"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(render, "bundled_program", lambda: str(crashing))
    with pytest.raises(RenderError, match=r"crashed \(signal 11\).*draw a part of it"):
        draw(build()["price"]).svg()


def test_without_graphviz_pure_or_dot_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(render, "bundled_program", lambda: None)
    monkeypatch.setattr(render, "dot_program", lambda: None)
    with pytest.raises(RenderError, match="graphviz-pure.*is missing; reinstall microgrid"):
        draw(build()["price"]).svg()
    with pytest.raises(RenderError, match="renderer='dot' needs the Graphviz dot program"):
        draw(build()["price"], renderer="dot").svg()


def test_a_png_past_the_pixel_budget_is_drawn_smaller_with_a_warning():
    diagram = draw(build()["price"])
    full = pixels(diagram.png())
    with pytest.warns(UserWarning, match=r"megapixels; drawn at \d+ dpi.*max_pixels=100000"):
        small = pixels(diagram.png(max_pixels=100_000))
    assert small.size[0] * small.size[1] <= 100_000 * 1.02
    assert small.size[0] < full.size[0] and small.size[1] < full.size[1]
    assert abs(small.size[0] / small.size[1] - full.size[0] / full.size[1]) < 0.05


def counted_renders(monkeypatch) -> list[str]:
    """The formats of every Graphviz run that drawing makes from now on."""
    runs: list[str] = []

    def counting(source, fmt, *args, **kwargs):
        runs.append(fmt)
        return render.render(source, fmt, *args, **kwargs)

    monkeypatch.setattr(drawing, "render", counting)
    return runs


def test_a_small_graphs_png_is_one_render_and_the_same_picture(monkeypatch):
    expected = draw(build()["price"])
    expected.svg()  # its size known first: the PNG of the general path
    expected_png = expected.png()
    runs = counted_renders(monkeypatch)
    png = draw(build()["price"]).png()
    assert runs == ["png"]
    assert png == expected_png
    assert render.png_size(png) == (955, 443)


def test_a_small_graphs_png_whose_full_layout_runs_out_goes_to_the_fast_one_at_once(
        monkeypatch):
    runs: list[tuple[str, bool]] = []

    def full_too_slow(source, fmt, *args, **kwargs):
        fast = "nslimit=1" in source
        runs.append((fmt, fast))
        if not fast:
            raise LayoutTimeout(kwargs["time_budget"])
        return render.render(source, fmt, *args, **kwargs)

    monkeypatch.setattr(drawing, "render", full_too_slow)
    diagram = draw(build()["price"])
    png = diagram.png()
    assert runs == [("png", False), ("png", True)]  # the full layout is not tried twice
    assert diagram.layout == "fast" and png.startswith(b"\x89PNG")


def test_a_png_larger_than_the_quick_square_is_drawn_at_its_full_size(monkeypatch):
    x = Value(1.0, "x")
    y = x
    for _ in range(40):
        y = y * 1.01
    y.backward()
    expected = draw(y)
    expected.svg()
    expected_png = expected.png()
    runs = counted_renders(monkeypatch)
    png = draw(y).png()
    assert runs == ["png", "svg", "png"]  # the quick one was scaled down, so not kept
    assert png == expected_png
    width, height = render.png_size(png)
    assert width > drawing.QUICK_PNG_SIDE and width * height < render.MAX_PIXELS


def test_missing_glyphs_names_what_arimo_lacks_once_each():
    drawn = "apple × ÷ − Σwx σ ∂ → ² é Ж א"  # microgrid's symbols, Latin, Cyrillic, Hebrew
    assert render.missing_glyphs(drawn) == ""
    assert render.missing_glyphs("苹果 price 苹 😀 ∇") == "苹果😀∇"


@pytest.mark.parametrize("style", ["values", "book"])
def test_a_png_warns_of_letters_its_font_lacks_and_only_then(style):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(build()["price"], style=style).png()  # all of microgrid's own symbols are there
    a = Value(2.0, "苹果")
    y = a * 3
    y.backward()
    with pytest.warns(UserWarning, match="has no letters for '苹果', which show as empty boxes"):
        draw(y, style=style).png()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(y, style=style).svg()  # drawn in the viewer's fonts


@pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz dot program on the PATH")
def test_the_system_graphviz_png_makes_no_claim_about_its_fonts():
    a = Value(2.0, "苹果")
    y = a * 3
    y.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(y, renderer="dot").png()


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "g.svg"
    path.write_text("old")
    path.chmod(0o640)

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(render.os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        draw(build()["price"]).save(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["g.svg"]  # no temporary file left
    monkeypatch.undo()
    draw(build()["price"]).save(path)
    assert "715" in path.read_text() and path.stat().st_mode & 0o777 == 0o640
    write_atomically(tmp_path / "new.txt", b"x")
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644


def test_embed_font_leaves_an_svg_without_the_font_name_well_formed():
    svg = embed_font('<svg width="1pt" height="1pt"><text>x</text></svg>')
    assert svg.startswith('<svg width="1pt" height="1pt"><style>@font-face')
    ET.fromstring(svg)


IN_A_BROWSER = """
    import json, sys
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=sys.argv[1], args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(sys.argv[2])
        page.evaluate("document.fonts.ready")
        fonts = page.evaluate("[...document.fonts].map(f => f.family + ' ' + f.status)")
        boxes = page.evaluate('''() => [...document.querySelectorAll("g.node")].flatMap(g => {
            const shape = g.querySelector("path, ellipse, polygon");
            if (!shape) return [];
            const s = shape.getBBox();
            return [...g.querySelectorAll("text")].map(t => {
                const b = t.getBBox();
                return [g.id, t.textContent, b.x, b.x + b.width, s.x, s.x + s.width];
            });
        })''')
        browser.close()
    json.dump({"fonts": fonts, "boxes": boxes}, sys.stdout)
"""


@pytest.mark.parametrize("style", ["values", "book"])
def test_in_a_browser_without_arial_text_is_drawn_in_the_embedded_font_inside_its_boxes(
        style, tmp_path):
    # A viewer with DejaVu only (no Arial, Helvetica or Liberation): the SVG's own Arimo is
    # used, and every line of text lies inside its box or circle. (With the SVG asking for
    # "Helvetica,Arial,sans-serif", DejaVu, which is wider, drew "grad -0.004023" past its box.)
    import json
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    if chromium is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    if not Path("/usr/share/fonts/truetype/dejavu").is_dir():
        pytest.skip("needs DejaVu, the fonts left visible (apt-get install fonts-dejavu-core)")
    y = (Value(2.0, "a") * Value(-3.0, "b") + Value(10.0, "c")).tanh()
    loss = (y - Value(0.004023, "target_value")) ** 2
    loss.backward()
    svg = tmp_path / "g.svg"
    draw(loss, style=style).save(svg)
    script = tmp_path / "browser.py"
    script.write_text(textwrap.dedent(IN_A_BROWSER))
    others = [str(f) for f in Path("/usr/share/fonts").glob("*/*")
              if f.is_dir() and f.name != "dejavu"] + [f for f in TEX_FONTS if Path(f).is_dir()]
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding the system fonts needs root and unshare (a mount namespace)")
    mounts = "".join(f"mount -t tmpfs none {f} && " for f in others)
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{mounts}test -z \"$(fc-list | grep -vi dejavu)\" && "
         f"{sys.executable} {script} {chromium} {svg.as_uri()}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["fonts"] == ["Arimo loaded"]
    assert len(measured["boxes"]) >= 5
    for node, text, left, right, shape_left, shape_right in measured["boxes"]:
        assert shape_left <= left and right <= shape_right, (node, text)


def test_two_processes_drawing_at_once_both_succeed(tmp_path):
    # (There is no cache to share: graphviz-pure starts in milliseconds, with nothing to compile.)
    code = ("import sys; from microgrid import draw; "
            "from microgrid.teaching.demos.apple_orange import build; "
            "[draw(build()['price']).save(sys.argv[1]) for _ in range(5)]")
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"{k}.png")],
                                  stderr=subprocess.PIPE, text=True) for k in range(2)]
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    from microgrid import draw
    from microgrid.teaching.demos.apple_orange import build

    expected = draw(build()["price"]).png()
    for k in range(2):
        assert (tmp_path / f"{k}.png").read_bytes() == expected
