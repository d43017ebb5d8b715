"""Optimizers: `SGD` and `Adam`, with PyTorch's names and update rules.

Backpropagation in outline (forward, loss, loss gradient, backward, update) reads::

    out = model(x); loss = loss_fn(out, y); opt.zero_grad(); loss.backward(); opt.step()

`step()` changes each parameter's ``data`` in place from its ``grad``: plain float arithmetic on
``p.data`` and ``p.grad``, so it records no graph and needs no `no_grad()`.
`zero_grad()` sets every ``grad`` to 0: leaf gradients accumulate across `backward()` calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from microgrid.engine import Value


def _check(x: object, argument: str, *, positive: bool = False, below_one: bool = False
           ) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"{argument}: expected a finite number, got {x!r}")
    if positive and not x > 0:
        raise ValueError(f"{argument}: must be > 0, got {x!r}")
    if not x >= 0:
        raise ValueError(f"{argument}: must be >= 0, got {x!r}")
    if below_one and not x < 1:
        raise ValueError(f"{argument}: must be < 1, got {x!r}")
    return float(x)


class Optimizer:
    """Holds the parameters; subclasses implement `step()`."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        if callable(getattr(params, "parameters", None)):
            raise TypeError("params: pass model.parameters(), not the model")
        self.params = list(params)
        if not self.params:
            raise ValueError("params: the optimizer got no parameters")
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"params: expected Values, got {type(p).__name__} {p!r}")
        self.lr = _check(lr, "lr", positive=True)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: ``g = grad + weight_decay * w``; with momentum,
    ``v = momentum * v + g`` and ``w -= lr * v``, else ``w -= lr * g``."""

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _check(momentum, "momentum", below_one=True)
        self.weight_decay = _check(weight_decay, "weight_decay")
        self.velocity = [0.0] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                g = self.velocity[i] = self.momentum * self.velocity[i] + g
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba): running means of the gradient and its square, bias-corrected:
    ``m = β1 m + (1 - β1) g``, ``v = β2 v + (1 - β2) g²``,
    ``w -= lr * (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + eps)``, with ``eps > 0``."""

    def __init__(self, params: Iterable[Value], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check(betas[0], "betas[0]", below_one=True),
                      _check(betas[1], "betas[1]", below_one=True))
        self.eps = _check(eps, "eps", positive=True)  # 0 divides 0 by 0 where grad is 0
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for i, p in enumerate(self.params):
            g = p.grad
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g
            p.data -= self.lr * (self.m[i] / c1) / (math.sqrt(self.v[i] / c2) + self.eps)
