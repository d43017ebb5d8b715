"""The compiled MLP step against microgrid (plain Values and nn), micrograd and the flat tape.

    python -m benchmarks.compile                  # steps side by side, then the compile time
    python -m benchmarks.compile --chunks 4000 16000 32000 100000
    python -m benchmarks.compile --chain 1000000  # a long chain: compile and run
    python -m benchmarks.compile --train          # `microgrid demo train` with and without it

Every engine runs the benchmarks' MLP step (`workloads.mlp_step`: zero the gradients, forward,
backward, SGD update, drop the graph) on the same weights; the compiled engine runs
``microgrid.compile`` of that step's loss on plain Values. The engines take turns, one step
each, for `--rounds` rounds (this machine has slow spells: interleaving spreads them over
every engine), after a warm-up of ten steps each, with a full collection (untimed) before each
step, so that no engine pays for the garbage of another (micrograd's graphs are cycles); the
table gives medians. Before timing,
the compiled step's loss and gradients are checked against backward()'s: identical.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.engines import Microgrid, MicrogridNN
from microgrid.compile.step import CHUNK


def _loss(model: Callable[[list[Any]], Any], params: list[Any]) -> Callable[..., Any]:
    return lambda xs, ys: w.mlp_loss(model, params, xs, ys)


def _compile_timed(loss: Callable[..., Any], xs: Any, ys: Any, chunk: int
                   ) -> tuple[Any, float, float]:
    """The compiled step, the total time to make it, and the part of it in builtins.compile."""
    from microgrid.compile import compile as mgcompile
    from microgrid.compile import step as module
    original = module._compile_source  # type: ignore[attr-defined]
    spent = [0.0]

    def timed(*args: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args)
        finally:
            spent[0] += time.perf_counter() - t
    module._compile_source = timed  # type: ignore[attr-defined]
    try:
        t = time.perf_counter()
        step = mgcompile(loss, xs, ys, chunk=chunk)
        return step, time.perf_counter() - t, spent[0]
    finally:
        module._compile_source = original  # type: ignore[attr-defined]


def steps(rounds: int, chunk: int) -> None:
    weights = w.mlp_weights(2, w.MLP_SIZES)
    xs, ys = w.moons(w.MLP_POINTS)
    runners: dict[str, Callable[[], None]] = {}

    plain = Microgrid()
    model, params = plain.mlp(weights)
    runners["microgrid"] = lambda: w.mlp_step(plain, model, params, xs, ys, _mark) and None

    nn = MicrogridNN()
    nn_model, nn_params = nn.mlp(weights)
    runners["microgrid.nn"] = lambda: w.mlp_step(nn, nn_model, nn_params, xs, ys, _mark) and None

    c_model, c_params = plain.mlp(weights)
    loss = _loss(c_model, c_params)
    step, made, in_compile = _compile_timed(loss, xs, ys, chunk)
    plain.zero_grad(c_params)
    got = step(xs, ys)
    got_grads = [p.grad for p in c_params]
    plain.zero_grad(c_params)
    out = loss(xs, ys)
    out.backward()
    same = got == out.data and got_grads == [p.grad for p in c_params]
    del out

    def compiled() -> None:
        plain.zero_grad(c_params)
        step(xs, ys)
        plain.sgd(c_params, w.LR)
    runners["compiled"] = compiled

    tape_weights = [list(layer) for layer in weights]
    runners["tape"] = lambda: w.tape_mlp_step(tape_weights, xs, ys, _mark) and None
    try:
        from benchmarks.engines import Micrograd
        mg = Micrograd()
        mg_model, mg_params = mg.mlp(weights)
        runners["micrograd"] = lambda: w.mlp_step(mg, mg_model, mg_params, xs, ys,
                                                  _mark) and None
    except ImportError:
        pass

    for run in runners.values():
        for _ in range(10):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            gc.collect()  # untimed: no engine pays for another's garbage (micrograd's cycles)
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)
    lines = step.source.count("\n")
    print(f"MLP step, {w.mlp_ops(2, w.MLP_SIZES, w.MLP_POINTS):,} ops, median of {rounds} "
          f"interleaved rounds (chunk {chunk}); compiled = backward() to the last bit: {same}")
    base = statistics.median(times["compiled"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:13} {m * 1e3:9.2f} ms   {m / base:6.1f}x the compiled step")
    plain_step = statistics.median(times["microgrid"])
    print(f"  trace + generate + compile: {made:.2f} s ({in_compile:.2f} s in builtins.compile,"
          f" {lines:,} lines) = {made / plain_step:.0f} plain-Value steps")


def chunks(sizes: list[int], rounds: int) -> None:
    weights = w.mlp_weights(2, w.MLP_SIZES)
    xs, ys = w.moons(w.MLP_POINTS)
    plain = Microgrid()
    print("chunk size: trace + generate + compile, and the step's median")
    for chunk in sizes:
        model, params = plain.mlp(weights)
        step, made, in_compile = _compile_timed(_loss(model, params), xs, ys, chunk)
        for _ in range(5):
            step(xs, ys)
        ts = []
        for _ in range(rounds):
            t = time.perf_counter()
            step(xs, ys)
            ts.append(time.perf_counter() - t)
        print(f"  {chunk:>9,}: {made:6.2f} s ({in_compile:5.2f} s compile)  "
              f"step {statistics.median(ts) * 1e3:7.2f} ms")
        del step
        gc.collect()


def chain(n_ops: int, chunk: int) -> None:
    from microgrid import Value
    from microgrid.compile import compile as mgcompile
    a, b = Value(0.999, "a"), Value(0.001, "b")

    def f(x: float) -> Any:
        y = x
        for _ in range(w.chain_steps(n_ops)):
            y = (y * a + b).relu()
        return y
    t = time.perf_counter()
    step = mgcompile(f, 1.0, chunk=chunk)
    made = time.perf_counter() - t
    t = time.perf_counter()
    step(1.0)
    ran = time.perf_counter() - t
    t = time.perf_counter()
    f(Value(1.0)).backward()
    plain = time.perf_counter() - t
    print(f"chain of {n_ops:,} ops: compile {made:.2f} s, compiled step {ran * 1e3:.1f} ms, "
          f"plain Values forward + backward {plain * 1e3:.1f} ms")


def train(rounds: int, picture: bool) -> None:
    """`microgrid demo train` against `--compile`, in turns: its training (``train()``, the
    compile included) in this process, and the whole command in a new one (Python's start,
    the imports, the accuracy and the demo's check against backward() included; with
    `picture`, also the decision boundary and loss curve drawn with matplotlib)."""
    import contextlib
    import io

    from microgrid.teaching.demos import train as demo
    times: dict[str, list[float]] = {f"{what}{flag}": [] for what in ("train", "command")
                                     for flag in ("", " --compile")}
    accuracy: dict[str, set[float]] = {"": set(), " --compile": set()}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for flag in ("", " --compile"):
                args = demo._parser().parse_args(flag.split())
                t = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    model, X, y, *_ = demo.train(args)
                times[f"train{flag}"].append(time.perf_counter() - t)
                accuracy[flag].add(demo.accuracy(demo.plain_logits(model), X, y))
                command = [sys.executable, "-m", "microgrid", "demo", "train", *flag.split(),
                           *(["--plot", str(Path(tmp) / "train.png")] if picture
                             else ["--no-plot"])]
                t = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times[f"command{flag}"].append(time.perf_counter() - t)
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"microgrid demo train, medians of {rounds} interleaved rounds"
          f" ({'with' if picture else 'without'} the picture):")
    for what in ("train", "command"):
        plain, compiled = m[what], m[f"{what} --compile"]
        print(f"  {what + ':':9} {plain:6.2f} s, --compile {compiled:5.2f} s: "
              f"{plain / compiled:5.1f}x")
    print(f"  training accuracy: {sorted(accuracy[''])}, "
          f"--compile {sorted(accuracy[' --compile'])}")


def _mark() -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile", description=__doc__)
    parser.add_argument("--rounds", type=int, help="default: 15, with --train 5")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--chunks", type=int, nargs="*")
    parser.add_argument("--chain", type=int)
    parser.add_argument("--train", action="store_true",
                        help="time `microgrid demo train` with and without --compile")
    parser.add_argument("--picture", action="store_true",
                        help="with --train: the command also draws its picture (matplotlib)")
    args = parser.parse_args(argv)
    if args.train:
        train(args.rounds or 5, args.picture)
    elif args.chain:
        chain(args.chain, args.chunk)
    elif args.chunks:
        chunks(args.chunks, args.rounds or 15)
    else:
        steps(args.rounds or 15, args.chunk)


if __name__ == "__main__":
    main()
