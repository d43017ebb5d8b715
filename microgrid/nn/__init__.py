"""Neural networks on `Value`, in PyTorch's names: `Neuron`, `Layer`, `MLP` (`modules`), and
beside them `losses`, `optim` (SGD, Adam) and `data` (two moons, blobs); `bridge` makes the same
network in PyTorch (`model.to_torch()`, `MLP.from_torch`), with torch imported at first use.

A new layer or model goes in `modules.py`, a loss in `losses.py`, an optimizer in `optim.py`.
Imports the core only.
"""

from microgrid.nn import data, losses, optim
from microgrid.nn.modules import ACTIVATIONS, MLP, IncompatibleKeys, Layer, Module, Neuron

__all__ = ["ACTIVATIONS", "MLP", "IncompatibleKeys", "Layer", "Module", "Neuron", "data", "losses",
           "optim"]
