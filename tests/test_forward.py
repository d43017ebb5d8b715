"""Forward mode (`forward_grad`), nudges and `rerun`: against backward(), PyTorch's
torch.func.jvp, and the forward pass run again by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_autograd import _graph
from test_engine import build, expressions

from microgrid import Function, Value, dot, forward_grad, nn, nudge, topological_order
from microgrid.core.forward import forward_sweep, rerun
from microgrid.teaching.demos.apple_orange import build as apple_orange


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_random_graphs_forward_mode_equals_backward(program):
    xs, out = _graph(program)
    out.backward()
    for x in xs:
        tangents = forward_grad(out, x)
        assert tangents[out] == pytest.approx(x.grad, rel=1e-12, abs=1e-12)
        assert tangents.get(x, 1.0) == 1.0  # (an input the output does not use: absent)


@settings(max_examples=100, deadline=None)
@given(expressions(), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_every_tangent_is_grad_of_that_node(program, direction):
    xs, out = _graph(program)
    tangents = forward_grad(out, dict(zip(xs, direction, strict=False)))
    for node in topological_order(out):
        if node.is_leaf:
            continue
        # reverse mode from this node: d(node)/d(x) for each x, then the directional sum
        expected = sum(g * t for g, t in zip(_grads(node, xs), direction, strict=False))
        assert tangents[node] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def _grads(node, xs):
    from microgrid import grad
    return [g.data for g in grad(node, xs)]


@settings(max_examples=100, deadline=None)
@given(expressions(), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_forward_mode_equals_torch_func_jvp(program, direction):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
    from torch.func import jvp

    xs, out = _graph(program)
    steps, inputs = program
    direction = direction[:len(xs)]
    primals = tuple(torch.tensor(x, dtype=torch.float64) for x in inputs)
    tangents_in = tuple(torch.tensor(t, dtype=torch.float64) for t in direction)
    value, tangent = jvp(lambda *ts: build(steps, *ts), primals, tangents_in)
    ours = forward_grad(out, dict(zip(xs, direction, strict=True)))
    assert out.data == pytest.approx(value.item(), rel=1e-12, abs=1e-12)
    assert ours[out] == pytest.approx(tangent.item(), rel=1e-10, abs=1e-10)


class Cube(Function):
    """A learner's own operation: forward mode reads the derivative its rule gave."""

    def forward(self, x):
        return x ** 3

    def derivatives(self, x, out):
        return 3 * x * x


def test_forward_mode_follows_user_functions_and_nary_nodes():
    x, y = Value(0.7, "x"), Value(-1.2, "y")
    out = dot([Cube()(x), y], [y, x.tanh()], 0.5) * x
    out.backward()
    assert forward_grad(out, x)[out] == pytest.approx(x.grad, rel=1e-12)
    assert forward_grad(out, y)[out] == pytest.approx(y.grad, rel=1e-12)


def test_forward_mode_on_apple_orange_gives_the_books_gradients():
    v = apple_orange()
    price = v["price"]
    book = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "tax": 650}
    for name, expected in book.items():
        tangents = forward_grad(price, v[name])
        assert tangents[price] == pytest.approx(expected, rel=1e-12)
        assert tangents[price] == v[name].grad  # same numbers multiplied, same order here
    # nodes that do not depend on apple have tangent 0
    assert forward_grad(price, v["apple"])[v["orange"]] == 0.0


def test_an_intermediate_node_counts_as_an_input():
    from microgrid import grad
    x = Value(0.3)
    h = x.tanh()
    out = h * h + x
    assert forward_grad(out, h)[out] == pytest.approx(grad(out, [h])[0].data)


def test_forward_sweep_counts_one_multiply_add_per_edge_it_follows():
    x, y = Value(2.0), Value(3.0)
    out = (x * y + x) * 2.0  # edges: x->*, y->*, *->+, x->+, +->*2
    order = topological_order(out)
    assert forward_sweep(order, {x: 1.0})[1] == 4  # y->* carries no tangent of x
    assert forward_sweep(order, {y: 1.0})[1] == 3


