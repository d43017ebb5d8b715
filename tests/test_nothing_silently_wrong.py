"""Issue 29: places where microgrid gave a wrong number without a word (look-alike labels in
compile, infinite local derivatives behind finite results, half-applied backward passes,
threads), and tests that catch bugs the suite used to let through."""

import math
import threading

import pytest

from microgrid import Value, grad, maximum, reference_backward


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


# --- threads: passes take turns, each right -----------------------------------------------------
@pytest.fixture
def switch_often():
    """Threads switch every 10 µs (Python's default is 5 ms), so that passes interleave."""
    import sys
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def _in_threads(*targets):
    errors, start = [], threading.Barrier(len(targets))

    def run(target):
        try:
            start.wait(10)
            target()
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def _chain(n=3000):
    a, b = Value(0.999, "a"), Value(0.001, "b")
    x = Value(1.0, "x")
    for _ in range(n):
        x = (x * a + b).tanh()
    return a, b, x


def test_concurrent_backward_on_graphs_that_share_nodes_adds_every_gradient(switch_often):
    a, b, x = _chain()
    losses = [x * float(k) for k in range(1, 7)]
    for loss in losses:
        loss.backward()
    expected = (a.grad, b.grad)
    for _ in range(3):
        a.grad = b.grad = 0.0
        _in_threads(*[loss.backward for loss in losses])
        assert (a.grad, b.grad) == pytest.approx(expected, rel=1e-12)


def test_walking_a_graph_while_another_thread_runs_backward_sees_the_whole_graph(switch_often):
    from microgrid import topological_order
    _, _, x = _chain(2000)
    loss = x * 2.0
    n = len(topological_order(loss))
    counts = []

    def walk():
        for _ in range(5):
            counts.append(len(topological_order(loss)))

    def train():
        for _ in range(5):
            loss.backward()
    _in_threads(walk, train, walk)
    assert counts == [n] * 10


def test_a_compiled_step_and_map_from_threads_add_every_gradient(switch_often):
    from microgrid import compile
    w = Value(0.5, "w")

    def f(x):
        y = w * x
        for _ in range(50):  # a step long enough for threads to switch inside it
            y = y + (w * x).tanh() * 0.0
        return y  # d/dw = x, exactly
    step = compile(f, 1.0)

    def calls():
        for _ in range(200):
            step(1.0)

    def maps():
        for _ in range(20):
            step.map([1.0] * 10)
    _in_threads(calls, calls, maps, maps)
    assert w.grad == 800.0


def test_concurrent_compiles_of_functions_that_share_parameters(switch_often):
    from microgrid import compile
    ws = [Value(0.1 * i - 0.3, f"w{i}") for i in range(8)]

    def f(x):
        y = x
        for w in ws:
            y = (w * y + 0.1).relu() + maximum(w, y).tanh() + abs(w - y) ** 1.5
        return y

    steps, expected = [], []
    ws_grads = []
    y = f(Value(0.7))
    y.backward()
    expected.append(y.data)
    ws_grads.append([w.grad for w in ws])
    for w in ws:
        w.grad = 0.0

    def make():
        for _ in range(5):
            steps.append(compile(f, 0.7))
    _in_threads(make, make, make, make)
    assert len(steps) == 20
    for step in steps:
        assert step(0.7) == expected[0]
        assert [w.grad for w in ws] == ws_grads[0]
        for w in ws:
            w.grad = 0.0


