"""Small two-dimensional datasets for the demos, from a seed, with no dependency.

Each generator returns ``(X, y)``: a list of points ``[x1, x2]`` and a list of integer labels,
shuffled, reproducible from `seed` (a `random.Random` is built from it; no global state).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from numbers import Integral, Real

Points = list[list[float]]


def _check_n(n: object, argument: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"{argument}: expected a positive int, got {n!r}")
    return int(n)  # a numpy integer too


def _check_noise(noise: object, argument: str) -> float:
    if isinstance(noise, bool) or not isinstance(noise, Real) or not 0 <= float(noise) < math.inf:
        raise ValueError(f"{argument}: expected a finite number >= 0, got {noise!r}")
    return float(noise)


def _shuffled(X: Points, y: list[int], rng: random.Random) -> tuple[Points, list[int]]:
    order = list(range(len(X)))
    rng.shuffle(order)
    return [X[i] for i in order], [y[i] for i in order]


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[Points, list[int]]:
    """Two interleaving half circles (as scikit-learn's): label 0 is the upper moon, centred
    at (0, 0), label 1 the lower one, centred at (1, 0.5); Gaussian noise of std `noise`."""
    n = _check_n(n)
    noise = _check_noise(noise, "noise")
    rng = random.Random(seed)
    n_upper = n - n // 2
    X: Points = []
    y: list[int] = []
    for label, count in ((0, n_upper), (1, n // 2)):
        for i in range(count):
            t = math.pi * i / (count - 1) if count > 1 else 0.0
            px, py = (math.cos(t), math.sin(t)) if label == 0 else (1 - math.cos(t),
                                                                     0.5 - math.sin(t))
            X.append([px + rng.gauss(0, noise), py + rng.gauss(0, noise)])
            y.append(label)
    return _shuffled(X, y, rng)


def make_blobs(n: int = 100, centers: Sequence[Sequence[float]] = ((-2.0, 0.0), (2.0, 0.0)),
               std: float = 1.0, seed: int = 0) -> tuple[Points, list[int]]:
    """Gaussian blobs of std `std`, one per centre; a point's label is its centre's index.
    The `n` points are shared out among the centres as evenly as possible."""
    n = _check_n(n)
    std = _check_noise(std, "std")
    if not centers or any(len(c) != 2 for c in centers):
        raise ValueError(f"centers: expected a list of (x, y) points, got {centers!r}")
    rng = random.Random(seed)
    X: Points = []
    y: list[int] = []
    for i in range(n):
        label = i % len(centers)
        cx, cy = centers[label]
        X.append([cx + rng.gauss(0, std), cy + rng.gauss(0, std)])
        y.append(label)
    return _shuffled(X, y, rng)
