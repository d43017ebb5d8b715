"""anywidget or stock ipywidgets for `microgrid.interact`? Both measured side by side (issue 25).

    python -m benchmarks.widget_libraries               # medians of 5 repeats
    python -m benchmarks.widget_libraries --repeats 9
    python -m benchmarks.widget_libraries --no-browser  # install and import cost only

Two widgets show the same `Session` (benchmarks/widget.py's graphs: apple/orange, and
nn.MLP(2, [16, 16, 1]) drawn with collapse=2), in one JupyterLab page in headless Chromium
(benchmarks/browser.py):

- **anywidget**: `microgrid.interact` as shipped (widget.js, one request in flight, stale moves
  dropped);
- **ipywidgets**: stock widgets only, no front end of our own: a `FloatSlider` per input,
  observed in the kernel, which calls the same `Session.set` and sets an `ipywidgets.HTML`'s
  value to the session's SVG.

A **move** is a real key press (Playwright's ArrowRight on the focused slider: the native range
input's, noUiSlider's handle's), timed in the page with performance.now() from the keydown to
the first change of the picture's element (a MutationObserver) plus one requestAnimationFrame.
The kernel's share is `Session.set` alone, timed in this process. A **fast drag** is 20 key
presses 16 ms apart (a 60 Hz drag): how many pictures each draws, and how long after the last
press the last picture is on screen. Every picture measured is checked: the numbers it shows
are those Python computes for the slider's new value.

**Install and import cost**: in fresh virtual environments (no pip, no packages), what
``pip install anywidget`` and ``pip install ipywidgets`` add (distributions, MB on disk; pip
uses this machine's configuration), and the median time of ``import anywidget`` and
``import ipywidgets`` in fresh interpreters.
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.widget import kernel_times, sessions
from microgrid.notebook.widget import Session

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("anywidget", "ipywidgets")
DRAG_PRESSES = 20
DRAG_INTERVAL = 0.016  # s between the presses of a fast drag

# Arm the page: from now, record key presses and each change of the picture `sel`, with the
# time of the animation frame after it (the picture on screen); and the moves that anywidget's
# front end dropped so far (`element`'s data-dropped; the stock widgets have none).
ARM = """([sel, element]) => {
  if (window.__mg) window.__mg.stop();
  const picture = document.querySelector(sel);
  const dropped = document.querySelector(element).dataset.dropped;
  const m = {keys: [], changes: [], painted: [], dropped: dropped === undefined ? null : +dropped};
  const onKey = () => m.keys.push(performance.now());
  window.addEventListener("keydown", onKey, true);
  const observer = new MutationObserver(() => {
    m.changes.push(performance.now());
    requestAnimationFrame(() => m.painted.push(performance.now()));
  });
  observer.observe(picture, {childList: true, subtree: true, characterData: true});
  m.stop = () => { observer.disconnect(); window.removeEventListener("keydown", onKey, true); };
  window.__mg = m;
}"""
# True once a picture has been painted and nothing changed for `quiet` ms since
QUIET = """quiet => {
  const m = window.__mg;
  return m.painted.length > 0 && m.painted.length === m.changes.length
    && performance.now() - m.painted[m.painted.length - 1] > quiet;
}"""
RESULT = """([sel, picture]) => {
  const m = window.__mg;
  m.stop();
  const root = document.querySelector(sel);
  return {keys: m.keys, changes: m.changes, painted: m.painted,
          texts: [...document.querySelector(picture).querySelectorAll("text")]
            .map(t => t.textContent),
          dropped: m.dropped === null ? null : +root.dataset.dropped - m.dropped};
}"""


def stock_widget(session: Session) -> Any:
    """`session` shown with stock ipywidgets only: a FloatSlider per input, observed in the
    kernel (which calls `session.set`), above an HTML widget holding the session's SVG."""
    import ipywidgets

    picture = ipywidgets.HTML(session.svg)
    picture.add_class("wl-picture")
    sliders = []
    for c in session.controls:
        slider = ipywidgets.FloatSlider(value=c.value, min=c.min, max=c.max, step=c.step,
                                        description=c.name, continuous_update=True)
        slider.add_class(f"wl-input-{c.name}")

        def moved(change: dict[str, Any], name: str = c.name) -> None:
            try:
                session.set(name, change["new"])
            except Exception:  # as the shipped widget: the last good picture stays
                return
            picture.value = session.svg

        slider.observe(moved, "value")
        sliders.append(slider)
    return ipywidgets.VBox([*sliders, picture])


