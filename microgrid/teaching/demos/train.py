"""Training (the post "A brief analysis of the backpropagation algorithm"): an MLP learns moons."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from microgrid.core.engine import Value, no_grad
from microgrid.core.groups import group
from microgrid.nn.data import Points, make_moons
from microgrid.nn.losses import bce_with_logits
from microgrid.nn.modules import MLP
from microgrid.nn.optim import SGD, Adam, Optimizer
from microgrid.teaching.demos._compare import TOLERANCE, DemoParser, verdict

DEFAULT_LR = {"adam": 0.05, "sgd": 0.5}
DEFAULT_TARGET = 0.97
COLLAPSE = 2  # `microgrid demo train -o FILE` draws a node per neuron (--collapse 0: every value)
DEFAULTS = {"n": 100, "hidden": 16, "steps": 100}
FAST = {"n": 30, "hidden": 8, "steps": 10}  # --fast
MAX_LR = 10.0  # past it, every step overshoots: the weights overflow a float
MAX_NOISE = 10.0
RELATIVE = 1e-12  # compiled against backward(): the bound, relative to the largest


def _parser() -> argparse.ArgumentParser:
    p = DemoParser(prog="microgrid demo train", description=__doc__)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="Adam, or SGD with momentum 0.9 (default: adam)")
    p.add_argument("--lr", type=float,
                   help=f"learning rate, at most {MAX_LR:g} (default: adam 0.05, sgd 0.5)")
    p.add_argument("--steps", type=int, help="training steps (default: 100)")
    p.add_argument("--n", type=int, help="number of points (default: 100)")
    p.add_argument("--noise", type=float, default=0.1,
                   help=f"noise of the moons, from 0 to {MAX_NOISE:g} (default: 0.1)")
    p.add_argument("--hidden", type=int, help="units per hidden layer (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights (default: 0)")
    p.add_argument("--target", type=float,
                   help=f"training accuracy to reach, else exit 1 (default: {DEFAULT_TARGET})")
    p.add_argument("--plot", metavar="PNG",
                   help="save the decision boundary and the loss curve to PNG (default: none)")
    p.add_argument("--no-plot", action="store_true", help="save no picture, even with --plot")
    p.add_argument("--compile", action="store_true",
                   help="train with microgrid.compile's step and print the speed-up")
    p.add_argument("--fast", action="store_true",
                   help="a quick run for tests: 30 points, 8 units, 10 steps (unless --n, "
                        "--hidden, --steps say otherwise), no target")
    return p


def model_for(hidden: int, seed: int) -> MLP:
    """Two hidden ReLU layers and one linear output: the logit of class 1."""
    return MLP(2, [hidden, hidden, 1], activation="relu", output_activation="linear", seed=seed)


Logits = Callable[[Points], list[float]]  # the model's logit at each point, no gradient


def _logits(model: MLP, X: Points) -> list[Value]:
    return [model.output(x) for x in X]


def plain_logits(model: MLP) -> Logits:
    def logits(points: Points) -> list[float]:
        with no_grad():
            return [z.data for z in _logits(model, points)]
    return logits


def compiled_logits(model: MLP, example: list[float]) -> Logits:
    """The logits from `microgrid.compile`'s step of the model, called inside no_grad(): the
    forward pass only, with the weights as they are at each call."""
    from microgrid.compile import compile as compile_step
    step = compile_step(model.output, example)

    def logits(points: Points) -> list[float]:
        with no_grad():
            return step.map(points)
    return logits


def accuracy(logits: Logits, X: Points, y: list[int]) -> float:
    return sum((z > 0) == (t == 1) for z, t in zip(logits(X), y, strict=True)) / len(y)


def example_graph(model: MLP, X: Points, y: list[int]) -> Value:
    """What `microgrid demo train -o FILE` draws: the loss L of the first training point, after
    backward(). Pass the untrained model: its gradients are the ones the first step follows
    (after training they are about 0). The inputs are Values, x_0 and x_1, so that a collapsed
    drawing shows them, and the loss is the group "loss", so that it collapses to one node."""
    x = [Value(xi, f"x_{i}") for i, xi in enumerate(X[0])]
    z = model.output(x)
    with group("loss"):
        loss = bce_with_logits([z], y[:1])
    loss.label = "L"
    model.zero_grad()
    loss.backward()
    return loss


def describe_example(loss: Value, X: Points, y: list[int]) -> str:
    """The line that says what `example_graph` is, for the demo's output."""
    x = ", ".join(f"{xi:.2f}" for xi in X[0])
    return (f"-o FILE draws the loss of the first point, x = ({x}), class {y[0]}, through the "
            f"untrained weights (L = {loss.data:.3f}), after backward(): the gradients the first "
            f"step follows; a node per neuron (--collapse {COLLAPSE}; --collapse 0 draws every "
            f"value). A ReLU that is off passes no gradient back.")


