"""Issue 29: places where microgrid gave a wrong number without a word (look-alike labels in
compile, infinite local derivatives behind finite results, half-applied backward passes,
threads), and tests that catch bugs the suite used to let through."""

import math
import re
import threading

import pytest
from conftest import run_cli

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
            for make in (lambda a=a, b=b: Value(a) / Value(b), lambda a=a, b=b: Value(a) / b,
                         lambda a=a, b=b: a / Value(b), lambda a=a, b=b: Value(a) ** b,
                         lambda a=a, b=b: a ** Value(b),
                         lambda a=a, b=b: Value(a) ** Value(b)):
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
    assert (p.grad, q.grad) == (0.5, 0.25)  # the leaves: as before the pass
    assert (mid.grad, y.grad) == (0.0, 0.0)  # the other nodes: no gradient of this pass
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
    from microgrid import Function

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


def test_a_compiled_sum_of_more_than_32_uses_of_an_intermediate_value_keeps_every_term():
    w = Value(1.0, "w")

    def f(x):
        h = w * x  # an intermediate value, used 40 times: its gradient is a sum of 40 terms
        return sum((h * float(i) for i in range(2, 41)), h * 1.0)
    engine, compiled, _ = _engine_and_compiled(f, [w], 2.0)
    assert engine == compiled == (1640.0, [1640.0])


def test_compiled_minus_zero_constants_are_not_zero_constants():
    w = Value(1.0, "w")
    f = lambda: w * 0.0 - w * -0.0 * -1.0  # noqa: E731  (0.0 - 0.0 and then its sign: -0.0)
    g = lambda: w * 0.0 + (w * -0.0 - w * 0.0)  # noqa: E731
    for fn in (f, g, lambda: w * -0.0 - w * 0.0):
        engine, compiled, _ = _engine_and_compiled(fn, [w])
        assert engine == compiled
        assert [math.copysign(1.0, x) for x in (engine[0], *engine[1])] == \
               [math.copysign(1.0, x) for x in (compiled[0], *compiled[1])]


# --- tracebacks and unclear errors --------------------------------------------------------------
def test_a_huge_int_is_refused_naming_the_operation():
    for make, where in ((lambda: Value(10**400), "Value"), (lambda: Value(1.0) * 10**400, r"\*"),
                        (lambda: Value(1.0) + -10**5000, r"\+")):
        with pytest.raises(OverflowError, match=rf"^{where}: int \(about 10\^\d+\) is too large"):
            make()


@pytest.mark.parametrize("options, match", [
    (dict(eps=0), "eps must be above 0"), (dict(eps=-1e-6), "eps must be above 0"),
    (dict(eps=math.nan), "eps: expected a finite number"),
    (dict(atol=math.nan), "atol: expected a finite number"),
    (dict(rtol=math.inf), "rtol: expected a finite number"), (dict(atol=-1.0), "atol must be 0"),
])
def test_gradcheck_refuses_a_step_or_tolerance_that_cannot_work(options, match):
    from microgrid import gradcheck
    with pytest.raises(ValueError, match=f"^gradcheck: {match}"):
        gradcheck(lambda x: x * x, [1.0], **options)


def test_check_leaves_and_numeric_grads_refuse_them_too():
    from microgrid.core.check import check_leaves, numeric_grads
    y = Value(2.0) * 3.0
    with pytest.raises(ValueError, match="numeric_grads: eps must be above 0"):
        numeric_grads(y, eps=0.0)
    with pytest.raises(ValueError, match="check_leaves: atol: expected a finite number"):
        check_leaves(y, lambda v: v.grad, atol=math.nan)


