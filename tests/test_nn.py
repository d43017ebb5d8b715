import copy
import math
import pickle
import random
import re

import pytest

from microgrid import Value, gradcheck, losses, nn, optim


def test_neuron_computes_activation_of_weighted_sum():
    n = nn.Neuron(3, activation="tanh", seed=1)
    x = [0.5, -1.0, 2.0]
    out = n(x)
    z = sum(w.data * xi for w, xi in zip(n.w, x, strict=True)) + n.b.data
    assert out.data == pytest.approx(math.tanh(z), abs=1e-15)
    assert out.label == "a[1]_0"


@pytest.mark.parametrize("activation, f", [
    ("tanh", math.tanh), ("relu", lambda z: max(0.0, z)),
    ("sigmoid", lambda z: 1 / (1 + math.exp(-z))), ("linear", lambda z: z)])
def test_every_activation(activation, f):
    n = nn.Neuron(2, activation=activation, seed=3)
    x = [0.3, -0.8]
    z = n.w[0].data * x[0] + n.w[1].data * x[1] + n.b.data
    assert n(x).data == pytest.approx(f(z), abs=1e-15)


def test_labels_follow_andrew_ngs_notation():
    model = nn.MLP(3, [4, 2], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["w[1]_0_0", "w[1]_0_1", "w[1]_0_2", "b[1]_0"]
    assert "w[2]_1_3" in names and names[-1] == "b[2]_1"
    assert len(names) == len(set(names)) == 4 * 3 + 4 + 2 * 4 + 2
    assert [p.label for p in model.parameters()] == names


def test_mlp_shapes_and_output_activation():
    x = [1.0, -2.0]
    single = nn.MLP(2, [3, 1], seed=0)(x)
    assert isinstance(single, Value) and single.label == "z[2]_0"  # linear output
    many = nn.MLP(2, [3, 2], output_activation="sigmoid", seed=0)(x)
    assert isinstance(many, list) and [v.label for v in many] == ["a[2]_0", "a[2]_1"]
    assert all(0 < v.data < 1 for v in many)


def test_hidden_layers_use_activation_and_output_layer_output_activation():
    model = nn.MLP(2, [3, 3, 1], activation="relu", output_activation="sigmoid")
    assert [n.activation for layer in model.layers for n in layer.neurons] == \
        ["relu"] * 6 + ["sigmoid"]


def test_same_seed_gives_identical_model_and_other_seeds_differ():
    def weights(seed):
        return [(name, p.data) for name, p in nn.MLP(2, [8, 8, 1], seed=seed).named_parameters()]
    assert weights(7) == weights(7)
    assert weights(7) != weights(8)
    rng = random.Random(7)
    assert [p.data for p in nn.MLP(2, [8, 8, 1], seed=rng).parameters()] == \
        [d for _, d in weights(7)]


def test_init_uses_no_global_random_state():
    random.seed(0)
    before = random.random()
    random.seed(0)
    nn.MLP(2, [4, 1], seed=1)
    assert random.random() == before


def test_init_is_uniform_within_one_over_sqrt_nin():
    model = nn.Layer(16, 32, seed=0)
    assert all(abs(p.data) <= 0.25 for p in model.parameters())


def ks_uniform(xs: list[float], k: float) -> float:
    """The Kolmogorov-Smirnov distance of `xs` from the uniform distribution on [-k, k]."""
    xs = sorted(xs)
    n = len(xs)
    cdf = [(x + k) / (2 * k) for x in xs]
    return max(max((i + 1) / n - c, c - i / n) for i, c in enumerate(cdf))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_init_spread_is_pytorchs_uniform_one_over_sqrt_nin(seed):
    """Each layer's weights, and its biases, are spread as U(-1/sqrt(nin), 1/sqrt(nin)), nin the
    layer's own: the distribution (Kolmogorov-Smirnov at the 0.1% level), its standard
    deviation k/sqrt(3) and its range; not only within the bound (x 0.05 would be)."""
    model = nn.MLP(50, [200, 40, 1], seed=seed)
    for layer, nin in zip(model.layers, [50, 200, 40], strict=True):
        k = 1 / math.sqrt(nin)
        weights = [w.data for n in layer.neurons for w in n.w]
        biases = [n.b.data for n in layer.neurons]
        for xs in (weights, biases) if len(biases) > 1 else (weights,):
            assert all(-k <= x <= k for x in xs)
            assert ks_uniform(xs, k) < 1.95 / math.sqrt(len(xs))
        std = math.sqrt(sum(x * x for x in weights) / len(weights))
        assert std == pytest.approx(k / math.sqrt(3), rel=5 * 0.9 / math.sqrt(len(weights)))
        assert max(map(abs, weights)) > 0.95 * k


def test_zero_grad_clears_every_parameter_gradient():
    model = nn.MLP(2, [4, 1], seed=0)
    out = model([1.0, 2.0])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_mlp_gradients_agree_with_finite_differences():
    model = nn.MLP(2, [3, 2, 1], activation="tanh", output_activation="sigmoid", seed=4)
    neurons = [n for layer in model.layers for n in layer.neurons]

    def f(*ws):  # the model, with the Values ws in place of its parameters
        it = iter(ws)
        for n in neurons:
            n.w = [next(it) for _ in n.w]
            n.b = next(it)
        return model([0.5, -1.5])

    rows = gradcheck(f, [p.data for p in model.parameters()])
    assert len(rows) == 3 * 3 + 2 * 4 + 3
    assert all(r.analytic != 0 for r in rows)


def test_module_call_with_wrong_input_length_names_the_argument():
    with pytest.raises(ValueError, match=r"x: .*expects 3 inputs, got 2"):
        nn.Neuron(3)([1.0, 2.0])
    with pytest.raises(ValueError, match=r"x: Layer 1 expects 2 inputs, got 3"):
        nn.Layer(2, 4)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"x: MLP expects 2 inputs, got 1"):
        nn.MLP(2, [4, 1])([1.0])


