"""The engines under test. Each imports its library only when made, in its worker process."""

from __future__ import annotations

from typing import Any

from benchmarks import workloads as w
from benchmarks.handles import Handles


class Microgrid(w.Engine):
    name = "microgrid"

    def __init__(self) -> None:
        from microgrid import Value
        self.value = Value

    def leaf(self, x: float) -> Any:
        return self.value(x)


class MicrogridNN(Microgrid):
    """The MLP workload with `microgrid.nn.MLP` (fused neuron sums) instead of plain ops."""

    name = "microgrid.nn"

    def __init__(self) -> None:
        super().__init__()
        from microgrid.nn import MLP  # written alongside the benchmarks; may not exist yet
        self.MLP = MLP

    def mlp(self, weights: w.Weights) -> tuple[Any, list[Any]]:
        model = self.MLP(len(weights[0][0][0]), [len(layer) for layer in weights],
                         activation="relu")
        params = model.parameters()
        flat = [x for layer in weights for ws, b in layer for x in (*ws, b)]
        if len(params) != len(flat):
            raise RuntimeError(f"microgrid.nn.MLP has {len(params)} parameters, "
                               f"expected {len(flat)}")
        for p, x in zip(params, flat, strict=True):
            p.data = x
        return model, params


class Micrograd(w.Engine):
    """micrograd 0.1.0. Its nn.MLP(2, [16, 16, 1]) builds the graph of `plain_mlp` exactly."""

    name = "micrograd"

    def __init__(self) -> None:
        from micrograd.engine import Value  # type: ignore[import-untyped]
        self.value = Value

    def leaf(self, x: float) -> Any:
        return self.value(x)

    def zero_grad(self, params: list[Any]) -> None:
        for p in params:
            p.grad = 0


class Torch(w.Engine):
    """PyTorch on 0-dim float64 tensors, one scalar per tensor."""

    name = "torch"

    def __init__(self) -> None:
        import torch
        self.torch = torch

    def leaf(self, x: float) -> Any:
        return self.torch.tensor(x, dtype=self.torch.float64, requires_grad=True)

    def data(self, v: Any) -> float:
        return float(v.item())

    def grad(self, v: Any) -> float:
        return 0.0 if v.grad is None else float(v.grad.item())

    def zero_grad(self, params: list[Any]) -> None:
        for p in params:
            p.grad = None

    def sgd(self, params: list[Any], lr: float) -> None:
        with self.torch.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=lr)


ENGINES: dict[str, type[w.Engine]] = {
    "microgrid": Microgrid, "microgrid.nn": MicrogridNN, "micrograd": Micrograd, "torch": Torch,
    "handles": Handles}  # a sketch of another design, for the worker only (not in run.py)
