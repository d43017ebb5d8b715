"""microgrid: a scalar autograd engine for learning and teaching backpropagation.

The public API, re-exported from the packages that hold it (see docs/architecture.md):
``core`` (Value, backward, grad, Function), ``nn``, ``compile``, ``drawing`` and ``teaching``.
"""

import importlib
import sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

from microgrid import nn
from microgrid.compile import CompiledStep, GuardError, compile  # noqa: A004
from microgrid.core import (
    Edge,
    Function,
    GradcheckError,
    GradcheckRow,
    Group,
    Value,
    backward_walk,
    current_group,
    dot,
    edges,
    enable_grad,
    forward_grad,
    functions,
    grad,
    gradcheck,
    group,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    nudge,
    operand_uses,
    reference_backward,
    topological_order,
)
from microgrid.core.formulas import format_number
from microgrid.nn import data, losses, optim
from microgrid.teaching import Explanation, explain, layers, tree

if _TYPE_CHECKING:
    from microgrid import drawing
    from microgrid.drawing import Diagram, draw
    from microgrid.drawing.player import BackwardSteps, backward_steps
    from microgrid.notebook import interact

__all__ = [
    "BackwardSteps", "CompiledStep", "Diagram", "Edge", "Explanation", "Function",
    "GradcheckError", "GradcheckRow", "GuardError", "Group", "Value", "backward_steps",
    "backward_walk", "compile", "current_group", "data", "dot", "draw", "drawing", "edges",
    "enable_grad", "explain", "format_number", "forward_grad", "functions", "grad",
    "gradcheck", "group", "interact", "is_grad_enabled", "layers", "losses", "maximum",
    "minimum", "nn", "no_grad", "nudge", "operand_uses", "optim", "reference_backward",
    "topological_order", "tree",
]
__version__ = "0.1.0"

# Module paths of before the packages keep working: `from microgrid.losses import mse`.
for _old, _module in {"functions": functions, "losses": losses, "optim": optim, "data": data,
                      "layers": layers}.items():
    sys.modules[f"microgrid.{_old}"] = _module

# Drawing and the player are imported at their first use: a script or a command that only
# computes (`microgrid demo train`) starts without them. The old module names of drawing's
# parts (`microgrid.render`) are still attributes.
_LAZY = {"BackwardSteps": "drawing.player", "backward_steps": "drawing.player",
         "Diagram": "drawing", "draw": "drawing", "interact": "notebook"}
_MODULES = {"drawing": "drawing", "render": "drawing.render", "collapse": "drawing.collapse",
            "animate": "drawing.player", "demos": "teaching.demos"}

if not _TYPE_CHECKING:  # (for mypy, the names are the imports above)
    def __getattr__(name: str):
        if name in _MODULES:
            return importlib.import_module(f"microgrid.{_MODULES[name]}")
        if name not in _LAZY:
            raise AttributeError(f"module 'microgrid' has no attribute {name!r}")
        value = getattr(importlib.import_module(f"microgrid.{_LAZY[name]}"), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