def test_forward_grad_rejects_bad_arguments():
    x = Value(1.0)
    y = x * 2
    with pytest.raises(TypeError, match="forward_grad: expected a Value, got float"):
        forward_grad(1.0, x)
    with pytest.raises(TypeError, match="forward_grad: expected a Value or a dict"):
        forward_grad(y, [x])
    with pytest.raises(ValueError, match="forward_grad: the dict of inputs is empty"):
        forward_grad(y, {})
    with pytest.raises(ValueError, match="forward_grad: the number for .* finite"):
        forward_grad(y, {x: math.nan})


# --- nudges ------------------------------------------------------------------------------------
@pytest.mark.parametrize("h", [1.0, 0.01, -0.5])
def test_nudge_is_a_direct_re_evaluation_beside_the_prediction(h):
    def f(a, b):
        c = a * b
        c.label = "c"
        return (c + 1).tanh() * a

    a, b = Value(0.5, "a"), Value(-1.0, "b")
    y = f(a, b)
    effects = nudge(y, {a: h})
    moved = f(Value(0.5 + h), Value(-1.0))
    assert effects[y].actual == pytest.approx(moved.data - y.data, rel=1e-12, abs=1e-15)
    assert effects[y].predicted == pytest.approx(forward_grad(y, a)[y] * h, rel=1e-12)
    assert effects[a].actual == pytest.approx(h) and effects[b].actual == 0.0
    assert y.data == f(Value(0.5), Value(-1.0)).data  # the graph is not changed


def test_nudge_error_shrinks_like_h_squared():
    a = Value(0.5)
    y = (a * -1.0 + 1).tanh()
    errors = [nudge(y, {a: h})[y].error for h in (1e-1, 1e-2, 1e-3)]
    for big, small in zip(errors, errors[1:], strict=False):
        assert math.log10(big / small) == pytest.approx(2, abs=0.1)


def test_nudge_refuses_what_it_cannot_do():
    x = Value(0.5, "x")
    h = x.log()
    y = h * 2
    with pytest.raises(ValueError, match=r"nudge: .* is computed by 'log'; nudge an input"):
        nudge(y, {h: 0.1})
    with pytest.raises(ValueError, match=r"cannot be computed at x = -0.5"):
        nudge(y, {x: -1.0})
    with pytest.raises(ValueError, match="is not a value of the graph"):
        nudge(y, {Value(1.0): 0.1})
    with pytest.raises(ValueError, match="the nudge of .* is 0"):
        nudge(y, {x: 0})


# --- rerun ------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(expressions(), st.lists(st.floats(-2, 2).filter(lambda v: abs(v) > 1e-3), min_size=3,
                               max_size=3))
def test_rerun_gives_the_graph_a_fresh_run_would(program, new_inputs):
    xs, out = _graph(program)
    steps, _ = program
    new_inputs = new_inputs[:len(xs)]
    fresh = [Value(x) for x in new_inputs]
    try:
        expected = build(steps, *fresh)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        before = [v.data for v in topological_order(out)]
        with pytest.raises(type(e)):
            rerun(out, dict(zip(xs, new_inputs, strict=True)))
        assert [v.data for v in topological_order(out)] == before  # all or nothing
        return
    rerun(out, dict(zip(xs, new_inputs, strict=True)))
    assert [v.data for v in topological_order(out)] == [
        v.data for v in topological_order(expected)]
    out.backward()
    expected.backward()
    assert [x.grad for x in xs] == [x.grad for x in fresh]


def test_rerun_of_a_network_keeps_its_groups():
    model = nn.MLP(2, [3, 1])
    x1, x2 = Value(0.5, "x1"), Value(-1.0, "x2")
    y = model([x1, x2])
    groups = [v.group for v in topological_order(y)]
    rerun(y, {x1: 0.25})
    assert y.data == pytest.approx(model([Value(0.25), Value(-1.0)]).data, rel=1e-15)
    assert [v.group for v in topological_order(y)] == groups
