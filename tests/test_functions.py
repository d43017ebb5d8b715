import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import Function, Value, dot, draw, grad, gradcheck, maximum, minimum, no_grad
from microgrid.core.autograd import local_derivatives
from microgrid.core.functions import SYMBOLS, rule


def grad_of(f, *xs):
    leaves = [Value(x) for x in xs]
    f(*leaves).backward()
    return [v.grad for v in leaves]


POINTS = [-2.5, -0.7, 0.3, 1.0, 3.2]


# --- the new operations against their formulas ---------------------------------------------
@pytest.mark.parametrize("a", POINTS)
def test_sin_cos_abs(a):
    assert Value(a).sin().data == math.sin(a) and Value(a).cos().data == math.cos(a)
    assert grad_of(lambda x: x.sin(), a) == [math.cos(a)]
    assert grad_of(lambda x: x.cos(), a) == [-math.sin(a)]
    assert abs(Value(a)).data == Value(a).abs().data == abs(a)
    assert grad_of(lambda x: abs(x), a) == [math.copysign(1.0, a)]


@pytest.mark.parametrize("a", POINTS)
@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu(a, slope):
    assert Value(a).leaky_relu(slope).data == (a if a > 0 else slope * a)
    assert grad_of(lambda x: x.leaky_relu(slope), a) == [1.0 if a > 0 else slope]
    assert Value(-2.0).leaky_relu().data == -0.02  # the default slope, PyTorch's


@pytest.mark.parametrize("a", POINTS)
def test_clamp(a):
    assert Value(a).clamp(-1.0, 1.0).data == min(max(a, -1.0), 1.0)
    assert grad_of(lambda x: x.clamp(-1.0, 1.0), a) == [1.0 if -1 <= a <= 1 else 0.0]


@pytest.mark.parametrize(("a", "b"), [(1.0, 2.0), (2.0, 1.0), (-3.0, 0.5)])
def test_maximum_minimum_in_both_operand_orders(a, b):
    hi, lo = (1.0, 0.0) if a > b else (0.0, 1.0)
    assert maximum(Value(a), Value(b)).data == max(a, b)
    assert minimum(Value(a), Value(b)).data == min(a, b)
    assert grad_of(maximum, a, b) == [hi, lo]
    assert grad_of(minimum, a, b) == [lo, hi]
    # with a constant on either side: only the Value gets a gradient
    assert grad_of(lambda x: maximum(x, b), a) == [hi]
    assert grad_of(lambda y: maximum(a, y), b) == [lo]
    assert grad_of(lambda y: minimum(a, y), b) == [hi]


def test_maximum_is_one_node_with_both_operands():
    x, y = Value(1.0), Value(2.0)
    m = maximum(x, y)
    assert m.op == "maximum" and m.parents == (x, y) and m.local_grads == (0.0, 1.0)
    assert max(x, y) is y  # builtin max: one of the operands, no node


# --- conventions at ties and kinks (PyTorch's), documented in microgrid.core.functions -----------
def test_conventions_at_the_kinks():
    assert grad_of(lambda x: x.relu(), 0.0) == [0.0]
    assert grad_of(lambda x: x.leaky_relu(0.1), 0.0) == [0.1]
    assert grad_of(lambda x: abs(x), 0.0) == [0.0]
    assert grad_of(lambda x: x.clamp(-1.0, 1.0), -1.0) == [1.0]  # bounds count as inside
    assert grad_of(lambda x: x.clamp(-1.0, 1.0), 1.0) == [1.0]
    assert grad_of(maximum, 2.0, 2.0) == [0.5, 0.5]  # a tie splits the gradient
    assert grad_of(minimum, 2.0, 2.0) == [0.5, 0.5]
    x = Value(3.0)
    maximum(x, x).backward()  # both halves reach the same value
    assert x.grad == 1.0


def test_detach_is_a_leaf_with_the_same_data():
    x = Value(2.0)
    y = x * x
    d = y.detach()
    assert d.data == 4.0 and d.is_leaf and d is not y
    z = d * x  # x's gradient through d is cut: dz/dx = d = 4, not 3x^2
    z.backward()
    assert x.grad == 4.0 and d.grad == 2.0


