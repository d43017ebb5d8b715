"""How wide a line of text is, in the fonts microgrid draws it in.

Graphviz sizes text with Arial's widths, one ASCII character at a time, and gives every other
*byte* of UTF-8 a space's width: "苹果" (6 bytes) gets 3.3 pt at 12 pt a byte, 20 pt, and is
drawn 24 pt wide; 12 × "Ж" gets 80 pt and is drawn 133 pt wide. `text_width` measures a line
with the advance widths of the font that draws each character, and `diagram._html` gives
Graphviz that width for every line it would measure too narrow:

- Arimo (Arial's widths), for Latin, Greek, Cyrillic and Hebrew: its widths are in
  ``fonts/Arimo-widths.txt``, read from the font by ``tools/subset_font.py``.
- Noto Sans CJK, for Chinese, Japanese and Korean, from ``pip install "microgrid[cjk]"``
  (the PyPI package ``noto-cjk-sans-otc``, 19 MB, SIL Open Font License), read with fontTools.
- Any other character (an emoji, or CJK without the extra): 1 em if it is a wide one, else
  0.6 em; no font of microgrid's draws it, and a PNG warns (`missing_glyphs`).
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

# The characters of fonts/Arimo-subset.woff2, which every SVG carries (tools/subset_font.py makes
# it); fonts/Arimo-extra.woff2 has the rest of Arimo's alphabets, for an SVG that uses them
ARIMO_SUBSET = "".join([
    "".join(map(chr, range(0x20, 0x7F))),  # ASCII
    "".join(map(chr, range(0xA0, 0x100))),  # Latin-1: ² ³ · × ÷ µ ...
    "".join(map(chr, range(0x391, 0x3CA))),  # Greek letters: Σ σ θ λ η ...
    "–—‘’“”…′″",  # punctuation
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁻₀₁₂₃₄₅₆₇₈₉",  # super- and subscripts
    "←↑→↓↔∂∆∇∏∑−√∞∫≈≠≤≥",  # arrows and mathematics
])
ARIMO_UNITS = 2048  # Arimo's units per em
SPACE = 569  # the width Graphviz gives each byte of a non-ASCII character: a space's, in units
CJK_EXTRA = "pip install \"microgrid[cjk]\""
# The faces of Noto Sans CJK's collection, by the script that picks one (Han: simplified Chinese)
CJK_FACES = {"JP": 0, "KR": 1, "SC": 2, "TC": 3}
# Chinese, Japanese and Korean: what Noto Sans CJK draws and Arimo does not
CJK_RANGES = ((0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3000, 0x303F), (0x3040, 0x30FF),
              (0x3100, 0x312F), (0x3130, 0x318F), (0x31A0, 0x31FF), (0x3200, 0x33FF),
              (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
              (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))


@functools.cache
def _arimo() -> tuple[list[int], list[int], list[int]]:
    """Arimo's runs of characters of one width: first code points, last ones, widths."""
    text = resources.files("microgrid.drawing").joinpath("fonts", "Arimo-widths.txt").read_text()
    runs = [line.replace("-", " ").split() for line in text.splitlines()
            if line and not line.startswith("#")]
    return [int(a, 16) for a, _, _ in runs], [int(b, 16) for _, b, _ in runs], \
        [int(w) for _, _, w in runs]


def arimo_width(c: str) -> float | None:
    """The advance width of character `c` in Arimo, in ems, or None if Arimo has no glyph."""
    firsts, lasts, widths = _arimo()
    i = bisect.bisect_right(firsts, ord(c)) - 1
    return widths[i] / ARIMO_UNITS if i >= 0 and ord(c) <= lasts[i] else None


def in_arimo(c: str) -> bool:
    return arimo_width(c) is not None


def is_cjk(c: str) -> bool:
    """Whether `c` is Chinese, Japanese or Korean (a character Noto Sans CJK draws)."""
    code = ord(c)
    return any(a <= code <= b for a, b in CJK_RANGES)


@functools.cache
def cjk_font() -> Path | None:
    """The file of Noto Sans CJK (a collection of faces), or None without microgrid[cjk]."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return path if path.is_file() else None


def cjk_face(text: str) -> str:
    """The face of Noto Sans CJK that draws `text`'s Han characters as its readers write
    them: Korean if it has Hangul, Japanese if it has kana, else simplified Chinese."""
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF or
           0x3130 <= ord(c) <= 0x318F for c in text):
        return "KR"
    if any(0x3040 <= ord(c) <= 0x30FF for c in text):
        return "JP"
    return "SC"


def open_cjk_font(face: str = "SC", lazy: bool = True) -> Any:
    """Noto Sans CJK's `face` as a fontTools ``TTFont`` (needs microgrid[cjk])."""
    path = cjk_font()
    if path is None:
        raise ImportError(f"Chinese, Japanese and Korean text needs a font: {CJK_EXTRA}")
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        raise ImportError(f"Chinese, Japanese and Korean text needs fontTools: "
                          f"{CJK_EXTRA}") from None
    return TTFont(str(path), fontNumber=CJK_FACES[face], lazy=lazy)


@functools.cache
def _cjk_metrics() -> tuple[dict[int, str], Any, int] | None:
    """Noto Sans CJK's character map, advance widths and units per em, or None without it."""
    if cjk_font() is None:
        return None
    try:
        font = open_cjk_font()
    except ImportError:
        return None
    with font:  # read once, then closed
        return font.getBestCmap(), font["hmtx"].metrics, font["head"].unitsPerEm


def cjk_width(c: str) -> float | None:
    """The advance width of `c` in Noto Sans CJK, in ems, or None (no glyph, or no font)."""
    metrics = _cjk_metrics()
    if metrics is None:
        return None
    cmap, hmtx, units = metrics
    glyph = cmap.get(ord(c))
    return None if glyph is None else hmtx[glyph][0] / units


def drawn(c: str) -> bool:
    """Whether a font of microgrid's has a glyph for `c` (Arimo, or Noto Sans CJK if there)."""
    return in_arimo(c) or (is_cjk(c) and cjk_width(c) is not None)


def char_width(c: str) -> float:
    """The width of `c` in ems, in the font that draws it (an estimate if there is none)."""
    width = arimo_width(c)
    if width is None and is_cjk(c):
        width = cjk_width(c)
    if width is None:  # a combining mark adds nothing; a wide character is an em, as CJK
        if unicodedata.combining(c):
            return 0.0
        return 1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.6
    return width


def text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is drawn at `size` points, in points (bold: Arial Bold is up to 10 %
    wider)."""
    return sum(map(char_width, text)) * size * (1.1 if bold else 1.0)


def graphviz_width(text: str, size: float) -> float:
    """How wide Graphviz takes `text` to be at `size` points: Arial's width for an ASCII
    character, a space's for each byte of any other."""
    units = sum(ARIMO_UNITS * (arimo_width(c) or 0) if c < "\x80" else SPACE * len(c.encode())
                for c in text)
    return units / ARIMO_UNITS * size
