"""Issue 14: the everyday lines of a PyTorch (or micrograd) user work: f-strings, item(), abs,
round, numpy on either side (nn's state_dict, pickle and seeding: test_nn.py)."""

import operator

import numpy as np
import pytest

from microgrid import Value


# --- numbers out of a Value -----------------------------------------------------------------
def test_item_is_the_number():
    v = Value(2.5)
    assert v.item() == 2.5 and type(v.item()) is float


@pytest.mark.parametrize(("spec", "expected"), [(".4f", "0.1235"), (".2e", "1.23e-01"),
                                                ("8.3f", "   0.123")])
def test_format_specs_format_the_data(spec, expected):
    loss = Value(0.123456)
    assert format(loss, spec) == expected
    assert f"{loss:{spec}}" == expected


def test_format_without_a_spec_is_str():
    v = Value(1.0, label="x")
    assert f"{v}" == str(v) == repr(v)


def test_round_gives_a_number():
    assert round(Value(3.14159), 3) == 3.142 and type(round(Value(3.14159), 3)) is float
    assert round(Value(2.5)) == 2 and type(round(Value(2.7))) is int


def test_abs_is_an_operation_with_a_gradient():
    for x, d in ((-3.0, -1.0), (2.0, 1.0)):
        v = Value(x)
        y = abs(v)
        assert y.data == abs(x) and y.op == "abs"
        y.backward()
        assert v.grad == d


def test_abs_at_zero_has_gradient_zero_as_in_pytorch():
    v = Value(0.0)
    abs(v).backward()
    assert v.grad == 0.0


# --- numpy ----------------------------------------------------------------------------------
def test_numpy_arrays_on_either_side():
    for out in (np.array([1, 2]) * Value(2), Value(2) * np.array([1, 2])):
        assert isinstance(out, np.ndarray) and [v.data for v in out] == [2.0, 4.0]
    x = Value(3.0)
    y = (x * np.array([1.0, 2.0])).sum()
    y.backward()
    assert y.data == 9.0 and x.grad == 3.0


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow])
def test_numpy_arrays_on_the_right_of_every_operator(op):
    arr = np.array([1.0, 2.0])
    out = op(Value(2.0), arr)
    assert isinstance(out, np.ndarray)
    assert [v.data for v in out] == list(op(2.0, arr))


def test_numpy_scalars_are_numbers():
    x = Value(2.0)
    assert (x * np.float64(3.0)).data == 6.0 and (x + np.int64(1)).data == 3.0
    assert Value(np.float32(0.5)).data == 0.5


@pytest.mark.parametrize("other", ["a", None, [1], {}])
def test_unknown_operands_stay_a_clear_type_error(other):
    with pytest.raises(TypeError, match=r"^\+: expected a real number"):
        Value(1) + other
    with pytest.raises(TypeError, match=r"^\+: expected a real number"):
        other + Value(1)


# --- gradients: PyTorch's x.grad = None and double backward ----------------------------------
def test_setting_grads_to_none_before_backward_as_zero_grad_set_to_none_does():
    from microgrid import nn, optim
    from microgrid.nn.losses import mse
    model = nn.MLP(2, [3, 1], seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    expected = None
    for habit in ("zero_grad", "none"):
        for p, x in zip(model.parameters(), nn.MLP(2, [3, 1], seed=0).state_dict().values(),
                        strict=True):
            p.data = x
        if habit == "zero_grad":
            opt.zero_grad()
        else:
            for p in model.parameters():
                p.grad = None  # PyTorch's optimizer.zero_grad(set_to_none=True)
        loss = mse(model([0.5, -1.0]), 0.25)
        loss.backward()
        opt.step()
        if expected is None:
            expected = model.state_dict()
        assert model.state_dict() == expected


def test_pytorchs_double_backward_lines_run_unchanged():
    x = Value(1.5)
    y = x.sin() * x
    y.backward(create_graph=True)
    gx = x.grad                  # cos(x) x + sin(x), a Value
    x.grad = None
    gx.backward()                # d/dx: -sin(x) x + 2 cos(x)
    assert x.grad == pytest.approx(-np.sin(1.5) * 1.5 + 2 * np.cos(1.5), rel=1e-15)