@pytest.mark.parametrize("call, message", [
    (lambda: nn.MLP(2, [3, 1])(1.0), "x: MLP expects a list of 2 inputs, got float 1.0"),
    (lambda: nn.MLP(2, [3, 1])(Value(1.0)), "x: MLP expects a list of 2 inputs, got Value"),
    (lambda: nn.Layer(2, 3)(None), "x: Layer 1 expects a list of 2 inputs, got NoneType None"),
    (lambda: nn.Neuron(2)("ab"), "x: Neuron of layer 1 expects a list of 2 inputs, got str"),
])
def test_module_call_with_a_non_list_says_so(call, message):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}"):
        call()


def test_input_is_checked_once_per_call_not_in_every_neuron(monkeypatch):
    calls = []
    from microgrid.nn import modules

    check = modules._check_input
    monkeypatch.setattr(modules, "_check_input", lambda *a: calls.append(a[2]) or check(*a))
    nn.MLP(2, [4, 4, 1], seed=0)([1.0, 2.0])
    assert calls == ["MLP"]
    calls.clear()
    nn.Layer(2, 4)([1.0, 2.0])
    assert calls == ["Layer 1"]


def test_output_and_outputs_are_the_calls_result_with_one_type():
    x = [1.0, -2.0]
    one, two = nn.MLP(2, [3, 1], seed=0), nn.MLP(2, [3, 2], seed=0)
    assert one.output(x).data == one(x).data  # type: ignore[union-attr]
    assert [v.data for v in one.outputs(x)] == [one.output(x).data]
    assert [v.data for v in two.outputs(x)] == [v.data for v in two(x)]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"^MLP.output: the last layer has 2 outputs"):
        two.output(x)


def test_unknown_activation_names_the_argument():
    with pytest.raises(ValueError, match=r"activation: unknown activation 'softplus'.*tanh"):
        nn.Neuron(2, activation="softplus")
    with pytest.raises(ValueError, match=r"^activation: unknown"):
        nn.MLP(2, [3, 1], activation="gelu")
    with pytest.raises(ValueError, match=r"^output_activation: unknown"):
        nn.MLP(2, [3, 1], output_activation="softmax")


@pytest.mark.parametrize("make, argument", [
    (lambda: nn.Neuron(0), "nin"), (lambda: nn.Layer(2, 0), "nout"),
    (lambda: nn.MLP(2, []), "sizes"), (lambda: nn.MLP(2, [3, -1]), "sizes"),
    (lambda: nn.MLP(2.5, [3]), "nin")])
def test_bad_sizes_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        make()


# --- issue 14: state_dict, pickle, deepcopy, seeding ---------------------------------------
MODULES = {
    "neuron": lambda: nn.Neuron(3, "relu", seed=1),
    "layer": lambda: nn.Layer(3, 2, "sigmoid", seed=1),
    "mlp": lambda: nn.MLP(3, [4, 2], activation="tanh", output_activation="linear", seed=1),
    "mlp-one": lambda: nn.MLP(3, [4, 1], activation="relu", seed=1),
}
X = [0.5, -1.0, 2.0]


def outputs(module):
    out = module(X)
    return [v.data for v in out] if isinstance(out, list) else [out.data]


@pytest.mark.parametrize("make", MODULES.values(), ids=MODULES)
def test_state_dict_maps_labels_to_floats(make):
    module = make()
    state = module.state_dict()
    assert list(state) == [name for name, _ in module.named_parameters()]
    assert all(type(v) is float for v in state.values())
    assert state == {name: p.data for name, p in module.named_parameters()}


@pytest.mark.parametrize("make", MODULES.values(), ids=MODULES)
def test_load_state_dict_round_trips(make):
    source, target = make(), make()
    for p in target.parameters():
        p.data = 0.0
    target.load_state_dict(source.state_dict())
    assert target.state_dict() == source.state_dict()
    assert outputs(target) == outputs(source)


