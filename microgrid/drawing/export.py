"""Pictures for slides and papers, made from a drawing's SVG (its layout reused, no Graphviz run):
PDF (vector, text kept as text, the font embedded) and TikZ for LaTeX.

- `pdf(svg)`: the SVG converted by svglib and ReportLab (``pip install
  'microgrid[export]'``), in Arimo, the font the drawing was laid out with, embedded as a
  subset. Needs no system Graphviz and no system library.
- `tikz(svg)`: a LaTeX document of one ``tikzpicture`` whose page is the picture's size; every
  shape is drawn where Graphviz put it, and every text is a TikZ node, in the document's sans
  serif font, centred where Graphviz centred it (``pip install 'microgrid[export]'``, for
  Arimo's widths). It compiles with ``pdflatex`` or ``lualatex`` (needs the ``tikz`` and
  ``geometry`` packages: Debian's texlive-latex-base and texlive-pictures). Copy the
  ``tikzpicture`` into a paper, or include the compiled PDF.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
import xml.etree.ElementTree as ET
from importlib import resources

from microgrid.drawing.render import FONT, FONT_FALLBACK, RenderError

SVG = "{http://www.w3.org/2000/svg}"
PDF_FONT = "microgrid-Arimo"  # the name ReportLab knows the embedded font by


# --- PDF -----------------------------------------------------------------------------------
def pdf(svg: str) -> bytes:
    """The PDF of a drawing's `svg` (see the module docstring)."""
    try:
        from reportlab.graphics import renderPDF
        from svglib.svglib import svg2rlg
    except ImportError:
        raise RenderError("save: a PDF without the system's Graphviz needs svglib and "
                          "reportlab: pip install 'microgrid[export]' (or draw with "
                          "renderer='dot', Graphviz installed)") from None
    missing = "".join(dict.fromkeys(c for c in _texts(svg) if ord(c) > 126
                                    and ord(c) not in _font_characters()))
    if missing:
        warnings.warn(f"save: the PDF's font (Arimo) has no letters for {missing!r}, which "
                      "are left out; an SVG shows them in the viewer's fonts, and "
                      "renderer='dot' draws them with the system's (Graphviz installed)",
                      stacklevel=3)
    _register_font()
    svg = svg.replace(f'font-family="{FONT_FALLBACK}"', f'font-family="{FONT}"')
    drawing = svg2rlg(io.BytesIO(svg.encode("utf-8")))
    if drawing is None:
        raise RenderError("save: svglib could not read the drawing's SVG")
    # every font is Arimo, embedded (not ReportLab's first font, Helvetica, named unembedded);
    # invariant: no date or random id in it, so the same drawing gives the same bytes
    drawing.initialFontName = PDF_FONT
    return bytes(renderPDF.drawToString(drawing, invariant=1, pageCompression=1))


def _texts(svg: str) -> str:
    """All the text of an SVG."""
    return "".join("".join(e.itertext()) for e in ET.fromstring(svg.encode("utf-8")).iter(
        f"{SVG}text"))


@functools.cache
def _arimo() -> bytes:
    """The SVG's web font, Arimo's subset, as TrueType (WOFF2 unpacked with fontTools)."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(resources.files("microgrid.drawing")
                             .joinpath("fonts", "Arimo-subset.woff2").read_bytes()))
    font.flavor = None
    ttf = io.BytesIO()
    font.save(ttf)
    return ttf.getvalue()


@functools.cache
def _font_characters() -> frozenset[int]:
    return frozenset(_advances())


@functools.cache
def _advances() -> dict[int, float]:
    """Each character's advance in Arimo, the width Graphviz set it with, in ems."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(_arimo()))
    em, metrics = font["head"].unitsPerEm, font["hmtx"].metrics
    return {code: metrics[glyph][0] / em for code, glyph in font.getBestCmap().items()}


def _width(text: str, size: float) -> float:
    """The width of `text` in Arimo at `size` points (a letter it lacks: as wide as 'n')."""
    advances = _advances()
    return size * sum(advances.get(ord(c), advances[ord("n")]) for c in text)


@functools.cache
def _register_font() -> None:
    """Arimo, the SVG's web font, registered with ReportLab for svglib's font family
    "Arimo", bold too (the subset has no bold: bold text is
    set in the regular font)."""
    from svglib.fonts import register_font

    for weight in ("normal", "bold"):
        register_font(FONT, io.BytesIO(_arimo()), weight=weight,  # type: ignore[arg-type]
                      rlgFontName=PDF_FONT)


