"""explain(), the local-derivative formulas, numerical gradients, tree(), draw(local, check)."""

from __future__ import annotations

import math
import random
import time
import warnings

import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import Value, backward_steps, dot, draw, explain, topological_order, tree
from microgrid.core.check import check_leaves, numeric_grads
from microgrid.core.engine import _node
from microgrid.core.formulas import FORMULAS, formula_value, local_formula
from microgrid.drawing.diagram import LOCAL_COLOR, WARN_COLOR
from microgrid.teaching.explain import count_paths


def square_plus() -> tuple[Value, Value]:
    x = Value(3.0, label="x")
    y = x * x + x
    y.label = "y"
    return x, y


def brute_force_paths(root: Value, wrt: Value) -> list[list[float]]:
    """Every path from `wrt` to `root`, as its local derivatives, by plain recursion."""
    def down(v: Value) -> list[list[float]]:
        if v is wrt:
            return [[]]
        return [[*p, d] for parent, d in zip(v.parents, v.local_grads, strict=True)
                for p in down(parent)]
    return down(root)


def random_graph(seed: int, size: int) -> tuple[Value, list[Value]]:
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-1.5, 1.5), label=f"x{i}") for i in range(3)]
    values = list(leaves)
    for _ in range(size):
        a, b = rng.choice(values), rng.choice(values)
        op = rng.choice(["+", "-", "*", "tanh", "sigmoid", "exp", "c*", "neg", "dot"])
        if op == "+":
            v = a + b
        elif op == "-":
            v = a - b
        elif op == "*":
            v = a * b
        elif op == "tanh":
            v = a.tanh()
        elif op == "sigmoid":
            v = a.sigmoid()
        elif op == "exp":
            v = (a * 0.1).exp()
        elif op == "c*":
            v = 0.7 * a
        elif op == "neg":
            v = -a
        else:
            v = dot([a, b], [b, 0.5], a)
        values.append(v)
    root = values[-1] + values[-2] * 0.5 + values[-3]
    return root, leaves


# --- explain --------------------------------------------------------------------------------
def test_the_issue_example():
    x, y = square_plus()
    e = explain(y, x)
    assert e.count == 3 and e.complete and e.grad == 7.0
    assert [p.product for p in e.paths] == [3.0, 3.0, 1.0]
    lines = str(e).splitlines()
    assert lines[0] == ("dy/dx = 7 = 3 + 3 + 1, the sum over 3 paths from x to y of the product "
                        "of the local derivatives along each, where #1 = x×x:")
    assert lines[1:9] == [  # #1 as the drawing, the player and tree name it
        "  1. x → × (first operand) [#1] → + → y: 3 × 1 = 3",
        "       ∂#1/∂x = x = 3",
        "       ∂y/∂#1 = 1",
        "  2. x → × (second operand) [#1] → + → y: 3 × 1 = 3",
        "       ∂#1/∂x = x = 3",
        "       ∂y/∂#1 = 1",
        "  3. x → + → y: 1 = 1",
        "       ∂y/∂x = 1",
    ]
    assert "the paths add up" in lines[-1] and "backward()" in lines[-1]
    assert repr(e) == str(e)  # a REPL shows the derivation
    page = e._repr_html_()
    assert page.startswith('<div class="microgrid-explanation"><p>dy/dx = 7 = 3 + 3 + 1')
    assert page.count("<li>") == 3
    assert "<code>x → × (first operand) [#1] → + → y: 3 × 1 = 3</code>" in page
    y.backward()
    assert x.grad == e.grad


