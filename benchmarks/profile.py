"""Profile one workload on one engine: ``python -m benchmarks.profile mlp|chain|tree [SIZE]``.

Prints the phase times of one plain run (build, backward, free), then a cProfile table of the
functions with the most own time (``--pyinstrument`` for a sampling profile instead, which
distorts small functions less). Default engine: microgrid.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time

from benchmarks.worker import WARMUP_CALLS, WARMUP_SIZES, make_run

DEFAULT_SIZES = {"mlp": 100, "chain": 1_000_000, "tree": 65_536}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("workload", choices=list(DEFAULT_SIZES))
    parser.add_argument("size", type=int, nargs="?")
    parser.add_argument("--engine", default="microgrid")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    sys.setrecursionlimit(10**8)
    run = make_run(args.engine, args.workload, args.size or DEFAULT_SIZES[args.workload])
    warmup = make_run(args.engine, args.workload, WARMUP_SIZES[args.workload])
    for _ in range(WARMUP_CALLS):  # as the worker does: past CPython's specialization point
        warmup(lambda: None)
    run(lambda: None)
    marks: list[float] = []
    run(lambda: marks.append(time.perf_counter()))
    names = ("build", "backward", "free")
    print("  ".join(f"{n} {1e3 * (b - a):.1f} ms"
                    for n, a, b in zip(names, marks, marks[1:], strict=False)))
    if args.pyinstrument:
        from pyinstrument import Profiler
        with Profiler(interval=0.0005) as sampler:
            run(lambda: None)
        sampler.print(show_all=False)
    else:
        with cProfile.Profile() as profiler:
            run(lambda: None)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
