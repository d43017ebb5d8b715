"""Turn DOT into pictures: SVG, PNG and PDF, the same on every machine.

Graphviz runs as a program of its own, never inside Python: a render can then be given a time
budget (the program is killed when it runs out), stopped with Ctrl-C, and run from any number of
threads at once, and a Graphviz crash is an error, not a dead interpreter.

- ``"auto"`` and ``"bundled"``: graphviz-pure, a port of Graphviz 16.1 that comes with microgrid
  from PyPI as one program with its fonts built in (about 5 ms to start). ``"auto"`` uses the
  system's `dot` only where graphviz-pure is missing.
- ``"dot"``: the system's Graphviz `dot` program (`apt-get install graphviz`); a PDF from DOT
  needs it (a `Diagram` draws its PDF from its SVG otherwise: `microgrid.drawing.export`).

All text is set in Arimo, whose letters have Arial's widths, the widths Graphviz lays text out
with, so text fits its boxes (text Graphviz measures wrong is measured by `microgrid.drawing.text`).
graphviz-pure draws PNG text with its own copy of Arimo; every SVG carries a subset of Arimo as a
web font (``microgrid/drawing/fonts``, 13 KB; 38 KB more for Cyrillic, Hebrew and the rest of
Greek and Latin, in an SVG that uses them), so that a browser draws the same letters whichever
fonts its machine has. Chinese, Japanese and Korean are drawn in Noto Sans CJK, from
``pip install "microgrid[cjk]"``: an SVG carries the glyphs it uses (a subset made for it), and
its PNG is drawn from that SVG by resvg (graphviz-pure's PNG has Arimo only), with the same
fonts and no others.
"""

from __future__ import annotations

import base64
import bisect
import functools
import html
import math
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from microgrid.drawing.text import (
    ARIMO_SUBSET,
    CJK_EXTRA,
    cjk_face,
    cjk_font,
    drawn,
    in_arimo,
    is_cjk,
    open_cjk_font,
)

Renderer = Literal["auto", "bundled", "dot"]
RENDERERS = ("auto", "bundled", "dot")

FONT = "Arimo"  # the name Graphviz knows Arial-compatible widths for, and the embedded font's
FONT_FALLBACK = f"{FONT},Arial,Helvetica,sans-serif"  # what the SVG asks a browser for
TIME_BUDGET = 6.0  # seconds a render may take, by default
MAX_PIXELS = 40_000_000  # a larger PNG is drawn at a lower resolution
DPI = 96.0  # PNG pixels per inch, as `dot -Tpng`
MAX_DPI = 300.0  # the most a PNG may ask for: slides and print
# What to do about a graph too large or too slow to draw, said by every render error
REMEDIES = ("draw a part of it (an intermediate Value, e.g. one neuron's output, draws the "
            "sub-expression that computes it), draw a network with collapse=1 or 2 or "
            "focus=a_weight, or pass a larger time_budget")

# Where there are no programs to run, as in a browser: a function that lays out DOT source in
# this process and returns the SVG. microgrid.playground sets it to Graphviz compiled to
# WebAssembly; then every SVG is drawn by it (without a time budget), and PNG and PDF fail.
in_process_layout: Callable[[str], str] | None = None


class RenderError(RuntimeError):
    """A diagram could not be rendered; the message says why and what to do, in one line."""


class LayoutTimeout(RenderError):
    """Graphviz did not finish within its time budget (and was stopped)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"render: Graphviz did not lay the graph out within {seconds:.3g} s; "
                         + REMEDIES)
        self.seconds = seconds


def bundled_program() -> str | None:
    """The path of graphviz-pure, installed with microgrid, or None if it is missing."""
    name = "graphviz-pure.exe" if os.name == "nt" else "graphviz-pure"
    # where pip put it: this environment's scripts (even if not activated), or the user's
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        path = Path(sysconfig.get_path("scripts", scheme)) / name
        if path.is_file():
            return str(path)
    return shutil.which("graphviz-pure")


def dot_program() -> str | None:
    """The path of the system's Graphviz `dot` program, or None when it is not on the PATH."""
    return shutil.which("dot")