def test_explain_by_label_changes_no_grad_and_reports_bad_labels():
    x, y = square_plus()
    assert explain(y, "x").grad == 7.0
    assert all(v.grad == 0 for v in topological_order(y))
    with pytest.raises(ValueError,
                       match="no value of the graph labelled 'z'; the labels are 'x', 'y'"):
        explain(y, "z")
    with pytest.raises(TypeError, match="wrt must be a Value or a label"):
        explain(y, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a Value"):
        explain(3, x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_paths must be a positive int"):
        explain(y, x, max_paths=0)


def test_no_path_and_the_root_itself():
    x, y = square_plus()
    other = Value(1.0, label="z")
    e = explain(y, other)
    assert e.count == 0 and e.grad == 0
    assert str(e) == ("dy/dz = 0: y does not depend on z (no path leads from z to y), so a "
                      "change in z does not change y.")
    assert str(explain(y, y)) == "dy/dy = 1: y is y itself."


def test_apple_orange_why_is_dapple_2_2():
    from microgrid.teaching.demos.apple_orange import build

    graph = build()
    e = explain(graph["price"], "apple")
    assert e.count == 1 and math.isclose(e.grad, 2.2)
    text = str(e)
    assert "apple → × [apple_price] → + [all_price] → × → price: 2 × 1 × 1.1 = 2.2" in text


def diamonds(depth: int) -> tuple[Value, Value]:
    """A chain of `depth` diamonds: y -> (y×1.01, y×0.99) -> their sum: 2^depth paths."""
    x = Value(0.5, label="x")
    y = x
    for _ in range(depth):
        y = (y * 1.01 + y * 0.99) * 0.5
    y.label = "y"
    return x, y


def test_a_chain_of_60_diamonds_is_counted_exactly_and_quickly():
    x, y = diamonds(60)
    start = time.perf_counter()
    e = explain(y, x, max_paths=5)
    elapsed = time.perf_counter() - start
    assert e.count == 2 ** 60 and count_paths(y, x) == 2 ** 60
    assert elapsed < 1.0
    assert len(e.paths) == 5 and not e.complete
    # the largest path takes every ×1.01: 1.01^60 × 0.5^60; the next ones swap one for ×0.99
    assert math.isclose(e.paths[0].product, 1.01 ** 60 * 0.5 ** 60, rel_tol=1e-12)
    assert all(math.isclose(p.product, 1.01 ** 59 * 0.99 * 0.5 ** 60, rel_tol=1e-12)
               for p in e.paths[1:])
    assert len({tuple(id(s.child) for s in p.steps) + tuple(s.index for s in p.steps)
                for p in e.paths}) == 5  # five different paths
    y.backward()
    assert math.isclose(e.grad, x.grad, rel_tol=1e-12)
    text = str(e)
    assert ("the sum over 1,152,921,504,606,846,976 paths from x to y (2^60), too many to list"
            in text)
    assert "the 5 largest" in text and "That is the point of backpropagation." in text
    assert "in one pass over the graph's 300 edges" in text
    assert "1.01^60 × 1^60 × 0.5^60" in text  # a long path's factors, grouped
    assert max(len(line) for line in text.splitlines()[1:-1]) < 120


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 9))
def test_paths_sum_to_backwards_gradient(seed, size):
    root, leaves = random_graph(seed, size)
    root.backward()
    for leaf in leaves:
        e = explain(root, leaf, max_paths=10 ** 6)
        paths = brute_force_paths(root, leaf)
        assert e.count == len(paths) == len(e.paths)
        assert math.isclose(e.grad, leaf.grad, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(math.fsum(p.product for p in e.paths), leaf.grad, rel_tol=1e-12,
                            abs_tol=1e-12)
        assert sorted(p.product for p in e.paths) == pytest.approx(
            sorted(math.prod(p) for p in paths), rel=1e-12, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(3, 9), st.integers(1, 4))
def test_the_largest_paths_are_the_largest(seed, size, k):
    root, leaves = random_graph(seed, size)
    for leaf in leaves:
        everything = sorted((abs(math.prod(p)) for p in brute_force_paths(root, leaf)),
                            reverse=True)
        e = explain(root, leaf, max_paths=k)
        if len(everything) <= k:
            assert e.complete
            continue
        assert [abs(p.product) for p in e.paths] == pytest.approx(everything[:k], rel=1e-9)


# --- formulas -------------------------------------------------------------------------------
def every_operation() -> list[Value]:
    from microgrid import maximum, minimum

    a, b = Value(1.3, label="a"), Value(-0.7, label="b")
    return [a + b, a - b, a * b, a / b, a ** b, a ** 3, 2.0 ** a, -a, a.exp(), a.log(),
            a.sqrt(), a.tanh(), a.sigmoid(), a.relu(), b.relu(), 3 - a, 2 / b, 4 * a,
            dot([a, b], [b, 2.0], a), a.sin(), b.cos(), abs(a), abs(b), a.leaky_relu(),
            b.leaky_relu(0.1), maximum(a, b), maximum(a, a), minimum(a, b), minimum(b, 2.0),
            a.clamp(-1, 2), a.clamp(2, 3)]


def test_every_operation_has_a_formula_that_agrees_with_its_number():
    from microgrid.core.functions import _RULES

    nodes = every_operation()
    assert {v.op for v in nodes} == set(_RULES)  # every built-in operation
    assert set(FORMULAS) | {"dot"} == set(_RULES)
    for v in nodes:
        values = [k for k, x in enumerate(v.operands) if isinstance(x, Value)]
        for k, d in zip(values, v.local_grads, strict=True):
            assert local_formula(v, k) is not None, (v.op, k)
            assert formula_value(v, k) == pytest.approx(d, rel=1e-12), (v.op, k)


def test_formulas_as_the_drawing_writes_them():
    a, b, c = Value(2, "a"), Value(-3, "b"), Value(10, "c")
    n = a * b + c
    t = n.tanh()
    assert local_formula(n.parents[0], 0) == "∂/∂a = b"
    assert local_formula(n.parents[0], 1) == "∂/∂b = a"
    assert local_formula(t, 0) == "∂/∂x = 1 − tanh²"
    assert local_formula(a / b, 1) == "∂/∂b = −a/b²"
    assert local_formula(a ** 2, 0) == "∂/∂a = b·a^(b−1)"
    assert local_formula(dot([a, b], [c, 1.0]), 1) == "∂/∂w₁ = x₁"
    named = local_formula(a * (b + c), 0, lambda x, g: x.label or "b + c")
    assert named == "∂/∂a = (b + c)"
    hand_made = _node(1.0, "cube", a, 12.0)
    assert local_formula(hand_made, 0) is None and formula_value(hand_made, 0) is None


# --- numerical gradients --------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 8))
def test_numeric_grads_agree_with_backward(seed, size):
    root, leaves = random_graph(seed, size)
    root.backward()
    checks = check_leaves(root, lambda v: v.grad)
    numeric = numeric_grads(root)
    assert set(numeric) == {v for v in topological_order(root) if v.is_leaf}
    for leaf in numeric:
        assert numeric[leaf] == pytest.approx(leaf.grad, rel=1e-4, abs=1e-6)
        assert checks[leaf].ok


def wrong_neuron() -> tuple[Value, Value]:
    """(a*b + c).tanh(), but a hand-made × that records 5 as d/da instead of b = -3."""
    a, b, c = Value(2, "a"), Value(-3, "b"), Value(10, "c")
    wrong = _node(a.data * b.data, "*", a, 5.0, b, a.data)
    out = (wrong + c).tanh()
    out.label = "out"
    return a, out


def test_check_flags_a_wrong_local_derivative():
    a, out = wrong_neuron()
    out.backward()
    checks = check_leaves(out, lambda v: v.grad)
    assert checks[a].ok is False and checks[a].error > 1
    assert all(c.ok for leaf, c in checks.items() if leaf is not a)
    source = draw(out, check=True).source
    box = next(line for line in source.splitlines() if line.strip().startswith("v0 "))
    assert f'color="{WARN_COLOR}"' in box and "≠ grad" in box and "fillcolor" in box
    edge = next(line for line in source.splitlines() if "id=e2_0" in line)
    assert f'<font color="{WARN_COLOR}"><b>∂/∂a = b = -3 ≠ 5</b></font>' in edge
    # the other inputs agree: in green, not in the warning colour
    other = next(line for line in source.splitlines() if line.strip().startswith("v1 "))
    assert "numeric 2 (error" not in other and WARN_COLOR not in other


def test_check_needs_gradients_and_survives_an_unknown_operation():
    a, b = Value(2.0, "a"), Value(3.0, "b")
    y = a * b
    with pytest.raises(ValueError, match="call backward"):
        draw(y, check=True)
    cube = _node(a.data ** 3, "cube", a, 12.0)
    z = cube + b
    z.backward()
    checks = check_leaves(z, lambda v: v.grad)
    assert checks[a].numeric is None and checks[a].ok is None
    assert "numeric: cannot replay" in draw(z, check=True).source


# --- the drawing ----------------------------------------------------------------------------
def neuron() -> Value:
    a, b, c = Value(2, "a"), Value(-3, "b"), Value(10, "c")
    out = (a * b + c).tanh()
    out.label = "out"
    out.backward()
    return out


def test_local_labels_in_dot_and_svg():
    out = neuron()
    diagram = draw(out, local=True)
    source = diagram.source
    assert f'<font color="{LOCAL_COLOR}">∂/∂a = b = -3</font>' in source
    assert f'<font color="{LOCAL_COLOR}">∂/∂x = 1 − tanh² = 0.001341</font>' in source
    assert f'<font color="{LOCAL_COLOR}">∂/∂b = 1</font>' in source  # not "= 1 = 1"
    # the gradient stays the last line of its label (the player replaces it)
    edge = next(line for line in source.splitlines() if "id=e2_0" in line)
    assert edge.index("∂/∂a") < edge.index("-0.004023")
    svg = diagram.svg()
    assert ">∂/∂a = b = &#45;3<" in svg or ">∂/∂a = b = -3<" in svg
    assert "1 − tanh² = 0.001341" in svg
    book = draw(out, local=True, style="book").source
    assert "∂/∂a = b = -3" in book
    assert "∂/∂a" not in draw(out).source


def test_the_player_shows_local_derivatives_and_checks():
    out = neuron()
    steps = backward_steps(out, local=True, check=True)
    page = steps.html()
    assert "∂/∂x = 1 − tanh² = 0.001341" in page and "numeric &#45;0.004023" in page
    assert "the local derivative that an edge multiplies" in page
    assert "(∂#2/∂a = b)" in steps.caption(len(steps) - 1)
    plain = backward_steps(out).html()
    assert "∂/∂x" not in plain and "central differences" not in plain


# --- tree -----------------------------------------------------------------------------------
def test_tree_of_a_small_graph():
    x, y = square_plus()
    assert str(tree(y)) == "\n".join([
        "y = 12  (+)",
        "├── #1 = 9  (×)",
        "│   ├── x = 3",
        "│   └── x  (see above)",
        "└── x  (see above)",
    ])
    y.backward()
    t = tree(y)
    assert repr(t) == str(t) == "\n".join([
        "y = 12  grad 1  (+)",
        "├── #1 = 9  grad 1  (×)",
        "│   ├── x = 3  grad 7",
        "│   └── x  (see above)",
        "└── x  (see above)",
    ])
    assert t._repr_html_().startswith("<pre>y = 12")


def test_tree_writes_a_shared_subexpression_once_and_shows_constants():
    a = Value(2.0, label="a")
    shared = a * 3  # unlabelled, used twice
    out = shared.tanh() + shared
    assert str(tree(out)) == "\n".join([
        "#3 = 6.99  (+)",
        "├── #2 = 0.99  (tanh)",
        "│   └── #1 = 6  (×)",
        "│       ├── a = 2",
        "│       └── 3  (constant)",
        "└── #1  (see above)",
    ]).replace("6.99", _n(out.data)).replace("0.99", _n(shared.tanh().data))


def _n(x: float) -> str:
    from microgrid import format_number
    return format_number(x)


def test_tree_stays_the_size_of_the_graph():
    x, y = diamonds(40)  # 2^40 paths, 161 values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = tree(y)
    assert len(text.splitlines()) < 3 * len(topological_order(y))


# --- the command line -----------------------------------------------------------------------
def test_cli_explain(capsys):
    code, out, err = run_cli(capsys, "explain", "x*x + x", "x=3", "--wrt", "x")
    assert code == 0, err
    x, y = square_plus()
    assert out == str(explain(y, x)) + "\n"
    code, out, _ = run_cli(capsys, "explain", "-x*y", "x=3", "y=2", "--wrt", "x")
    assert code == 0 and out.startswith("df/dx = -2, the product of the local derivatives along "
                                        "the one path from x to f")
    code, _, err = run_cli(capsys, "explain", "x*2", "x=3", "z=1", "--wrt", "z")
    assert code == 2 and "variable 'z' is not used in the expression" in err
    code, _, err = run_cli(capsys, "explain", "x*2", "x=3", "--wrt", "q")
    assert code == 2 and "--wrt q: not a variable" in err
    code, _, err = run_cli(capsys, "explain", "x*", "x=3", "--wrt", "x")
    assert code == 2 and err.startswith("microgrid explain: ")


def test_cli_draw_text_local_and_check(capsys, tmp_path):
    code, out, err = run_cli(capsys, "draw", "x*x + x", "x=3", "--text")
    assert code == 0, err
    assert out.splitlines() == ["y = 12  grad 1  (+)", "├── #1 = 9  grad 1  (×)",
                                "│   ├── x = 3  grad 7", "│   └── x  (see above)",
                                "└── x  (see above)"]
    svg = tmp_path / "g.svg"
    page = tmp_path / "s.html"
    code, out, err = run_cli(capsys, "draw", "(a*b + c).tanh()", "a=2", "b=-3", "c=10",
                             "--local", "--check", "-o", str(svg), "--animate", str(page))
    assert code == 0, err
    text = svg.read_text()
    assert "∂/∂a = b = &#45;3" in text and "numeric &#45;0.004023" in text
    assert "1 − tanh²" in page.read_text()
    code, _, err = run_cli(capsys, "draw", "x*2", "x=1", "--check", "--no-grads")
    assert code == 2 and "--check compares gradients" in err


def test_html_of_an_explanation_without_paths():
    x, y = square_plus()
    page = explain(y, Value(1.0, label="z"))._repr_html_()
    assert page == ('<div class="microgrid-explanation"><p>dy/dz = 0: y does not depend on z '
                    '(no path leads from z to y), so a change in z does not change y.</p></div>')


def test_check_in_the_book_style_is_on_the_inputs_edges():
    a, out = wrong_neuron()
    out.backward()
    source = draw(out, check=True, style="book").source
    edge = next(line for line in source.splitlines() if "id=e2_0" in line)
    assert "≠ grad" in edge and WARN_COLOR in edge
    assert edge.index("≠ grad") < edge.rindex("0.006705")  # the gradient stays last


def test_every_operations_formula_on_the_drawing_agrees_with_the_number_on_its_edge():
    import html
    import re

    from microgrid import format_number
    from microgrid.core.formulas import with_number

    for v in every_operation():
        v.backward()
        source = draw(v, local=True).source
        i = len(topological_order(v)) - 1  # the node drawn last: the operation itself
        for k, operand in enumerate(v.operands):
            if not isinstance(operand, Value):
                continue
            edge = next(line for line in source.splitlines() if f"id=e{i}_{k}" in line)
            shown = re.search(rf'<font color="{LOCAL_COLOR}">(.*?)</font>', edge)
            assert shown is not None, (v.op, k)
            number = format_number(v.local_grads[[j for j, x in enumerate(v.operands)
                                                  if isinstance(x, Value)].index(k)])
            assert html.unescape(shown[1]) == with_number(local_formula(v, k), number), (v.op, k)
            # the rule's own value, evaluated, is the number on the edge
            assert format_number(formula_value(v, k)) == number, (v.op, k)


def test_check_replays_every_operation_from_its_rule_a_users_function_too():
    from microgrid import Function, maximum

    class MulLayer(Function):
        name = "mul layer (check)"

        def forward(self, a, b):
            return a * b

        def derivatives(self, a, b, out):
            return b, a

    x, w = Value(0.5, "x"), Value(2.0, "w")
    y = (MulLayer()(x.sin(), w) + maximum(x, w).cos() + x.clamp(0, 1) + abs(x)
         + x.leaky_relu() + (x ** w).log())
    y.backward()
    checks = check_leaves(y, lambda v: v.grad)
    for leaf in (x, w):
        assert checks[leaf].numeric == pytest.approx(leaf.grad, rel=1e-6), leaf.label
        assert checks[leaf].ok
    assert "cannot replay" not in draw(y, check=True).source