def test_losses_refuse_bool_targets_and_a_number_for_a_prediction():
    np = pytest.importorskip("numpy", reason="needs numpy (matplotlib, in the demos extra)")
    from microgrid.nn.losses import bce_with_logits, cross_entropy, hinge, mse
    with pytest.raises(TypeError, match="mse: target is True, a bool"):
        mse(Value(0.5), True)
    with pytest.raises(TypeError, match=r"bce_with_logits: target\[1\] is False, a bool"):
        bce_with_logits([Value(0.5), Value(0.1)], [1, False])
    with pytest.raises(TypeError, match="hinge: target is True"):
        hinge(Value(0.5), True)
    with pytest.raises(TypeError, match=r"^mse: pred must be a Value or a sequence of Values "
                                        r"\(the model's outputs\), got float 0.5$"):
        mse(0.5, 1)
    zs = [Value(1.0), Value(2.0)]
    expected = cross_entropy(zs, 1).data
    assert cross_entropy(np.array(zs, dtype=object), 1).data == expected
    assert cross_entropy(np.array([zs], dtype=object), np.array([1])).data == expected
    with pytest.raises(ValueError, match="cross_entropy: logits must be a non-empty list"):
        cross_entropy(np.array([], dtype=object), 0)


def test_a_chain_of_many_nodes_pickles_and_copies():
    import copy
    import pickle

    from microgrid import dot, topological_order
    a = Value(0.9, "a")
    x = Value(1.0, "x")
    for _ in range(3000):
        x = (x * a + 0.1).tanh()
    y = dot([a, x, 2.0], [x, 3.0, a]) + maximum(x, 0.2)
    y.backward()
    y2, a2 = pickle.loads(pickle.dumps([y, a]))
    for clone in (y2, copy.deepcopy(y)):
        old, new = topological_order(y), topological_order(clone)
        assert [(v.data, v.grad, v.label, v.op) for v in old] == \
               [(v.data, v.grad, v.label, v.op) for v in new]
    assert a2 in set(topological_order(y2))  # the leaf pickled beside the graph is its leaf
    a.grad = a2.grad = 0.0
    y.backward()
    y2.backward()
    assert a2.grad == a.grad


# --- explain and tree ---------------------------------------------------------------------------
def test_explain_of_2_to_the_15000_paths_prints_the_count():
    from microgrid import explain
    x = Value(0.5, "x")
    y = x
    for _ in range(15000):
        y = (y + y) * 0.5
    text = str(explain(y, x))
    assert "the sum over about 2.82 × 10^4515 paths from x to #30000 (2^15000)" in text


def test_explain_of_a_deep_chain_is_linear_in_its_depth():
    """Not a timing: each path's steps are built once, not copied at each step (the old code
    built a path of n steps from n tuples of 1, 2, ..., n steps: n²/2 objects)."""
    import tracemalloc

    from microgrid import explain

    def peak(n):
        x, a = Value(0.5, "x"), Value(1.0001, "a")
        y = x
        for _ in range(n):
            y = y * a
        tracemalloc.start()
        explain(y, x)
        explain(y, a, max_paths=3)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size
    assert peak(4000) < 3 * peak(2000)


def test_explain_has_a_size_limit_of_its_own():
    from microgrid import explain
    x = Value(1.0, "x")
    y = x
    for _ in range(100):
        y = y * 1.0
    with pytest.raises(ValueError, match=r"explain: the graph has 101 values, more than "
                                         r"max_nodes=50; explain a part of it"):
        explain(y, x, max_nodes=50)


def test_tree_and_explain_write_a_labels_control_characters_as_escapes():
    from microgrid import explain, tree
    v = Value(1.0, "\x1b[31mred\x1b[0m\n")
    y = v * 2.0
    y.label = "out\x07"
    for text in (str(tree(y)), str(explain(y, v))):
        assert "\x1b" not in text and "\x07" not in text and "\\x1b[31mred\\x1b[0m\\n" in text
        assert "out\\x07" in text


def test_the_explain_command_when_all_four_names_are_variables(capsys):
    from microgrid.cli import main
    code = main(["explain", "y*f*out*result", "y=1", "f=2", "out=3", "result=4", "--wrt", "y"])
    out = capsys.readouterr().out
    assert code == 0 and "= 24" in out and "backward() gives the same, 24." in out


def test_explains_local_formula_of_a_dot_names_an_input_by_its_weight():
    from microgrid import dot, explain
    w0, w1, x0, x1 = Value(2.0, "w0"), Value(3.0, "w1"), Value(5.0, "x0"), Value(7.0, "x1")
    y = dot([w0, w1], [x0, x1], 1.0)
    assert "∂(…)/∂x0 = w0 = 2" in str(explain(y, x0)) or "/∂x0 = w0 = 2" in str(explain(y, x0))
    assert "/∂w1 = x1 = 7" in str(explain(y, w1))
    from microgrid.core.formulas import local_formula
    assert [local_formula(y, k) for k in range(5)] == [
        "∂/∂w₀ = x₀", "∂/∂w₁ = x₁", "∂/∂x₀ = w₀", "∂/∂x₁ = w₁", "∂/∂b = 1"]


