"""Teaching demos, one module each, runnable as `microgrid demo NAME` or `python demos/NAME.py`.

Each module has a one-line docstring and `main(argv: list[str] | None = None) -> int`, which
prints the source document's quantities and returns non-zero when autograd and the hand-derived
formula disagree.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEMOS = ["apple", "apple_orange", "perceptron", "mlp_backprop", "notation", "train"]


def load(name: str) -> ModuleType:
    """The demo module called `name` (a '-' may stand for '_')."""
    key = name.replace("-", "_")
    if key not in DEMOS:
        raise KeyError(f"unknown demo {name!r}; the demos are: {', '.join(DEMOS)}")
    return importlib.import_module(f"microgrid.demos.{key}")
