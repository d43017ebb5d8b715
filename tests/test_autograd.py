import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_engine import _all_nodes, build, expressions

from microgrid import (
    Value,
    backward_walk,
    dot,
    edges,
    grad,
    maximum,
    minimum,
    no_grad,
    reference_backward,
    topological_order,
)


def derivative(f, order, x0, create_graph=False):
    """The `order`-th derivative of f at x0, by grad applied `order` times."""
    x = Value(x0)
    y = f(x)
    for k in range(order):
        (y,) = grad(y, [x], create_graph=create_graph or k < order - 1)
    return y.data


# (f, [f', f'', f'''] as closed forms), each on points inside its domain
t = math.tanh
s = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
CLOSED_FORMS = {
    "tanh": (lambda v: v.tanh(),
             [lambda x: 1 - t(x) ** 2, lambda x: -2 * t(x) * (1 - t(x) ** 2),
              lambda x: -2 * (1 - t(x) ** 2) ** 2 + 4 * t(x) ** 2 * (1 - t(x) ** 2)]),
    "sin": (lambda v: v.sin(), [math.cos, lambda x: -math.sin(x), lambda x: -math.cos(x)]),
    "cos": (lambda v: v.cos(), [lambda x: -math.sin(x), lambda x: -math.cos(x), math.sin]),
    "exp": (lambda v: v.exp(), [math.exp] * 3),
    "log": (lambda v: v.log(), [lambda x: 1 / x, lambda x: -1 / x**2, lambda x: 2 / x**3]),
    "sqrt": (lambda v: v.sqrt(), [lambda x: 0.5 * x**-0.5, lambda x: -0.25 * x**-1.5,
                                  lambda x: 0.375 * x**-2.5]),
    "sigmoid": (lambda v: v.sigmoid(),
                [lambda x: s(x) * (1 - s(x)), lambda x: s(x) * (1 - s(x)) * (1 - 2 * s(x)),
                 lambda x: s(x) * (1 - s(x)) * (1 - 6 * s(x) + 6 * s(x) ** 2)]),
    "x**3": (lambda v: v ** 3, [lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6.0]),
    "2**x": (lambda v: 2 ** v, [lambda x: 2**x * math.log(2), lambda x: 2**x * math.log(2) ** 2,
                                lambda x: 2**x * math.log(2) ** 3]),
    "x**x": (lambda v: v ** v, [lambda x: x**x * (math.log(x) + 1),
                                lambda x: x**x * ((math.log(x) + 1) ** 2 + 1 / x),
                                lambda x: x**x * ((math.log(x) + 1) ** 3 + 3 * (math.log(x) + 1) / x
                                                  - 1 / x**2)]),
    "1/x": (lambda v: 1 / v, [lambda x: -1 / x**2, lambda x: 2 / x**3, lambda x: -6 / x**4]),
    "x/(x+2)": (lambda v: v / (v + 2), [lambda x: 2 / (x + 2) ** 2, lambda x: -4 / (x + 2) ** 3,
                                        lambda x: 12 / (x + 2) ** 4]),
    "x*x*x-x": (lambda v: v * v * v - v, [lambda x: 3 * x * x - 1, lambda x: 6 * x, lambda x: 6.0]),
    "-x": (lambda v: -v, [lambda x: -1.0, lambda x: 0.0, lambda x: 0.0]),
    "dot": (lambda v: dot([v, v], [v, 3.0], v), [lambda x: 2 * x + 4, lambda x: 2.0,
                                                 lambda x: 0.0]),
    # piecewise linear: the first derivative is a step, the higher ones 0
    "relu": (lambda v: v.relu() * v, [lambda x: 2 * x if x > 0 else 0.0,
                                      lambda x: 2.0 if x > 0 else 0.0, lambda x: 0.0]),
    "abs": (lambda v: abs(v) * v, [lambda x: 2 * abs(x), lambda x: math.copysign(2, x),
                                   lambda x: 0.0]),
    "leaky_relu": (lambda v: v.leaky_relu(0.1), [lambda x: 1.0 if x > 0 else 0.1,
                                                 lambda x: 0.0, lambda x: 0.0]),
    "clamp": (lambda v: v.clamp(-1, 1) * v,
              [lambda x: 2 * x if abs(x) <= 1 else math.copysign(1, x),
               lambda x: 2.0 if abs(x) <= 1 else 0.0, lambda x: 0.0]),
    "maximum": (lambda v: maximum(v * v, 2 * v), [lambda x: 2 * x if x * x > 2 * x else 2.0,
                                                  lambda x: 2.0 if x * x > 2 * x else 0.0,
                                                  lambda x: 0.0]),
    "minimum": (lambda v: minimum(v * v, 2 * v), [lambda x: 2 * x if x * x < 2 * x else 2.0,
                                                  lambda x: 2.0 if x * x < 2 * x else 0.0,
                                                  lambda x: 0.0]),
}
POINTS = [0.3, 0.7, 1.3, 2.5]


