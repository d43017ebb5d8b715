import math

import numpy as np
import pytest

from microgrid import Value, gradcheck, losses


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_mse_value_and_gradients():
    a, b = Value(0.5), Value(-1.0)
    loss = losses.mse([a, b], [1.0, 1.0])
    assert loss.data == (0.25 + 4.0) / 2
    loss.backward()
    assert (a.grad, b.grad) == (2 * (0.5 - 1.0) / 2, 2 * (-1.0 - 1.0) / 2)


def test_half_squared_error_is_the_perceptron_posts_sum_with_gradient_p_minus_t():
    a, b = Value(0.5), Value(-1.0)
    e = losses.half_squared_error([a, b], [1.0, 1.0])
    assert e.data == 0.5 * (0.25 + 4.0)  # a sum over the outputs, not a mean
    e.backward()
    assert (a.grad, b.grad) == (0.5 - 1.0, -1.0 - 1.0)
    assert losses.half_squared_error(Value(3.0), 1.0).data == 2.0
    with pytest.raises(ValueError, match="^half_squared_error: 2 predictions but 1 targets"):
        losses.half_squared_error([a, b], [1.0])


def test_single_value_gives_the_term_itself():
    p = Value(0.25)
    assert losses.mse(p, 1.0).data == 0.75 ** 2


@pytest.mark.parametrize("loss, targets, inputs", [
    (losses.mse, [1.0, 0.0, -2.0], [0.3, 0.4, 1.5]),
    (losses.binary_cross_entropy, [1.0, 0.0, 0.3], [0.2, 0.9, 0.5]),
    (losses.bce_with_logits, [1.0, 0.0, 0.3], [-2.0, 3.0, 0.0]),
    (losses.bce_with_logits, [1.0, 0.0], [30.0, -30.0]),
    (losses.hinge, [1.0, -1.0, 1.0], [0.3, 0.5, 2.0]),
])
def test_every_loss_passes_gradcheck(loss, targets, inputs):
    rows = gradcheck(lambda *ps: loss(list(ps), targets), inputs)
    assert len(rows) == len(inputs)


@pytest.mark.parametrize("logits, target", [([0.2, -1.0, 3.0], 0), ([0.2, -1.0, 3.0], 2),
                                            ([500.0, 498.0, -700.0], 1)])
def test_cross_entropy_passes_gradcheck_and_matches_softmax_minus_onehot(logits, target):
    gradcheck(lambda *zs: losses.cross_entropy(list(zs), target), logits)
    zs = [Value(z) for z in logits]
    losses.cross_entropy(zs, target).backward()
    m = max(logits)
    total = sum(math.exp(z - m) for z in logits)
    for i, z in enumerate(zs):
        assert z.grad == pytest.approx(math.exp(logits[i] - m) / total - (i == target), abs=1e-12)


def test_cross_entropy_batch_is_the_mean():
    batch = [[Value(1.0), Value(2.0)], [Value(0.5), Value(-0.5)]]
    one = losses.cross_entropy(batch[0], 1).data
    two = losses.cross_entropy(batch[1], 0).data
    assert losses.cross_entropy(batch, [1, 0]).data == pytest.approx((one + two) / 2, abs=1e-15)
    assert one == pytest.approx(math.log(math.exp(1) + math.exp(2)) - 2, abs=1e-15)


def test_softmax_sums_to_one_and_survives_large_logits():
    p = losses.softmax([Value(1000.0), Value(1000.0), Value(0.0)])
    assert [v.data for v in p] == pytest.approx([0.5, 0.5, 0.0], abs=1e-15)


@pytest.mark.parametrize("logits", [[0.2, -1.0, 3.0], [800.0, 799.0, 790.0]])
def test_cross_entropy_is_minus_log_softmax_even_for_huge_logits(logits):
    zs = [Value(z) for z in logits]
    probs = losses.softmax(zs)
    for t in range(len(zs)):
        assert losses.cross_entropy(zs, t).data == pytest.approx(-math.log(probs[t].data),
                                                                  rel=1e-12)


def test_bce_on_probabilities_matches_the_formula_and_gives_dz_equal_a_minus_y():
    z = Value(0.7)
    a = z.sigmoid()
    loss = losses.binary_cross_entropy(a, 1.0)
    assert loss.data == pytest.approx(-math.log(sigmoid(0.7)), abs=1e-15)
    loss.backward()
    assert z.grad == pytest.approx(sigmoid(0.7) - 1.0, abs=1e-15)


def test_bce_is_finite_at_0_and_1_and_still_has_a_gradient():
    for p, y in [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.0, 0.0)]:
        v = Value(p)
        x = v * 1.0  # a graph, as a model's output would be
        loss = losses.binary_cross_entropy(x, y)
        assert math.isfinite(loss.data)
        loss.backward()
        assert math.isfinite(v.grad) and v.grad != 0
    assert losses.binary_cross_entropy(Value(1.0) * 1, 0.0).data == pytest.approx(
        -math.log(1e-12), rel=1e-6)