# --- TikZ ----------------------------------------------------------------------------------
# the characters of drawings that pdflatex knows only as commands (lualatex takes them as they
# are, but its default font lacks some); Latin-1 is passed on as it is, any other character
# declared for pdflatex as '?' (see tikz)
LATEX = {"∂": r"$\partial$", "Σ": r"$\Sigma$", "×": r"$\times$", "−": "$-$", "…": r"\ldots{}",
         "≠": r"$\neq$", "²": r"$^2$", "³": r"$^3$", "·": r"$\cdot$", "→": r"$\to$",
         "√": r"$\surd$", "≈": r"$\approx$", "≤": r"$\leq$", "≥": r"$\geq$", "∑": r"$\sum$",
         "σ": r"$\sigma$", "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$",
         "δ": r"$\delta$", "ε": r"$\varepsilon$", "η": r"$\eta$", "θ": r"$\theta$",
         "λ": r"$\lambda$", "μ": r"$\mu$", "π": r"$\pi$", "τ": r"$\tau$", "ω": r"$\omega$",
         "Δ": r"$\Delta$", "—": "---", "–": "--", "←": r"$\leftarrow$", "∞": r"$\infty$",
         "\\": r"$\backslash$", "{": r"\{", "}": r"\}", "$": r"\$",
         "&": r"\&", "#": r"\#", "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}",
         "<": "$<$", ">": "$>$", "|": r"$|$", "\u00a0": "~"}
NUMBER = re.compile(r"-?[\d.]+(?:e-?\d+)?")
ANCHORS = {"start": "base west", "middle": "base", "end": "base east"}
NAMED = {"black": "000000", "white": "ffffff", "red": "ff0000", "blue": "0000ff",
         "green": "00ff00", "grey": "808080", "gray": "808080"}


def tikz(svg: str) -> str:
    """The LaTeX document of a drawing's `svg` (see the module docstring)."""
    try:
        import fontTools  # noqa: F401  (Arimo's widths, to centre each line of text)
    except ImportError:
        raise RenderError("save: TikZ needs fontTools, to centre its text as Graphviz did: "
                          "pip install 'microgrid[export]'") from None
    root = ET.fromstring(svg.encode("utf-8"))
    width, height = (float(root.get(side, "0").removesuffix("pt")) for side in ("width", "height"))
    graph = root.find(f"{SVG}g")
    if graph is None:
        raise RenderError("save: the drawing's SVG has no graph to write as TikZ")
    scale, dx, dy = _transform(graph.get("transform", ""))
    colors: dict[str, str] = {}

    def point(x: float, y: float) -> str:  # Graphviz's y grows down from the top
        return f"({(x + dx) * scale:.2f},{height - (y + dy) * scale:.2f})"

    def color(value: str | None) -> str | None:
        if value is None or value in ("none", "transparent"):
            return None
        hex_ = value.lstrip("#").lower() if value.startswith("#") else NAMED.get(value, "000000")
        hex_ = hex_[:6]
        return colors.setdefault(hex_, f"c{len(colors)}")

    lines = []
    for e in graph.iter():
        tag = e.tag.removeprefix(SVG)
        if tag in ("polygon", "polyline", "path", "ellipse"):
            style = _shape_style(e, color, closed=tag != "polyline")
            if style is None:
                continue
            if tag == "ellipse":
                cx, cy = float(e.get("cx", 0)), float(e.get("cy", 0))
                rx, ry = float(e.get("rx", 0)) * scale, float(e.get("ry", 0)) * scale
                lines.append(rf"\path[{style}] {point(cx, cy)} ellipse [x radius={rx:.2f}, "
                             f"y radius={ry:.2f}];")
            elif tag == "path":
                lines.append(rf"\path[{style}] {_path(e.get('d', ''), point)};")
            else:
                numbers = [float(n) for n in NUMBER.findall(e.get("points", ""))]
                pts = [point(x, y) for x, y in zip(numbers[::2], numbers[1::2], strict=False)]
                end = " -- cycle" if tag == "polygon" else ""
                lines.append(rf"\path[{style}] {' -- '.join(pts)}{end};")
        elif tag == "text":
            text = "".join(e.itertext())
            if not text.strip():
                continue
            size = float(e.get("font-size", "14"))
            font = rf"\fontsize{{{size:.1f}bp}}{{{size * 1.2:.1f}bp}}\selectfont"
            if e.get("font-weight") == "bold":
                font += r"\bfseries"
            fill = color(e.get("fill")) or color("black")
            body = "".join(LATEX.get(c, c) for c in text)
            if e.get("text-decoration") == "underline":
                body = rf"\underline{{{body}}}"
            # Graphviz starts a line of an HTML-like label where its width in Arimo centres
            # it; LaTeX's font is narrower or wider: the line is centred where Graphviz's is
            x, anchor = float(e.get("x", 0)), e.get("text-anchor", "start")
            if anchor == "start":
                x, anchor = x + _width(text, size) / 2, "middle"
            lines.append(rf"\node[anchor={ANCHORS.get(anchor, 'base')}, inner sep=0, "
                         rf"text={fill}, font={font}] at {point(x, float(e.get('y', 0)))} "
                         f"{{{body}}};")
    definitions = [rf"\definecolor{{{name}}}{{HTML}}{{{hex_.upper()}}}"
                   for hex_, name in colors.items()]
    # pdflatex stops at a character it does not know: it writes those as '?' (lualatex, as
    # they are, in its font)
    unknown = sorted({c for c in _texts(svg) if ord(c) > 0xFF and c not in LATEX})
    declared = "".join(rf"\DeclareUnicodeCharacter{{{ord(c):04X}}}{{?}}" for c in unknown)
    return "\n".join([
        "% A computation graph drawn by microgrid: pdflatex or lualatex compiles it as it is;",
        "% to put it in a paper, copy its tikzpicture (and the \\definecolor lines), or include",
        "% the PDF it compiles to.",
        r"\documentclass{article}",
        r"\usepackage{iftex}",
        rf"\ifPDFTeX\usepackage[utf8]{{inputenc}}\usepackage{{fix-cm}}{declared}\fi",
        r"\usepackage{tikz}",
        rf"\usepackage[paperwidth={width:.2f}bp,paperheight={height:.2f}bp,margin=0pt]{{geometry}}",
        r"\renewcommand{\familydefault}{\sfdefault}",
        r"\pagestyle{empty}",
        r"\begin{document}",
        r"\noindent",
        *definitions,
        r"\begin{tikzpicture}[x=1bp, y=1bp, line join=round]",
        rf"\useasboundingbox (0,0) rectangle ({width:.2f},{height:.2f});",
        *lines,
        r"\end{tikzpicture}",
        r"\end{document}",
        "",
    ])