@pytest.mark.parametrize("name", CLOSED_FORMS)
@pytest.mark.parametrize("x0", POINTS)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_grad_against_closed_forms_to_third_order(name, x0, order):
    f, forms = CLOSED_FORMS[name]
    assert derivative(f, order, x0) == pytest.approx(forms[order - 1](x0), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", CLOSED_FORMS)
@pytest.mark.parametrize("x0", POINTS)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_grad_against_central_differences_of_grad_itself(name, x0, order):
    f = CLOSED_FORMS[name][0]
    h = 1e-5
    lower = lambda x: derivative(f, order - 1, x) if order > 1 else f(Value(x)).data  # noqa: E731
    numeric = (lower(x0 + h) - lower(x0 - h)) / (2 * h)
    assert derivative(f, order, x0) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_first_order_grad_equals_backward_and_touches_no_grad():
    x, y = Value(0.5), Value(-1.5)
    z = (x * y).tanh() + x.exp() / y
    gx, gy = grad(z, [x, y])
    assert x.grad == y.grad == z.grad == 0.0
    z.backward()
    assert (gx.data, gy.data) == (x.grad, y.grad)
    assert gx.is_leaf and gy.is_leaf


def test_grad_of_an_unused_input_is_zero_and_of_the_output_is_the_seed():
    x, y, unused = Value(2.0), Value(3.0), Value(7.0)
    z = x * y
    gx, gu, gz = grad(z, [x, unused, z], grad_output=0.5)
    assert (gx.data, gu.data, gz.data) == (1.5, 0.0, 0.5)
    assert grad(x, [x])[0].data == 1.0 and grad(x, [y])[0].data == 0.0  # a leaf as output


def test_grad_with_respect_to_an_intermediate_node():
    x = Value(2.0)
    h = x * x
    y = h.sin()
    (gh,) = grad(y, [h])
    assert gh.data == math.cos(4.0)


def test_create_graph_results_are_graphs_of_their_own():
    x = Value(0.5)
    (d1,) = grad(x.tanh(), [x], create_graph=True)
    assert not d1.is_leaf and d1.data == pytest.approx(1 - math.tanh(0.5) ** 2)
    d1.backward()  # backward works on a gradient's graph too
    assert x.grad == pytest.approx(-2 * math.tanh(0.5) * (1 - math.tanh(0.5) ** 2))


def test_grad_output_may_be_a_value():
    x, w = Value(2.0), Value(3.0)
    (gx,) = grad(x * x, [x], grad_output=w, create_graph=True)
    (gw,) = grad(gx, [w])
    assert gx.data == 12.0 and gw.data == 4.0


def test_newton_method_matches_dezero():
    expected = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
                1.0009084519430513, 1.0000012353089454, 1.000000000002289, 1.0]
    x = Value(2.0)
    got = []
    for _ in range(8):
        got.append(x.data)
        y = x**4 - 2 * x**2
        (g,) = grad(y, [x], create_graph=True)
        (g2,) = grad(g, [x])
        assert g2.data == pytest.approx(12 * x.data**2 - 4, rel=1e-15)
        x = Value(x.data - g.data / g2.data)
    assert got == pytest.approx(expected, rel=1e-15)


