"""Issue 27: the same network in PyTorch. `to_torch()` and `from_torch()` keep every parameter
bit for bit, compute the same forward and the same gradients, refuse a module of another
shape by naming the part, and, without PyTorch, say what to install."""

import math
import random
import sys

import pytest

from microgrid import Value, nn
from microgrid.nn.modules import Module


def _torch():
    return pytest.importorskip("torch", reason="the PyTorch bridge: pip install torch")


def _bits(model):
    return {name: x.hex() for name, x in model.state_dict().items()}


MODELS = [
    lambda: nn.MLP(2, [16, 16, 1], activation="relu", seed=0),
    lambda: nn.MLP(3, [4, 2], activation="tanh", output_activation="sigmoid", seed=1),
    lambda: nn.MLP(1, [5, 5, 5, 3], activation="sigmoid", output_activation="tanh", seed=2),
    lambda: nn.MLP(2, [3, 1], activation="linear", seed=3),
    lambda: nn.MLP(4, [2], output_activation="relu", seed=4),
]


@pytest.mark.parametrize("make", MODELS)
def test_round_trip_keeps_every_parameter_bit_for_bit(make):
    torch = _torch()
    model = make()
    net = model.to_torch()
    assert isinstance(net, torch.nn.Sequential)
    assert all(p.dtype == torch.float64 and p.requires_grad for p in net.parameters())
    back = nn.MLP.from_torch(net)
    assert repr(back) == repr(model) and _bits(back) == _bits(model)
    assert [layer.neurons[0].activation for layer in back.layers] == \
        [layer.neurons[0].activation for layer in model.layers]
    # and each parameter is at the place torch_names() gives, bit for bit
    tensors = net.state_dict()
    for label, place in model.torch_names().items():
        name, _, index = place.partition("[")
        entry = tensors[name][tuple(int(i) for i in index.rstrip("]").split(", "))]
        assert entry.item().hex() == model.state_dict()[label].hex()
    assert len(model.torch_names()) == len(model.parameters()) == sum(
        p.numel() for p in net.parameters())


def test_the_sequential_is_what_a_pytorch_user_writes():
    torch = _torch()
    net = nn.MLP(2, [16, 16, 1], activation="relu", seed=0).to_torch()
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear,
                                      torch.nn.ReLU, torch.nn.Linear]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                      "4.bias"]
    assert nn.MLP(2, [3, 1], seed=0).torch_names()["w[2]_0_2"] == "2.weight[0, 2]"
    assert nn.MLP(2, [3, 1], activation="linear", seed=0).torch_names()["b[2]_0"] == "1.bias[0]"


def test_a_pytorch_network_comes_back_bit_for_bit():
    torch = _torch()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2),
                              torch.nn.Identity())  # float32: float64 holds it exactly
    model = nn.MLP.from_torch(net)
    assert repr(model) == "MLP(3, [5, 2])"
    again = model.to_torch()
    for (name, a), (name2, b) in zip(net.state_dict().items(), again.state_dict().items(),
                                     strict=True):
        assert name == name2 and torch.equal(a.double(), b)
    single = nn.MLP.from_torch(torch.nn.Linear(2, 1))  # a Linear alone is a linear MLP
    assert repr(single) == "MLP(2, [1])"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("make", MODELS)
def test_forward_and_gradients_agree_on_random_inputs(make, seed):
    torch = _torch()
    model = make()
    net = model.to_torch()
    rng = random.Random(seed)
    points = [[rng.uniform(-3, 3) for _ in range(model.nin)] for _ in range(7)]
    targets = [[rng.uniform(-1, 1) for _ in range(model.layers[-1].nout)] for _ in points]
    outputs = [model.outputs(p) for p in points]
    out_t = net(torch.tensor(points, dtype=torch.float64))
    for row, row_t in zip(outputs, out_t.tolist(), strict=True):
        assert [v.data for v in row] == pytest.approx(row_t, rel=1e-12, abs=1e-12)
    # the same loss: the mean of the squared errors
    terms = [(o - t) ** 2 for row, trow in zip(outputs, targets, strict=True)
             for o, t in zip(row, trow, strict=True)]
    loss = sum(terms[1:], terms[0]) * (1.0 / len(terms))
    loss.backward()
    loss_t = ((out_t - torch.tensor(targets, dtype=torch.float64)) ** 2).mean()
    loss_t.backward()
    assert loss.data == pytest.approx(loss_t.item(), rel=1e-12)
    grads = {name: p.grad for name, p in net.named_parameters()}
    params = dict(model.named_parameters())
    for label, place in model.torch_names().items():
        name, _, index = place.partition("[")
        g = grads[name][tuple(int(i) for i in index.rstrip("]").split(", "))].item()
        assert params[label].grad == pytest.approx(g, rel=1e-10, abs=1e-12), label


