"""Loss functions on `Value`s: each returns one `Value` to call `backward()` on.

A loss takes a prediction and a target: one `Value` and one number, or equal-length sequences
of them (a batch; targets may be a numpy array, never a str or a dict), and returns the mean
over the batch; `half_squared_error`, the ``E = ½ Σ_k (O_k - t_k)²`` of the posts "The
perceptron" and "Backpropagation in the multi-layer perceptron", returns a sum. `get(name)`
looks a loss up by name.

Binary cross-entropy comes in two forms, both safe near 0 and 1:

- `binary_cross_entropy(p, y)` takes probabilities (say, a sigmoid's output) and computes
  ``-(y log p + (1 - y) log(1 - p))``. A ``p`` closer than ``eps`` to 0 or 1 is clamped into
  ``[eps, 1 - eps]`` by adding a constant, so the loss stays finite and the gradient still flows
  (as if ``p`` were ``eps`` away from the edge). A ``p`` outside [0, 1] is an error, as in
  PyTorch: it is most likely a logit, which `bce_with_logits` takes.
- `bce_with_logits(z, y)` takes the logit ``z`` (the sum before the sigmoid) and computes the
  same loss as ``log(1 + e^z) - y z`` without ever forming ``sigmoid(z)``, so it is exact for
  any ``z``; its gradient is ``sigmoid(z) - y``. Prefer it for training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence, Set
from numbers import Integral, Real
from typing import Any

from microgrid.core.engine import Value, check_fields, maximum

Prediction = Value | Sequence[Value]
Target = float | Sequence[float]


def _targets(target: object, loss: str) -> list[float]:
    """`target` as a list of finite floats: one number, or a sequence (a list, a tuple, a numpy
    array) of them; anything else (a str, a dict, a Value) is a one-line error."""
    if isinstance(target, Real | Value):  # (a bool is refused below)
        items, names = [target], ["target"]
    elif isinstance(target, str | bytes | Mapping | Set) or not hasattr(target, "__len__"):
        raise TypeError(f"{loss}: target must be a number or a sequence of numbers, got "
                        f"{type(target).__name__} {target!r}")
    else:
        items = list(target)  # type: ignore[call-overload]
        names = [f"target[{i}]" for i in range(len(items))]
    out = []
    for name, t in zip(names, items, strict=True):
        if isinstance(t, Value):
            raise TypeError(f"{loss}: {name} is {t!r}; targets are numbers, and no gradient "
                            "flows to a target: pass its .item()")
        if isinstance(t, bool):
            raise TypeError(f"{loss}: {name} is {t!r}, a bool; a target is a number: write "
                            f"{int(t)} (or pass float labels)")
        if not isinstance(t, Real):
            raise TypeError(f"{loss}: {name} must be a number, got {type(t).__name__} {t!r}")
        try:
            number = float(t)
        except OverflowError:  # an int such as 10**400
            number = math.inf
        if not math.isfinite(number):
            raise ValueError(f"{loss}: {name} must be a finite number, got {t!r}")
        out.append(number)
    return out


def _pairs(pred: Prediction, target: Target, loss: str) -> list[tuple[Value, float]]:
    if not isinstance(pred, Value) and (isinstance(pred, str | bytes | Mapping | Set)
                                        or not hasattr(pred, "__len__")):
        raise TypeError(f"{loss}: pred must be a Value or a sequence of Values (the model's "
                        f"outputs), got {type(pred).__name__} {pred!r}")
    preds = [pred] if isinstance(pred, Value) else list(pred)
    targets = _targets(target, loss)
    if len(preds) != len(targets):
        raise ValueError(f"{loss}: {len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{loss}: pred is empty")
    for p in preds:
        if not isinstance(p, Value):
            raise TypeError(f"{loss}: pred must be Values, got {type(p).__name__} {p!r}")
    return list(zip(preds, targets, strict=True))


def _total(terms: Sequence[Value]) -> Value:
    """``terms[0] + terms[1] + ...``: `sum` without its start 0, which would add a node."""
    return sum(terms[1:], terms[0])


def _mean(terms: list[Value]) -> Value:
    total = _total(terms)
    return total if len(terms) == 1 else total / len(terms)


def _shifted_exps(logits: Sequence[Value], loss: str) -> tuple[list[Value], float]:
    """``e^(z_i - m)`` for the largest logit ``m``, and ``m``: no exponent is above 0, so
    nothing overflows, and the shift cancels in softmax and in cross-entropy."""
    if isinstance(logits, Value) or not hasattr(logits, "__len__") or not len(logits):
        raise ValueError(f"{loss}: logits must be a non-empty list of Values, got {logits!r}")
    for z in logits:
        if not isinstance(z, Value):
            raise TypeError(f"{loss}: logits must be Values, got {type(z).__name__} {z!r}")
    check_fields(logits, loss, ("data",))  # a data set by hand is named here
    m = max(z.data for z in logits)
    return [(z - m).exp() for z in logits], m


def mse(pred: Prediction, target: Target) -> Value:
    """Mean squared error: mean of ``(p - t)²`` (PyTorch's ``F.mse_loss``)."""
    return _mean([(p - t) ** 2 for p, t in _pairs(pred, target, "mse")])


def half_squared_error(pred: Prediction, target: Target) -> Value:
    """``½ Σ (p - t)²``, a sum over the outputs (not a mean): the loss E of the posts "The
    perceptron" and "Backpropagation in the multi-layer perceptron", whose ½ cancels the 2 of
    the derivative, so that ``dE/dp = p - t``."""
    return 0.5 * _total([(p - t) ** 2 for p, t in _pairs(pred, target, "half_squared_error")])


def _check_probability(y: float, loss: str) -> None:
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"{loss}: target must be between 0 and 1, got {y!r}")


