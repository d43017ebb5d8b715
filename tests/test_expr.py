"""The expression parser of `microgrid draw`: where syntax errors are, constant folding."""

from __future__ import annotations

import math
import re

import pytest
from test_cli import run

from microgrid import topological_order
from microgrid.cli.expr import ExpressionError, parse


@pytest.mark.parametrize("expression, where", [
    ("a+", "at the end of the expression"),  # Python says column 0 for these
    ("a*", "at the end of the expression"),
    ("a.", "at the end of the expression"),
    ("  a +  ", "at the end of the expression"),
    ("tanh(a", "at column 5"),  # the '(' never closed
    ("a a", "at column 3"),
    ("a +* a", "at column 4"),
    ("a)", "at column 2"),
    ("a +\na", "at the end of line 1"),
    ("a\n* a", "at column 1 of line 2"),
])
def test_syntax_errors_say_where(capsys, tmp_path, expression, where):
    code, out, err = run(capsys, "draw", expression, "a=1", "-o", str(tmp_path / "g.svg"))
    assert code == 2 and out == ""
    assert err.startswith(f"microgrid draw: syntax error {where}: "), err
    assert "column 0" not in err and err.count("\n") == 1


@pytest.mark.parametrize("expression", ["2*3", "exp(1)", "log(2) + 1", "tanh(2*3).exp()",
                                        "2 ** -sigmoid(0)"])
def test_an_expression_without_variables_is_refused_alike(capsys, tmp_path, expression):
    out_file = tmp_path / "g.svg"
    code, out, err = run(capsys, "draw", expression, "-o", str(out_file))
    assert code == 2 and not out_file.exists()
    assert err == ("microgrid draw: the expression uses no variable: there is no graph to draw "
                   "(give it a variable, e.g. 'x * 2' x=3)\n")


def test_constant_calls_fold_like_constant_arithmetic(capsys):
    # exp(1) is a constant operand, as 2*3 is: no unlabelled leaf, no operation of its own
    for expression, constant in [("x * exp(0)", 1.0), ("x * (2 - 1)", 1.0),
                                 ("x * sqrt(4).log().exp()", 2.0)]:
        y = parse(expression, {"x": 3.0})
        assert y.op == "*" and y.operands[1] == pytest.approx(constant), expression
        assert [v.label for v in y.parents] == ["x"]
    code, out, err = run(capsys, "draw", "x * exp(0)", "x=3")
    assert code == 0, err
    assert "exp" not in out and "c1_1" in out and "style=dashed" in out  # a dashed constant
    with pytest.raises(ExpressionError, match=r"log\(-1.0\) is undefined"):
        parse("x + log(-1)", {"x": 1.0})  # folding keeps the engine's checks and messages
    with pytest.raises(ExpressionError, match="exp.*overflows"):
        parse("x * exp(1000)", {"x": 1.0})


def test_sin_cos_and_abs_are_allowed():
    y = parse("abs(sin(x)) + x.cos()", {"x": -1.0})
    assert y.op == "+" and [p.op for p in y.parents] == ["abs", "cos"]
    assert y.data == pytest.approx(abs(math.sin(-1.0)) + math.cos(-1.0))


def test_maximum_and_minimum_take_two_arguments():
    y = parse("maximum(x, 2) + minimum(x * x, y)", {"x": 3.0, "y": 4.0})
    assert [p.op for p in y.parents] == ["maximum", "minimum"]
    assert y.data == 3.0 + 4.0
    assert parse("x * maximum(1, 2)", {"x": 1.0}).operands[1] == 2.0  # folded, as 2*3 is
    with pytest.raises(ExpressionError, match="maximum takes two arguments"):
        parse("maximum(x)", {"x": 1.0})
    with pytest.raises(ExpressionError, match="'minimum' without a call"):
        parse("x + minimum", {"x": 1.0})


def test_clamp_and_leaky_relu_take_constant_settings():
    y = parse("clamp(a, 0, 1) + a.leaky_relu(0.1) + leaky_relu(b)", {"a": 2.0, "b": -3.0})
    y.backward()
    leaves = {v.label: v for v in topological_order(y) if v.is_leaf}
    assert y.data == 1.0 + 2.0 + -0.03
    assert leaves["a"].grad == 0.0 + 1.0  # clamped at 1 (outside), leaky_relu' = 1
    assert leaves["b"].grad == 0.01
    assert parse("clamp(5, 0, 1) * a", {"a": 2.0}).data == 2.0  # a constant is folded
    for bad, message in [("clamp(a, 0)", "clamp(x, low, high) is allowed"),
                         ("clamp(a, b, 1)", "a variable as a setting of clamp"),
                         ("leaky_relu(a, 1, 2)", "leaky_relu(x) or leaky_relu(x, slope) is")]:
        with pytest.raises(ExpressionError, match=re.escape(message)):
            parse(bad, {"a": 2.0, "b": 1.0})
