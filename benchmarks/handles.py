"""A sketch of the other engine design that issue 5 leaves open: the graph in flat lists, a
value a small handle on it. Measured, not shipped; see "Against the targets of issue 5" in
benchmarks/README.md.

Ops record on a `Tape` like the flat tape's (`workloads.Tape`): values in one list and
(child, parent, local derivative) triples in another. A `Handle` is the tape and an index, so a
handle is the only object an op makes, and a graph costs the collector one list per tape, not
one object per node: dropped intermediate handles are freed at once and never reach a full
collection. A tape lives as long as any of its handles does, and every graph built meanwhile
goes on it; a new tape starts when the last one has died.

It is a floor for that design, not an engine: leaves live in the tape like every other node,
so parameters keep their tape alive (the benchmark's `zero_grad` cuts the tape back to them);
there are no op names, labels or argument checks, no `no_grad`, and nothing lets drawing walk
the graph. Its free phase is not timed: the leaves keep the tape alive until the workload
returns (freeing the flat tape costs under 0.03 µs/op). A real engine of this kind would pay
for all that, and would change what users see: a graph is freed only when every handle on its
tape is gone, and ``a is b`` no longer tells whether two values are the same node.

``python -m benchmarks.handles`` times it against the tape and microgrid, side by side: each
engine in its own worker process, in rounds that take the engines in turn.
"""

from __future__ import annotations

import argparse
import statistics
import weakref
from typing import Any

from benchmarks import workloads as w

_new = object.__new__


class Tape:
    __slots__ = ("vals", "grads", "edges", "__weakref__")

    def __init__(self) -> None:
        self.vals: list[float] = []
        self.grads: list[float] = []
        self.edges: list[Any] = []


_current: weakref.ref[Tape] | None = None


def _tape() -> Tape:
    """The tape new leaves go to: the last one, while any handle keeps it alive."""
    global _current
    tape = _current() if _current else None
    if tape is None:
        tape = Tape()
        _current = weakref.ref(tape)
    return tape


def _handle(tape: Tape, i: int) -> Handle:
    h = _new(Handle)
    h.tape, h.i = tape, i
    return h


class Handle:
    __slots__ = ("tape", "i")
    tape: Tape
    i: int

    @property
    def data(self) -> float:
        return self.tape.vals[self.i]

    @property
    def grad(self) -> float:
        grads = self.tape.grads
        return grads[self.i] if self.i < len(grads) else 0.0

    def __add__(self, other: Handle | float) -> Handle:
        tape, a = self.tape, self.i
        vals, i = tape.vals, len(tape.vals)
        if isinstance(other, Handle):
            b = other.i
            out = vals[a] + vals[b]
            tape.edges.extend((i, a, 1.0, i, b, 1.0))
        else:
            out = vals[a] + other
            tape.edges.extend((i, a, 1.0))
        if out - out:
            raise ValueError(f"+: result {out!r} is not finite")
        vals.append(out)
        return _handle(tape, i)

    __radd__ = __add__

    def __mul__(self, other: Handle | float) -> Handle:
        tape, a = self.tape, self.i
        vals, i = tape.vals, len(tape.vals)
        if isinstance(other, Handle):
            b = other.i
            va, vb = vals[a], vals[b]
            out = va * vb
            tape.edges.extend((i, a, vb, i, b, va))
        else:
            out = vals[a] * other
            tape.edges.extend((i, a, other))
        if out - out:
            raise ValueError(f"*: result {out!r} is not finite")
        vals.append(out)
        return _handle(tape, i)

    __rmul__ = __mul__

    def relu(self) -> Handle:
        tape, a = self.tape, self.i
        vals, i = tape.vals, len(tape.vals)
        x = vals[a]
        vals.append(x if x > 0 else 0.0)
        tape.edges.extend((i, a, 1.0 if x > 0 else 0.0))
        return _handle(tape, i)

    def backward(self) -> None:
        """The flat tape's loop over every edge of the tape, newest first."""
        tape = self.tape
        grads = tape.grads
        grads[:] = [0.0] * len(tape.vals)
        grads[self.i] = 1.0
        rev = reversed(tape.edges)
        for d, p, c in zip(rev, rev, rev, strict=True):
            grads[p] += grads[c] * d


class Handles(w.Engine):
    name = "handles"

    def leaf(self, x: float) -> Handle:
        tape = _tape()
        tape.vals.append(x)
        return _handle(tape, len(tape.vals) - 1)

    def zero_grad(self, params: list[Any]) -> None:
        """Start the step from the parameters: drop the last step's nodes from their tape."""
        tape = params[0].tape
        del tape.vals[max(p.i for p in params) + 1:], tape.edges[:]

    def sgd(self, params: list[Any], lr: float) -> None:
        vals, grads = params[0].tape.vals, params[0].tape.grads
        for p in params:
            vals[p.i] -= lr * grads[p.i]


def main(argv: list[str] | None = None) -> None:
    from benchmarks import run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.handles")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per worker")
    args = parser.parse_args(argv)
    cells = [("mlp", w.MLP_POINTS), ("chain", 1_000), ("chain", 1_000_000)]
    engines = ["tape", "microgrid", "handles"]
    runs: dict[tuple[str, int, str], list[list[float]]] = {}
    for _ in range(args.rounds):
        for workload, size in cells:
            for e in engines:
                report = run.worker(e, workload, size, "--repeats", str(args.repeats),
                                    timeout=600)
                if "error" in report:
                    raise SystemExit(f"{e} {workload} {size}: {report['error']}")
                runs.setdefault((workload, size, e), []).extend(report["runs"])
    median = {k: statistics.median(map(sum, v)) for k, v in runs.items()}
    for workload, size in cells:
        for e in engines:
            t = median[workload, size, e]
            print(f"{f'{workload} {size:,}':15}  {e:9} {1e3 * t:9.1f} ms  "
                  f"{1e6 * t / run.ops_of(workload, size):5.2f} µs/op  "
                  f"{t / median[workload, size, 'tape']:4.2f}x the tape")
    for e in engines:
        growth = (median["chain", 1_000_000, e] / run.ops_of("chain", 1_000_000)) / (
            median["chain", 1_000, e] / run.ops_of("chain", 1_000))
        print(f"{e}: per-op cost at 1M ops / at 1k ops: {growth:.2f}x")


if __name__ == "__main__":
    main()