def test_grad_rejects_bad_arguments():
    x = Value(1.0)
    with pytest.raises(TypeError, match="grad: output must be a Value"):
        grad(1.0, [x])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inputs must be a sequence of Values"):
        grad(x * x, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="grad: input 1 must be a Value, got float"):
        grad(x * x, [x, 2.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="grad: grad_output: expected a finite number"):
        grad(x * x, [x], grad_output=math.nan)


def test_reference_backward_is_backward():
    x, y = Value(0.5), Value(-1.5)
    z = (x * y).tanh() * x + dot([x, y], [y, 2.0], 1.0)
    z.backward()
    first = (x.grad, y.grad)
    x.grad = y.grad = 0.0
    reference_backward(z)
    assert (x.grad, y.grad) == first
    with pytest.raises(ValueError, match="is a leaf"):
        reference_backward(x)


def test_backward_walk_visits_each_node_with_the_terms_of_its_uses():
    x = Value(3.0, "x")
    y = x * x + 2 * x  # x used three times: twice by *, once by 2 * x (as operand 1)
    visits = list(backward_walk(y, 2.0))
    assert [v.node for v in visits] == topological_order(y)[::-1]
    assert x.grad == 0.0 and y.grad == 0.0  # the walk changes no grad
    last = visits[-1]
    assert last.node is x and last.grad == 2.0 * (2 * 3.0 + 2)
    product, double = y.operands
    # in the order backward() passes them on: 2 * x is visited before x * x
    assert [(t.consumer, t.index, t.consumer_grad, t.local_grad) for t in last.terms] == [
        (double, 1, 2.0, 2.0), (product, 0, 2.0, 3.0), (product, 1, 2.0, 3.0)]
    assert last.grad == sum(t.grad for t in last.terms)
    assert visits[0].node is y and visits[0].grad == 2.0 and visits[0].terms == ()


@settings(max_examples=150, deadline=None)
@given(expressions())
def test_backward_walk_terms_are_the_graphs_edges_and_sum_to_backwards_grads(program):
    xs, out = _graph(program)
    visits = list(backward_walk(out))
    terms = sorted((id(v.node), id(t.consumer), t.index, t.local_grad)
                   for v in visits for t in v.terms)
    assert terms == sorted((id(e.parent), id(e.child), e.index, e.local_grad)
                           for e in edges(out))
    grads = {v.node: v.grad for v in visits}
    for v in visits:  # each term's consumer gradient is that consumer's complete gradient
        assert all(t.consumer_grad == grads[t.consumer] for t in v.terms)
    out.backward()
    assert [grads.get(x, 0.0) for x in xs] == [x.grad for x in xs]


# --- property-based: random graphs with shared sub-expressions ---------------------------
def _graph(program):
    """The leaves and the output of a random program, if its numbers are usable."""
    steps, inputs = program
    assume(_usable(steps, inputs))
    xs = [Value(x) for x in inputs]
    out = build(steps, *xs)
    assume(not out.is_leaf)
    return xs, out


def _usable(steps, inputs):
    try:
        with no_grad():
            values = [v.data for v in _all_nodes(steps, inputs)]
    except (ValueError, OverflowError, ZeroDivisionError):
        return False
    return all(1e-4 < abs(v) < 1e6 for v in values)


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_random_graphs_grad_equals_backward_and_reference(program):
    xs, out = _graph(program)
    got = [g.data for g in grad(out, xs)]
    with_graph = [g.data for g in grad(out, xs, create_graph=True)]
    out.backward()
    assert got == [x.grad for x in xs]
    assert with_graph == pytest.approx(got, rel=1e-12, abs=1e-12)
    fast = [x.grad for x in xs]
    for x in xs:
        x.grad = 0.0
    reference_backward(out)
    assert [x.grad for x in xs] == fast  # the same visits in the same order: identical


@settings(max_examples=150, deadline=None)
@given(expressions())
def test_random_graphs_second_derivatives_match_differences_of_the_first(program):
    steps, inputs = program
    assume(_usable(steps, inputs))

    def first(values):
        xs = [Value(x) for x in values]
        return [g.data for g in grad(build(steps, *xs), xs)]

    xs = [Value(x) for x in inputs]
    out = build(steps, *xs)
    grads = grad(out, xs, create_graph=True)
    for i in range(len(xs)):
        row = [g.data for g in grad(grads[i], xs)]  # d/dx_j of d out/dx_i
        for j in range(len(xs)):
            h = 1e-6 * max(1.0, abs(inputs[j]))
            up, down = list(inputs), list(inputs)
            up[j] += h
            down[j] -= h
            if not (_usable(steps, up) and _usable(steps, down)):
                continue
            numeric = (first(up)[i] - first(down)[i]) / (2 * h)
            assert row[j] == pytest.approx(numeric, rel=1e-3, abs=1e-4)


def test_against_pytorch_when_installed():
    torch = pytest.importorskip("torch")  # skipped where PyTorch is not installed
    for x0 in POINTS:
        xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        yt = torch.tanh(xt) * torch.sin(xt)
        (g1,) = torch.autograd.grad(yt, [xt], create_graph=True)
        (g2,) = torch.autograd.grad(g1, [xt])
        x = Value(x0)
        (d1,) = grad(x.tanh() * x.sin(), [x], create_graph=True)
        (d2,) = grad(d1, [x])
        assert (d1.data, d2.data) == pytest.approx((g1.item(), g2.item()), rel=1e-12)


# the new operations in random graphs too (their kinks do not matter here: grad, backward and
# the reference read the same recorded derivatives, and create_graph the same rules)
NEW_UNARY = [
    lambda a: a.sin(), lambda a: a.cos(), lambda a: abs(a) + a * 0.5, lambda a: a.leaky_relu(0.1),
    lambda a: a.clamp(-1.0, 1.0) + a, lambda a: (a * 0.3).sin().exp(),
]
NEW_BINARY = [
    lambda a, b: maximum(a, b), lambda a, b: minimum(a, b * 2), lambda a, b: maximum(a, 0.5) * b,
    lambda a, b: dot([a, b], [b, 2.0], a),
]


@st.composite
def new_op_programs(draw):
    n_inputs = draw(st.integers(1, 3))
    steps = []
    for i in range(draw(st.integers(1, 10))):
        pool = n_inputs + i
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(NEW_UNARY)), draw(st.integers(0, pool - 1)),
                          None))
        else:
            steps.append((draw(st.sampled_from(NEW_BINARY)), draw(st.integers(0, pool - 1)),
                          draw(st.integers(0, pool - 1))))
    return steps, draw(st.lists(st.floats(-2, 2), min_size=n_inputs, max_size=n_inputs))