def widgets(names: list[str]) -> list[Any]:
    """For each graph of `names` (benchmarks.widget's), the shipped widget and the stock one,
    each on a session of its own, tagged with the CSS class ``wl-<library>-<graph's index>``."""
    from microgrid.notebook.widget import _widget_class

    shown = []
    for k, name in enumerate(names):
        for library in LIBRARIES:
            session = sessions()[name][0]
            w = _widget_class()(session) if library == "anywidget" else stock_widget(session)
            w.add_class(f"wl-{library}-{k}")
            shown.append(w)
    return shown


@dataclass
class Target:
    """Where one widget's slider and picture are in the page."""

    library: str
    graph: str
    index: int
    input: str

    @property
    def root(self) -> str:
        return f".wl-{self.library}-{self.index}"

    @property
    def slider(self) -> str:  # the element that takes the key presses
        if self.library == "anywidget":
            return f"{self.root} .mg-slider[data-name='{self.input}']"
        return f"{self.root} .wl-input-{self.input} .noUi-handle"

    @property
    def picture(self) -> str:
        if self.library == "anywidget":
            return f"{self.root} .mg-picture"
        return f"{self.root} .wl-picture .widget-html-content"

    @property
    def element(self) -> str:  # the element with anywidget's data-dropped and data-rendered
        return f"{self.root} .microgrid-interact" if self.library == "anywidget" else self.root


def notebook_cells(names: list[str]) -> list[str]:
    """The notebook: the widgets built, then one cell showing each."""
    setup = (f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
             f"from benchmarks.widget_libraries import widgets\nshown = widgets({names!r})")
    return [setup, *(f"shown[{k}]" for k in range(len(names) * len(LIBRARIES)))]


def press(page: Any, target: Target, presses: int, interval: float, quiet_ms: float
          ) -> dict[str, Any]:
    """Press ArrowRight `presses` times on the target's slider, `interval` s apart; what the
    page recorded once its picture has been still for `quiet_ms`."""
    from benchmarks.browser import wait

    page.locator(target.root).scroll_into_view_if_needed()
    page.evaluate(ARM, [target.picture, target.element])
    page.focus(target.slider)
    for k in range(presses):
        if k:
            time.sleep(interval)
        page.keyboard.press("ArrowRight")
    wait(page, f"{target.library}'s picture of {target.graph}", QUIET, quiet_ms)
    return dict(page.evaluate(RESULT, [target.element, target.picture]))


def numbers(texts: list[str]) -> list[str]:
    return [t for t in texts if re.search(r"\d", t)]


def expected_texts(graph: str, value: float) -> list[str]:
    """The SVG texts Python draws for `graph` with its moved input at `value`."""
    session, name, _ = sessions()[graph]
    session.set(name, value)
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", session.svg)]


def browser_run(names: list[str], repeats: int, folder: Path) -> dict[str, Any]:
    """Single moves (`repeats` per widget, alternating) and one fast drag per widget; raises
    if a picture shows numbers other than Python's for the slider's new value."""
    from benchmarks.browser import chromium, jupyterlab, run_notebook, wait

    graphs = sessions()
    targets = [Target(library, name, k, graphs[name][1])
               for k, name in enumerate(names) for library in LIBRARIES]
    results: dict[str, Any] = {"move": {}, "drag": {}}
    with jupyterlab(folder) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        run_notebook(page, url, folder, notebook_cells(names), name="widget_libraries.ipynb")
        for t in targets:
            wait(page, f"{t.library}'s picture of {t.graph}",
                 "sel => { const p = document.querySelector(sel);"
                 " return p && p.querySelector('svg'); }", t.picture, timeout=120_000)
        moved = {id(t): 0 for t in targets}  # steps each slider has moved

        def check(t: Target, result: dict[str, Any]) -> None:
            session, name, start = graphs[t.graph]
            step = next(c.step for c in session.controls if c.name == name)
            value = round(start + moved[id(t)] * step, 9)
            want = numbers(expected_texts(t.graph, value))
            got = numbers(result["texts"])
            if got != want:
                raise AssertionError(f"{t.library}'s picture of {t.graph} at {name} = {value} "
                                     f"shows {got[:12]}..., Python draws {want[:12]}...")

        for _ in range(repeats):
            for t in targets:
                result = press(page, t, 1, 0.0, quiet_ms=400)
                moved[id(t)] += 1
                check(t, result)
                results["move"].setdefault((t.graph, t.library), []).append(
                    result["painted"][0] - result["keys"][0])
        for t in targets:
            result = press(page, t, DRAG_PRESSES, DRAG_INTERVAL, quiet_ms=1500)
            moved[id(t)] += DRAG_PRESSES
            check(t, result)
            if len(result["keys"]) != DRAG_PRESSES:
                raise AssertionError(f"{len(result['keys'])} key presses seen, not "
                                     f"{DRAG_PRESSES}")
            results["drag"][(t.graph, t.library)] = {
                "pictures": len(result["painted"]),
                "drag": result["keys"][-1] - result["keys"][0],
                "last_after_last_press": result["painted"][-1] - result["keys"][-1],
                "dropped": result["dropped"]}
    return results


