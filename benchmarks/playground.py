"""How fast the playground page feels, in Debian's headless Chromium, driven by Playwright.

    python -m benchmarks.playground              # medians of 5 repeats
    python -m benchmarks.playground --repeats 3 --site site/

The goals (issue 28): the first drawing shown within 5 s of opening the page on a cold cache
(a new browser context: nothing cached) and within 2 s on a warm one (the same context, the page
opened again), and a redraw of the apple graph after a slider move within 150 ms (from the
slider's input event to the new drawing in the page, painted). The site is built first (from
the cache of downloads) unless --site names a built one. Also: the WebAssembly Graphviz of the
site, @viz-js/viz, against @hpcc-js/wasm-graphviz, if --compare-layout (it downloads that).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.browser import chromium
from microgrid.playground.build import build

GOALS = {"cold": 5000.0, "warm": 2000.0, "slider": 150.0}  # ms
APPLE = ("apple * apple_num * tax", "apple=100 apple_num=2 tax=1.1")

# From the slider's input event to the new drawing, painted (two animation frames later).
SLIDER_MOVE = """async (name) => {
  const slider = document.getElementById(`slider-${name}`);
  const drawing = document.getElementById("drawing");
  const before = drawing.dataset.drawn;
  const started = performance.now();
  slider.stepUp();
  slider.dispatchEvent(new Event("input"));
  while (drawing.dataset.drawn === before) await new Promise(requestAnimationFrame);
  await new Promise(requestAnimationFrame);
  return performance.now() - started;
}"""


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """`python -m http.server` on `site`, in a process of its own (in this one, it would share
    the interpreter with Playwright's client, and serve slowly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d",
                               str(site), str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait()


def first_drawing(page, url: str) -> float:
    """ms from navigation start to the first drawing in the page."""
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=120_000)
    return float(page.evaluate("window.playground.timings.drawn"))


def measure(browser, url: str, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"cold": [], "warm": [], "slider": []}
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        times["cold"].append(first_drawing(context.new_page(), url))
        page = context.new_page()
        times["warm"].append(first_drawing(page, url))
        page.fill("#expression", APPLE[0])
        page.fill("#variables", APPLE[1])
        page.click("#draw")
        page.wait_for_selector("#slider-apple")
        for _ in range(5):
            times["slider"].append(page.evaluate(SLIDER_MOVE, "apple"))
        context.close()
    return times


def report(times: dict[str, list[float]]) -> None:
    names = {"cold": "first drawing, cold cache", "warm": "first drawing, warm cache",
             "slider": "redraw after a slider move (apple)"}
    for key, values in times.items():
        median, goal = statistics.median(values), GOALS[key]
        verdict = "met" if median <= goal else "MISSED"
        print(f"{names[key]:<38} median {median:7.0f} ms  (min {min(values):.0f}, "
              f"max {max(values):.0f}; goal {goal:.0f} ms: {verdict})")


LAYOUT_PAGE = """<!DOCTYPE html><meta charset="utf-8"><script type="module">
const dot = await (await fetch("graph.dot")).text();
const t0 = performance.now();
const mod = await import("./%s");
const render = await (%s);
const t1 = performance.now();
for (let i = 0; i < 3; i++) render(dot);
const t2 = performance.now();
for (let i = 0; i < 20; i++) render(dot);
window.result = {load: t1 - t0, layout: (performance.now() - t2) / 20};
</script>"""


def compare_layouts(browser, cache: Path) -> None:
    """Load time and layout time of the apple graph, @viz-js/viz against @hpcc-js/wasm-graphviz."""
    from microgrid import Value, draw
    from microgrid.playground.build import VIZ, _npm_package

    a, n, tax = Value(100.0, "apple"), Value(2.0, "apple_num"), Value(1.1, "tax")
    price = a * n * tax
    price.backward()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "graph.dot").write_text(draw(price).source)
        viz = _npm_package(VIZ[0], VIZ[1], cache / "npm")
        hpcc = _npm_package("@hpcc-js/wasm-graphviz", "1.29.2", cache / "npm")
        shutil.copyfile(viz / "dist" / "viz.js", folder / "viz.js")
        shutil.copyfile(hpcc / "dist" / "index.js", folder / "hpcc.js")
        (folder / "viz.html").write_text(LAYOUT_PAGE % (
            "viz.js", "mod.instance().then(v => (d) => v.renderString(d, {format: 'svg'}))"))
        (folder / "hpcc.html").write_text(LAYOUT_PAGE % (
            "hpcc.js", "mod.Graphviz.load().then(g => (d) => g.dot(d))"))
        with serve(folder) as url:
            for name, size, page_name in [("@viz-js/viz " + VIZ[1], viz / "dist" / "viz.js", "viz"),
                                          ("@hpcc-js/wasm-graphviz 1.29.2",
                                           hpcc / "dist" / "index.js", "hpcc")]:
                loads, layouts = [], []
                for _ in range(3):
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(url + page_name + ".html")
                    page.wait_for_function("window.result", timeout=60_000)
                    result = page.evaluate("window.result")
                    loads.append(result["load"])
                    layouts.append(result["layout"])
                    context.close()
                print(f"{name:<30} {size.stat().st_size / 1e6:.1f} MB, load "
                      f"{statistics.median(loads):.0f} ms, layout of the apple graph "
                      f"{statistics.median(layouts):.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.playground",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--compare-layout", action="store_true",
                        help="also time @viz-js/viz against @hpcc-js/wasm-graphviz")
    args = parser.parse_args(argv)
    from microgrid.playground.build import default_cache

    with tempfile.TemporaryDirectory() as tmp:
        site = args.site or build(Path(tmp) / "site")
        with serve(site) as url, chromium() as browser:
            report(measure(browser, url, args.repeats))
            if args.compare_layout:
                compare_layouts(browser, default_cache())


if __name__ == "__main__":
    main()