# --- the command line: one line, exit 2 ---------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--lr", "0"], "--lr must be a number above 0"), (["--lr", "-1"], "--lr must be"),
    (["--lr", "nan"], "--lr must be"), (["--lr", "inf"], "--lr must be"),
    (["--lr", "1e308"], "--lr must be"), (["--noise", "nan"], "--noise must be from 0 to 10"),
    (["--noise", "inf"], "--noise must be"), (["--noise", "-1"], "--noise must be"),
    (["--plot", "x.txt"], "--plot saves a PNG"), (["--n", "0"], "--n must be at least 1"),
    (["--steps", "x"], "invalid int value"),
])
def test_demo_train_refuses_a_bad_argument_in_one_line(capsys, args, message):
    code, out, err = run_cli(capsys, "demo", "train", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("microgrid demo train: error: ")
    assert message in err


def test_demo_train_fast_keeps_the_sizes_it_is_given(capsys):
    code, out, _ = run_cli(capsys, "demo", "train", "--fast", "--n", "20", "--steps", "3",
                            "--hidden", "4")
    assert code == 0
    assert out.startswith("Two moons, 20 points; MLP 2 -> 4 -> 4 -> 1 (ReLU)") and "3 steps" in out
    code, out, _ = run_cli(capsys, "demo", "train", "--fast")
    assert out.startswith("Two moons, 30 points; MLP 2 -> 8 -> 8 -> 1 (ReLU)") and "10 steps" in out


def test_demo_notation_bounds_the_batch(capsys):
    code, out, err = run_cli(capsys, "demo", "notation", "--m", "100000000")
    assert code == 2 and out == ""
    assert err == "microgrid demo notation: error: --m must be from 1 to 10,000, got 100000000\n"


def test_the_quiz_goes_on_after_an_answer_too_large_for_a_float():
    import io

    from microgrid.teaching.quiz import make_quiz, run
    quiz = make_quiz(1, size=3)
    answers = "1e400\n" + "9" * 4000 + "\n" + "".join(f"{q.answer}\n" for q in quiz.questions)
    out = io.StringIO()
    assert run(quiz, io.StringIO(answers), out) == (len(quiz.questions), len(quiz.questions))
    assert "'1e400' is not a number" in out.getvalue()


def test_the_quiz_refuses_an_answer_of_the_wrong_sign():
    import io

    from microgrid.teaching.quiz import is_right, make_quiz, run
    quiz = make_quiz(1, size=4)
    nonzero = [q for q in quiz.questions if abs(q.answer) > 0.01]
    assert nonzero
    for q in nonzero:
        assert is_right(q.answer, q.answer) and not is_right(-q.answer, q.answer)
    out = io.StringIO()
    right, _ = run(quiz, io.StringIO("".join(f"{-q.answer}\n" for q in quiz.questions)), out)
    assert right == len(quiz.questions) - len(nonzero)


# --- files ----------------------------------------------------------------------------------------
def _diagram():
    from microgrid import draw
    y = Value(2.0, "x") * 3.0
    return draw(y)


def test_save_does_not_replace_a_read_only_file(tmp_path):
    import os
    path = tmp_path / "g.dot"
    path.write_text("keep")
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match=r"cannot write '.*g\.dot': the file is read-only"):
        _diagram().save(path)
    assert path.read_text() == "keep"


