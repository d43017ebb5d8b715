"""Run one measurement of one engine in this process and print it as one line of JSON.

    python -m benchmarks.worker ENGINE WORKLOAD SIZE [--mode time|memory|depth] [--repeats N]
                                [--gc on|off]

The runner starts one worker per (engine, workload, size), so engines never share a process,
a heap or a garbage collector, and a crash (a deep graph overflowing the C stack) only loses
that one measurement.

- ``time``: warm-up, then up to ``--repeats`` runs (fewer when ``--budget`` seconds are
  spent); each run gives build, backward and free times. The warm-up is `WARMUP_CALLS` runs
  of a small instance of the workload, then one run at full size: CPython 3.11 specializes
  a function's bytecode only from its 8th call on, and a function called once per run (such
  as ``backward``) would otherwise be timed unspecialized, 2-3x slower than in a training
  loop's steady state. Sets a high recursion limit, so that micrograd's recursive
  topological sort can be timed on deep chains at all. With ``--gc off`` the garbage
  collector is disabled during each run, and a full collection and a small run (to warm the
  caches again) come between runs, untimed: the difference from ``--gc on`` is what the
  collector costs the engine.
- engine ``compiled`` (mlp only): the step of `microgrid.compile`; the report's
  ``compile_seconds`` is its one-time trace, code generation and compile.
- ``memory``: builds the forward graph once and reports what it holds while alive: bytes
  traced by tracemalloc (Python allocations only, so not PyTorch's C++ graph) and, in a
  separate build, the growth of the resident set size.
- ``depth``: one forward + backward at the default recursion limit; exits non-zero if it fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks import workloads as w

Run = Callable[[w.Mark], tuple[float, list[float]]]

WARMUP_CALLS = 10  # more than the 8 calls after which CPython 3.11 specializes a function
WARMUP_SIZES = {"mlp": 2, "chain": 300, "tree": 64}


def make_run(engine: str, workload: str, size: int) -> Run:
    """A function that runs `workload` of `size` on `engine` once, calling `mark` at phases."""
    if workload == "mlp":
        weights = w.mlp_weights(2, w.MLP_SIZES)
        xs, ys = w.moons(size)
    if engine == "tape":
        if workload == "mlp":
            return lambda mark: w.tape_mlp_step(weights, xs, ys, mark)
        return lambda mark: {"chain": w.tape_chain, "tree": w.tape_tree}[workload](size, mark)
    if engine == "compiled":
        return compiled_run(workload, weights, xs, ys)
    from benchmarks.engines import ENGINES
    e = ENGINES[engine]()
    if workload == "mlp":
        model, params = e.mlp(weights)
        return lambda mark: w.mlp_step(e, model, params, xs, ys, mark)
    return lambda mark: {"chain": w.chain, "tree": w.tree}[workload](e, size, mark)


def compiled_run(workload: str, weights: w.Weights, xs: list[list[float]], ys: list[float]
                 ) -> Run:
    """The MLP step with `microgrid.compile`: the plain-Value loss traced and compiled once
    (here, untimed; its seconds are the run's ``compile_seconds``), then each run calls the
    compiled step (forward and backward: the build phase) and updates (the backward phase)."""
    if workload != "mlp":
        raise SystemExit(f"compiled: only the mlp workload (see python -m benchmarks.compile "
                         f"--chain for chains), not {workload}")
    from benchmarks.engines import Microgrid
    from microgrid.compile import compile as compile_step
    e = Microgrid()
    model, params = e.mlp(weights)
    started = time.perf_counter()
    step = compile_step(lambda xs, ys: w.mlp_loss(model, params, xs, ys), xs, ys)
    seconds = time.perf_counter() - started

    def run(mark: w.Mark) -> tuple[float, list[float]]:
        mark()
        e.zero_grad(params)
        loss = step(xs, ys)
        mark()
        e.sgd(params, w.LR)
        mark()
        mark()
        return loss, [p.grad for p in params]
    run.compile_seconds = seconds  # type: ignore[attr-defined]
    return run


def time_runs(run: Run, warmup: Run, repeats: int, budget: float, collector: bool = True
              ) -> tuple[list[list[float]], Any]:
    """[build, backward, free] seconds per run, warm-up excluded, and the warm-up's result."""
    for _ in range(WARMUP_CALLS):
        warmup(lambda: None)
    runs, result, start = [], None, time.perf_counter()
    for i in range(repeats + 1):
        marks: list[float] = []
        if not collector:
            gc.collect()
            warmup(lambda: None)  # the collection went through the whole heap: warm the caches
            gc.disable()

        def mark(marks: list[float] = marks) -> None:
            marks.append(time.perf_counter())

        out = run(mark)
        gc.enable()
        if i == 0:
            result = out
        runs.append([b - a for a, b in zip(marks, marks[1:], strict=False)])
        if time.perf_counter() - start > budget and len(runs) >= 2:
            break
    return (runs[1:] if len(runs) > 1 else runs), result


class _Built(Exception):
    """Raised at the second mark: the forward graph is built and still referenced."""


def forward_bytes(run: Run, measure: Callable[[], int]) -> int:
    """How much `measure()` grows while `run` builds its forward graph."""
    sizes: list[int] = []

    def mark() -> None:
        sizes.append(measure())
        if len(sizes) == 2:
            raise _Built

    try:
        run(mark)
    except _Built:
        pass
    return sizes[1] - sizes[0]


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(run: Run, python_only: bool) -> dict[str, int | None]:
    rss_bytes = forward_bytes(run, rss)
    gc.collect()
    tracemalloc.start()
    traced = forward_bytes(run, lambda: tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    return {"rss_bytes": rss_bytes, "traced_bytes": traced if python_only else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("engine")
    parser.add_argument("workload", choices=["mlp", "chain", "tree"])
    parser.add_argument("size", type=int)
    parser.add_argument("--mode", choices=["time", "memory", "depth"], default="time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--gc", choices=["on", "off"], default="on")
    args = parser.parse_args(argv)
    run = make_run(args.engine, args.workload, args.size)
    report: dict[str, Any] = {"engine": args.engine, "workload": args.workload,
                              "size": args.size, "mode": args.mode, "gc": args.gc}
    if args.mode == "time":
        sys.setrecursionlimit(10**8)
        warmup = make_run(args.engine, args.workload, WARMUP_SIZES[args.workload])
        report["runs"], report["result"] = time_runs(run, warmup, args.repeats, args.budget,
                                                     collector=args.gc == "on")
        report["compile_seconds"] = getattr(run, "compile_seconds", None)
    elif args.mode == "memory":
        report.update(memory(run, python_only=args.engine != "torch"))
    else:
        report["result"] = run(lambda: None)
    print(json.dumps(report), flush=True)
    os._exit(0)  # skip interpreter teardown: its time and crashes are not the measurement


if __name__ == "__main__":
    main()
