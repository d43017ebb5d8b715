"""Issue 14: every place where a careless or hostile input gave a silently wrong number (or a raw
error far from the mistake) is now right, or a clear one-line error naming the problem."""

import math
import operator
import re
import threading
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import Function, Value, dot, draw, maximum, minimum, no_grad, optim
from microgrid.core.engine import grad_number, is_grad_enabled
from microgrid.nn import MLP
from microgrid.nn.losses import bce_with_logits, binary_cross_entropy, cross_entropy


# --- math.exp(v) must not drop the gradient -------------------------------------------------
@pytest.mark.parametrize("f", [math.exp, math.log, math.tanh, math.sqrt, float])
def test_math_functions_on_a_value_raise_instead_of_dropping_the_gradient(f):
    x = Value(2.0, label="x")
    with pytest.raises(TypeError, match=r"x\.item\(\)") as info:
        f(x)
    assert "\n" not in str(info.value) and "'x'" in str(info.value)
    assert x.grad == 0.0


def test_math_exp_message_points_to_the_method():
    with pytest.raises(TypeError, match=r"x\.exp\(\)"):
        math.exp(Value(1.0))


# --- no_grad() is per thread ----------------------------------------------------------------
def test_another_threads_no_grad_does_not_stop_this_thread_recording():
    inside, done = threading.Event(), threading.Event()

    def evaluate():
        with no_grad():
            inside.set()
            done.wait(5)

    t = threading.Thread(target=evaluate)
    t.start()
    try:
        assert inside.wait(5)
        assert is_grad_enabled()
        x, w = Value(3.0, "x"), Value(2.0, "w")
        y = x * x * w  # dy/dx = 2xw = 12, dy/dw = x² = 9
        y.backward()
    finally:
        done.set()
        t.join()
    assert (x.grad, w.grad) == (12.0, 9.0)


def test_overlapping_no_grad_blocks_in_two_threads_leave_recording_on():
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with no_grad():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with no_grad():
            b_in.set()
            a_out.wait(5)  # a leaves its block first: the blocks overlap, not nest

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert is_grad_enabled()
    x = Value(2.0)
    assert (x * x).parents == (x, x)


def test_no_grad_in_a_thread_still_records_nothing_there():
    seen = {}

    def work():
        with no_grad():
            seen["enabled"] = is_grad_enabled()
            seen["y"] = Value(2.0) * Value(3.0)
        seen["after"] = is_grad_enabled()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["enabled"] is False and seen["after"] is True
    assert seen["y"].is_leaf and seen["y"].data == 6.0


# --- division by tiny numbers ---------------------------------------------------------------
def test_dividing_tiny_by_tiny_is_one_with_the_right_gradients():
    a, b = Value(1e-170), Value(1e-170)
    y = a / b
    assert y.data == 1.0
    y.backward()
    assert a.grad == pytest.approx(1e170) and b.grad == pytest.approx(-1e170)


def test_constant_divided_by_a_tiny_value():
    b = Value(1e-170)
    y = 1e-170 / b
    assert y.data == 1.0
    y.backward()
    assert b.grad == pytest.approx(-1e170)


@pytest.mark.parametrize("make", [lambda: Value(1.0) / Value(5e-324), lambda: 1.0 / Value(5e-324),
                                  lambda: Value(1.0) / 5e-324])
def test_division_that_overflows_says_overflow_not_division_by_zero(make):
    with pytest.raises(OverflowError, match=r"^/: result of /\(1\.0, 5e-324\) is inf"):
        make()


# --- fields set by hand fail clearly where they are used ------------------------------------
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("bad", ["x", [1.0]])
def test_backward_names_a_leaf_whose_grad_was_set_by_hand(bad, create_graph):
    w, x = Value(2.0, "w"), Value(3.0, "x")
    y = w * x
    w.grad = bad
    with pytest.raises(TypeError, match=r"^backward: the grad of Value\(.*'w'\) is .* not a number"
                       ) as info:
        y.backward(create_graph=create_graph)
    assert "\n" not in str(info.value)
    w.grad = 0.0  # and the graph is usable again
    y.backward()
    assert (w.grad, x.grad) == (3.0, 2.0)


