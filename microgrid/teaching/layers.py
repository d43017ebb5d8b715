"""Backprop by hand, in the layer style of "Deep Learning from Scratch", ch. 5.

Each layer works on plain floats: `forward` computes the output and keeps what `backward`
needs; `backward(dout)` takes the upstream gradient dL/dout and returns the gradients of the
inputs. Call the `backward`s in the reverse order of the `forward`s. Compare with `Value`, which
records the same local derivatives by itself.
"""

from __future__ import annotations

import math


class MulLayer:
    """``out = x * y``; backward passes ``dout`` times the *other* input to each input."""

    def __init__(self) -> None:
        self.x = 0.0
        self.y = 0.0

    def forward(self, x: float, y: float) -> float:
        self.x, self.y = x, y
        return x * y

    def backward(self, dout: float) -> tuple[float, float]:
        return dout * self.y, dout * self.x


class AddLayer:
    """``out = x + y``; backward passes ``dout`` unchanged to both inputs."""

    def forward(self, x: float, y: float) -> float:
        return x + y

    def backward(self, dout: float) -> tuple[float, float]:
        return dout * 1, dout * 1


class SigmoidLayer:
    """``out = 1 / (1 + e^-x)``; backward is ``dout * out * (1 - out)``."""

    def __init__(self) -> None:
        self.out = 0.0

    def forward(self, x: float) -> float:
        self.out = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return self.out

    def backward(self, dout: float) -> float:
        return dout * (1.0 - self.out) * self.out


class ReluLayer:
    """``out = max(0, x)``; backward passes ``dout`` where ``x > 0`` and 0 elsewhere."""

    def __init__(self) -> None:
        self.mask = False  # True where x <= 0, as in the book

    def forward(self, x: float) -> float:
        self.mask = x <= 0
        return 0.0 if self.mask else x

    def backward(self, dout: float) -> float:
        return 0.0 if self.mask else dout
