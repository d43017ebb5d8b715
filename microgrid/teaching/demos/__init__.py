"""Teaching demos, one module each, runnable as `microgrid demo NAME` or `python demos/NAME.py`.

Each module has a one-line docstring (its title, then what it shows), `run(argv: list[str] |
None = None) -> tuple[int, Value]`, which prints the quantities of its book or post and returns
the exit status (non-zero when autograd and the hand-derived formula disagree) with the graph it
computed, after backward(), for `microgrid demo NAME -o FILE` to draw; and `main(argv)`, which
returns run's status. A module may set `COLLAPSE`, the depth `-o` collapses its graph to unless
--collapse or --focus is given, and `LARGE`, why its full picture (every value: --collapse 0)
is past 2,000 px and how to draw a smaller one (`-o` says so).
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEMOS = ["apple", "apple_orange", "perceptron", "mlp_backprop", "notation", "train", "newton",
         "derivatives", "compiled", "pytorch",
         "nudge", "modes"]


def load(name: str) -> ModuleType:
    """The demo module called `name` (a '-' may stand for '_')."""
    key = name.replace("-", "_")
    if key not in DEMOS:
        raise KeyError(f"unknown demo {name!r}; the demos are: {', '.join(DEMOS)}")
    return importlib.import_module(f"microgrid.teaching.demos.{key}")