# --- bad input: clear errors, never NaN ----------------------------------------------------
def test_bad_input_fails_clearly():
    with pytest.raises(TypeError, match="leaky_relu slope: expected a real number"):
        Value(1.0).leaky_relu("0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leaky_relu slope: expected a finite number"):
        Value(1.0).leaky_relu(math.nan)
    with pytest.raises(TypeError, match="leaky_relu: slope must be a number"):
        Value(1.0).leaky_relu(Value(0.1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clamp: low must be at most high"):
        Value(1.0).clamp(2.0, 1.0)
    with pytest.raises(TypeError, match="clamp: high must be a number .*maximum/minimum"):
        Value(1.0).clamp(0.0, Value(2.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clamp high: expected a finite number"):
        Value(1.0).clamp(0.0, math.inf)
    with pytest.raises(TypeError, match="maximum: expected a real number .*str"):
        maximum(Value(1.0), "2")
    with pytest.raises(ValueError, match="minimum: expected a finite number"):
        minimum(Value(1.0), math.nan)


def test_sin_of_a_huge_number_is_finite_and_overflow_is_named():
    assert math.isfinite(Value(1e300).sin().data)
    with pytest.raises(OverflowError, match=r"exp: exp\(1000.0\) overflows"):
        Value(1000.0).exp()


# --- the rules are the one place: every path reads them ------------------------------------
def test_symbols_come_from_the_rules():
    assert SYMBOLS["*"] == "×" and SYMBOLS["dot"] == "Σwx" and SYMBOLS["abs"] == "|x|"
    assert rule("tanh").name == "tanh"
    with pytest.raises(KeyError, match="no built-in operation named 'nope'"):
        rule("nope")


OPS = [
    ("+", lambda x, y: x + y), ("-", lambda x, y: x - y), ("*", lambda x, y: x * y),
    ("/", lambda x, y: x / y), ("**", lambda x, y: x ** y), ("neg", lambda x, y: -x),
    ("exp", lambda x, y: x.exp()), ("log", lambda x, y: x.log()),
    ("sqrt", lambda x, y: x.sqrt()), ("tanh", lambda x, y: x.tanh()),
    ("sigmoid", lambda x, y: x.sigmoid()), ("sin", lambda x, y: x.sin()),
    ("cos", lambda x, y: x.cos()), ("relu", lambda x, y: x.relu()),
    ("abs", lambda x, y: abs(x)), ("leaky_relu", lambda x, y: x.leaky_relu(0.2)),
    ("clamp", lambda x, y: x.clamp(0.5, 1.5)), ("maximum", maximum), ("minimum", minimum),
    # with a constant on either side
    ("+", lambda x, y: x + 2.5), ("+", lambda x, y: 2.5 + x), ("-", lambda x, y: x - 2.5),
    ("-", lambda x, y: 2.5 - x), ("*", lambda x, y: x * 2.5), ("*", lambda x, y: 2.5 * x),
    ("/", lambda x, y: x / 2.5), ("/", lambda x, y: 2.5 / x), ("**", lambda x, y: x ** 3),
    ("**", lambda x, y: 2.5 ** x), ("maximum", lambda x, y: maximum(x, 1.0)),
    ("minimum", lambda x, y: minimum(1.0, x)), ("dot", lambda x, y: dot([x, y], [y, 2.0], x)),
]
SIGNED = {"+", "-", "*", "neg", "exp", "tanh", "sigmoid", "sin", "cos", "relu", "abs",
          "leaky_relu", "clamp", "maximum", "minimum", "dot"}  # defined for negative operands


@pytest.mark.parametrize(("name", "f"), OPS, ids=[n for n, _ in OPS])
@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.1, 3.0), b=st.floats(0.1, 3.0), negate=st.booleans())
def test_recorded_derivatives_are_the_rules_on_values(name, f, a, b, negate):
    """What backward() uses (floats recorded at forward time) equals the rule evaluated on the
    node's operands as Values (what grad(create_graph=True) uses). For * and relu, whose
    derivatives the engine writes out for speed, this is what keeps the two the same."""
    if negate and name in SIGNED:
        a, b = -a, -b
    y = f(Value(a), Value(b))
    assert y.op == name
    assert [float(d.data if isinstance(d, Value) else d) for d in local_derivatives(y)] == \
        pytest.approx(list(y.local_grads), rel=1e-12)


# --- a user-defined Function ----------------------------------------------------------------
class MulLayer(Function):
    """The book's MulLayer: x * y."""

    name = "mul layer"

    def forward(self, x, y):
        return x * y

    def derivatives(self, x, y, out):
        return y, x


class Cube(Function):
    def forward(self, x):
        return x ** 3

    def derivatives(self, x, out):
        return 3 * x * x


mul_layer = MulLayer()
cube = Cube()


def test_a_function_is_an_operation():
    x, y = Value(3.0), Value(4.0)
    z = mul_layer(x, y)
    assert z.data == 12.0 and z.op == "mul layer" and z.parents == (x, y)
    assert cube(x).op == "Cube"  # the class name by default
    z.backward()
    assert (x.grad, y.grad) == (4.0, 3.0)
    assert mul_layer(2, y).parents == (y,)  # a number is a constant
    with no_grad():
        assert mul_layer(x, y).is_leaf


def test_a_function_passes_gradcheck_and_can_be_used_twice():
    gradcheck(lambda a, b: mul_layer(mul_layer(a, b), a), [1.3, -0.7])
    gradcheck(lambda a: cube(a.sin()), [0.4])
    x = Value(1.5)
    y = mul_layer(x, x) + mul_layer(x, 2.0)
    y.backward()
    assert x.grad == 2 * 1.5 + 2.0


def test_a_function_under_create_graph():
    x = Value(1.5)
    (d1,) = grad(cube(x), [x], create_graph=True)
    (d2,) = grad(d1, [x], create_graph=True)
    (d3,) = grad(d2, [x])
    assert (d1.data, d2.data, d3.data) == pytest.approx((3 * 1.5**2, 6 * 1.5, 6.0))
    (dx, dy) = grad(mul_layer(x, x * x), [x, x], create_graph=True)
    assert dx.data == dy.data == pytest.approx(3 * 1.5**2)


def test_a_function_is_drawn_with_its_own_name():
    x, y = Value(3.0, "x"), Value(4.0, "y")
    source = draw(mul_layer(x, y)).source
    assert "mul layer" in source
    assert SYMBOLS["mul layer"] == "mul layer"


def test_wrong_uses_of_function_fail_at_the_first_call():
    class TooFew(Function):
        def forward(self, x, y):
            return x * y

        def derivatives(self, x, y, out):
            return (y,)

    with pytest.raises(ValueError, match="TooFew: derivatives returned 1 values for 2 operands"):
        TooFew()(Value(1.0), Value(2.0))

    class NotFinite(Function):
        def forward(self, x):
            return math.inf

        def derivatives(self, x, out):
            return 1.0

    with pytest.raises(OverflowError, match="NotFinite: result of NotFinite.* is inf"):
        NotFinite()(Value(1.0))

    class NanDerivative(Function):
        def forward(self, x):
            return x

        def derivatives(self, x, out):
            return math.nan

    with pytest.raises(ValueError, match="NanDerivative: derivative 0 is nan"):
        NanDerivative()(Value(1.0))

    class NoNumber(Function):
        def forward(self, x):
            return "1"

    with pytest.raises(TypeError, match="NoNumber: forward must return a number, got str"):
        NoNumber()(Value(1.0))

    with pytest.raises(ValueError, match="the name 'tanh' is a built-in operation's"):
        class MyTanh(Function):
            name = "tanh"

    class Again(Function):  # the same class defined twice (a notebook cell run again)
        def forward(self, x):
            return x

    class Again(Function):  # type: ignore[no-redef]  # noqa: F811
        def forward(self, x):
            return 2 * x

        def derivatives(self, x, out):
            return 2.0

    assert Again()(Value(1.0)).data == 2.0

    with pytest.raises(TypeError, match="expected a real number"):
        mul_layer(Value(1.0), "x")
    with pytest.raises(TypeError, match="needs at least one operand"):
        cube()


def test_two_functions_with_one_name_keep_their_own_rules():
    class Square(Function):
        name = "f"

        def forward(self, x):
            return x * x

        def derivatives(self, x, out):
            return 2 * x

    class Triple(Function):
        name = "f"

        def forward(self, x):
            return 3 * x

        def derivatives(self, x, out):
            return 3.0

    x = Value(2.0)
    y = Square()(x) + Triple()(x)
    assert [p.op for p in y.parents] == ["f", "f"]
    (g,) = grad(y, [x], create_graph=True)
    (g2,) = grad(g, [x])
    assert (g.data, g2.data) == (2 * 2.0 + 3.0, 2.0)