def _run(steps, xs):
    nodes = list(xs)
    for f, i, j in steps:
        nodes.append(f(nodes[i]) if j is None else f(nodes[i], nodes[j]))
    return nodes[-1] + nodes[-2] if len(nodes) > 1 else nodes[-1]


@settings(max_examples=200, deadline=None)
@given(new_op_programs())
def test_random_graphs_of_the_new_operations_grad_equals_backward(program):
    steps, inputs = program
    xs = [Value(x) for x in inputs]
    out = _run(steps, xs)
    assume(not out.is_leaf)
    got = [g.data for g in grad(out, xs)]
    with_graph = grad(out, xs, create_graph=True)
    assert [g.data for g in with_graph] == pytest.approx(got, rel=1e-12, abs=1e-12)
    for g in with_graph:  # and a second time, through the gradients' own graphs
        second = [h.data for h in grad(g, xs)]
        assert all(math.isfinite(v) for v in second)
    out.backward()
    assert got == [x.grad for x in xs]


def test_detach_stops_grad_too():
    x = Value(3.0)
    (g,) = grad(x.detach() * x, [x], create_graph=True)
    assert g.data == 3.0  # d/dx (c * x) with c = x's data, a constant
    (g2,) = grad(g, [x])
    assert g2.data == 0.0


