"""Neural networks on `Value`: `Module`, `Neuron`, `Layer` and `MLP`, in the style of PyTorch.

Parameters are labelled with the notation of Andrew Ng's deep learning course: the weight from
input ``j`` to neuron ``i`` of layer ``l`` is ``w[l]_i_j`` (the entry W^[l]_ij of the layer's
weight matrix) and that neuron's bias is ``b[l]_i``. A neuron's weighted sum is labelled
``z[l]_i`` and its activation ``a[l]_i``, so drawn graphs read like the formulas.

Each `Layer` is a group (see `microgrid.core.groups`) named ``layer l`` and each `Neuron` a group
inside it named after its output (``a[l]_i``, or ``z[l]_i`` for a linear one): the values a
neuron computes, and its parameters, belong to it, so that ``draw(loss, collapse=1)`` draws a
node per layer and ``collapse=2`` a node per neuron.

Initialisation follows PyTorch's `nn.Linear`: weights and biases uniform in ±1/sqrt(nin). As in
PyTorch, unseeded models differ: with ``seed=None`` (the default) the weights are drawn from a
generator seeded from Python's global `random`, so ``random.seed(0)`` makes a run reproducible;
``seed=`` an int (or a `random.Random`) fixes one model and leaves the global state alone.

`state_dict()` maps each parameter's label to its number and `load_state_dict(d)` loads one
back; modules pickle and `copy.deepcopy` like any Python object. `to_torch()` makes the same
network in PyTorch, and `MLP.from_torch(module)` (`Layer.from_torch`, `Neuron.from_torch`)
brings one back (`microgrid.nn.bridge`; PyTorch is optional).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, NamedTuple

from microgrid.core import groups
from microgrid.core.engine import Value, check_fields, dot
from microgrid.core.groups import Group
from microgrid.nn import bridge
from microgrid.nn.bridge import Dense

Input = Sequence[Value | float]


def identity(z: Value) -> Value:
    """The "linear" activation: `z` itself (a named function, unlike a lambda, pickles)."""
    return z


ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "tanh": Value.tanh,
    "relu": Value.relu,
    "sigmoid": Value.sigmoid,
    "linear": identity,
}


def _activation(name: str, argument: str = "activation") -> Callable[[Value], Value]:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument}: unknown activation {name!r}; "
                         f"choose one of {', '.join(ACTIVATIONS)}") from None


Seed = int | random.Random | None  # or a numpy integer


def _rng(seed: Seed) -> random.Random:
    if isinstance(seed, random.Random):
        return seed
    if seed is None:  # unseeded: from the global generator, which random.seed() fixes
        return random.Random(random.getrandbits(64))
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"seed: expected an int, a random.Random or None, got "
                        f"{type(seed).__name__} {seed!r}")
    return random.Random(int(seed))  # a numpy integer too


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(d, strict=False)` did not load, as PyTorch's result."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _check_input(x: Input, nin: int, who: str) -> None:
    """Raise unless `x` is a list (any sequence) of `nin` inputs; `who` names the module."""
    if isinstance(x, str | bytes) or not hasattr(x, "__len__"):
        raise TypeError(f"x: {who} expects a list of {nin} inputs, "
                        f"got {type(x).__name__} {x!r}")
    if len(x) != nin:
        raise ValueError(f"x: {who} expects {nin} inputs, got {len(x)}")


def _check_size(n: object, argument: str) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"{argument}: expected a positive int, got {n!r}")
    return int(n)  # a numpy integer too


class Module:
    """Base class: a module owns parameters and can reset their gradients."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter with its label, in a fixed order."""
        return []

    def parameters(self) -> list[Value]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def _named(self) -> dict[str, Value]:
        pairs = self.named_parameters()
        named = dict(pairs)
        if len(named) != len(pairs):
            names = [n for n, _ in pairs]
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"state_dict: two parameters share each of the labels {twice}; "
                             "give the layers different `layer=` numbers")
        return named

    def to_torch(self) -> Any:
        """The same network in PyTorch: a ``torch.nn.Sequential`` of ``Linear`` layers, each
        followed by its activation (``Tanh``, ``ReLU``, ``Sigmoid``; nothing for "linear"),
        holding this module's parameters in float64, bit for bit. It computes on tensors: a
        batch is a tensor of shape (n, nin). Needs PyTorch (the extra ``microgrid[torch]``);
        `torch_names()` says where each parameter went."""
        return bridge.to_sequential(self._dense_layers("to_torch"))

    def torch_names(self) -> dict[str, str]:
        """Each parameter's label and its place in `to_torch()`'s module: ``"w[2]_0_3"`` is
        ``"2.weight[0, 3]"``, entry [0, 3] of ``state_dict()["2.weight"]`` in PyTorch, and
        ``"b[1]_4"`` is ``"0.bias[4]"``. Swap keys and values for the other way."""
        rows = self._rows("torch_names")
        names = {}
        places = bridge.torch_places([neurons[0].activation for neurons in rows])
        for place, neurons in zip(places, rows, strict=True):
            for i, n in enumerate(neurons):
                names.update({w.label: f"{place}.weight[{i}, {j}]" for j, w in enumerate(n.w)})
                names[n.b.label] = f"{place}.bias[{i}]"
        return names

    def _neuron_rows(self) -> list[list[Neuron]]:
        """The neurons of each layer, in order: what `to_torch` makes a Linear of."""
        raise TypeError(f"{type(self).__name__} has no PyTorch counterpart: to_torch knows "
                        "Neuron, Layer and MLP")

    def _rows(self, what: str) -> list[list[Neuron]]:
        try:
            return self._neuron_rows()
        except TypeError as e:
            raise TypeError(f"{what}: {e}") from None

    def _dense_layers(self, what: str) -> list[Dense]:
        rows = self._rows(what)
        check_fields(self.parameters(), what, ("data",))  # a data set by hand is named
        return [Dense([[w.data for w in n.w] for n in neurons], [n.b.data for n in neurons],
                      neurons[0].activation) for neurons in rows]

    def _load_dense(self, layers: list[Dense]) -> None:
        """Set the parameters from `layers`, whose shapes are this module's."""
        for neurons, layer in zip(self._neuron_rows(), layers, strict=True):
            for n, row, b in zip(neurons, layer.weights, layer.biases, strict=True):
                for w, x in zip(n.w, row, strict=True):
                    w.data = x
                n.b.data = b

    def state_dict(self) -> dict[str, float]:
        """Every parameter's number by its label, in `named_parameters()` order."""
        named = self._named()
        check_fields(named.values(), "state_dict", ("data",))  # a data or label set by hand
        return {name: p.data for name, p in named.items()}

    def load_state_dict(self, state_dict: Mapping[str, float], strict: bool = True
                        ) -> IncompatibleKeys:
        """Set each parameter's data from `state_dict` (label: number), as PyTorch does.

        With `strict`, a missing or unexpected label is an error; every entry must be a finite
        number. Everything is checked before anything is set: on an error nothing changes.
        Returns the missing and unexpected labels (empty when `strict`).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict of label: number, got "
                            f"{type(state_dict).__name__}")
        named = self._named()
        missing = [n for n in named if n not in state_dict]
        unexpected = [n for n in state_dict if n not in named]
        if strict and (missing or unexpected):
            parts = ([f"missing keys {missing}"] if missing else []) + (
                [f"unexpected keys {unexpected}"] if unexpected else [])
            raise RuntimeError(f"load_state_dict: {' and '.join(parts)} in state_dict")
        new: dict[str, float] = {}
        for name, x in state_dict.items():
            if name not in named:
                continue
            if isinstance(x, bool) or not isinstance(x, Real):
                raise TypeError(f"load_state_dict: entry {name!r} must be a number, got "
                                f"{type(x).__name__} {x!r}")
            try:
                number = float(x)
            except OverflowError:  # an int such as 10**400
                number = math.inf
            if not math.isfinite(number):
                raise ValueError(f"load_state_dict: entry {name!r} is {x!r}, not a finite "
                                 "number")
            new[name] = number
        for name, x in new.items():
            named[name].data = x
        return IncompatibleKeys(missing, unexpected)


class Neuron(Module):
    """``activation(w · x + b)``: ``nin`` weights and a bias."""

    def __init__(self, nin: int, activation: str = "tanh", *, seed: Seed = None,
                 layer: int = 1, index: int = 0) -> None:
        self.nin = _check_size(nin, "nin")
        self.activation = activation
        self._act = _activation(activation)
        self.layer, self.index = layer, index
        self.group_name = f"{'z' if activation == 'linear' else 'a'}[{layer}]_{index}"
        self._group: Group | None = None
        rng, k = _rng(seed), 1.0 / math.sqrt(self.nin)
        with groups.group(self.group_name):  # inside its layer's group, when a Layer makes it
            self.w = [Value(rng.uniform(-k, k), f"w[{layer}]_{index}_{j}")
                      for j in range(self.nin)]
            self.b = Value(rng.uniform(-k, k), f"b[{layer}]_{index}")

    def __call__(self, x: Input) -> Value:
        _check_input(x, self.nin, f"{type(self).__name__} of layer {self.layer}")
        return self._forward(x)

    def _forward(self, x: Input) -> Value:
        """`__call__` without the check of `x`, for a `Layer` that checked it once."""
        previous = groups.current_group()
        group = self._group  # read once: another thread may replace it meanwhile
        if group is None or group.parent is not previous:
            self._group = group = Group(self.group_name, previous)
        return self._compute(x, group)

    def _compute(self, x: Input, group: Group) -> Value:
        """The neuron's two values, in `group`. They are tagged here rather than made inside a
        ``with group(...)``: the engine then takes its fast path (no thread has a group open)
        on a plain network, and a network's forward costs no more than without groups."""
        z = dot(self.w, x, self.b)
        z.label = f"z[{self.layer}]_{self.index}"
        z._group = group
        a = self._act(z)  # one node, or z itself ("linear")
        if a is not z:
            a.label = f"a[{self.layer}]_{self.index}"
            a._group = group
        return a

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [(p.label, p) for p in (*self.w, self.b)]

    def _neuron_rows(self) -> list[list[Neuron]]:
        return [[self]]

    @classmethod
    def from_torch(cls, module: Any) -> Neuron:
        """The neuron of a PyTorch ``Linear(nin, 1)``, alone or in a ``Sequential`` with its
        activation (what `to_torch` makes), with its parameters, bit for bit."""
        (layer,) = _one_layer(module, "Neuron.from_torch")
        if len(layer.weights) != 1:
            raise ValueError(f"Neuron.from_torch: {bridge.describe(module)} has "
                             f"{len(layer.weights)} outputs; a Neuron has one (use "
                             "Layer.from_torch for more)")
        neuron = cls(len(layer.weights[0]), layer.activation, seed=0)
        neuron._load_dense([layer])
        return neuron

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, activation={self.activation!r})"


