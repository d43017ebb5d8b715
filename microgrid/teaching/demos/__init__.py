"""Teaching demos, one module each, runnable as `microgrid demo NAME` or `python demos/NAME.py`.

Each module has a one-line docstring, `run(argv: list[str] | None = None) -> tuple[int, Value]`,
which prints the source document's quantities and returns the exit status (non-zero when autograd
and the hand-derived formula disagree) with the graph it computed, after backward(), for
`microgrid demo NAME -o FILE` to draw; and `main(argv)`, which returns run's status.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEMOS = ["apple", "apple_orange", "perceptron", "mlp_backprop", "notation", "train", "newton",
         "derivatives", "compiled", "nudge", "modes"]


def load(name: str) -> ModuleType:
    """The demo module called `name` (a '-' may stand for '_')."""
    key = name.replace("-", "_")
    if key not in DEMOS:
        raise KeyError(f"unknown demo {name!r}; the demos are: {', '.join(DEMOS)}")
    return importlib.import_module(f"microgrid.teaching.demos.{key}")