def test_layer_and_neuron_go_both_ways():
    torch = _torch()
    layer = nn.Layer(3, 4, activation="sigmoid", seed=0)
    net = layer.to_torch()
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Sigmoid]
    x = [0.5, -1.0, 2.0]
    assert [v.data for v in layer(x)] == pytest.approx(
        net(torch.tensor(x, dtype=torch.float64)).tolist(), rel=1e-14)
    back = nn.Layer.from_torch(net)
    assert repr(back) == repr(layer) and _bits(back) == _bits(layer)
    neuron = nn.Neuron(2, activation="relu", seed=1)
    back_n = nn.Neuron.from_torch(neuron.to_torch())
    assert repr(back_n) == repr(neuron) and _bits(back_n) == _bits(neuron)
    assert neuron.torch_names() == {"w[1]_0_0": "0.weight[0, 0]", "w[1]_0_1": "0.weight[0, 1]",
                                    "b[1]_0": "0.bias[0]"}


def _refusals(torch):
    L, T, R = torch.nn.Linear, torch.nn.Tanh, torch.nn.ReLU
    S = torch.nn.Sequential
    return [
        (nn.MLP, S(L(2, 3), T(), L(4, 1)),
         r"^MLP\.from_torch: module 2 of the Sequential, Linear\(4, 1\), takes 4 inputs, but the "
         r"layer before it has 3 outputs$"),
        (nn.MLP, S(L(2, 3), torch.nn.Dropout(0.5), L(3, 1)),
         r"^MLP\.from_torch: module 1 of the Sequential, Dropout\(p=0\.5, inplace=False\), is "
         r"neither a Linear layer nor Tanh, ReLU, Sigmoid or Identity; microgrid's MLP is a "
         r"Sequential of Linear layers"),
        (nn.MLP, torch.nn.Conv2d(1, 1, 3), r"^MLP\.from_torch: Conv2d\(.*\) is neither a Linear"),
        (nn.MLP, S(L(2, 3), T(), T()),
         r"module 2 of the Sequential, Tanh\(\), does not follow a Linear layer"),
        (nn.MLP, S(T(), L(2, 1)), r"module 0 of the Sequential, Tanh\(\), does not follow"),
        (nn.MLP, S(L(2, 3), T(), L(3, 3), R(), L(3, 1)),
         r"^MLP\.from_torch: the hidden layers of Sequential\(Linear\(2, 3\), Tanh\(\), "
         r"Linear\(3, 3\), ReLU\(\), Linear\(3, 1\)\) use the activations relu, tanh; an MLP's "
         r"hidden layers share one$"),
        (nn.MLP, L(2, 3, bias=False),
         r"^MLP\.from_torch: Linear\(2, 3, bias=False\) has no bias; microgrid's neurons"),
        (nn.MLP, S(torch.nn.LeakyReLU()), r"LeakyReLU\(negative_slope=0\.01\), is neither"),
        (nn.MLP, S(), r"^MLP\.from_torch: Sequential\(\) has no Linear layer"),
        (nn.Layer, S(L(2, 3), T(), L(3, 1)),
         r"^Layer\.from_torch: Sequential\(Linear\(2, 3\), Tanh\(\), Linear\(3, 1\)\) has 2 "
         r"Linear layers; a Layer is one Linear \(use MLP\.from_torch for more\)$"),
        (nn.Neuron, L(2, 3),
         r"^Neuron\.from_torch: Linear\(2, 3\) has 3 outputs; a Neuron has one \(use "
         r"Layer\.from_torch for more\)$"),
    ]


def test_a_module_of_another_shape_is_refused_by_naming_the_part():
    torch = _torch()
    for cls, module, message in _refusals(torch):
        with pytest.raises(ValueError, match=message) as info:
            cls.from_torch(module)
        assert "\n" not in str(info.value)
    for bad in (3, [torch.nn.Linear(2, 1)], nn.MLP(2, [1], seed=0)):
        with pytest.raises(TypeError, match=r"^MLP\.from_torch: expected a torch\.nn\.Module"):
            nn.MLP.from_torch(bad)


def test_a_weight_that_is_not_finite_is_named():
    torch = _torch()
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with torch.no_grad():
        net[2].weight[0, 1] = math.nan
    with pytest.raises(ValueError, match=r"^MLP\.from_torch: weight\[0, 1\] of module 2 of the "
                                         r"Sequential, Linear\(3, 1\), is nan, not a finite"):
        nn.MLP.from_torch(net)


def test_to_torch_names_a_data_set_by_hand_and_a_module_it_does_not_know():
    _torch()
    model = nn.MLP(2, [1], seed=0)
    model.parameters()[0].data = "0.5"
    with pytest.raises(TypeError, match=r"^to_torch: the data of .*'w\[1\]_0_0'.* is str"):
        model.to_torch()

    class Mine(Module):
        def named_parameters(self):
            return [("w", Value(1.0, "w"))]

    with pytest.raises(TypeError, match=r"^to_torch: Mine has no PyTorch counterpart: to_torch "
                                        r"knows Neuron, Layer and MLP$"):
        Mine().to_torch()


def test_without_pytorch_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    model = nn.MLP(2, [3, 1], seed=0)
    message = (r"^to_torch needs PyTorch, which is not installed: pip install torch \(in the "
               r"clone: pip install -e \"\.\[torch\]\"\)")
    with pytest.raises(ImportError, match=message):
        model.to_torch()
    with pytest.raises(ImportError, match=r"^MLP\.from_torch needs PyTorch"):
        nn.MLP.from_torch(object())
    assert model.torch_names()["b[2]_0"] == "2.bias[0]"  # the names need no PyTorch