def kernel_share(names: list[str], repeats: int) -> dict[str, float]:
    """The median ms of `Session.set` alone (benchmarks.widget's kernel share)."""
    times = kernel_times(max(repeats, 5))
    return {name: statistics.median(times[name]) for name in names}


def _site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python*/site-packages"))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def distributions(venv: Path) -> set[str]:
    """The names of the distributions installed in `venv`."""
    names = set()
    for info in _site_packages(venv).glob("*.dist-info"):
        name = info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def install_cost(requirement: str, folder: Path, pip_args: tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    """`pip install requirement` into a fresh venv under `folder` (made without pip, installed
    into with this Python's pip): the distributions it added and their bytes on disk."""
    venv = folder / re.sub(r"\W", "_", requirement)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    before = _size(_site_packages(venv))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-warn-script-location", *pip_args, requirement],
                   check=True, capture_output=True)
    return {"venv": venv, "distributions": distributions(venv),
            "bytes": _size(_site_packages(venv)) - before}


def import_time(python: Path | str, module: str, repeats: int) -> float:
    """The median ms of ``import module`` in `repeats` fresh interpreters (start-up not
    counted)."""
    code = (f"import time\nt = time.perf_counter()\nimport {module}\n"
            "print((time.perf_counter() - t) * 1e3)")
    times = [float(subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                                  text=True).stdout) for _ in range(repeats)]
    return statistics.median(times)


def table(names: list[str], kernel: dict[str, float], browser: dict[str, Any] | None,
          install: dict[str, dict[str, Any]], imports: dict[str, float], repeats: int) -> str:
    lines = []
    if browser is not None:
        lines += [f"Slider move to the new picture on screen, median of {repeats} (ms)",
                  f"{'graph':<34}{'anywidget':>10}{'ipywidgets':>11}{'ratio':>7}"
                  f"{'Session.set':>12}"]
        for name in names:
            a, b = (statistics.median(browser["move"][name, lib]) for lib in LIBRARIES)
            lines.append(f"{name:<34}{a:>10.1f}{b:>11.1f}{b / a:>6.2f}x{kernel[name]:>12.1f}")
        lines += ["", f"Fast drag: {DRAG_PRESSES} moves (key presses at least "
                  f"{DRAG_INTERVAL * 1e3:.0f} ms apart): pictures drawn, moves dropped by the "
                  "front end, the drag's length and the last picture's lag after it (ms)",
                  f"{'graph':<34}{'library':<11}{'pictures':>9}{'dropped':>8}{'drag':>7}"
                  f"{'lag':>7}"]
        for name in names:
            for lib in LIBRARIES:
                d = browser["drag"][name, lib]
                dropped = "-" if d["dropped"] is None else str(d["dropped"])
                lines.append(f"{name:<34}{lib:<11}{d['pictures']:>9}{dropped:>8}"
                             f"{d['drag']:>7.0f}{d['last_after_last_press']:>7.0f}")
        lines.append("")
    lines += ["Install (fresh venv) and import (fresh interpreter)",
              f"{'pip install':<14}{'distributions':>14}{'MB on disk':>11}{'import, ms':>11}"]
    for lib in LIBRARIES:
        c = install[lib]
        lines.append(f"{lib:<14}{len(c['distributions']):>14}{c['bytes'] / 1e6:>11.1f}"
                     f"{imports[lib]:>11.0f}")
    extra = sorted(install["anywidget"]["distributions"] - install["ipywidgets"]["distributions"])
    more = (install["anywidget"]["bytes"] - install["ipywidgets"]["bytes"]) / 1e6
    lines.append(f"anywidget on top of ipywidgets: {', '.join(extra)} ({more:+.1f} MB)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.widget_libraries",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--imports", type=int, default=10, help="fresh interpreters per import")
    parser.add_argument("--no-browser", action="store_true", help="install and import only")
    parser.add_argument("--graphs", nargs="+", default=list(sessions()),
                        help="benchmarks.widget's graphs (default: both)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="widget-libraries-") as tmp:
        folder = Path(tmp)
        install = {lib: install_cost(lib, folder) for lib in LIBRARIES}
        imports = {lib: import_time(install[lib]["venv"] / "bin" / "python", lib, args.imports)
                   for lib in LIBRARIES}
        kernel = kernel_share(args.graphs, args.repeats)
        browser = None
        if not args.no_browser:
            lab = folder / "lab"
            lab.mkdir()
            browser = browser_run(args.graphs, args.repeats, lab)
    print(table(args.graphs, kernel, browser, install, imports, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