GRAPHS_OF_ABC = [  # each uses a, b and c in another order, by one- two- and n-operand nodes
    lambda a, b, c: a * b + c * a,
    lambda a, b, c: (b * a).tanh() * c + a * a,
    lambda a, b, c: dot([a, b, c], [c, a, b], b) * a,
    lambda a, b, c: dot([b, b], [c, 2.0], a) + dot([c], [a]) - b / (c * c + 1),
]


@pytest.mark.parametrize("make", GRAPHS_OF_ABC)
@pytest.mark.parametrize("nones", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
def test_leaves_whose_grad_is_none_start_from_zero_wherever_they_are_met(make, nones):
    def grads(start):
        xs = [Value(v, name) for v, name in zip((0.5, -1.5, 2.0), "abc", strict=True)]
        out = make(*xs)
        for x, g in zip(xs, start, strict=True):
            x.grad = g
        out.backward()
        return [x.grad for x in xs]
    start = [None if i in nones else 0.25 * (i + 1) for i in range(3)]
    got = grads(start)
    assert got == grads([0.0 if g is None else g for g in start])  # the same sums, bit for bit
    assert all(type(g) is float for g in got)


def test_a_grad_of_none_beside_a_grad_set_to_junk_names_the_junk():
    a, b = Value(2.0, "a"), Value(3.0, "b")
    y = a * b
    a.grad, b.grad = "x", None
    with pytest.raises(TypeError, match=r"^backward: the grad of .*'a'.* is str 'x'"):
        y.backward()
    a.grad, b.grad = None, "x"
    with pytest.raises(TypeError, match=r"^backward: the grad of .*'b'.* is str 'x'"):
        y.backward()


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_grad_of_none_is_pytorchs_no_gradient_yet_for_backward(create_graph):
    # PyTorch's idiom (x.grad = None, DeZero's cleargrad()) is not a field set to nonsense:
    # backward() starts such a leaf from 0; draw() and the optimizers still need a number
    w, x = Value(2.0, "w"), Value(3.0, "x")
    y = w * x * x
    w.grad = None
    y.backward(create_graph=create_graph)
    assert (grad_number(w), grad_number(x)) == (9.0, 12.0)
    assert isinstance(w.grad, Value) == create_graph
    w.grad = None
    with pytest.raises(TypeError, match=r"^draw: the grad of .*'w'.* is NoneType None"):
        draw(y)
    with pytest.raises(TypeError, match=r"^step: the gradient of .*'w'.* is NoneType None"):
        optim.SGD([w, x], lr=0.1).step()


@pytest.mark.parametrize(("field", "bad", "message"), [
    ("label", 5, r"^draw: the label of .* is int 5, not a str"),
    ("data", "x", r"^draw: the data of .*'w'.* is str 'x', not a number"),
    ("grad", None, r"^draw: the grad of .*'w'.* is NoneType None, not a number"),
    ("data", math.nan, r"^draw: the data of .*'w'.* is nan, not a finite number"),
])
def test_draw_names_a_field_set_by_hand(field, bad, message):
    w = Value(2.0, "w")
    y = w * 3
    setattr(w, field, bad)
    with pytest.raises((TypeError, ValueError), match=message):
        draw(y)


# A `data` set by hand to a non-number fails at the operation that uses it, naming the
# operation and the Value: not Python's "can't multiply sequence by non-int", nor a complex or
# str result passed on ("ab" + "ab" and 1j * 3.0 raise nothing by themselves).
class Square(Function):
    name = "square"

    def forward(self, x):
        return x * x

    def derivatives(self, x, out):
        return 2 * x


DATA_OPERATIONS = {  # name in the message: the operation on v (bad data) and w = Value(3.0)
    "*": [lambda v, w: v * w, lambda v, w: w * v, lambda v, w: v * 2, lambda v, w: 2 * v],
    "+": [lambda v, w: v + w, lambda v, w: v + 1, lambda v, w: 1 + v, lambda v, w: v + v],
    "-": [lambda v, w: v - w, lambda v, w: 1 - v],
    "/": [lambda v, w: v / w, lambda v, w: w / v, lambda v, w: 1 / v],
    "**": [lambda v, w: v ** 2, lambda v, w: 2 ** v, lambda v, w: w ** v],
    "neg": [lambda v, w: -v], "relu": [lambda v, w: v.relu()], "exp": [lambda v, w: v.exp()],
    "tanh": [lambda v, w: v.tanh()], "log": [lambda v, w: v.log()],
    "dot": [lambda v, w: dot([v, w], [w, w]), lambda v, w: dot([w], [w], v),
            lambda v, w: dot([2.0], [v])],
    "clamp": [lambda v, w: v.clamp(0, 1)], "maximum": [lambda v, w: maximum(v, w)],
    "square": [lambda v, w: Square()(v)], "<": [lambda v, w: v < w],
    "format": [lambda v, w: f"{v:.3f}"],
    "binary_cross_entropy": [lambda v, w: binary_cross_entropy([v], [1])],
    "bce_with_logits": [lambda v, w: bce_with_logits([v], [1])],
    "cross_entropy": [lambda v, w: cross_entropy([w, v], 0)],
}
BAD_DATA = ["x", "ab", None, [1.0], (2.0,), Decimal("1.5"), 1j, 2 + 0j, {"a": 1},
            np.array([1.0, 2.0])]


# Where a Decimal stays a number (Decimal + Decimal, -Decimal) or math converts it (exp), the
# result is the right number; the next operation with a float names the node holding a Decimal.
DECIMAL_COMPUTES = {("+", 3), ("neg", 0), ("relu", 0), ("exp", 0), ("tanh", 0)}


@pytest.mark.parametrize("bad", BAD_DATA, ids=repr)
@pytest.mark.parametrize(("op", "k", "make"), [(op, k, f) for op, fs in DATA_OPERATIONS.items()
                                               for k, f in enumerate(fs)])
def test_an_operation_names_the_value_whose_data_is_not_a_number(op, k, make, bad):
    v, w = Value(2.0, "v"), Value(3.0, "w")
    v.data = bad
    if isinstance(bad, Decimal) and (op, k) in DECIMAL_COMPUTES:
        y = make(v, w)
        assert float(y.data) == make(Value(1.5), w).data
        if not isinstance(y.data, float):
            with pytest.raises(TypeError, match=rf"^\*: the data of {re.escape(repr(y))} is "
                               "Decimal"):
                y * w
        return
    with pytest.raises(TypeError) as info:
        make(v, w)
    assert str(info.value) == (f"{op}: the data of {v!r} is {type(bad).__name__} {bad!r}, "
                               "not a number; set it to a float")
    error = info.value  # the one clear message, without the raw error it replaces
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("bad", BAD_DATA, ids=repr)
def test_nn_layers_name_the_parameter_whose_data_is_not_a_number(bad):
    model = MLP(2, [3, 1], seed=0)
    p = model.parameters()[4]
    p.data = bad
    with pytest.raises(TypeError, match=r"^dot: the data of .* is .* not a number"):
        model([1.0, 2.0])


def test_a_type_error_of_a_users_function_is_its_own_when_the_operands_are_numbers():
    class Broken(Function):
        name = "broken"

        def forward(self, x):
            return x + "oops"

        def derivatives(self, x, out):
            return 1.0

    with pytest.raises(TypeError, match="unsupported operand"):  # its own error, unchanged
        Broken()(Value(1.0))


def test_numbers_set_by_hand_still_compute():
    v = Value(2.0)
    v.data = 3  # an int is a number
    assert (v * Value(2.0)).data == 6.0 and (-v).data == -3
    v.data = Fraction(1, 2)
    assert (v * 2).data == 1.0


NAN_OPERATIONS = {  # each would give a number, not nan, from a nan data: 0, False, the other
    "relu": lambda v: v.relu(), "<": lambda v: v < 1.0, ">=": lambda v: v >= 1.0,
    "maximum": lambda v: maximum(v, 1.0), "minimum": lambda v: minimum(v, 1.0),
    "clamp": lambda v: v.clamp(0, 1), "leaky_relu": lambda v: v.leaky_relu(),
    ">": lambda v: max(v, Value(1.0)),  # builtin max compares
}


@pytest.mark.parametrize("bad", [math.nan, -math.nan])
@pytest.mark.parametrize("op", NAN_OPERATIONS)
def test_an_operation_names_the_value_whose_data_was_set_to_nan(op, bad):
    v = Value(2.0, "v")
    v.data = bad
    with pytest.raises(ValueError) as info:
        NAN_OPERATIONS[op](v)
    assert str(info.value) == (f"{op}: the data of {v!r} is nan, not a finite number; set it "
                               "to a finite float")


def test_showing_a_nan_data_shows_it_and_item_checks_the_type():
    v = Value(2.0, "v")
    v.data = math.nan
    assert (f"{v:.3f}", math.isnan(v.item()), math.isnan(round(v, 2))) == ("nan", True, True)
    v.data = "x"
    with pytest.raises(TypeError, match=r"^item: the data of .* is str 'x', not a number"):
        v.item()


# --- no public operation, loss or step makes a non-finite number without raising ------------
ERRORS = (ValueError, OverflowError, ZeroDivisionError)
finite = st.floats(allow_nan=False, allow_infinity=False)
UNARY = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "neg", "abs"]
BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


