"""Make microgrid's embedded font: a subset of Arimo Regular, as WOFF2.

Arimo (SIL Open Font License 1.1) has the metrics of Arial, which is what Graphviz sizes
text with, so text laid out by Graphviz fits its boxes when drawn in Arimo. graphviz-pure
bundles Arimo for PNG; this subset is embedded in every SVG (`microgrid.render`), so that a
browser draws the same glyphs whichever fonts its machine has.

Run once, when the character set changes (needs `pip install fontpkg-arimo fonttools brotli`):

    python tools/subset_font.py
"""

from pathlib import Path

import fontpkg_arimo
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

OUT = Path(__file__).resolve().parent.parent / "microgrid" / "fonts"

CHARACTERS = "".join([
    "".join(map(chr, range(0x20, 0x7F))),  # ASCII
    "".join(map(chr, range(0xA0, 0x100))),  # Latin-1: ² ³ · × ÷ µ ...
    "".join(map(chr, range(0x391, 0x3CA))),  # Greek letters: Σ σ θ λ η ...
    "–—‘’“”…′″",  # punctuation
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁻₀₁₂₃₄₅₆₇₈₉",  # super- and subscripts
    "←↑→↓↔∂∆∇∏∑−√∞∫≈≠≤≥",  # arrows and mathematics
])


def main() -> None:
    font = TTFont(fontpkg_arimo.ROOT / "files" / "Arimo[wght].ttf")
    font = instancer.instantiateVariableFont(font, {"wght": 400})
    options = subset.Options()
    options.flavor = "woff2"
    options.hinting = False
    options.layout_features = ["kern", "liga"]
    options.name_IDs = [0, 1, 2, 4, 6, 13, 14]  # copyright, names, licence
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=CHARACTERS)
    subsetter.subset(font)
    OUT.mkdir(exist_ok=True)
    path = OUT / "Arimo-subset.woff2"
    font.flavor = "woff2"
    font.save(path)
    missing = [c for c in CHARACTERS if ord(c) not in font.getBestCmap()]
    print(f"wrote {path} ({path.stat().st_size} bytes); not in Arimo: {''.join(missing)!r}")
    write_coverage(TTFont(fontpkg_arimo.ROOT / "files" / "Arimo[wght].ttf"))


def write_coverage(font: TTFont) -> None:
    """Every character of the whole font (the one graphviz-pure draws PNG text with), as
    ranges of code points: a PNG warns about text it has no glyphs for."""
    ranges: list[list[int]] = []
    for code in sorted(font.getBestCmap()):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    path = OUT / "Arimo-coverage.txt"
    path.write_text("".join(f"{a:04X}-{b:04X}\n" for a, b in ranges))
    print(f"wrote {path} ({len(ranges)} ranges)")


if __name__ == "__main__":
    main()