def binary_cross_entropy(pred: Prediction, target: Target, *, eps: float = 1e-12) -> Value:
    """Mean of ``-(y log p + (1 - y) log(1 - p))`` for probabilities ``p``, clamped to
    ``[eps, 1 - eps]`` with the gradient passed through unchanged. A ``p`` outside [0, 1] is an
    error, as in PyTorch: it is most likely a logit, for `bce_with_logits`."""
    if isinstance(eps, bool) or not isinstance(eps, Real):
        raise TypeError(f"binary_cross_entropy: eps must be a number, got "
                        f"{type(eps).__name__} {eps!r}")
    if not 0 < eps < 0.5:
        raise ValueError(f"binary_cross_entropy: eps must be between 0 and 0.5 (a small number "
                         f"such as 1e-12), got {eps!r}")
    terms = []
    for p, y in _pairs(pred, target, "binary_cross_entropy"):
        _check_probability(y, "binary_cross_entropy")
        check_fields((p,), "binary_cross_entropy", ("data",))
        if not 0.0 <= p.data <= 1.0:
            raise ValueError(f"binary_cross_entropy: pred must be probabilities between 0 and 1, "
                             f"got {p.data!r}; for logits (the sum before a sigmoid) use "
                             "bce_with_logits")
        clamped = min(max(p.data, eps), 1.0 - eps)
        if clamped != p.data:
            p = p + (clamped - p.data)
        if y == 1.0:  # the usual hard labels: leave the term that is multiplied by 0 out
            terms.append(-p.log())
        elif y == 0.0:
            terms.append(-(1.0 - p).log())
        else:
            terms.append(-(y * p.log() + (1.0 - y) * (1.0 - p).log()))
    return _mean(terms)


def bce_with_logits(logit: Prediction, target: Target) -> Value:
    """Binary cross-entropy of ``sigmoid(z)``, computed from the logit ``z``:
    ``log(1 + e^z) - y z``, written ``max(z, 0) - y z + log(1 + e^-|z|)`` so that nothing
    overflows. One graph for every sign of z, with no branch on the data, so that
    `microgrid.compile` needs no guard (maximum and abs are conditional expressions there);
    at z = 0, maximum's half-and-half gives the derivative 1/2 - y."""
    terms = []
    for z, y in _pairs(logit, target, "bce_with_logits"):
        _check_probability(y, "bce_with_logits")
        check_fields((z,), "bce_with_logits", ("data",))  # a data set by hand is named here
        terms.append(maximum(z, 0.0) - z * y + (1.0 + (-abs(z)).exp()).log())
    return _mean(terms)


def hinge(score: Prediction, target: Target) -> Value:
    """Max-margin loss: mean of ``max(0, 1 - y s)`` for labels ``y`` of -1 or +1."""
    terms = []
    for s, y in _pairs(score, target, "hinge"):
        if y not in (-1.0, 1.0):
            raise ValueError(f"hinge: target must be -1 or +1, got {y!r}")
        terms.append((1.0 - y * s).relu())
    return _mean(terms)


def softmax(logits: Sequence[Value]) -> list[Value]:
    """``e^(z_i) / Σ_j e^(z_j)``, shifted by the largest logit so that nothing overflows."""
    exps = _shifted_exps(logits, "softmax")[0]
    total = _total(exps)
    return [e / total for e in exps]


def cross_entropy(logits: Sequence[Value] | Sequence[Sequence[Value]],
                  target: int | Sequence[int]) -> Value:
    """Softmax cross-entropy: ``log Σ_j e^(z_j) - z_target`` for the logits of one example and
    its class index, or the mean over a batch of them (PyTorch's ``F.cross_entropy``)."""
    if isinstance(logits, Value) or not hasattr(logits, "__len__") or not len(logits):
        raise ValueError(f"cross_entropy: logits must be a non-empty list of Values (or a list "
                         f"of such lists, a batch), got {logits!r}")  # len: a numpy array too
    batch: list[tuple[Sequence[Value], Any]]
    if isinstance(logits[0], Value):
        batch = [(logits, target)]  # type: ignore[list-item]
    else:
        targets = [target] if isinstance(target, Integral) else list(target)  # type: ignore[arg-type]
        if len(logits) != len(targets):
            raise ValueError(f"cross_entropy: {len(logits)} examples but {len(targets)} targets")
        batch = list(zip(logits, targets, strict=True))  # type: ignore[arg-type]
    terms = []
    for zs, t in batch:
        exps, m = _shifted_exps(zs, "cross_entropy")
        i = int(t) if isinstance(t, Integral) and not isinstance(t, bool) else -1  # numpy's too
        if not 0 <= i < len(zs):
            raise ValueError(f"cross_entropy: target must be a class index in "
                             f"0..{len(zs) - 1}, got {t!r}")
        terms.append(_total(exps).log() + m - zs[i])
    return _mean(terms)


LOSSES: dict[str, Callable[..., Value]] = {
    "mse": mse,
    "binary_cross_entropy": binary_cross_entropy,
    "bce": binary_cross_entropy,
    "bce_with_logits": bce_with_logits,
    "hinge": hinge,
    "cross_entropy": cross_entropy,
}


def get(name: str) -> Callable[..., Value]:
    """The loss function called `name` (see `LOSSES`)."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss: unknown loss {name!r}; choose one of "
                         f"{', '.join(LOSSES)}") from None
