"""microgrid: a scalar autograd engine for learning and teaching backpropagation."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from microgrid.autograd import grad
from microgrid.compile import (
    CompiledStep,
    GuardError,
    compile,  # noqa: A004 (microgrid.compile, as the issue names it)
)
from microgrid.engine import (
    Edge,
    GradcheckError,
    GradcheckRow,
    Value,
    backward_walk,
    dot,
    edges,
    enable_grad,
    gradcheck,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    operand_uses,
    reference_backward,
    topological_order,
)
from microgrid.explain import Explanation, explain, tree  # (a name of its own module: eager)
from microgrid.functions import Function
from microgrid.groups import Group, current_group, group

if TYPE_CHECKING:
    from microgrid.animate import BackwardSteps, backward_steps
    from microgrid.drawing import Diagram, draw, format_number

# Drawing and the player are imported at their first use: a script or a command that only
# computes (`microgrid demo train`) starts without them.
_LAZY = {"BackwardSteps": "animate", "backward_steps": "animate", "Diagram": "drawing",
         "draw": "drawing", "format_number": "drawing"}
_MODULES = ("animate", "collapse", "drawing", "render")  # `microgrid.drawing` works as before


if not TYPE_CHECKING:  # (for mypy, the names are the imports above)
    def __getattr__(name: str) -> Any:
        if name in _MODULES:
            return importlib.import_module(f"microgrid.{name}")
        if name not in _LAZY:
            raise AttributeError(f"module 'microgrid' has no attribute {name!r}")
        value = getattr(importlib.import_module(f"microgrid.{_LAZY[name]}"), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BackwardSteps",
    "CompiledStep",
    "Diagram",
    "Edge",
    "Explanation",
    "Function",
    "GradcheckError",
    "GradcheckRow",
    "GuardError",
    "Group",
    "Value",
    "backward_steps",
    "backward_walk",
    "compile",
    "current_group",
    "dot",
    "draw",
    "edges",
    "enable_grad",
    "explain",
    "format_number",
    "grad",
    "gradcheck",
    "group",
    "is_grad_enabled",
    "maximum",
    "minimum",
    "no_grad",
    "operand_uses",
    "reference_backward",
    "topological_order",
    "tree",
]
__version__ = "0.1.0"
