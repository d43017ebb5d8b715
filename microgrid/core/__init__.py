"""The core: `Value` and backpropagation, and nothing else of microgrid's below it.

Read in this order: `engine` (a `Value` records its operands and local derivatives; the
backward walk; `backward()`), `functions` (each operation's rule: forward and local
derivatives, written once; a learner's own `Function`), `autograd` (`grad` to any order, the
same rules evaluated on Values), `forward` (forward mode, one input at a time, and nudges),
`check` (gradients by central differences), `formulas` (how a
node and its local derivatives are written, for every picture and text), `groups` (names for
parts of a graph).

A new operation goes in `functions.py` (its rule) and, if it has a method on `Value`, in
`engine.py`. This package imports nothing else of microgrid's.
"""

from microgrid.core.autograd import grad
from microgrid.core.check import GradcheckError, GradcheckRow, gradcheck
from microgrid.core.engine import (
    Edge,
    Value,
    backward_walk,
    dot,
    edges,
    enable_grad,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    operand_uses,
    reference_backward,
    topological_order,
)
from microgrid.core.forward import Nudge, forward_grad, nudge
from microgrid.core.functions import Function
from microgrid.core.groups import Group, current_group, group

__all__ = ["Edge", "Function", "GradcheckError", "GradcheckRow", "Group", "Nudge", "Value",
           "backward_walk", "current_group", "dot", "edges", "enable_grad", "forward_grad",
           "grad", "gradcheck", "group", "is_grad_enabled", "maximum", "minimum", "no_grad",
           "nudge", "operand_uses",
           "reference_backward", "topological_order"]
