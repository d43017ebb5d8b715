"""microgrid: a scalar autograd engine for learning and teaching backpropagation."""

from microgrid.animate import BackwardSteps, backward_steps
from microgrid.autograd import grad
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
    maximum,
    minimum,
    no_grad,
    reference_backward,
    topological_order,
)
from microgrid.functions import Function

__all__ = [
    "BackwardSteps",
    "Diagram",
    "Edge",
    "Function",
    "GradcheckError",
    "GradcheckRow",
    "Value",
    "backward_steps",
    "dot",
    "draw",
    "edges",
    "format_number",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "maximum",
    "minimum",
    "no_grad",
    "reference_backward",
    "topological_order",
]
__version__ = "0.1.0"