def test_save_errors_name_the_users_file_not_the_temporary_one(tmp_path):
    missing = tmp_path / "no such folder" / "g.svg"
    with pytest.raises(FileNotFoundError) as info:
        _diagram().save(missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    from microgrid.drawing.render import write_atomically
    with pytest.raises(OSError) as info:
        write_atomically(tmp_path / "dir" / "x", b"")
    assert ".tmp" not in str(info.value)


def test_a_file_name_that_ends_in_a_slash_is_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(IsADirectoryError, match="ends in / is a folder"):
        _diagram().save("ts.svg/")
    code, out, err = run_cli(capsys, "draw", "a*b", "a=2", "b=3", "-o", "ts.svg/")
    assert code == 2 and "a name that ends in / is a folder" in err
    assert not (tmp_path / "ts.svg").exists()


@pytest.mark.parametrize("text", ["Loss \\G \\N", "\\E \\T \\H \\L", "a \\\\ b", "end\\"])
def test_graphviz_escapes_in_labels_and_titles_are_drawn_as_written(text):

    from microgrid import draw
    x = Value(2.0, text)
    y = x * 3.0
    svg = draw(y, title=text).svg()
    import html
    texts = [html.unescape(t) for t in re.findall(r">([^<]*)</text>", svg)]
    assert texts.count(text) == 2  # the title and x's box


# --- mutations the suite missed -----------------------------------------------------------------
def _one_layer(neurons: int) -> str:
    """The collapsed drawing (depth 2) of a layer of `neurons` blocks, each using x1 and x2."""
    from microgrid import draw, group
    x = [Value(0.5, "x1"), Value(-1.0, "x2")]
    outs = []
    with group("layer"):
        for k in range(neurons):
            with group(f"n{k}"):
                outs.append(x[0] * (k + 2.0) + x[1] * (k + 3.0))
    y = sum(outs[1:], outs[0])
    y.backward()
    return draw(y, collapse=2).source


def _edges(source: str) -> list[tuple[str, str]]:
    """The DOT's edges, tail and head."""
    return re.findall(r"^\t(\w+) -> (\w+) ", source, re.M)


def test_collapse_draws_a_bus_only_where_it_saves_edges():
    # 2 inputs into 2 blocks: 4 edges either way, so no bus
    two = _one_layer(2)
    assert "into layer" not in two and not any(t.startswith("j") or h.startswith("j")
                                               for t, h in _edges(two))
    assert sorted((t, h) for t, h in _edges(two) if h.startswith("g")) == [
        ("v0", "g0"), ("v0", "g1"), ("v2", "g0"), ("v2", "g1")]
    # 2 inputs into 3 blocks: 6 edges, or 2 into the bus and 3 out of it
    three = _one_layer(3)
    assert three.count("into layer") == 1
    into_blocks = [(t, h) for t, h in _edges(three) if h.startswith(("g", "j"))]
    assert sorted(into_blocks) == [("j0", "g0"), ("j0", "g1"), ("j0", "g2"),
                                   ("v0", "j0"), ("v2", "j0")]


@pytest.mark.parametrize("bad", [math.nan, "1.0", 10**400], ids=["nan", "str", "10**400"])
def test_load_state_dict_that_fails_on_a_later_entry_changes_no_earlier_one(bad):
    from microgrid import nn
    model = nn.MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    names = list(before)
    new = {name: before[name] + 1.0 for name in names[:-1]} | {names[-1]: bad}
    with pytest.raises((ValueError, TypeError), match=re.escape(repr(names[-1]))):
        model.load_state_dict(new)
    assert model.state_dict() == before
    assert [p.data for p in model.parameters()] == list(before.values())


@pytest.mark.parametrize("flag", [True, False])
def test_load_state_dict_refuses_a_bool(flag):
    from microgrid import nn
    model = nn.MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(TypeError, match=re.escape(
            f"load_state_dict: entry 'w[1]_0_1' must be a number, got bool {flag}")):
        model.load_state_dict({**before, "w[1]_0_1": flag})
    assert model.state_dict() == before


def test_a_graphviz_failure_says_graphvizs_error_without_its_warnings():
    from microgrid.drawing import render
    from microgrid.drawing.render import RenderError
    with pytest.raises(RenderError) as caught:  # a warning for a, then the error in b's label
        render.render("digraph { a [shape=nosuch]; b [label=<<b>x</i>>] }", "svg")
    assert str(caught.value) == ("render: graphviz-pure failed: Error: mismatched tag in line 1 "
                                 "... x</i> ... in label of node b")


def test_a_graphviz_failure_with_only_warnings_says_them(tmp_path, monkeypatch):
    from microgrid.drawing import render
    from microgrid.drawing.render import RenderError
    failing = tmp_path / "graphviz-pure"
    failing.write_text("#!/bin/sh\necho 'Warning: graph is too large' >&2\n"
                       "echo '  Warning: giving up' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(render, "bundled_program", lambda: str(failing))
    with pytest.raises(RenderError) as caught:
        render.render("digraph { a }", "svg")
    assert str(caught.value) == ("render: graphviz-pure failed: Warning: graph is too large "
                                 "Warning: giving up")
    failing.write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(RenderError) as caught:
        render.render("digraph { a }", "svg")
    assert str(caught.value) == "render: graphviz-pure failed: no message"


def _wide_and_tall():
    """A drawing much wider than tall (a chain), and one much taller than wide (a sum)."""
    from microgrid import draw
    y = Value(0.5, "x")
    for _ in range(12):
        y = (y * 1.1).tanh()
    level = [Value(float(k), f"x{k}") for k in range(16)]
    while len(level) > 1:  # a balanced tree: 16 leaves side by side, 4 levels deep
        level = [a + b for a, b in zip(level[::2], level[1::2], strict=True)]
    return draw(y), draw(level[0])


@pytest.mark.parametrize("dpi", [96, 300])
def test_render_max_side_fits_the_png_in_that_many_pixels(dpi):
    from microgrid.drawing import render
    for diagram in _wide_and_tall():
        width, height = render.png_size(render.render(diagram.source, "png", dpi=dpi))
        assert max(width, height) > 700  # large enough to be scaled down
        for side in (200, 500):
            w, h = render.png_size(render.render(diagram.source, "png", dpi=dpi, max_side=side))
            assert side - 2 <= max(w, h) <= side, (dpi, side, w, h)
            assert abs(w / h - width / height) < 0.05 * width / height  # the same shape
        # never scaled up
        big = render.render(diagram.source, "png", dpi=dpi, max_side=3 * max(width, height))
        assert render.png_size(big) == (width, height)


@pytest.mark.parametrize(("dpi", "budget"), [(96, 100_000), (96, 300_000), (300, 2_000_000)])
def test_a_png_past_its_pixel_budget_uses_the_whole_budget(dpi, budget):
    """The budget is an area: the resolution shrinks by the square root of budget / area."""
    from microgrid.drawing import render
    for diagram in _wide_and_tall():
        full = render.png_size(render.render(diagram.source, "png", dpi=dpi))
        assert full[0] * full[1] > 2 * budget
        warning = rf"drawn at \d+ dpi to stay within max_pixels={budget} "
        with pytest.warns(UserWarning, match=warning):
            w, h = render.png_size(diagram.png(max_pixels=budget, dpi=dpi))
        assert 0.98 * budget <= w * h <= 1.02 * budget, (w, h, w * h / budget)
        assert abs(w / h - full[0] / full[1]) < 0.05 * full[0] / full[1]


def _iframe_height(steps) -> int:
    m = re.search(r'<iframe srcdoc="[^"]*" [^>]*\bheight="(\d+)"', steps._repr_html_())
    assert m is not None
    return int(m[1])


def test_the_notebook_players_iframe_is_as_tall_as_its_page_up_to_900_px():
    from microgrid import backward_steps
    from microgrid.drawing.player import CONTROLS_HEIGHT, LEGEND_LINE, MAX_IFRAME_HEIGHT
    from microgrid.drawing.render import svg_size
    assert (CONTROLS_HEIGHT, LEGEND_LINE, MAX_IFRAME_HEIGHT) == (300, 25, 900)
    y = Value(2.0, "x") * 3.0
    for local, legend in ((False, 0), (True, 25)):  # a small graph: its drawing and controls
        steps = backward_steps(y, local=local)
        drawing = round(svg_size(steps._final_svg())[1] * 96 / 72)  # px at 96 dpi
        assert 150 < drawing < 250
        assert _iframe_height(steps) == drawing + 300 + legend
    level = [Value(float(k), f"x{k}") for k in range(16)]
    while len(level) > 1:  # a tall graph: 16 leaves side by side
        level = [a + b for a, b in zip(level[::2], level[1::2], strict=True)]
    steps = backward_steps(level[0])
    assert round(svg_size(steps._final_svg())[1] * 96 / 72) > 1500
    assert _iframe_height(steps) == 900