def test_load_state_dict_errors_name_the_entries_and_change_nothing():
    model = nn.MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    missing = dict(before)
    del missing["w[1]_0_1"]
    with pytest.raises(RuntimeError, match=r"^load_state_dict: missing keys \['w\[1\]_0_1'\]"):
        model.load_state_dict(missing)
    with pytest.raises(RuntimeError, match=r"^load_state_dict: unexpected keys \['w\[9\]_0_0'\]"):
        model.load_state_dict({**before, "w[9]_0_0": 1.0})
    for bad in (math.nan, math.inf, 10**400, "1.0", None):
        with pytest.raises((ValueError, TypeError), match=r"'b\[2\]_0'"):
            model.load_state_dict({**before, "b[2]_0": bad})
    assert model.state_dict() == before


def test_load_state_dict_strict_false_loads_what_matches():
    model = nn.MLP(2, [2, 1], seed=0)
    result = model.load_state_dict({"b[2]_0": 5.0, "extra": 1.0}, strict=False)
    assert model.state_dict()["b[2]_0"] == 5.0
    assert result.unexpected_keys == ["extra"] and "w[1]_0_0" in result.missing_keys


@pytest.mark.parametrize("make", MODULES.values(), ids=MODULES)
@pytest.mark.parametrize("clone", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy_round_trip_every_module(make, clone):
    module = make()
    twin = clone(module)
    assert twin.state_dict() == module.state_dict()
    assert outputs(twin) == outputs(module)
    assert repr(twin) == repr(module)
    twin.parameters()[0].data += 1.0  # a copy, not the same parameters
    assert twin.state_dict() != module.state_dict()


def test_a_pickled_model_trains_like_the_original():
    model = nn.MLP(2, [3, 1], seed=0)
    twin = pickle.loads(pickle.dumps(model))
    for m in (model, twin):
        opt = optim.SGD(m.parameters(), lr=0.1)
        loss = losses.mse(m([1.0, 2.0]), 1.0)
        loss.backward()
        opt.step()
    assert twin.state_dict() == model.state_dict()


def test_linear_activation_pickles():
    assert pickle.loads(pickle.dumps(nn.ACTIVATIONS["linear"]))(Value(2.0)).data == 2.0


# --- seeding --------------------------------------------------------------------------------
def test_unseeded_models_differ():
    assert nn.MLP(2, [4, 1]).state_dict() != nn.MLP(2, [4, 1]).state_dict()


def test_random_seed_makes_unseeded_models_reproducible():
    random.seed(0)
    first = nn.MLP(2, [4, 1]).state_dict()
    random.seed(0)
    assert nn.MLP(2, [4, 1]).state_dict() == first
    random.seed(5)
    layer = nn.Layer(2, 3).state_dict()
    random.seed(5)
    assert nn.Layer(2, 3, seed=None).state_dict() == layer


def test_an_explicit_seed_still_fixes_one_model_and_uses_no_global_state():
    random.seed(1)
    before = random.random()
    random.seed(1)
    a = nn.MLP(2, [4, 1], seed=3).state_dict()
    assert random.random() == before
    assert nn.MLP(2, [4, 1], seed=3).state_dict() == a


def test_state_dict_refuses_two_parameters_with_one_label():
    class Two(nn.Module):
        def __init__(self):
            self.a, self.b = nn.Layer(2, 1, seed=0), nn.Layer(2, 1, seed=1)  # both layer 1

        def named_parameters(self):
            return self.a.named_parameters() + self.b.named_parameters()

    with pytest.raises(ValueError, match=r"^state_dict: .*\['b\[1\]_0', 'w\[1\]_0_0'"):
        Two().state_dict()


@pytest.mark.parametrize("seed", ["0", 1.5, True])
def test_a_bad_seed_is_named(seed):
    with pytest.raises(TypeError, match=r"^seed: expected an int, a random.Random or None"):
        nn.MLP(2, [1], seed=seed)


def test_numpy_integers_are_sizes_and_seeds():
    import numpy as np

    model = nn.MLP(np.int64(2), np.array([3, 1]), seed=np.int64(4))
    assert model.state_dict() == nn.MLP(2, [3, 1], seed=4).state_dict()
    assert nn.Neuron(np.int64(2), seed=0).nin == 2


def test_state_dict_names_a_parameter_whose_data_was_set_by_hand():
    model = nn.MLP(2, [1], seed=0)
    model.parameters()[1].data = "0.5"
    with pytest.raises(TypeError, match=r"^state_dict: the data of .*'w\[1\]_0_1'.* is str '0.5'"):
        model.state_dict()


def test_state_dict_does_not_need_gradients():
    model = nn.MLP(2, [1], seed=0)
    for p in model.parameters():
        p.grad = None  # a PyTorch habit (zero_grad(set_to_none=True)); state_dict reads no grad
    assert len(model.state_dict()) == 3
