"""microgrid: a scalar autograd engine for learning and teaching backpropagation."""

from microgrid.animate import BackwardSteps, backward_steps
from microgrid.autograd import grad
from microgrid.compile import (
    CompiledStep,
    GuardError,
    compile,  # noqa: A004 (microgrid.compile, as the issue names it)
)
from microgrid.drawing import Diagram, draw, format_number
from microgrid.engine import (
    Edge,
    GradcheckError,
    GradcheckRow,
    Value,
    backward_walk,
    dot,
    edges,
    gradcheck,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    operand_uses,
    reference_backward,
    topological_order,
)
from microgrid.explain import Explanation, explain, tree
from microgrid.functions import Function
from microgrid.groups import Group, current_group, group

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
