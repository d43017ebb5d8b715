"""microgrid: a scalar autograd engine for learning and teaching backpropagation."""

from microgrid.animate import BackwardSteps, backward_steps
from microgrid.drawing import Diagram, draw, format_number
from microgrid.engine import (
    Edge,
    GradcheckError,
    GradcheckRow,
    Value,
    dot,
    edges,
    gradcheck,
    is_grad_enabled,
    no_grad,
    topological_order,
)
from microgrid.explain import Explanation, explain, tree

__all__ = [
    "BackwardSteps",
    "Diagram",
    "Edge",
    "Explanation",
    "GradcheckError",
    "GradcheckRow",
    "Value",
    "backward_steps",
    "dot",
    "draw",
    "edges",
    "explain",
    "format_number",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
    "tree",
]
__version__ = "0.1.0"