def _progress(steps: int) -> tuple[Iterable[int], Any]:
    """The step numbers, wrapped in a tqdm bar when tqdm is installed and stdout is a terminal."""
    if sys.stdout.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(range(1, steps + 1), desc="training", unit="step", file=sys.stdout)
            return bar, bar
    return range(1, steps + 1), None


CompiledLoss = Callable[[Points, list[int]], float]


def train(args: argparse.Namespace) -> tuple[MLP, Points, list[int], list[float], float,
                                             CompiledLoss | None]:
    """The training loop: forward, loss, backward, update. Returns the model, the data, the
    losses, the worst difference between each example's dL/dz from backward() and the
    formula (sigmoid(z) - y) / n (0 with --compile), and with --compile the compiled loss."""
    X, y = make_moons(args.n, noise=args.noise, seed=args.seed)
    model = model_for(args.hidden, args.seed)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    opt: Optimizer = (Adam(model.parameters(), lr=lr) if args.optimizer == "adam"
                      else SGD(model.parameters(), lr=lr, momentum=0.9))
    losses: list[float] = []
    worst = 0.0
    steps, bar = _progress(args.steps)
    every = max(1, args.steps // 10)
    compiled = _compiled_loss(model, X, y) if getattr(args, "compile", False) else None
    for step in steps:
        if compiled is not None:
            opt.zero_grad()
            losses.append(compiled(X, y))   # forward and backward, compiled
            opt.step()
            if bar is None and (step % every == 0 or step == args.steps):
                print(f"  step {step:>4}/{args.steps}  loss {losses[-1]:.4f}", flush=True)
            elif bar is not None:
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            continue
        out = _logits(model, X)             # forward
        loss = bce_with_logits(out, y)      # loss
        opt.zero_grad()
        loss.backward()                     # backward: the gradient of every weight
        opt.step()                          # update, with the learning rate
        losses.append(loss.data)
        # autograd vs formula: d(mean BCE)/dz_i = (sigmoid(z_i) - y_i) / n
        worst = max(worst, *(abs(z.grad - (_sigmoid(z.data) - t) / len(y))
                             for z, t in zip(out, y, strict=True)))
        if bar is not None:
            bar.set_postfix(loss=f"{loss.data:.4f}")
        elif step % every == 0 or step == args.steps:
            print(f"  step {step:>4}/{args.steps}  loss {loss.data:.4f}", flush=True)
    if bar is not None:
        bar.close()
    return model, X, y, losses, worst, compiled


def _compiled_loss(model: MLP, X: Points, y: list[int]) -> CompiledLoss:
    """``loss(points, labels)``: the sum of the loss terms of those points (all of the data:
    the mean loss), forward and backward, with `microgrid.compile`.

    What is compiled is the loss of one example, ``bce_with_logits(model(x), t) / n``: its
    graph is the same for every example of a class (the class t is a constant of it), so it
    is small to generate and compile (the whole data set's graph would take longer to compile
    than to train), and ``step.map`` runs it over the examples of the class, adding each
    example's gradient to the weights' ``.grad``, as backward() of the mean would."""
    from microgrid.compile import compile as compile_step
    n = len(X)
    first = {t: X[y.index(t)] for t in sorted(set(y))}
    steps = {t: compile_step(lambda x, t=t: bce_with_logits(model.output(x), t) * (1.0 / n),
                             x) for t, x in first.items()}

    def loss(points: Points, labels: list[int]) -> float:
        return sum(sum(step.map([x for x, label in zip(points, labels, strict=True)
                                 if label == t])) for t, step in steps.items())
    return loss


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def plot(logits: Logits, X: Points, y: list[int], losses: list[float], path: str) -> bool:
    """Save the decision boundary and the loss curve as a PNG; False if matplotlib is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    xs, ys = [p[0] for p in X], [p[1] for p in X]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    y0, y1 = min(ys) - 0.5, max(ys) + 0.5
    k = 60
    gx = [x0 + (x1 - x0) * i / (k - 1) for i in range(k)]
    gy = [y0 + (y1 - y0) * j / (k - 1) for j in range(k)]
    grid = logits([[a, b] for b in gy for a in gx])
    zz = [grid[j * k:(j + 1) * k] for j in range(k)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.contourf(gx, gy, zz, levels=[-1e9, 0, 1e9], colors=["#9ecae1", "#fdae6b"], alpha=0.6)
    left.contour(gx, gy, zz, levels=[0], colors="k", linewidths=1)
    left.scatter(xs, ys, c=["#e6550d" if t else "#3182bd" for t in y], s=18, edgecolors="k",
                 linewidths=0.4)
    left.set_title(f"decision boundary (training accuracy {accuracy(logits, X, y):.0%})")
    right.plot(range(1, len(losses) + 1), losses)
    right.set_xlabel("step")
    right.set_ylabel("binary cross-entropy")
    right.set_yscale("log")
    right.set_title("loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run(argv: list[str] | None = None) -> tuple[int, Value]:
    """Train and print the losses and the check; return the exit status and the graph to draw
    (see `example_graph`)."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name, default in (FAST if args.fast else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
        elif getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.target is None and not args.fast:
        args.target = DEFAULT_TARGET
    if args.lr is not None and not 0 < args.lr <= MAX_LR:  # (nan is neither)
        parser.error(f"--lr must be a number above 0 and at most {MAX_LR:g}, got {args.lr:g}")
    if not 0 <= args.noise <= MAX_NOISE:
        parser.error(f"--noise must be from 0 to {MAX_NOISE:g}, got {args.noise:g}")
    if args.plot is not None and not args.no_plot and not args.plot.lower().endswith(".png"):
        parser.error(f"--plot saves a PNG: use a file name ending in .png, not {args.plot!r}")
    print(f"Two moons, {args.n} points; MLP 2 -> {args.hidden} -> {args.hidden} -> 1 (ReLU); "
          f"binary cross-entropy from the logit; {args.optimizer}, {args.steps} steps")
    print("Each step: opt.zero_grad(); loss = sum(step.map(examples)) (forward and backward, "
          "compiled); opt.step()" if args.compile else "Each step: out = model(x); "
          "loss = loss_fn(out, y); opt.zero_grad(); loss.backward(); opt.step()")
    start = time.perf_counter()
    model, X, y, losses, worst, compiled = train(args)
    seconds = time.perf_counter() - start
    logits = compiled_logits(model, X[0]) if args.compile else plain_logits(model)
    acc = accuracy(logits, X, y)
    target = "no target" if args.target is None else f"target {args.target:.0%}"
    print(f"training accuracy {acc:.1%} ({target}), final loss {losses[-1]:.4f},"
          f" {seconds:.1f} s")
    if compiled is not None:
        per_point, worst, checked = _against_backward(model, X, y, compiled)
        uncompiled = per_point * len(X) * args.steps
        print(f"compiled: {seconds:.2f} s end to end, compile included; uncompiled, a point's "
              f"forward and backward takes {per_point * 1e3:.2f} ms, {args.steps} steps of "
              f"{len(X)} points about {uncompiled:.2f} s: {_faster(uncompiled / seconds)}")
        print(f"the compiled loss and gradients vs backward()'s, on the trained weights and "
              f"{checked} of the points: max |diff| {worst:.1e} of the largest")
    else:
        print(f"dL/dz_i from backward() vs (sigmoid(z_i) - y_i) / n, every example, every step: "
              f"max |diff| {worst:.1e}")
    example = example_graph(model_for(args.hidden, args.seed), X, y)  # the same initial weights
    print(describe_example(example, X, y))
    if args.plot is not None and not args.no_plot:
        if plot(logits, X, y, losses, args.plot):
            print(f"saved the decision boundary and the loss curve to {args.plot}")
        else:
            print("matplotlib is not installed: no picture "
                  '(pip install -e ".[demos]" in the clone)')
    status = (verdict(worst <= TOLERANCE) if compiled is None else
              verdict(worst <= RELATIVE, "the compiled step and backward()", RELATIVE))
    if args.target is not None and acc < args.target:
        print(f"FAILED: training accuracy {acc:.1%} is below the target {args.target:.0%}.")
        status = 1
    return status, example


def _faster(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:.1f}x faster"
    return f"{1 / ratio:.1f}x slower (so few steps do not pay for the compile)"


def _against_backward(model: MLP, X: Points, y: list[int], compiled: CompiledLoss,
                      each: int = 5) -> tuple[float, float, int]:
    """The check of the compiled loss on the trained weights, on the first `each` points of
    each class: the time of their uncompiled forward and backward per point, the worst
    difference between the compiled loss and gradients and backward()'s (relative to the
    largest of them), and how many points."""
    points = [i for t in sorted(set(y)) for i in [k for k, label in enumerate(y)
                                                   if label == t][:each]]
    sub_X, sub_y = [X[i] for i in points], [y[i] for i in points]
    params = model.parameters()
    model.zero_grad()
    start = time.perf_counter()
    loss = bce_with_logits(_logits(model, sub_X), sub_y) * (len(points) / len(X))
    loss.backward()
    seconds = (time.perf_counter() - start) / len(points)
    expected = [loss.data, *(p.grad for p in params)]
    model.zero_grad()
    got = [compiled(sub_X, sub_y), *(p.grad for p in params)]
    model.zero_grad()
    largest = max(map(abs, expected)) or 1.0
    worst = max(abs(a - b) for a, b in zip(expected, got, strict=True)) / largest
    return seconds, worst, len(points)


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


if __name__ == "__main__":
    raise SystemExit(main())