class Layer(Module):
    """``nout`` neurons that all read the same ``nin`` inputs; returns a list of ``nout``."""

    def __init__(self, nin: int, nout: int, activation: str = "tanh", *,
                 seed: Seed = None, layer: int = 1) -> None:
        self.nin, self.nout = _check_size(nin, "nin"), _check_size(nout, "nout")
        _activation(activation)
        rng = _rng(seed)
        self.layer = layer
        self._groups: tuple[Group, list[Group]] | None = None  # its own, and its neurons'
        with groups.group(f"layer {layer}"):  # the neurons' parameters belong to the layer
            self.neurons = [Neuron(nin, activation, seed=rng, layer=layer, index=i)
                            for i in range(nout)]

    def __call__(self, x: Input) -> list[Value]:
        _check_input(x, self.nin, f"Layer {self.layer}")
        return self._forward(x)

    def _forward(self, x: Input) -> list[Value]:
        """`__call__` without the check of `x`, for an `MLP` that checked it once."""
        previous = groups.current_group()
        pair = self._groups  # read once, set in one store: threads may share the layer
        if pair is None or pair[0].parent is not previous:
            layer = Group(f"layer {self.layer}", previous)
            self._groups = pair = layer, [Group(n.group_name, layer) for n in self.neurons]
        return [n._compute(x, group) for n, group in zip(self.neurons, pair[1], strict=True)]

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [item for n in self.neurons for item in n.named_parameters()]

    def _neuron_rows(self) -> list[list[Neuron]]:
        return [self.neurons]

    @classmethod
    def from_torch(cls, module: Any) -> Layer:
        """The layer of a PyTorch ``Linear(nin, nout)``, alone or in a ``Sequential`` with its
        activation (what `to_torch` makes), with its parameters, bit for bit."""
        (layer,) = _one_layer(module, "Layer.from_torch")
        built = cls(len(layer.weights[0]), len(layer.weights), layer.activation, seed=0)
        built._load_dense([layer])
        return built

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, activation={self.neurons[0].activation!r})"


