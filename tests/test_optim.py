"""One step of each optimizer, computed by hand for L(w1, w2) = (2 w1 + w2 - 1)²."""

import math

import pytest

from microgrid import Value, nn, optim
from microgrid.nn.losses import mse


def problem(w1=0.5, w2=0.25):
    a, b = Value(w1, "w1"), Value(w2, "w2")

    def loss():
        return (2 * a + b - 1) ** 2
    return a, b, loss


def test_gradients_of_the_problem_by_hand():
    # r = 2(0.5) + 0.25 - 1 = 0.25; dL/dw1 = 2r * 2 = 1.0; dL/dw2 = 2r = 0.5
    a, b, loss = problem()
    loss().backward()
    assert (a.grad, b.grad) == (1.0, 0.5)


def test_one_sgd_step_by_hand():
    a, b, loss = problem()
    opt = optim.SGD([a, b], lr=0.1)
    opt.zero_grad()
    loss().backward()
    opt.step()
    assert (a.data, b.data) == (0.5 - 0.1 * 1.0, 0.25 - 0.1 * 0.5)
    assert (a.data, b.data) == (0.4, 0.2)


def test_sgd_momentum_and_weight_decay_by_hand():
    a, b, loss = problem()
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.01)
    loss().backward()
    opt.step()
    g1, g2 = 1.0 + 0.01 * 0.5, 0.5 + 0.01 * 0.25  # gradient + weight decay
    w1, w2 = 0.5 - 0.1 * g1, 0.25 - 0.1 * g2
    assert (a.data, b.data) == (w1, w2)
    opt.zero_grad()
    loss().backward()
    r = 2 * w1 + w2 - 1
    h1, h2 = 2 * r * 2 + 0.01 * w1, 2 * r + 0.01 * w2
    v1, v2 = 0.9 * g1 + h1, 0.9 * g2 + h2
    opt.step()
    assert (a.data, b.data) == pytest.approx((w1 - 0.1 * v1, w2 - 0.1 * v2), abs=1e-15)


def test_one_adam_step_by_hand():
    a, b, loss = problem()
    opt = optim.Adam([a, b], lr=0.1)
    loss().backward()
    opt.step()
    # step 1: m = 0.1 g, v = 0.001 g², m̂ = m / (1 - 0.9), v̂ = v / (1 - 0.999)
    expected = []
    for w, g in ((0.5, 1.0), (0.25, 0.5)):
        m, v = (1 - 0.9) * g, (1 - 0.999) * g * g
        expected.append(w - 0.1 * (m / (1 - 0.9)) / (math.sqrt(v / (1 - 0.999)) + 1e-8))
    assert [a.data, b.data] == expected
    # the first Adam step moves every parameter by about lr, whatever the size of its gradient
    assert (a.data, b.data) == pytest.approx((0.4, 0.15), abs=1e-8)


def test_two_adam_steps_by_hand():
    a, b, loss = problem()
    opt = optim.Adam([a, b], lr=0.01, betas=(0.8, 0.9), eps=1e-6)
    loss().backward()
    opt.step()
    opt.zero_grad()
    loss().backward()
    g2 = (a.grad, b.grad)
    opt.step()
    w, g1 = [0.5, 0.25], (1.0, 0.5)
    for i in range(2):
        m = 0.2 * g1[i]
        v = 0.1 * g1[i] ** 2
        w[i] -= 0.01 * (m / 0.2) / (math.sqrt(v / 0.1) + 1e-6)
        m = 0.8 * m + 0.2 * g2[i]
        v = 0.9 * v + 0.1 * g2[i] ** 2
        w[i] -= 0.01 * (m / (1 - 0.8 ** 2)) / (math.sqrt(v / (1 - 0.9 ** 2)) + 1e-6)
    assert [a.data, b.data] == pytest.approx(w, abs=1e-15)


def test_zero_grad_clears():
    a, b, loss = problem()
    loss().backward()
    loss().backward()
    assert (a.grad, b.grad) == (2.0, 1.0)  # accumulated
    opt = optim.SGD([a, b], lr=1.0)
    opt.zero_grad()
    assert (a.grad, b.grad) == (0.0, 0.0)


