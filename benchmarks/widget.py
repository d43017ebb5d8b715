"""How long a move of `microgrid.interact`'s slider takes in the kernel: the issue's goals.

    python -m benchmarks.widget              # medians of 20 moves
    python -m benchmarks.widget --moves 5

A move is what the kernel does for one message from the slider: the input parsed, the forward
and backward pass run again, the graph drawn and laid out to SVG (`Session.set`). Goals, from a
slider move to the new picture on screen: 100 ms for apple/orange, 300 ms for
nn.MLP(2, [16, 16, 1]) with collapse=2. The browser's part (the message both ways, the SVG put
in the page) is measured by tests/test_interact.py's JupyterLab run (`data-latency` on the
widget); while the user drags, the front end keeps one move in flight and drops the stale ones.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from microgrid import nn
from microgrid.notebook.widget import Session
from microgrid.teaching.demos.apple_orange import build

GOALS_MS = {"apple/orange": 100.0, "MLP(2, [16, 16, 1]), collapse=2": 300.0}


def sessions() -> dict[str, tuple[Session, str, float]]:
    """Each benchmark's session, the input it moves and that input's start."""
    random.seed(0)
    model = nn.MLP(2, [16, 16, 1])
    return {
        "apple/orange": (Session(build()["price"], {}), "apple", 100.0),
        "MLP(2, [16, 16, 1]), collapse=2": (
            Session(lambda x1, x2: model([x1, x2]), {"x1": 0.5, "x2": -1.0}, collapse=2),
            "x1", 0.5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.widget", description=__doc__)
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"{'graph':<34}{'median':>10}{'max':>10}{'goal':>10}")
    for name, (session, input_name, start) in sessions().items():
        times = []
        for k in range(args.moves):
            t = time.perf_counter()
            session.set(input_name, str(start + 0.01 * (k + 1)))
            times.append((time.perf_counter() - t) * 1e3)
        median = statistics.median(times)
        goal = GOALS_MS[name]
        print(f"{name:<34}{median:>8.1f}ms{max(times):>8.1f}ms{goal:>8.0f}ms"
              f"{'' if median <= goal else '  <-- misses the goal'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