def all_finite(xs):
    return all(math.isfinite(x) for x in xs)


def check_graph(y, leaves):
    """`y` and everything backward() gives are finite, unless backward() raises."""
    assert math.isfinite(y.data)
    if y.is_leaf:
        return
    try:
        y.backward()
    except OverflowError:
        return
    assert all_finite([leaf.grad for leaf in leaves])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(UNARY), finite)
def test_unary_operations_are_finite_or_raise(name, a):
    x = Value(a)
    try:
        y = -x if name == "neg" else abs(x) if name == "abs" else getattr(x, name)()
    except ERRORS:
        return
    check_graph(y, [x])


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(BINARY), finite, finite, st.sampled_from(["vv", "vc", "cv"]))
def test_binary_operations_are_finite_or_raise(op, a, b, kinds):
    x, y = Value(a), Value(b)
    left, right = (x if kinds[0] == "v" else a), (y if kinds[1] == "v" else b)
    try:
        out = op(left, right)
    except ERRORS:
        return
    check_graph(out, [v for v, k in zip((x, y), kinds, strict=True) if k == "v"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=4), finite)
def test_dot_and_softmax_are_finite_or_raise(pairs, bias):
    from microgrid import dot, losses

    ws, xs, b = [Value(w) for w, _ in pairs], [Value(x) for _, x in pairs], Value(bias)
    try:
        out = dot(ws, xs, b)
    except ERRORS:
        return
    check_graph(out, [*ws, *xs, b])
    try:
        probabilities = losses.softmax(xs)
    except ERRORS:
        return
    assert all_finite(p.data for p in probabilities)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["mse", "half_squared_error", "bce", "bce_with_logits", "hinge",
                        "cross_entropy"]),
       st.lists(finite, min_size=1, max_size=4), st.lists(finite, min_size=1, max_size=4))