def test_the_training_loop_reads_naturally_and_learns():
    model = nn.MLP(1, [8, 1], seed=0)
    xs, ys = [[-1.0], [0.0], [1.0]], [1.0, 0.0, 1.0]
    opt = optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        out = [model.output(x) for x in xs]
        loss = mse(out, ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.data
    assert loss.data < first / 100


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_step_is_float_arithmetic_and_leaves_parameters_leaves(make):
    a, b, loss = problem()
    opt = make([a, b], lr=0.1)
    loss().backward()
    opt.step()
    assert a.is_leaf and b.is_leaf
    assert type(a.data) is float and type(a.grad) is float


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_passing_the_model_says_pass_its_parameters(make):
    model = nn.MLP(2, [3, 1], seed=0)
    with pytest.raises(TypeError, match=r"^params: pass model.parameters\(\), not the model$"):
        make(model, lr=0.1)


def test_adam_with_a_zero_gradient_steps_by_nothing():
    a, b = Value(1.0), Value(2.0)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad, b.grad = 0.0, 1.0
    opt.step()
    assert a.data == 1.0 and b.data == pytest.approx(1.9)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=0), r"^lr: must be > 0, got 0"),
    (lambda p: optim.SGD(p, lr=-0.1), r"^lr: must be > 0"),
    (lambda p: optim.Adam(p, lr=0.0), r"^lr: must be > 0"),
    (lambda p: optim.SGD(p, lr=float("nan")), r"^lr: expected a finite number"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"^momentum: must be >= 0"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), r"^weight_decay: must be >= 0"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"^betas\[1\]: must be < 1"),
    (lambda p: optim.Adam(p, eps=-1.0), r"^eps: must be > 0"),
    (lambda p: optim.Adam(p, eps=0.0), r"^eps: must be > 0, got 0.0"),
    (lambda p: optim.SGD([], lr=0.1), r"^params: the optimizer got no parameters"),
])
def test_bad_hyperparameters_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make([Value(1.0)])


# --- issue 14: a step never writes a non-finite number ------------------------------------
def params(*data):
    return [Value(d, f"w{i}") for i, d in enumerate(data)]


OPTIMIZERS = {
    "sgd": lambda ps, lr=0.1: optim.SGD(ps, lr=lr),
    "sgd-momentum": lambda ps, lr=0.1: optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=0.01),
    "adam": lambda ps, lr=0.1: optim.Adam(ps, lr=lr),
}


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS)
def test_a_step_that_would_overflow_a_parameter_raises_and_changes_nothing(make):
    ps = params(0.5, -1e308)
    ps[0].grad, ps[1].grad = 0.25, 1e308
    opt = make(ps, lr=1e308)
    with pytest.raises(OverflowError, match=r"^step: .*'w1'") as info:
        opt.step()
    assert "\n" not in str(info.value)
    assert [p.data for p in ps] == [0.5, -1e308]
    assert [p.grad for p in ps] == [0.25, 1e308]


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_gradient_raises_naming_the_parameter_and_changes_nothing(make, bad):
    ps = params(0.5, 0.25)
    ps[0].grad, ps[1].grad = 1.0, bad
    opt = make(ps)
    with pytest.raises(ValueError, match=r"^step: the gradient of Value.*'w1'.* is -?(nan|inf)"):
        opt.step()
    assert [p.data for p in ps] == [0.5, 0.25]


def test_adam_second_moment_overflow_raises_and_keeps_the_state():
    ps = params(0.5, 0.25)
    opt = optim.Adam(ps, lr=0.1)
    ps[0].grad, ps[1].grad = 1.0, 0.5
    opt.step()
    state = (opt.t, list(opt.m), list(opt.v), [p.data for p in ps])
    ps[1].grad = 1e200  # g² overflows: v would be inf and w1 would stop training for good
    with pytest.raises(OverflowError, match=r"'w1'"):
        opt.step()
    assert (opt.t, opt.m, opt.v, [p.data for p in ps]) == state
    ps[1].grad = 0.5  # and the optimizer goes on as if the bad step never happened
    opt.step()
    assert opt.t == 2


def test_sgd_momentum_state_is_kept_when_a_step_fails():
    ps = params(0.5, 0.25)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    ps[0].grad, ps[1].grad = 1.0, 0.5
    opt.step()
    velocity = list(opt.velocity)
    ps[0].grad = math.nan
    with pytest.raises(ValueError, match="'w0'"):
        opt.step()
    assert opt.velocity == velocity


def test_a_non_float_gradient_set_by_hand_is_named():
    ps = params(0.5)
    ps[0].grad = None
    with pytest.raises(TypeError, match=r"^step: the gradient of .*'w0'.* is NoneType None"):
        optim.SGD(ps, lr=0.1).step()


def test_passing_the_parameters_method_says_call_it():
    model = nn.MLP(2, [3, 1], seed=0)
    with pytest.raises(TypeError, match=r"model\.parameters\(\), not the method"):
        optim.SGD(model.parameters, lr=0.1)  # type: ignore[arg-type]


def test_gradients_of_opposite_infinities_are_named():
    ps = params(0.5, 0.25)
    ps[0].grad, ps[1].grad = math.inf, -math.inf
    with pytest.raises(ValueError, match=r"^step: the gradient of .*'w0'.* is inf"):
        optim.SGD(ps, lr=0.1).step()


def test_finite_numbers_whose_sum_overflows_still_step():
    ps = params(1e308, 1e308)
    ps[0].grad = ps[1].grad = 1e308
    optim.SGD(ps, lr=1e-10).step()
    assert [p.data for p in ps] == [1e308 - 1e-10 * 1e308] * 2


def test_integer_gradients_set_by_hand_are_numbers():
    ps = params(0.5)
    ps[0].grad = 1
    optim.SGD(ps, lr=0.5).step()
    assert ps[0].data == 0.0
