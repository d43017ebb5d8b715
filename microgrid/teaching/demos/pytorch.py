"""Moving to PyTorch: the two moons trained in microgrid, then the same network in PyTorch."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from microgrid.core.engine import Value, grad_number
from microgrid.nn.bridge import import_torch
from microgrid.nn.data import Points, make_moons
from microgrid.nn.losses import bce_with_logits
from microgrid.nn.modules import MLP
from microgrid.nn.optim import SGD
from microgrid.teaching.demos._compare import compare, verdict
from microgrid.teaching.demos.train import example_graph

TOLERANCE = 1e-12  # |microgrid - PyTorch| for the loss and each gradient (all of size <= 1)
COLLAPSE = 2  # `microgrid demo pytorch -o FILE` draws a node per neuron (--collapse 0: every value)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="microgrid demo pytorch", description=__doc__)
    p.add_argument("--n", type=int, default=100, help="number of points (default: 100)")
    p.add_argument("--hidden", type=int, default=4, help="units per hidden layer (default: 4)")
    p.add_argument("--steps", type=int, default=20,
                   help="training steps in microgrid (default: 20)")
    p.add_argument("--epochs", type=int, default=2000,
                   help="training epochs in PyTorch, after the export (default: 2000)")
    p.add_argument("--lr", type=float, default=0.5, help="SGD's learning rate (default: 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights (default: 0)")
    p.add_argument("--fast", action="store_true",
                   help="a quick run for tests: 30 points, 5 steps, 20 epochs")
    return p


def microgrid_step(model: MLP, opt: SGD, X: Points, y: list[int]) -> Value:
    """One epoch in microgrid: every point through the model, the mean loss, backward, step."""
    loss = bce_with_logits([model.output(x) for x in X], y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def torch_loss(torch: Any, net: Any, X: Any, Y: Any) -> Any:
    """The same mean loss in PyTorch: the whole data set in one call per layer."""
    return torch.nn.functional.binary_cross_entropy_with_logits(net(X).squeeze(1), Y)


def _median_seconds(step: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Train in microgrid, export with to_torch(), check PyTorch's loss and gradients against
    microgrid's, train on in PyTorch, time an epoch in each, and bring the model back with
    MLP.from_torch(); return the exit status and the graph of the first point's loss."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.fast:
        args.n, args.steps, args.epochs = 30, 5, 20
    for name in ("n", "hidden", "steps", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    try:
        torch = import_torch("microgrid demo pytorch")
    except ImportError as e:
        parser.exit(2, f"{e}\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small: threads only wait for each other
    try:
        return _run(torch, args)
    finally:
        torch.set_num_threads(threads)


def _run(torch: Any, args: argparse.Namespace) -> tuple[int, Value]:
    X, y = make_moons(args.n, noise=0.1, seed=args.seed)
    model = MLP(2, [args.hidden, args.hidden, 1], activation="relu", seed=args.seed)
    opt = SGD(model.parameters(), lr=args.lr)
    print(f"1. microgrid: two moons, {args.n} points; {model} with ReLU; binary cross-entropy "
          f"of the logit; SGD, lr {args.lr}; one Value per number")
    for step in range(1, args.steps + 1):
        loss = microgrid_step(model, opt, X, y)
        if step in (1, args.steps) or step % max(1, args.steps // 4) == 0:
            print(f"  step {step:>4}  loss {loss.data:.6f}")

    net = model.to_torch()
    print(f"\n2. net = model.to_torch(): the same parameters, in float64\n{net}")
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(y, dtype=torch.float64)
    loss = bce_with_logits([model.output(x) for x in X], y)
    model.zero_grad()
    loss.backward()
    lt = torch_loss(torch, net, Xt, Yt)
    lt.backward()
    tensors, params = dict(net.named_parameters()), dict(model.named_parameters())
    rows = [("loss", loss.data, lt.item())]
    for label, place in model.torch_names().items():  # "w[1]_0_1": "0.weight[0, 1]"
        name, _, index = place.partition("[")
        entry = tensors[name].grad[tuple(int(i) for i in index.rstrip("]").split(", "))]
        rows.append((f"{label} = {place}", grad_number(params[label]), entry.item()))
    print("\n3. The same loss, and the same gradient for every parameter (microgrid's label = "
          "PyTorch's entry):")
    ok = compare(["", "microgrid", "PyTorch"], rows, TOLERANCE, show=repr)

    print(f"\n4. Training on in PyTorch: torch.optim.SGD, lr {args.lr}, the whole data set as "
          f"one ({args.n}, 2) tensor")
    topt = torch.optim.SGD(net.parameters(), lr=args.lr)

    def torch_step() -> Any:
        topt.zero_grad()
        out = torch_loss(torch, net, Xt, Yt)
        out.backward()
        topt.step()
        return out
    every = max(1, args.epochs // 5)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        out = torch_step()
        if epoch in (1, args.epochs) or epoch % every == 0:
            print(f"  epoch {epoch:>4}  loss {out.item():.6f}")
    seconds = time.perf_counter() - start
    with torch.no_grad():
        correct = ((net(Xt).squeeze(1) > 0) == (Yt == 1)).double().mean().item()
    print(f"  training accuracy {correct:.1%}")

    repeats = 3 if args.fast else 10
    ours = _median_seconds(lambda: microgrid_step(model, opt, X, y), repeats)
    theirs = _median_seconds(torch_step, repeats)
    print(f"\n5. One epoch ({args.n} points: forward, loss, backward, step), median of {repeats}:"
          f"\n  microgrid {ours * 1e3:.2f} ms, PyTorch {theirs * 1e3:.2f} ms: PyTorch is "
          f"{ours / theirs:.0f}x faster. Step 4's {args.epochs} epochs took {seconds:.2f} s;\n"
          f"  in microgrid they would take about {ours * args.epochs:.0f} s. A tensor holds all "
          f"{args.n} points: each layer is one\n  matrix product, computed in C, instead of one "
          "Python Value, and one node, per number.\n  That is why tensors exist.")

    back = MLP.from_torch(net)
    with torch.no_grad():
        final = torch_loss(torch, net, Xt, Yt).item()
    again = bce_with_logits([back.output(x) for x in X], y).data
    print("\n6. back = MLP.from_torch(net): PyTorch's trained weights in microgrid again, to draw")
    ok &= compare(["", "microgrid", "PyTorch"], [("loss", again, final)], TOLERANCE, show=repr)
    status = verdict(ok, "microgrid and PyTorch", TOLERANCE)
    return status, example_graph(back, X, y)


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
