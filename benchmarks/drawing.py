"""How long drawing takes, as a user feels it: the goals of the drawing issues.

    python -m benchmarks.drawing            # medians of 7 repeats, about a minute
    python -m benchmarks.drawing --repeats 3

Each figure is a median over repeats; "first SVG" is measured in a new Python process each time,
from just after `import microgrid` to the SVG in hand. Nothing here is asserted in unit tests:
these machines are noisy, so the goals are checked here, side by side, and reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from microgrid import Value, backward_steps, draw, nn
from microgrid.drawing.render import TIME_BUDGET, RenderError, png_size
from microgrid.teaching.demos.apple_orange import build

FIRST_SVG = """
import time
import microgrid
from microgrid.teaching.demos.apple_orange import build
from microgrid.drawing.render import TIME_BUDGET, RenderError
start = time.perf_counter()
microgrid.draw(build()["price"]).svg()
print(time.perf_counter() - start)
"""


def first_svg() -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_SVG], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return float(out)


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def recurrent_chain(steps: int) -> Value:
    a, y = Value(0.5, "a"), Value(0.0, "y0")
    for _ in range(steps):
        y = (y * 0.9 + a).tanh()
    y.backward()
    return y


def network() -> Value:
    """README's network, MLP(2, [16, 16, 1]) with ReLU, on one input, after backward()."""
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model.output([0.5, -1.0])
    out.backward()
    return out


def readme_network() -> tuple[nn.MLP, Value]:
    """The network of the README's "Drawing a network", on inputs that are Values."""
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    return model, out


def chain_of(nodes: int) -> Value:
    """A chain of about `nodes` values, for the step-by-step page."""
    x, y = Value(0.5, "x"), Value(1.0, "y0")
    for _ in range(nodes // 2):
        y = (y * x).tanh()
    y.backward()
    return y


def chains(count: int, steps: int) -> Value:
    """`count` recurrent chains of `steps` steps, summed: 2,476 values for 25 x 32."""
    return sum((recurrent_chain(steps) for _ in range(count)), Value(0.0))


def drawn_or_refused(root: Value) -> float:
    """Seconds until the render of `draw(root)` has drawn, or refused with a RenderError: the
    time budget bounds Graphviz's part (building the DOT, before it, is timed on its own)."""
    diagram = draw(root)
    start = time.perf_counter()
    try:
        diagram.svg()
    except RenderError:
        pass
    return time.perf_counter() - start


def page(root: Value) -> tuple[float, float]:
    """(seconds to write the step-by-step page of `root`, its size in MB)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "steps.html"
        seconds = timed(lambda: backward_steps(root, max_steps=10_000).save_animation(path))
        return seconds, path.stat().st_size / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drawing", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    apple, mlp, chain45 = build()["price"], network(), recurrent_chain(45)
    draw(apple).png()  # warm: the program is in the page cache

    def median(work: Callable[[], float]) -> float:
        return statistics.median(work() for _ in range(args.repeats))

    page_seconds, page_mb = page(chain_of(290))
    model, net = readme_network()
    weight = model.layers[0].neurons[2].w[0]
    diagram45 = draw(chain45)
    big = chains(25, 32)
    rows = [
        ("first SVG of the apple graph, new process", median(first_svg), "s", 0.3),
        ("PNG of the apple graph, warm", median(lambda: timed(draw(apple).png)), "s", 0.05),
        ("PNG of MLP(2, [16, 16, 1]) on one input",
         median(lambda: timed(draw(mlp).png)), "s", 1.0),
        ("SVG of MLP(2, [16, 16, 1]) on one input",
         median(lambda: timed(draw(mlp).svg)), "s", 2.0),
        ("SVG of the README's MLP, collapse=1",
         median(lambda: timed(draw(net, collapse=1).svg)), "s", 1.0),
        ("SVG of the README's MLP, collapse=2",
         median(lambda: timed(draw(net, collapse=2).svg)), "s", 1.0),
        ("SVG of the README's MLP, focus on w[1]_2_0, collapse=2",
         median(lambda: timed(draw(net, collapse=2, focus=weight).svg)), "s", 1.0),
        ("PNG of the README's MLP, collapse=2: long side",
         max(png_size(draw(net, collapse=2).png())), "px", 1600),
        ("SVG of the 45-step recurrent chain", timed(diagram45.svg), "s", 5.0),
        ("2,476 values in 25 chains: DOT built in", timed(lambda: draw(big)), "s", 2.0),
        ("2,476 values in 25 chains: drawn or refused in", drawn_or_refused(big),
         "s", TIME_BUDGET + 0.2),
        ("step-by-step page of 290 nodes: written in", page_seconds, "s", 3.0),
        ("step-by-step page of 290 nodes: size", page_mb, "MB", 5.0),
    ]
    print(f"{'':52} {'median':>9} {'goal':>8}")
    for name, value, unit, goal in rows:
        verdict = "met" if value <= goal else "MISSED"
        print(f"{name:52} {value:7.3f} {unit:2} {goal:6g} {unit:2} {verdict}")
    print(f"(the 45-step chain was drawn with the {diagram45.layout} layout)")


if __name__ == "__main__":
    main()