def render(source: str, fmt: str, renderer: Renderer = "auto", *,
           time_budget: float = TIME_BUDGET, dpi: float = DPI,
           max_side: int | None = None) -> bytes:
    """Render DOT `source` to `fmt` ('svg', 'png' or 'pdf') within `time_budget` seconds.

    An SVG carries the font it is drawn in. A PNG is `dpi` pixels per inch, scaled down to fit
    a square of `max_side` pixels if one is given and the drawing is larger. Every failure is a
    `RenderError` (`LayoutTimeout` when the budget ran out) with a one-line message.
    """
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: format must be 'svg', 'png' or 'pdf', got {fmt!r}")
    if renderer not in RENDERERS:
        raise ValueError(f"render: renderer must be 'auto', 'bundled' or 'dot', got {renderer!r}")
    if in_process_layout is not None:
        if fmt != "svg":
            raise RenderError(f"render: only SVG can be drawn here (no Graphviz program to "
                              f"draw {fmt.upper()} with)")
        return embed_font(in_process_layout(source)).encode("utf-8")
    program = _program(renderer, fmt)
    args = [f"-T{fmt}"] + ([f"-Gdpi={dpi:g}"] if fmt == "png" else [])
    if max_side is not None:  # Graphviz's size: scale the drawing down to fit, never up
        args.append(f"-Gsize={max_side / dpi:.6g},{max_side / dpi:.6g}")
    if fmt == "png" and program != dot_program() and cjk_text(source) and _resvg() is not None:
        # graphviz-pure's PNG fonts have no CJK: draw the SVG, which carries its glyphs
        svg = render(source, "svg", renderer, time_budget=time_budget).decode("utf-8")
        return rasterize(svg, dpi, max_side)
    out = _run(program, args, source, time_budget)
    return embed_font(out.decode("utf-8")).encode("utf-8") if fmt == "svg" else out


def _program(renderer: Renderer, fmt: str) -> str:
    if fmt == "pdf" or renderer == "dot":
        dot = dot_program()
        if dot is None:
            need = "PDF needs" if fmt == "pdf" else "renderer='dot' needs"
            raise RenderError(
                f"render: {need} the Graphviz dot program, which is not on the PATH; install "
                "Graphviz (e.g. `apt-get install graphviz` or `brew install graphviz`), or "
                "draw SVG or PNG with renderer='auto', which needs no system Graphviz")
        return dot
    program = bundled_program() or (dot_program() if renderer == "auto" else None)
    if program is None:
        raise RenderError("render: graphviz-pure, which microgrid installs to draw, is missing; "
                          "reinstall microgrid (`pip install --force-reinstall microgrid`) or "
                          "install Graphviz so that its dot program is used")
    return program


def _run(program: str, args: list[str], source: str, time_budget: float) -> bytes:
    if not time_budget > 0:
        raise ValueError(f"render: time_budget must be a positive number of seconds, "
                         f"got {time_budget!r}")
    try:  # on Ctrl-C (KeyboardInterrupt) and on the timeout, subprocess.run kills the program
        result = subprocess.run([program, *args], input=source.encode("utf-8"),
                                capture_output=True, timeout=time_budget)
    except subprocess.TimeoutExpired:
        raise LayoutTimeout(time_budget) from None
    except OSError as e:
        raise RenderError(f"render: could not run {program}: {e.strerror or e}") from None
    name = Path(program).name
    if result.returncode < 0:
        raise RenderError(f"render: {name} crashed (signal {-result.returncode}) on this graph; "
                          + REMEDIES)
    if result.returncode:
        raise RenderError(f"render: {name} failed: {_errors(result.stderr)}")
    return result.stdout


