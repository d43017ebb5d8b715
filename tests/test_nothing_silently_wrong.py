"""Issue 29: places where microgrid gave a wrong number without a word (look-alike labels in
compile, infinite local derivatives behind finite results, half-applied backward passes,
threads), and tests that catch bugs the suite used to let through."""

import math
import threading

import pytest

from microgrid import Value, grad, reference_backward


# --- every recorded local derivative is finite, checked where the node is made ---------------
@pytest.mark.parametrize("make, where", [
    (lambda: Value(1e-20, "x") / 1e-310, "d(a/b)/da"),
    (lambda: Value(1e-20, "x") / Value(1e-310), "d(a/b)/da"),
    (lambda: Value(0.0) / Value(5e-324), "d(a/b)/da"),
    (lambda: Value(2.0) ** 1023.99, "d/da a ** b"),
    (lambda: 1e154 ** Value(2.0), "d/db a ** b"),
])
def test_a_finite_result_with_an_infinite_local_derivative_is_refused_where_it_is_made(make, where):
    with pytest.raises(OverflowError, match=r"^(/|\*\*): ") as info:
        make()
    assert where in str(info.value) and "overflows" in str(info.value)


def test_no_node_records_an_infinite_local_derivative():
    numbers = (0.0, 5e-324, 1e-310, 1e-300, 1e-20, 0.5, 2.0, 1023.99, 1e154, 1e300)
    made = 0
    for a in numbers:
        for b in numbers:
            for make in (lambda: Value(a) / Value(b), lambda: Value(a) / b, lambda: a / Value(b),
                         lambda: Value(a) ** b, lambda: a ** Value(b),
                         lambda: Value(a) ** Value(b)):
                try:
                    y = make()
                except (OverflowError, ZeroDivisionError, ValueError):
                    continue
                made += 1
                assert all(map(math.isfinite, y.local_grads)), (a, b, y.local_grads)
    assert made > 300


# --- a failing pass changes no gradient --------------------------------------------------------
def _overflowing_graph():
    p, q = Value(1e-300, "p"), Value(1.0, "q")
    p.grad, q.grad = 0.5, 0.25
    mid = p * 1e200
    y = mid * 1e200 + q * 2  # d y / d p = 1e400: overflows in the backward pass only
    mid.grad, y.grad = 3.0, 7.0  # an earlier pass's gradients, as drawings show them
    return p, q, mid, y


def test_a_backward_pass_that_overflows_changes_no_gradient():
    p, q, mid, y = _overflowing_graph()
    with pytest.raises(OverflowError, match="backward: the gradient reaching"):
        y.backward()
    assert (p.grad, q.grad, mid.grad, y.grad) == (0.5, 0.25, 3.0, 7.0)
    z = q * 3.0  # and the next pass starts clean
    z.backward()
    assert q.grad == 3.25


def test_reference_backward_refuses_an_infinite_gradient_and_changes_none():
    p, q, mid, y = _overflowing_graph()
    with pytest.raises(OverflowError, match="reference_backward: the gradient reaching"):
        reference_backward(y)
    assert (p.grad, q.grad, mid.grad, y.grad) == (0.5, 0.25, 3.0, 7.0)


def test_grad_that_fails_changes_no_gradient():
    p, q, mid, y = _overflowing_graph()
    for create_graph in (False, True):
        with pytest.raises(OverflowError, match="grad: the gradient reaching|\\*: result"):
            grad(y, [p, q], create_graph=create_graph)
    assert (p.grad, q.grad, mid.grad, y.grad) == (0.5, 0.25, 3.0, 7.0)
