"""Turn DOT into pictures: SVG, PNG and PDF, the same on every machine.

Graphviz runs as a program of its own, never inside Python: a render can then be given a time
budget (the program is killed when it runs out), stopped with Ctrl-C, and run from any number of
threads at once, and a Graphviz crash is an error, not a dead interpreter.

- ``"auto"`` and ``"bundled"``: graphviz-pure, a port of Graphviz 16.1 that comes with microgrid
  from PyPI as one program with its fonts built in (about 5 ms to start). ``"auto"`` uses the
  system's `dot` only where graphviz-pure is missing.
- ``"dot"``: the system's Graphviz `dot` program (`apt-get install graphviz`); PDF needs it.

All text is set in Arimo, whose letters have Arial's widths, the widths Graphviz lays text out
with, so text fits its boxes. graphviz-pure draws PNG text with its own copy of Arimo; every SVG
carries a subset of Arimo as a web font (``microgrid/drawing/fonts``, 13 KB), so that a browser
draws the same letters whichever fonts its machine has.
"""

from __future__ import annotations

import base64
import bisect
import functools
import math
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

Renderer = Literal["auto", "bundled", "dot"]
RENDERERS = ("auto", "bundled", "dot")

FONT = "Arimo"  # the name Graphviz knows Arial-compatible widths for, and the embedded font's
FONT_FALLBACK = f"{FONT},Arial,Helvetica,sans-serif"  # what the SVG asks a browser for
TIME_BUDGET = 6.0  # seconds a render may take, by default
MAX_PIXELS = 40_000_000  # a larger PNG is drawn at a lower resolution
DPI = 96.0  # PNG pixels per inch, as `dot -Tpng`


class RenderError(RuntimeError):
    """A diagram could not be rendered; the message says why and what to do, in one line."""


class LayoutTimeout(RenderError):
    """Graphviz did not finish within its time budget (and was stopped)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"render: Graphviz did not lay the graph out within {seconds:.3g} s")
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
    program = _program(renderer, fmt)
    args = [f"-T{fmt}"] + ([f"-Gdpi={dpi:g}"] if fmt == "png" else [])
    if max_side is not None:  # Graphviz's size: scale the drawing down to fit, never up
        args.append(f"-Gsize={max_side / dpi:.6g},{max_side / dpi:.6g}")
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
                          "draw a part of it (an intermediate Value)")
    if result.returncode:
        raise RenderError(f"render: {name} failed: {_errors(result.stderr)}")
    return result.stdout


def _errors(stderr: bytes) -> str:
    """Graphviz's error lines, without its warnings, as one line."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    errors = [line for line in lines if line and not line.startswith("Warning")]
    return " ".join(errors or lines)[:500] or "no message"


@functools.cache
def _font_face() -> str:
    data = resources.files("microgrid.drawing").joinpath("fonts", "Arimo-subset.woff2").read_bytes()
    return (f'<style>@font-face{{font-family:"{FONT}";'
            f'src:url(data:font/woff2;base64,{base64.b64encode(data).decode("ascii")}) '
            'format("woff2")}</style>')


@functools.cache
def _coverage() -> tuple[list[int], list[int]]:
    """The first and last code points of each range of characters that Arimo has."""
    text = resources.files("microgrid.drawing").joinpath("fonts", "Arimo-coverage.txt").read_text()
    pairs = [line.split("-") for line in text.split()]
    return [int(a, 16) for a, _ in pairs], [int(b, 16) for _, b in pairs]


def missing_glyphs(text: str) -> str:
    """The characters of `text` that Arimo, the PNG font, has no glyph for (each once): the
    bundled renderer draws them as empty boxes."""
    firsts, lasts = _coverage()
    missing = dict.fromkeys(c for c in text if c > "~" and not (
        (i := bisect.bisect_right(firsts, ord(c)) - 1) >= 0 and ord(c) <= lasts[i]))
    return "".join(missing)


_SVG_TAG = re.compile(r"<svg\b[^>]*>")


def embed_font(svg: str) -> str:
    """`svg` with the Arimo subset as a web font, and fallbacks for what it lacks."""
    svg = svg.replace(f'font-family="{FONT}"', f'font-family="{FONT_FALLBACK}"')
    return _SVG_TAG.sub(lambda tag: tag[0] + _font_face(), svg, count=1)


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


def png_dpi(width_pt: float, height_pt: float, max_pixels: int = MAX_PIXELS) -> float:
    """The resolution for a PNG of that size: `DPI`, or less to stay within `max_pixels`."""
    pixels = width_pt * height_pt * (DPI / 72) ** 2
    return DPI if pixels <= max_pixels else DPI * math.sqrt(max_pixels / pixels)


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