def _errors(stderr: bytes) -> str:
    """Graphviz's error lines, without its warnings, as one line."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    errors = [line for line in lines if line and not line.startswith("Warning")]
    return " ".join(errors or lines)[:500] or "no message"


@functools.cache
def _font_file(name: str) -> bytes:
    return resources.files("microgrid.drawing").joinpath("fonts", name).read_bytes()


def _font_face(family: str, data: bytes, kind: str = "woff2") -> str:
    mime = "font/woff2" if kind == "woff2" else "font/otf"
    return (f'@font-face{{font-family:"{family}";'
            f'src:url(data:{mime};base64,{base64.b64encode(data).decode("ascii")}) '
            f'format("{kind}")}}')


@functools.cache
def _coverage() -> tuple[list[int], list[int]]:
    """The first and last code points of each range of characters that Arimo has."""
    text = resources.files("microgrid.drawing").joinpath("fonts", "Arimo-coverage.txt").read_text()
    pairs = [line.split("-") for line in text.split()]
    return [int(a, 16) for a, _ in pairs], [int(b, 16) for _, b in pairs]


def missing_glyphs(text: str) -> str:
    """The characters of `text` that no font of microgrid's has a glyph for (each once):
    Arimo, the PNG font, and Noto Sans CJK if microgrid[cjk] is installed. The bundled
    renderer draws them as empty boxes."""
    firsts, lasts = _coverage()
    missing = dict.fromkeys(c for c in text if c > "~" and not (
        (i := bisect.bisect_right(firsts, ord(c)) - 1) >= 0 and ord(c) <= lasts[i])
        and not drawn(c))
    return "".join(missing)


def missing_glyphs_warning(missing: str) -> str:
    """What a PNG of text with the `missing` characters says: which, and what to install."""
    cjk = "".join(c for c in missing if is_cjk(c))
    if cjk and cjk_font() is None:
        return (f"draw: the PNG's font (Arimo) has no letters for {missing!r}, which show as "
                f"empty boxes; Chinese, Japanese and Korean need microgrid's CJK font: "
                f"{CJK_EXTRA}")
    return (f"draw: the PNG's fonts (Arimo, Noto Sans CJK) have no letters for {missing!r}, "
            "which show as empty boxes; an SVG shows them in the viewer's fonts, and "
            "renderer='dot' draws them with the system's (Graphviz installed)")


_TEXT = re.compile(r"<text\b[^>]*>([^<]*)</text>")


def cjk_text(text: str) -> str:
    """The Chinese, Japanese and Korean characters of `text` that Noto Sans CJK draws and
    Arimo does not (sorted, each once), if microgrid[cjk] is installed, else ''."""
    return "".join(sorted({c for c in text if is_cjk(c) and not in_arimo(c) and drawn(c)}))


@functools.cache
def cjk_subset(face: str, characters: str) -> bytes:
    """Noto Sans CJK's `face` with only the glyphs of `characters`, as an OpenType font."""
    import io

    from fontTools import subset

    options = subset.Options()
    options.hinting = False
    options.layout_features = ["kern", "vert"]
    options.name_IDs = [0, 1, 2, 4, 6, 13, 14]  # copyright, names, licence
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    out = io.BytesIO()
    with open_cjk_font(face, lazy=False) as font:
        subsetter.subset(font)
        font.save(out)
    return out.getvalue()


_SVG_TAG = re.compile(r"<svg\b[^>]*>")


def embed_font(svg: str) -> str:
    """`svg` with the fonts its text is drawn in as web fonts: the Arimo subset, the rest of
    Arimo's alphabets if it uses them, and the glyphs of Noto Sans CJK that it uses (with
    microgrid[cjk]); and fallbacks for what they lack."""
    text = html.unescape("".join(_TEXT.findall(svg)))
    faces = [_font_face(FONT, _font_file("Arimo-subset.woff2"))]
    if any(c not in ARIMO_SUBSET and in_arimo(c) for c in set(text)):
        faces.append(_font_face(FONT, _font_file("Arimo-extra.woff2")))
    family = FONT_FALLBACK
    cjk = cjk_text(text)
    if cjk:
        face = cjk_face(cjk)
        name = cjk_family(face)
        faces.append(_font_face(name, cjk_subset(face, cjk), "opentype"))
        family = f"{FONT},{name},Arial,Helvetica,sans-serif"
    svg = svg.replace(f'font-family="{FONT}"', f'font-family="{family}"')
    style = f"<style>{''.join(faces)}</style>"
    return _SVG_TAG.sub(lambda tag: tag[0] + style, svg, count=1)


def cjk_family(face: str) -> str:
    return f"Noto Sans CJK {face}"