# --- backward(create_graph=True): DeZero's steps 33-36 as DeZero writes them ---------------
# DeZero's x.cleargrad() is x.grad = None (PyTorch's spelling); a Variable is a Value. After a
# backward() without create_graph, x.grad is a float, so DeZero's gx2.data is gx2.
def test_dezero_step_33_second_derivative():
    def f(x):
        y = x ** 4 - 2 * x ** 2
        return y

    x = Value(2.0)
    y = f(x)
    y.backward(create_graph=True)
    print(x.grad)
    assert isinstance(x.grad, Value) and x.grad.data == 24.0

    gx = x.grad
    x.grad = None  # x.cleargrad()
    gx.backward()
    print(x.grad)
    assert x.grad == 44.0


def test_dezero_step_33_newton_iterates_to_1e_15_relative():
    def f(x):
        y = x ** 4 - 2 * x ** 2
        return y

    x = Value(2.0)
    iters = 10
    printed = []

    for i in range(iters):
        print(i, x)
        printed.append(x.data)

        y = f(x)
        x.grad = None  # x.cleargrad()
        y.backward(create_graph=True)

        gx = x.grad
        x.grad = None  # x.cleargrad()
        gx.backward()
        gx2 = x.grad

        x.data -= gx.data / gx2  # DeZero: gx2.data

    book = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
            1.0009084519430513, 1.0000012353089454, 1.000000000002289, 1.0, 1.0, 1.0]
    assert printed == pytest.approx(book, rel=1e-15, abs=0)


@pytest.mark.parametrize("iters", [0, 1, 2, 3])
def test_dezero_step_35_derivatives_of_tanh_at_1(iters, tmp_path):
    from microgrid import draw
    x = Value(1.0)
    y = x.tanh()
    x.label = "x"
    y.label = "y"
    y.backward(create_graph=True)

    for _ in range(iters):
        gx = x.grad
        x.grad = None  # x.cleargrad()
        gx.backward(create_graph=True)

    gx = x.grad
    gx.label = "gx" + str(iters + 1)
    draw(gx).save(tmp_path / "tanh.svg")  # DeZero's plot_dot_graph(gx, ...)
    forms = [CLOSED_FORMS["tanh"][1][0](1.0), CLOSED_FORMS["tanh"][1][1](1.0),
             CLOSED_FORMS["tanh"][1][2](1.0), derivative(lambda v: v.tanh(), 4, 1.0)]
    assert gx.data == pytest.approx(forms[iters], rel=1e-13)
    assert ">gx" + str(iters + 1) + "<" in (tmp_path / "tanh.svg").read_text()
    if iters == 1:  # the second derivative of tanh at 1: -2 tanh(1) (1 - tanh(1)^2)
        assert gx.data == pytest.approx(-2 * math.tanh(1) * (1 - math.tanh(1) ** 2), rel=1e-15)


def test_dezero_step_36_double_backprop():
    x = Value(2.0)
    y = x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.grad = None  # x.cleargrad()

    z = gx ** 3 + y
    z.backward()
    print(x.grad)
    assert x.grad == 100.0  # d/dx ((2x)^3 + x^2) = 24x^2 + 2x at 2


def test_create_graph_accumulates_as_a_graph_and_zero_grad_drops_it():
    from microgrid import nn, optim
    x = Value(3.0)
    (x * x).backward(create_graph=True)  # x.grad = 2x, a Value
    (x * x * x).backward(create_graph=True)  # + 3x^2: the sum is a graph too
    assert x.grad.data == 6.0 + 27.0 and not x.grad.is_leaf
    (g2,) = grad(x.grad, [x])
    assert g2.data == 2.0 + 18.0
    x.grad = 0.0  # a number 0 starts over, as None does
    (x * x).backward(create_graph=True)
    assert x.grad.data == 6.0
    # a plain backward adds a number to a Value: still a Value of the same number
    (x * x).backward()
    assert isinstance(x.grad, Value) and x.grad.data == 12.0
    # optimizers use the number, as PyTorch's do; zero_grad resets to 0.0
    opt = optim.SGD([x], lr=0.5)
    opt.step()
    assert x.data == 3.0 - 0.5 * 12.0
    opt.zero_grad()
    assert x.grad == 0.0 and type(x.grad) is float
    neuron = nn.Neuron(1, seed=0)
    neuron([x]).backward(create_graph=True)
    neuron.zero_grad()
    assert all(type(p.grad) is float and p.grad == 0.0 for p in neuron.parameters())


