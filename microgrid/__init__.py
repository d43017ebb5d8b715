"""microgrid: a scalar autograd engine for learning and teaching backpropagation."""

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

__all__ = [
    "Edge",
    "GradcheckError",
    "GradcheckRow",
    "Value",
    "dot",
    "edges",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
]
__version__ = "0.1.0"
