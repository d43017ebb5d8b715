import math

import pytest

from microgrid.data import make_blobs, make_moons


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