class MLP(Module):
    """A multi-layer perceptron: layers ``1 .. len(sizes)`` of the given sizes.

    Hidden layers use `activation`, the last one `output_activation`. Calling it returns a
    `Value` when the last layer has one neuron (as in micrograd), else a list of them; for code
    that type-checks, `output(x)` always returns a `Value` and `outputs(x)` always a list.
    """

    def __init__(self, nin: int, sizes: Sequence[int], activation: str = "tanh",
                 output_activation: str = "linear", *, seed: Seed = None) -> None:
        nin = _check_size(nin, "nin")
        sizes = [_check_size(n, "sizes") for n in sizes]  # a numpy array of sizes too
        if not sizes:
            raise ValueError("sizes: expected at least one layer size, got none")
        _activation(activation)
        _activation(output_activation, "output_activation")
        rng = _rng(seed)
        dims = [nin, *sizes]
        self.nin = nin
        self.layers = [
            Layer(dims[i], dims[i + 1],
                  activation if i < len(sizes) - 1 else output_activation,
                  seed=rng, layer=i + 1)
            for i in range(len(sizes))]

    def __call__(self, x: Input) -> Value | list[Value]:
        out = self.outputs(x)
        return out[0] if len(out) == 1 else out

    def outputs(self, x: Input) -> list[Value]:
        """The outputs of the last layer, as a list even when there is one."""
        _check_input(x, self.nin, "MLP")
        h = self.layers[0]._forward(x)
        for layer in self.layers[1:]:
            h = layer._forward(h)
        return h

    def output(self, x: Input) -> Value:
        """The one output of a model whose last layer has one neuron (a logit, a regression)."""
        if self.layers[-1].nout != 1:
            raise ValueError(f"MLP.output: the last layer has {self.layers[-1].nout} outputs; "
                             "use outputs(x)")
        return self.outputs(x)[0]

    def named_parameters(self) -> list[tuple[str, Value]]:
        return [item for layer in self.layers for item in layer.named_parameters()]

    def _neuron_rows(self) -> list[list[Neuron]]:
        return [layer.neurons for layer in self.layers]

    @classmethod
    def from_torch(cls, module: Any) -> MLP:
        """The MLP of a PyTorch ``Sequential`` of ``Linear`` layers, each followed by Tanh,
        ReLU, Sigmoid, Identity or nothing (what `to_torch` makes), with its parameters, bit
        for bit. Its hidden layers must share one activation, as an MLP's do; another module
        is refused with an error that names the part that does not fit."""
        layers = bridge.from_sequential(module, "MLP.from_torch")
        hidden = sorted({layer.activation for layer in layers[:-1]})
        if len(hidden) > 1:
            raise ValueError(f"MLP.from_torch: the hidden layers of {bridge.describe(module)} "
                             f"use the activations {', '.join(hidden)}; an MLP's hidden layers "
                             "share one")
        model = cls(len(layers[0].weights[0]), [len(layer.weights) for layer in layers],
                    activation=hidden[0] if hidden else "tanh",
                    output_activation=layers[-1].activation, seed=0)
        model._load_dense(layers)
        return model

    def __repr__(self) -> str:
        return f"MLP({self.nin}, [{', '.join(str(layer.nout) for layer in self.layers)}])"


def _one_layer(module: Any, what: str) -> list[Dense]:
    layers = bridge.from_sequential(module, what)
    if len(layers) != 1:
        raise ValueError(f"{what}: {bridge.describe(module)} has {len(layers)} Linear layers; "
                         f"a {what.split('.')[0]} is one Linear (use MLP.from_torch for more)")
    return layers
