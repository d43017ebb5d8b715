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
from microgrid.groups import Group, current_group, group

__all__ = [
    "BackwardSteps",
    "Diagram",
    "Edge",
    "Explanation",
    "GradcheckError",
    "GradcheckRow",
    "Group",
    "Value",
    "backward_steps",
    "current_group",
    "dot",
    "draw",
    "edges",
    "explain",
    "format_number",
    "gradcheck",
    "group",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
    "tree",
]
__version__ = "0.1.0"
