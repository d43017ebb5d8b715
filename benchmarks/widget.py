"""How long a move of `microgrid.interact`'s slider takes: in the kernel, and with --browser from
the slider's input event to the new picture painted, in JupyterLab in headless Chromium.

    python -m benchmarks.widget                  # the kernel's share: medians of 20 moves
    python -m benchmarks.widget --browser        # and in the browser: medians of 20 moves
    python -m benchmarks.widget --browser --moves 5
    python -m benchmarks.widget --browser --nodelay   # the server without Nagle's delay

Goals (issue 25), from a slider move to the new picture on screen: 100 ms for apple/orange,
300 ms for nn.MLP(2, [16, 16, 1]) with collapse=2.

- kernel: what the kernel does for one message from the slider (`Session.set`): the input
  parsed, the forward and backward pass run again, the graph drawn and laid out to SVG.
- browser, one move: a slider stepped and its input event dispatched, then, once the new
  picture is in the page, the next animation frame (it has been painted by then), as
  `benchmarks.playground` measures its slider. This adds the message both ways through
  JupyterLab's server and the SVG put in the page to the kernel's share.
- browser, a drag: 20 moves 16 ms apart (a mouse dragged at 60 Hz); the time from the last
  move to its picture painted, and how many pictures were drawn. The widget keeps one move in
  flight and drops the stale ones, so a drag ends about one move after the mouse stops.

About 40 ms of a move in the browser is jupyter_server's: its kernel websocket leaves Nagle's
algorithm on (no TCP_NODELAY), so a small message written after another waits for the
browser's delayed ACK. --nodelay starts the server with a config that sets TCP_NODELAY on
that websocket, to show the rest.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from microgrid import nn
from microgrid.notebook.widget import Session
from microgrid.teaching.demos.apple_orange import build

APPLE, MLP = "apple/orange", "MLP(2, [16, 16, 1]), collapse=2"
GOALS_MS = {APPLE: 100.0, MLP: 300.0}
DRAG = 20  # moves, 16 ms apart
NODELAY_CONFIG = """\
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

_open = KernelWebsocketHandler.open


async def open(self, kernel_id):  # TCP_NODELAY on the kernel's websocket
    self.set_nodelay(True)
    return await _open(self, kernel_id)

KernelWebsocketHandler.open = open
"""

# The same two widgets, in a notebook's cells (in the order of GOALS_MS)
CELLS = [
    "import microgrid\n"
    "from microgrid import nn\n"
    "from microgrid.teaching.demos.apple_orange import build\n"
    "microgrid.interact(build()['price'])",
    "model = nn.MLP(2, [16, 16, 1], seed=0)\n"
    "microgrid.interact(lambda x1, x2: model([x1, x2]), x1=0.5, x2=-1.0, collapse=2)",
]

# `count` moves of the first slider of widget `index`, `interval` ms apart (stepping up, or
# down); resolves when every move is answered: ms from the last move to its picture painted,
# and the pictures drawn and the moves dropped meanwhile.
MOVES = """async ([index, count, interval, up]) => {
  const root = document.querySelectorAll(".microgrid-interact")[index];
  const slider = root.querySelector(".mg-slider");
  const count0 = name => +root.dataset[name];
  const [sent, dropped, rendered] = ["sent", "dropped", "rendered"].map(count0);
  const answered = () => count0("sent") - sent + count0("dropped") - dropped === count
    && count0("rendered") - rendered === count0("sent") - sent;
  const done = new Promise(resolve => {
    const watch = new MutationObserver(() => {
      if (answered()) { watch.disconnect(); resolve(); }
    });
    watch.observe(root, {attributes: true, attributeFilter: ["data-rendered"]});
  });
  let last = 0;
  for (let k = 0; k < count; k++) {
    if (k) await new Promise(wake => setTimeout(wake, interval));
    if (up) slider.stepUp(); else slider.stepDown();
    last = performance.now();
    slider.dispatchEvent(new Event("input"));
  }
  const late = new Promise((_, fail) => setTimeout(() => fail(new Error(`${count} moves: ` +
    `${count0("rendered") - rendered} pictures drawn, still waiting after 60 s`)), 60000));
  await Promise.race([done, late]);
  await new Promise(requestAnimationFrame);
  return {ms: performance.now() - last, drawn: count0("rendered") - rendered,
          dropped: count0("dropped") - dropped};
}"""


def sessions() -> dict[str, tuple[Session, str, float]]:
    """Each benchmark's session, the input it moves and that input's start (as CELLS)."""
    model = nn.MLP(2, [16, 16, 1], seed=0)
    return {
        APPLE: (Session(build()["price"], {}), "apple", 100.0),
        MLP: (Session(lambda x1, x2: model([x1, x2]), {"x1": 0.5, "x2": -1.0}, collapse=2),
              "x1", 0.5),
    }


def kernel_times(moves: int) -> dict[str, list[float]]:
    """ms of each `Session.set`, per graph."""
    times: dict[str, list[float]] = {}
    for name, (session, input_name, start) in sessions().items():
        times[name] = []
        for k in range(moves):
            t = time.perf_counter()
            session.set(input_name, str(start + 0.01 * (k + 1)))
            times[name].append((time.perf_counter() - t) * 1e3)
    return times


def browser_times(moves: int, nodelay: bool = False
                  ) -> dict[str, tuple[list[float], list[dict[str, float]]]]:
    """Per graph: ms of each single move, and each of 3 drags, in JupyterLab in Chromium."""
    from benchmarks.browser import chromium, jupyterlab, run_notebook, wait

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if nodelay:
            config = Path(tmp) / ".jupyter" / "config"
            config.mkdir(parents=True)
            (config / "jupyter_server_config.py").write_text(NODELAY_CONFIG)
        with jupyterlab(Path(tmp)) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            run_notebook(page, url, Path(tmp), CELLS)
            wait(page, "both widgets' pictures", "() => document.querySelectorAll("
                 "'.microgrid-interact .mg-picture svg').length === 2", timeout=120_000)
            page.wait_for_timeout(1000)  # the notebook settled
            for index, name in enumerate(GOALS_MS):
                single = [page.evaluate(MOVES, [index, 1, 0, k % 2 == 0])["ms"]
                          for k in range(moves)]
                drags = [page.evaluate(MOVES, [index, DRAG, 16, k % 2 == 0]) for k in range(3)]
                results[name] = (single, drags)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.widget",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--browser", action="store_true",
                        help="also in JupyterLab in headless Chromium")
    parser.add_argument("--nodelay", action="store_true",
                        help="with --browser: TCP_NODELAY on the server's kernel websocket")
    args = parser.parse_args(argv)
    kernel = kernel_times(args.moves)
    browser = browser_times(args.moves, args.nodelay) if args.browser else {}
    print(f"{'graph':<34}{'kernel':>9}{'browser':>10}{'goal':>8}   a drag of {DRAG} moves")
    for name, goal in GOALS_MS.items():
        line = f"{name:<34}{statistics.median(kernel[name]):>7.1f}ms"
        if name in browser:
            single, drags = browser[name]
            median = statistics.median(single)
            drag = statistics.median(d["ms"] for d in drags)
            drawn = statistics.median(d["drawn"] for d in drags)
            line += (f"{median:>8.1f}ms{goal:>6.0f}ms   last picture {drag:.0f} ms after the "
                     f"mouse stopped, {drawn:.0f} pictures drawn"
                     f"{'' if median <= goal else '  <-- misses the goal'}")
        else:
            line += f"{'':>10}{goal:>6.0f}ms"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