def test_create_graph_gives_intermediate_nodes_numbers_and_the_same_gradients():
    x, w = Value(0.5, "x"), Value(-1.5, "w")
    h = (x * w).tanh()
    y = h * x + w.exp()
    y.backward()
    plain = {v: v.grad for v in topological_order(y)}
    for v in plain:
        v.grad = 0.0
    y.backward(create_graph=True)
    for v, g in plain.items():
        if v.is_leaf:
            assert isinstance(v.grad, Value) and v.grad.data == pytest.approx(g, rel=1e-15)
        else:
            assert type(v.grad) is float and v.grad == pytest.approx(g, rel=1e-15)
    assert y.grad == 1.0


def test_create_graph_with_a_seed_and_under_no_grad():
    x = Value(2.0)
    (x * x).backward(3.0, create_graph=True)
    assert x.grad.data == 12.0
    x.grad = None
    y = x * x
    with no_grad():
        y.backward(create_graph=True)  # records no graph: the gradient is a leaf
    assert x.grad.data == 4.0 and x.grad.is_leaf
    with pytest.raises(ValueError, match=r"^backward: expected a finite number, got nan"):
        (x * x).backward(math.nan, create_graph=True)
    with pytest.raises(ValueError, match=r"^backward: .* is a leaf"):
        x.backward(create_graph=True)


def _number(g):
    """A gradient as a number: PyTorch's None (not reached) is 0."""
    return 0.0 if g is None else g.data if isinstance(g, Value) else g


@settings(max_examples=150, deadline=None)
@given(expressions())
def test_random_graphs_create_graph_backward_is_grad_and_its_second_derivatives(program):
    xs, out = _graph(program)
    firsts = grad(out, xs, create_graph=True)
    out.backward(create_graph=True)
    assert [_number(x.grad) for x in xs] == [g.data for g in firsts]
    total = sum((x.grad * w for x, w in zip(xs, [1.0, -0.5, 2.0], strict=False)), Value(0.0))
    assume(not total.is_leaf)  # a gradient that is a constant: nothing to differentiate
    expected = [g.data for g in grad(total, xs)]
    for x in xs:
        x.grad = None
    total.backward()
    assert [_number(x.grad) for x in xs] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # its leak
@settings(max_examples=150, deadline=None)
@given(expressions())
def test_random_graphs_double_backward_agrees_with_pytorch(program):
    torch = pytest.importorskip("torch", reason="PyTorch's double backward: pip install torch")
    xs, out = _graph(program)
    steps, inputs = program
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    weights = [1.0, -0.5, 2.0]
    # PyTorch: out.backward(create_graph=True), then the backward of a sum of the gradients
    build(steps, *ts).backward(create_graph=True)
    first_t = [t.grad for t in ts]
    total_t = sum(g * w for g, w in zip(first_t, weights, strict=False) if g is not None)
    for t in ts:
        t.grad = None
    if isinstance(total_t, torch.Tensor) and total_t.requires_grad:
        total_t.backward()
    # microgrid: the same lines
    out.backward(create_graph=True)
    assert [_number(x.grad) for x in xs] == pytest.approx(
        [0.0 if g is None else g.item() for g in first_t], rel=1e-12, abs=1e-12)
    total = sum((x.grad * w for x, w in zip(xs, weights, strict=False)), Value(0.0))
    for x in xs:
        x.grad = None
    if not total.is_leaf:
        total.backward()
    assert [_number(x.grad) for x in xs] == pytest.approx(
        [0.0 if t.grad is None else t.grad.item() for t in ts], rel=1e-9, abs=1e-9)