def test_losses_are_finite_or_raise(name, preds, targets):
    from microgrid import losses

    ps = [Value(p) for p in preds]
    try:
        if name == "cross_entropy":
            loss = losses.cross_entropy(ps, int(targets[0]) % (len(ps) + 1))
        else:
            loss = (losses.half_squared_error if name == "half_squared_error"
                    else losses.get(name))(ps, targets[:len(ps)] + [0.0] * (len(ps) - len(targets)))
    except ERRORS:
        return
    check_graph(loss, ps)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["sgd", "momentum", "adam"]), st.floats(1e-300, 1e300),
       st.lists(st.tuples(finite, st.floats()), min_size=1, max_size=3), st.integers(1, 3))
def test_optimizer_steps_are_finite_or_raise_and_change_nothing(name, lr, pairs, steps):
    ps = [Value(w, f"w{i}") for i, (w, _) in enumerate(pairs)]
    opt = {"sgd": lambda: optim.SGD(ps, lr=lr),
           "momentum": lambda: optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=0.1),
           "adam": lambda: optim.Adam(ps, lr=lr)}[name]()
    for _ in range(steps):
        for p, (_, g) in zip(ps, pairs, strict=True):
            p.grad = g
        before = [p.data for p in ps]
        state = repr(vars(opt))
        try:
            opt.step()
        except ERRORS:
            assert [p.data for p in ps] == before and repr(vars(opt)) == state
            return
        assert all_finite(p.data for p in ps)
        assert all_finite(x for xs in (getattr(opt, k, []) for k in ("m", "v", "velocity"))
                          for x in xs)