# --- compile: names unique as Python reads them, and the engine's answers to the last bit ------
def _engine_and_compiled(f, params, *args):
    from microgrid import compile
    y = f(*[Value(a) for a in args])
    y.backward()
    engine = (y.data, [p.grad for p in params])
    for p in params:
        p.grad = 0.0
    step = compile(f, *args)
    compiled = (step(*args), [p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return engine, compiled, step


@pytest.mark.parametrize("first, second", [
    ("µ", "μ"), ("x", "ｘ"), ("x", "𝐱"), ("fi", "ﬁ"), ("xi", "xᵢ"), ("S", "Ｓ"), ("Ｓ", "S"),
    ("d_x", "ｄ_x"), ("x", "ｄ_x"), ("ｉｆ", "x"), ("＿x", "x"),
])
def test_compile_keeps_look_alike_labels_apart(first, second):
    a, b = Value(2.0, first), Value(3.0, second)
    c = Value(5.0, "x")  # also a label equal to what NFKC makes of another
    engine, compiled, _ = _engine_and_compiled(lambda: a * b + a * c, [a, b, c])
    assert engine == compiled == (16.0, [8.0, 2.0, 2.0])


def test_compile_keeps_two_functions_named_alike_apart():
    from microgrid import Function, compile

    class Fi(Function):
        name = "fi"

        def forward(self, x):
            return math.exp(x)  # math: called by the generated code, not written out

        def derivatives(self, x, out):
            return out

    class Ligature(Function):
        name = "ﬁ"

        def forward(self, x):
            return math.exp(2 * x)

        def derivatives(self, x, out):
            return 2 * out

    fi, ligature = Fi(), Ligature()
    w = Value(0.5, "w")
    engine, compiled, step = _engine_and_compiled(lambda: fi(w) + ligature(w), [w])
    assert "_fi_forward(" in step.source
    assert compiled == engine


def test_compile_of_a_function_of_no_parameters_can_be_called():
    from microgrid import compile, no_grad
    step = compile(lambda x: x * 2.0 + 1.0, 1.0)
    assert step(3.0) == 7.0
    assert step.map([1.0, 2.0]) == [3.0, 5.0]
    with no_grad():
        assert step(3.0) == 7.0
    assert step.parameters == []


def test_a_compiled_step_raises_where_the_engine_overflows():
    from microgrid import compile
    w = Value(1.0, "w")
    f = lambda x: (w * x * 1e200).tanh()  # noqa: E731
    step = compile(f, 1e-300)
    with pytest.raises(OverflowError, match=r"^\*: result"):
        f(1e150)  # the engine
    with pytest.raises(OverflowError, match=r"compiled step: the result of \* is inf"):
        step(1e150)
    with pytest.raises(OverflowError):
        step.map([1e150])
    assert w.grad == 0.0
    for g in (lambda x: (w * x * -1e300).relu(), lambda x: 1.0 / (w * x * 1e300),
              lambda x: (w * x * -1e300).exp()):
        step = compile(g, 1e-300)
        with pytest.raises(OverflowError):
            g(1e10)
        with pytest.raises(OverflowError, match="compiled step"):
            step(1e10)


def test_a_compiled_step_equals_backward_to_the_last_bit_on_accumulated_grads():
    import random
    rng = random.Random(29)
    ws = [Value(rng.uniform(-1, 1), f"w{i}") for i in range(6)]

    def f(x):
        h = [(w * x + 0.1).tanh() for w in ws]
        return sum((hi * wi for hi, wi in zip(h, ws, strict=True)), Value(0.0)).relu() ** 2.0

    from microgrid import compile
    step = compile(f, 0.3)
    for w in ws:
        w.grad = rng.uniform(-1, 1)
    start = [w.grad for w in ws]
    y = f(Value(0.7))
    y.backward()
    engine = [w.grad for w in ws]
    for w, g in zip(ws, start, strict=True):
        w.grad = g
    assert step(0.7) == y.data
    assert [w.grad for w in ws] == engine


@pytest.mark.parametrize("label", [None, 123])
def test_compile_and_explain_name_a_label_set_by_hand_to_a_non_str(label):
    from microgrid import compile, explain
    w = Value(1.0, "w")
    w.label = label
    with pytest.raises(TypeError, match=r"compile: the label of .* not a str"):
        compile(lambda x: w * x, 1.0)
    y = w * 2.0
    with pytest.raises(TypeError, match=r"explain: the label of .* not a str"):
        explain(y, w)


def test_a_function_symbol_of_the_wrong_type_fails_when_the_class_is_made():
    from microgrid import Function
    with pytest.raises(TypeError, match="symbol must be a non-empty str"):
        class Bad(Function):
            symbol = 5

            def forward(self, x):
                return x

            def derivatives(self, x, out):
                return 1.0