def test_bce_with_logits_is_exact_for_huge_logits_where_sigmoid_would_round_to_one():
    z = Value(800.0)
    loss = losses.bce_with_logits(z, 0.0)
    assert loss.data == 800.0
    loss.backward()
    assert z.grad == 1.0
    z = Value(-800.0)
    loss = losses.bce_with_logits(z, 0.0)
    assert loss.data == 0.0
    z2 = Value(-40.0)
    loss = losses.bce_with_logits(z2, 1.0)
    assert loss.data == pytest.approx(40.0, abs=1e-12)


def test_bce_with_logits_equals_bce_of_sigmoid():
    for z, y in [(-3.0, 1.0), (0.0, 0.0), (2.5, 0.25)]:
        a = sigmoid(z)
        assert losses.bce_with_logits(Value(z), y).data == pytest.approx(
            -(y * math.log(a) + (1 - y) * math.log(1 - a)), abs=1e-14)


def test_bce_with_logits_gradient_at_zero_is_half_minus_y():
    z = Value(0.0)
    losses.bce_with_logits(z, 1.0).backward()
    assert z.grad == -0.5


def test_hinge_value_and_gradient():
    s = [Value(0.3), Value(-2.0)]
    loss = losses.hinge(s, [1, -1])
    assert loss.data == pytest.approx(0.7 / 2, abs=1e-15)
    loss.backward()
    assert [v.grad for v in s] == [-0.5, 0.0]


def test_get_looks_losses_up_by_name():
    assert losses.get("mse") is losses.mse
    assert losses.get("bce") is losses.binary_cross_entropy
    with pytest.raises(ValueError, match=r"^loss: unknown loss 'l1'; choose one of mse"):
        losses.get("l1")


@pytest.mark.parametrize("call, message", [
    (lambda: losses.mse([Value(1.0)], [1.0, 2.0]), "mse: 1 predictions but 2 targets"),
    (lambda: losses.mse([], []), "mse: pred is empty"),
    (lambda: losses.binary_cross_entropy(Value(0.5), 2.0), "target must be between 0 and 1"),
    (lambda: losses.hinge(Value(0.5), 0), r"hinge: target must be -1 or \+1, got 0.0"),
    (lambda: losses.cross_entropy([Value(1.0)], 1), "class index in 0..0, got 1"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- issue 14: no silent misuse -----------------------------------------------------------
@pytest.mark.parametrize("p", [2.0, -0.5, 1.5])
def test_bce_refuses_probabilities_outside_0_1_and_points_to_bce_with_logits(p):
    with pytest.raises(ValueError, match=r"^binary_cross_entropy: .*between 0 and 1.*"
                                         r"bce_with_logits") as info:
        losses.binary_cross_entropy([Value(p)], [1])
    assert repr(p) in str(info.value)


def test_bce_still_clamps_probabilities_of_exactly_0_and_1():
    assert math.isfinite(losses.binary_cross_entropy(Value(1.0), 0).data)
    assert math.isfinite(losses.binary_cross_entropy(Value(0.0), 1).data)


@pytest.mark.parametrize("eps", [0.7, 0.5, -1.0, 0.0, math.nan, math.inf, "1e-6", True])
def test_bce_eps_is_checked(eps):
    with pytest.raises((ValueError, TypeError), match=r"^binary_cross_entropy: eps"):
        losses.binary_cross_entropy(Value(0.5), 1, eps=eps)


@pytest.mark.parametrize("loss", [losses.mse, losses.half_squared_error, losses.hinge,
                                  losses.bce_with_logits, losses.binary_cross_entropy])
@pytest.mark.parametrize("target", ["12", {"a": 1}, None, b"1", [math.nan], [math.inf],
                                    [10**400]])
def test_targets_are_numbers_or_a_clear_error(loss, target):
    with pytest.raises((TypeError, ValueError), match=r"target") as info:
        loss([Value(0.5)] if isinstance(target, list) else Value(0.5), target)
    assert "\n" not in str(info.value)


def test_mse_does_not_read_a_string_target_character_by_character():
    with pytest.raises(TypeError, match=r"^mse: target"):
        losses.mse([Value(1.0), Value(2.0)], "12")


def test_cross_entropy_takes_numpy_class_indices():
    logits = [Value(1.0), Value(2.0), Value(0.5)]
    expected = losses.cross_entropy(logits, 1).data
    assert losses.cross_entropy(logits, np.int64(1)).data == expected
    assert losses.cross_entropy([logits, logits], np.array([1, 1])).data == \
        pytest.approx(expected)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: losses.softmax([]), r"^softmax: logits must be a non-empty list of Values, got \[\]"),
    (lambda: losses.softmax([1.0, 2.0]), r"^softmax: logits must be Values, got float 1.0"),
    (lambda: losses.cross_entropy([Value(1.0), 2.0], 0),
     r"^cross_entropy: logits must be Values, got float 2.0"),
    (lambda: losses.cross_entropy([[]], [0]), r"^cross_entropy: logits must be a non-empty"),
])
def test_bad_logits_are_named(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