def _resvg() -> Any:
    """The resvg module (microgrid[cjk]), or None."""
    try:
        import resvg_py
    except ImportError:
        return None
    return resvg_py


@functools.cache
def _raster_fonts() -> Path:
    """A folder of this process's own, with Arimo's two subsets as TrueType (resvg reads no
    WOFF2); removed when Python exits."""
    import atexit

    from fontTools.ttLib import TTFont

    folder = Path(tempfile.mkdtemp(prefix="microgrid-fonts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in ("Arimo-subset", "Arimo-extra"):
        font = TTFont(resources.files("microgrid.drawing").joinpath("fonts", f"{name}.woff2"))
        font.flavor = None
        font.save(folder / f"{name}.ttf")
    return folder


def rasterize(svg: str, dpi: float = DPI, max_side: int | None = None) -> bytes:
    """The PNG of a Graphviz `svg` (from `render`) at `dpi`, drawn by resvg in microgrid's
    fonts only (Arimo, and the SVG's subset of Noto Sans CJK): the same on every machine.
    Scaled down to fit a square of `max_side` pixels, as `render` does."""
    resvg = _resvg()
    if resvg is None:
        raise RenderError(f"render: a PNG of Chinese, Japanese or Korean text needs resvg: "
                          f"{CJK_EXTRA}")
    width, height = svg_size(svg)
    if max_side is not None:
        dpi = min(dpi, max_side * 72 / max(width, height))
    folder = _raster_fonts()
    files = [str(folder / "Arimo-subset.ttf"), str(folder / "Arimo-extra.ttf")]
    text = html.unescape("".join(_TEXT.findall(svg)))
    cjk = cjk_text(text)
    with tempfile.TemporaryDirectory(dir=folder) as own:
        if cjk:  # only the face the SVG names, so that resvg falls back to no other
            face = Path(own) / "cjk.otf"
            face.write_bytes(cjk_subset(cjk_face(cjk), cjk))
            files.append(str(face))
        try:
            png = resvg.svg_to_bytes(svg_string=svg, dpi=dpi, background="white",
                                     skip_system_fonts=True, font_files=files)
        except ValueError as e:
            raise RenderError(f"render: resvg could not draw the SVG: {e}") from None
    return bytes(png)


_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([0-9.]+)pt"[^>]*?\bheight="([0-9.]+)pt"')


def svg_size(svg: str) -> tuple[float, float]:
    """The width and height of a Graphviz SVG, in points (1/72 inch)."""
    m = _SIZE.search(svg)
    if m is None:
        raise RenderError("render: the SVG has no size in points")
    return float(m[1]), float(m[2])


def png_size(png: bytes) -> tuple[int, int]:
    """The width and height of a PNG, in pixels (from its header)."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) < 24:
        raise RenderError("render: Graphviz's output is not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def png_dpi(width_pt: float, height_pt: float, max_pixels: int = MAX_PIXELS,
            dpi: float = DPI) -> float:
    """The resolution for a PNG of that size: `dpi`, or less to stay within `max_pixels`."""
    pixels = width_pt * height_pt * (dpi / 72) ** 2
    return dpi if pixels <= max_pixels else dpi * math.sqrt(max_pixels / pixels)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, renamed over it:
    a failed write leaves the old file as it was. A read-only file is not replaced, and every
    error names `path`, not the temporary file."""
    check_writable([path])
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # the folder went away, or is full, since check_writable
        raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temporary, mode)  # mkstemp makes it private; give it the old (or usual) mode
        os.replace(temporary, path)
    except BaseException as e:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:
            raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
        raise


def check_writable(paths: Iterable[Path]) -> None:
    """Raise OSError now, before anything is drawn, if a file of `paths` could not be written."""
    for path in paths:
        folder = path.parent
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot write {str(path)!r}: no folder {str(folder)!r}")
        if path.is_dir():
            raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PermissionError(f"cannot write {str(path)!r}: permission denied")
        if path.exists() and not path.stat().st_mode & 0o222:  # (root may write it, but not here)
            raise PermissionError(f"cannot write {str(path)!r}: the file is read-only")
