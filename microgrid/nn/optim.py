"""Optimizers: `SGD` and `Adam`, with PyTorch's names and update rules.

Backpropagation in outline (forward, loss, loss gradient, backward, update) reads::

    out = model(x); loss = loss_fn(out, y); opt.zero_grad(); loss.backward(); opt.step()

`step()` changes each parameter's ``data`` in place from its ``grad``: plain float arithmetic on
``p.data`` and ``p.grad``, so it records no graph and needs no `no_grad()`.
`zero_grad()` sets every ``grad`` to 0: leaf gradients accumulate across `backward()` calls.
A ``grad`` that is a `Value` (after ``backward(create_graph=True)``) is used by its number, as
PyTorch's optimizers use a tensor's; `zero_grad()` drops it for 0.0.

A step never writes a non-finite number: if a gradient is NaN or infinite, or if the step would
make a parameter or the optimizer's state overflow, `step()` raises, naming the parameter and
the number, and leaves every parameter and every state as they were before the call.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from numbers import Real

from microgrid.core.engine import Value


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
        if callable(params) and not hasattr(params, "__iter__"):
            raise TypeError(f"params: pass model.parameters(), not the method {params!r}: "
                            "call it")
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

    def _read(self) -> tuple[list[float], list[float]]:
        """Every parameter's data and grad, checked: numbers, finite (one may be set by hand)."""
        data, grads = list(map(_data, self.params)), list(map(_grad, self.params))
        if _floats(data) and _floats(grads) and _finite(data) and _finite(grads):
            return data, grads  # the common case, checked in C
        return ([_field(p, x, "data") for p, x in zip(self.params, data, strict=True)],
                [_field(p, g, "gradient") for p, g in zip(self.params, grads, strict=True)])

    def _write(self, new: Sequence[float], states: dict[str, Sequence[float]]) -> None:
        """Set every parameter's data to `new` if it and every entry of `states` (name: one
        number per parameter) are finite; else raise and change nothing."""
        for name, values in (*states.items(), ("", new)):
            if _finite(values):
                continue
            for p, x in zip(self.params, values, strict=True):
                if x - x:  # not finite
                    change = f"make the {name} of {p!r}" if name else f"set {p!r} to"
                    raise OverflowError(
                        f"step: {type(self).__name__}'s step would {change} {x!r}; no parameter "
                        "was changed (a smaller lr, or smaller gradients, keep it finite)")
        for p, x in zip(self.params, new, strict=True):
            p.data = x


_data, _grad = operator.attrgetter("data"), operator.attrgetter("grad")


def _floats(xs: list[float]) -> bool:
    return set(map(type, xs)) == {float}


def _finite(xs: Sequence[float]) -> bool:
    """Whether every one of `xs` is finite: their exact sum is (an inf or a NaN makes it inf or
    NaN; fsum raises on inf - inf). False can also mean that the sum overflows: then look at
    each one."""
    try:
        return math.isfinite(math.fsum(xs))
    except (OverflowError, ValueError):
        return False


def _field(p: Value, x: object, name: str) -> float:
    if isinstance(x, Value):  # a gradient from backward(create_graph=True): its number, as in
        x = x.data            # PyTorch, whose optimizers step with the tensor's values
    if x.__class__ is not float:
        if isinstance(x, bool) or not isinstance(x, Real):
            raise TypeError(f"step: the {name} of {p!r} is {type(x).__name__} {x!r}, "
                            "not a number; no parameter was changed")
        x = float(x)
    if x - x:  # not finite (inf - inf and nan - nan are nan)
        raise ValueError(f"step: the {name} of {p!r} is {x!r}; a step with it would make the "
                         "parameter non-finite, so no parameter was changed")
    return x


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
        data, grads = self._read()
        lr, decay, momentum = self.lr, self.weight_decay, self.momentum
        if decay:
            grads = [g + decay * w for w, g in zip(data, grads, strict=True)]
        velocity = self.velocity
        if momentum:
            grads = velocity = [momentum * v + g for v, g in zip(velocity, grads, strict=True)]
        self._write([w - lr * g for w, g in zip(data, grads, strict=True)],
                    {"velocity": velocity} if momentum else {})
        self.velocity = velocity


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
        data, grads = self._read()
        b1, b2 = self.betas
        t = self.t + 1
        c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        m = [b1 * mi + (1.0 - b1) * g for mi, g in zip(self.m, grads, strict=True)]
        v = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(self.v, grads, strict=True)]
        new = [w - self.lr * (mi / c1) / (math.sqrt(vi / c2) + self.eps)
               for w, mi, vi in zip(data, m, v, strict=True)]
        self._write(new, {"first moment m": m, "second moment v": v})
        self.t, self.m, self.v = t, m, v
