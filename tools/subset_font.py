"""Make microgrid's embedded fonts: two subsets of Arimo Regular, as WOFF2, and its widths.

Arimo (SIL Open Font License 1.1) has the metrics of Arial, which is what Graphviz sizes
text with, so text laid out by Graphviz fits its boxes when drawn in Arimo. graphviz-pure
bundles Arimo for PNG; the first subset is embedded in every SVG (`microgrid.drawing.render`),
so that a browser draws the same glyphs whichever fonts its machine has, and the second, the
rest of Arimo's alphabets (Cyrillic, all of Greek, Hebrew, Latin extended), in an SVG that uses
one of them. `Arimo-widths.txt` is every character's advance width, with which
`microgrid.drawing.fonts` measures the text that Graphviz would measure wrong.

Run once, when the character set changes (needs `pip install fontpkg-arimo fonttools brotli`):

    python tools/subset_font.py
"""

from pathlib import Path

import fontpkg_arimo
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

from microgrid.drawing.text import ARIMO_SUBSET

OUT = Path(__file__).resolve().parent.parent / "microgrid" / "drawing" / "fonts"

CHARACTERS = ARIMO_SUBSET


def arimo() -> TTFont:
    font = TTFont(fontpkg_arimo.ROOT / "files" / "Arimo[wght].ttf")
    return instancer.instantiateVariableFont(font, {"wght": 400})


def write_subset(name: str, text: str) -> None:
    font = arimo()
    options = subset.Options()
    options.flavor = "woff2"
    options.hinting = False
    options.layout_features = ["kern", "liga"]
    options.name_IDs = [0, 1, 2, 4, 6, 13, 14]  # copyright, names, licence
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    font.flavor = "woff2"
    font.save(path)
    missing = [c for c in text if ord(c) not in font.getBestCmap()]
    print(f"wrote {path} ({path.stat().st_size} bytes); not in Arimo: {''.join(missing)!r}")


def main() -> None:
    write_subset("Arimo-subset.woff2", CHARACTERS)
    codes = sorted(arimo().getBestCmap())
    # the rest of Arimo's alphabets: Latin extended, Greek, Cyrillic, Hebrew, Vietnamese
    alphabets = [(0x100, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x590, 0x5FF),
                 (0x1E00, 0x1FFF)]
    rest = "".join(chr(c) for c in codes if chr(c) not in CHARACTERS
                   and any(a <= c <= b for a, b in alphabets))
    write_subset("Arimo-extra.woff2", rest)
    write_coverage(codes)
    write_widths(arimo())


def ranges(codes: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return runs


def write_coverage(codes: list[int]) -> None:
    """Every character of the whole font (the one graphviz-pure draws PNG text with), as
    ranges of code points: a PNG warns about text it has no glyphs for."""
    path = OUT / "Arimo-coverage.txt"
    runs = ranges(codes)
    path.write_text("".join(f"{a:04X}-{b:04X}\n" for a, b in runs))
    print(f"wrote {path} ({len(runs)} ranges)")


def write_widths(font: TTFont) -> None:
    """Each character's advance width in font units (2048 an em), as runs of consecutive
    characters of the same width: ``first-last width``."""
    cmap, hmtx = font.getBestCmap(), font["hmtx"]
    runs: list[list[int]] = []
    for code in sorted(cmap):
        width = hmtx[cmap[code]][0]
        if runs and code == runs[-1][1] + 1 and width == runs[-1][2]:
            runs[-1][1] = code
        else:
            runs.append([code, code, width])
    path = OUT / "Arimo-widths.txt"
    path.write_text(f"# Arimo Regular's advance widths, {font['head'].unitsPerEm} units an em\n"
                    + "".join(f"{a:04X}-{b:04X} {w}\n" for a, b, w in runs))
    print(f"wrote {path} ({len(runs)} runs)")


if __name__ == "__main__":
    main()