def _transform(transform: str) -> tuple[float, float, float]:
    """Graphviz's ``scale(s s) rotate(0) translate(dx dy)`` of its graph, as (s, dx, dy)."""
    scale = re.search(r"scale\(([-\d.]+)", transform)
    translate = re.search(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", transform)
    return (float(scale[1]) if scale else 1.0,
            float(translate[1]) if translate else 0.0, float(translate[2]) if translate else 0.0)


def _shape_style(e: ET.Element, color, closed: bool) -> str | None:
    """The TikZ options of an SVG shape: its stroke, fill, width and dashes, or None if it
    draws nothing."""
    stroke, fill = color(e.get("stroke")), color(e.get("fill")) if closed else None
    if stroke is None and fill is None:
        return None
    options = [f"draw={stroke}"] if stroke else []
    if fill:
        options.append(f"fill={fill}")
    width = e.get("stroke-width")
    options.append(f"line width={float(width) if width else 1.0:.2f}bp")
    dashes = e.get("stroke-dasharray")
    if dashes and stroke:
        on, off = (float(x) for x in re.split(r"[ ,]+", dashes.strip())[:2])
        options.append(f"dash pattern=on {on:g}bp off {off:g}bp")
    return ", ".join(options)


def _path(d: str, point) -> str:
    """An SVG path of Graphviz's (``M x,y C x1,y1 x2,y2 x3,y3 ...``) in TikZ."""
    out = []
    for command, numbers in re.findall(r"([MCLZmclz])([^MCLZmclz]*)", d):
        values = [float(n) for n in NUMBER.findall(numbers)]
        pts = [point(x, y) for x, y in zip(values[::2], values[1::2], strict=False)]
        if command == "M":
            out.append(pts[0])
        elif command == "C":
            for k in range(0, len(pts) - 2, 3):
                out.append(f".. controls {pts[k]} and {pts[k + 1]} .. {pts[k + 2]}")
        elif command == "L":
            out.extend(f"-- {p}" for p in pts)
        elif command in "Zz":
            out.append("-- cycle")
    return " ".join(out)
