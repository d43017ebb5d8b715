import math

import pytest

from microgrid import Value
from microgrid.teaching.layers import AddLayer, MulLayer, ReluLayer, SigmoidLayer


def test_apple_orange_numbers_from_the_layer_style_equal_those_from_value():
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    price = mul_tax.forward(add.forward(mul_apple.forward(100, 2),
                                        mul_orange.forward(150, 3)), 1.1)
    dall_price, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)

    apple, apple_num, orange, orange_num, tax = (Value(x) for x in (100, 2, 150, 3, 1.1))
    v_price = (apple * apple_num + orange * orange_num) * tax
    v_price.backward()

    assert price == v_price.data == pytest.approx(715)
    assert (dapple, dapple_num, dorange, dorange_num, dtax) == (
        apple.grad, apple_num.grad, orange.grad, orange_num.grad, tax.grad)
    assert (dapple, dapple_num, dorange, dorange_num, dtax) == pytest.approx(
        (2.2, 110, 3.3, 165, 650))


def test_apple_numbers_of_the_book():
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(100, 2), 1.1)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert int(price) == 220 and int(dapple_num) == 110 and dtax == 200
    assert dapple == pytest.approx(2.2)


@pytest.mark.parametrize("x", [-3.0, 0.0, 0.5, 40.0, -800.0])
def test_sigmoid_layer_equals_value(x):
    layer = SigmoidLayer()
    v = Value(x)
    out = v.sigmoid()
    out.backward(0.7)
    assert layer.forward(x) == pytest.approx(out.data, abs=1e-15)
    assert layer.backward(0.7) == pytest.approx(v.grad, abs=1e-15)
    assert math.isfinite(layer.out)


@pytest.mark.parametrize("x, out, grad", [(-2.0, 0.0, 0.0), (0.0, 0.0, 0.0), (3.0, 3.0, 0.7)])
def test_relu_layer(x, out, grad):
    layer = ReluLayer()
    assert layer.forward(x) == out
    assert layer.backward(0.7) == grad
    v = Value(x)
    v.relu().backward(0.7)
    assert v.grad == grad
