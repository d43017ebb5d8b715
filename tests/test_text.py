"""Text measured by its fonts (microgrid.drawing.text): the widths are the fonts', Graphviz's
estimate is Graphviz's, and a label Graphviz would size too narrow gets its measured width."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from microgrid import Value, draw
from microgrid.drawing import diagram, render, text

FONTS = Path(text.__file__).parent / "fonts"


def test_arimos_widths_are_those_of_the_fonts_every_svg_carries():
    ttlib = pytest.importorskip("fontTools.ttLib", reason="needs microgrid[cjk] (fontTools)")
    pytest.importorskip("brotli", reason="reading WOFF2 needs brotli (microgrid[cjk])")
    checked = 0
    for name in ("Arimo-subset.woff2", "Arimo-extra.woff2"):
        with ttlib.TTFont(FONTS / name) as font:
            cmap, hmtx, units = font.getBestCmap(), font["hmtx"].metrics, font["head"].unitsPerEm
        for code, glyph in cmap.items():
            assert text.arimo_width(chr(code)) == hmtx[glyph][0] / units, hex(code)
            checked += 1
    assert checked > 900
    # the subset every SVG carries is the one text.ARIMO_SUBSET names
    with ttlib.TTFont(FONTS / "Arimo-subset.woff2") as font:
        base = font.getBestCmap()
    assert {chr(c) for c in base} >= set(text.ARIMO_SUBSET) - {"\u03a2", "∇"}


def test_cjk_widths_are_noto_sans_cjks():
    if text.cjk_font() is None:
        pytest.skip("needs microgrid[cjk] (Noto Sans CJK)")
    with text.open_cjk_font("SC") as font:
        cmap, hmtx = font.getBestCmap(), font["hmtx"].metrics
    for c in "苹果橘子消费税あア한글":
        assert text.char_width(c) == hmtx[cmap[ord(c)]][0] / 1000
    assert text.text_width("苹果", 12) == 24
    assert text.text_width("한", 10) == pytest.approx(9.2)  # Hangul is narrower than an em


def test_without_a_font_a_wide_character_is_an_em_and_a_mark_nothing(monkeypatch):
    monkeypatch.setattr(text, "_cjk_metrics", lambda: None)
    assert text.char_width("苹") == 1.0 and text.char_width("😀") == 1.0
    assert text.char_width("\u0301") == 0.0 and text.char_width("\u0e01") == 0.6  # Thai


@pytest.mark.parametrize("label", ["苹果的价格", "ЦЕНА ЯБЛОКА", "ΤΙΜΗ", "data 100", "é è ü"])
def test_graphviz_width_is_what_graphviz_takes_a_line_to_be(label):
    # Graphviz centres each line of an HTML-like label from the width it takes it to have:
    # the line starts half that width left of the label's centre
    source = (f'digraph {{ node [fontname=Arimo fontsize=12 shape=box]; '
              f'a [label=<{label}<br/>x>] }}')
    svg = render.render(source, "svg").decode()
    polygon = re.findall(r'points="([^"]*)"', svg)[1]
    xs = [float(p.split(",")[0]) for p in polygon.split()]
    x = float(re.search(r'<text[^>]*x="([-\d.]+)"[^>]*>' + re.escape(label), svg)[1])
    assert 2 * ((min(xs) + max(xs)) / 2 - x) == pytest.approx(text.graphviz_width(label, 12),
                                                               abs=0.02)


def test_a_label_graphviz_sizes_right_is_the_same_dot_as_before():
    assert diagram._html(["apple", "data 100", '<font color="red">grad 2</font>']) == \
        '<apple<br/>data 100<br/><font color="red">grad 2</font>>'
    assert diagram._html(["∂/∂a = b = -3"]) == "<∂/∂a = b = -3>"  # taken wider than it is


def test_a_line_graphviz_would_size_too_narrow_is_a_box_of_its_measured_width():
    label = diagram._html(["苹果", "data 100"])
    assert '<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0" FIXEDSIZE="TRUE" WIDTH="24" ' \
           'HEIGHT="14"><TR><TD ALIGN="LEFT">苹果</TD>' in label
    assert "<TR><TD>data 100</TD></TR>" in label
    assert 'WIDTH="20"' in diagram._html(['<font point-size="10">中文</font>'], 16)  # its size
    # a label's newline is a row of its own, in the line's font
    bold = diagram._html(["<b>第一层<br/>ЖЖЖЖ</b>"])
    assert ">ЖЖЖЖ</b></TD>" in bold and '<TD ALIGN="LEFT"><b>第一层</b></TD>' in bold


def test_a_labels_box_is_as_wide_as_its_text():
    y = Value(2.0, "ЦЕНА ЯБЛОКА ЖЖЖ") * 3
    y.backward()
    svg = draw(y).svg()
    box = re.search(r'id="v0".*?<path[^>]*d="([^"]*)"', svg, re.S)[1]
    xs = [float(n) for n in re.findall(r"-?[\d.]+", box)][0::2]
    assert max(xs) - min(xs) >= text.text_width("ЦЕНА ЯБЛОКА ЖЖЖ", 12) + 8


def test_the_svg_carries_arimos_other_alphabets_and_cjk_only_when_it_draws_them():
    plain = draw(Value(1.0, "x")).svg()
    assert plain.count("@font-face") == 1
    cyrillic = draw(Value(1.0, "Ж")).svg()
    assert cyrillic.count("@font-face") == 2 and "Noto Sans CJK" not in cyrillic
    if text.cjk_font() is None:
        return
    chinese = draw(Value(1.0, "苹果")).svg()
    assert chinese.count("@font-face") == 2
    assert 'font-family="Arimo,Noto Sans CJK SC,Arial,Helvetica,sans-serif"' in chinese
    korean = draw(Value(1.0, "사과")).svg()
    assert "Noto Sans CJK KR" in korean
    subset = render.cjk_subset("SC", "苹果")
    assert len(subset) < 10_000  # the glyphs it uses, not the 19 MB font


def test_cli_draws_a_chinese_png_in_one_line(tmp_path):
    if text.cjk_font() is None:
        pytest.skip("needs microgrid[cjk]")
    out = tmp_path / "ao.png"
    command = ["demo", "apple_orange", "--lang", "zh", "-o", str(out)]
    result = subprocess.run([sys.executable, "-m", "microgrid", *command],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert render.png_size(out.read_bytes())[0] > 800
