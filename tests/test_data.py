import math

import pytest

from microgrid.nn.data import make_blobs, make_moons


def test_moons_are_reproducible_balanced_and_on_two_half_circles():
    X, y = make_moons(101, noise=0.0, seed=3)
    assert (X, y) == make_moons(101, noise=0.0, seed=3)
    assert len(X) == len(y) == 101 and y.count(0) == 51 and y.count(1) == 50
    for (a, b), label in zip(X, y, strict=True):
        cx, cy = (0.0, 0.0) if label == 0 else (1.0, 0.5)
        assert math.hypot(a - cx, b - cy) == pytest.approx(1.0, abs=1e-12)
        assert (b >= -1e-12) if label == 0 else (b <= 0.5 + 1e-12)


def test_moons_noise_and_seed():
    X1, _ = make_moons(50, noise=0.1, seed=1)
    X2, _ = make_moons(50, noise=0.1, seed=2)
    assert X1 != X2


@pytest.mark.parametrize("noise", [0.05, 0.2])
def test_moons_noise_is_gaussian_of_that_standard_deviation(noise):
    # The same seed draws the same normal numbers and the same shuffle at any noise, so the
    # noiseless moons give each point's place without noise, in the same order.
    X, y = make_moons(2000, noise=noise, seed=7)
    clean, y0 = make_moons(2000, noise=0.0, seed=7)
    assert y == y0
    residuals = [a - c for p, q in zip(X, clean, strict=True) for a, c in zip(p, q, strict=True)]
    n = len(residuals)  # 4000 draws of N(0, noise)
    mean = sum(residuals) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in residuals) / (n - 1))
    assert abs(mean) < 4 * noise / math.sqrt(n)  # 4 standard errors
    assert std == pytest.approx(noise, rel=4 / math.sqrt(2 * n))  # 4 standard errors: 4.5%
    within = sum(abs(r) < noise for r in residuals) / n
    assert within == pytest.approx(0.6827, abs=0.03)  # normal, not uniform (0.577) noise


def test_blobs_labels_follow_centres():
    X, y = make_blobs(60, centers=[(-5, 0), (5, 0), (0, 5)], std=0.5, seed=0)
    assert sorted(set(y)) == [0, 1, 2] and y.count(2) == 20
    for (a, b), label in zip(X, y, strict=True):
        cx, cy = [(-5, 0), (5, 0), (0, 5)][label]
        assert math.hypot(a - cx, b - cy) < 3


@pytest.mark.parametrize("call, argument", [
    (lambda: make_moons(0), "n"), (lambda: make_moons(10, noise=-1), "noise"),
    (lambda: make_blobs(10, centers=[(1, 2, 3)]), "centers"),
    (lambda: make_blobs(10, std=-1), "std")])
def test_bad_arguments_are_named(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        call()


def test_numpy_integers_are_ints_and_an_infinite_noise_is_refused():
    import numpy as np

    assert make_moons(np.int64(10), seed=0) == make_moons(10, seed=0)
    with pytest.raises(ValueError, match=r"^noise: expected a finite number >= 0, got inf"):
        make_moons(10, noise=math.inf)
