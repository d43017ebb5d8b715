"""The same network in PyTorch: a model's layers as a ``torch.nn.Sequential`` and back.

`Module.to_torch()` and `MLP.from_torch()` (in `modules`) call these functions, which know
PyTorch and nothing of microgrid's modules: a network travels as a list of `Dense` layers, each
one's weight rows, biases and activation. PyTorch is optional (the extra ``microgrid[torch]``);
it is imported at the first call, and without it the call says what to install.

A microgrid layer ``l`` is the `Linear` at place ``k`` of the `Sequential`, followed by its
activation (``Tanh``, ``ReLU`` or ``Sigmoid``; nothing for "linear"). The weight ``w[l]_i_j``
is ``weight[i, j]`` of that `Linear`, entry ``"k.weight"`` of its ``state_dict()``, and the
bias ``b[l]_i`` is ``bias[i]``. Numbers are copied as float64, bit for bit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

# microgrid's activation names and PyTorch's modules, by class name (torch.nn.<name>)
TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}
INSTALL = ('pip install torch (in the clone: pip install -e ".[torch]"); the CPU build is '
           "enough: pip install torch --index-url https://download.pytorch.org/whl/cpu")


class Dense(NamedTuple):
    """One layer: ``weights[i][j]`` from input j to neuron i, ``biases[i]``, an activation."""

    weights: list[list[float]]
    biases: list[float]
    activation: str  # a key of microgrid.nn.ACTIVATIONS


def import_torch(what: str) -> Any:
    """The `torch` module, or an ImportError that says `what` needs it and how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} needs PyTorch, which is not installed: {INSTALL}") from None
    return torch


def to_sequential(layers: list[Dense]) -> torch.nn.Sequential:
    """``Sequential(Linear, activation, Linear, ...)`` in float64 holding exactly `layers`."""
    torch = import_torch("to_torch")
    modules: list[Any] = []
    for layer in layers:
        nout, nin = len(layer.weights), len(layer.weights[0])
        linear = torch.nn.Linear(nin, nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weights, dtype=torch.float64))
            linear.bias.copy_(torch.tensor(layer.biases, dtype=torch.float64))
        modules.append(linear)
        if layer.activation != "linear":
            modules.append(getattr(torch.nn, TORCH_ACTIVATIONS[layer.activation])())
    return torch.nn.Sequential(*modules)


def from_sequential(module: object, what: str) -> list[Dense]:
    """The layers of `module`: a ``Linear``, or a ``Sequential`` of ``Linear`` layers each
    followed by at most one of Tanh, ReLU, Sigmoid or Identity. Anything else, a Linear
    without a bias, or sizes that do not chain, is a ValueError (TypeError for what is not a
    torch module) that names the part; `what` names the caller."""
    torch = import_torch(what)
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"{what}: expected a torch.nn.Module (a Sequential of Linear layers), "
                        f"got {type(module).__name__} {module!r}")
    activations = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Identity: "linear"}
    sequential = isinstance(module, nn.Sequential)
    parts = list(module) if sequential else [module]
    layers: list[Dense] = []
    for k, part in enumerate(parts):
        place = f"module {k} of the Sequential, {describe(part)}," if sequential else \
            describe(part)
        if isinstance(part, nn.Linear):
            if layers and len(layers[-1].weights) != part.in_features:
                raise ValueError(f"{what}: {place} takes {part.in_features} inputs, but the "
                                 f"layer before it has {len(layers[-1].weights)} outputs")
            layers.append(_dense(part, place, what))
        elif type(part) not in activations:
            raise ValueError(f"{what}: {place} is neither a Linear layer nor Tanh, ReLU, "
                             f"Sigmoid or Identity; microgrid's MLP is {EXPECTED}")
        elif k == 0 or not isinstance(parts[k - 1], nn.Linear):
            raise ValueError(f"{what}: {place} does not follow a Linear layer; microgrid's MLP "
                             f"is {EXPECTED}")
        else:
            layers[-1] = layers[-1]._replace(activation=activations[type(part)])
    if not layers:
        raise ValueError(f"{what}: {describe(module)} has no Linear layer; microgrid's MLP is "
                         f"{EXPECTED}")
    return layers


EXPECTED = ("a Sequential of Linear layers (with bias), each followed by Tanh, ReLU, Sigmoid, "
            "Identity or nothing")


def describe(module: Any) -> str:
    """`module` in one line: ``Sequential(Linear(2, 3), Tanh(), Linear(3, 1))``."""
    import torch
    if isinstance(module, torch.nn.Sequential):
        return f"Sequential({', '.join(map(describe, module))})"
    if isinstance(module, torch.nn.Linear):
        bias = "" if module.bias is not None else ", bias=False"
        return f"Linear({module.in_features}, {module.out_features}{bias})"
    text = repr(module)
    return text if "\n" not in text else f"{type(module).__name__}(...)"


def _dense(linear: Any, place: str, what: str) -> Dense:
    """The numbers of a Linear, as Python floats (float64 holds a float32 exactly)."""
    if linear.bias is None:
        raise ValueError(f"{what}: {place} has no bias; microgrid's neurons all have one "
                         "(Linear(..., bias=True))")
    weights = linear.weight.detach().double().tolist()
    biases = linear.bias.detach().double().tolist()
    for i, row in enumerate([*weights, biases]):
        for j, x in enumerate(row):
            if not math.isfinite(x):
                entry = f"weight[{i}, {j}]" if i < len(weights) else f"bias[{j}]"
                raise ValueError(f"{what}: {entry} of {place} is {x!r}, not a finite number")
    return Dense(weights, biases, "linear")


def torch_places(activations: list[str]) -> list[int]:
    """The place in `to_sequential` of each layer's Linear, for layers of these activations
    (an activation other than "linear" takes the place after its Linear)."""
    places, k = [], 0
    for activation in activations:
        places.append(k)
        k += 1 if activation == "linear" else 2
    return places
