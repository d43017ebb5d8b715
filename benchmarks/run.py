"""Benchmark runner: ``python -m benchmarks [--repeats 6] [--rounds 3] [--quick]``.

Starts one worker process (benchmarks/worker.py) per engine, workload and size, checks that
every engine computed the same loss and gradients as the flat tape, and prints a table of
medians, per-op costs, bytes per node and ratios. A full run writes benchmarks/results.json,
benchmarks/per_op_cost.png and the table in benchmarks/README.md; a ``--quick`` run writes to
benchmarks/quick/ instead, so it never overwrites published numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import workloads as w

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = ["tape", "micrograd", "torch"]
ENGINES = ["tape", "microgrid", "microgrid.nn", "compiled", "micrograd", "torch"]
STEP_ONLY = ("microgrid.nn", "compiled")  # variants of the MLP step; no other workload
CHAIN_SIZES = [1_000, 10_000, 100_000, 210_000, 1_000_000]
QUICK_CHAIN_SIZES = [1_000, 10_000, 100_000]
DEPTHS = [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
          500_000, 1_000_000]
TREE = 65_536  # products, so 131,071 ops
MEMORY_CHAIN = 100_000
MARKERS = ("<!-- results:start -->", "<!-- results:end -->")


# --- running workers -------------------------------------------------------------------------
def worker(engine: str, workload: str, size: int, *options: str, timeout: float
           ) -> dict[str, Any]:
    """Run one worker; its JSON report, or {"error": why} if it failed or crashed."""
    cmd = [sys.executable, "-m", "benchmarks.worker", engine, workload, str(size), *options]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode < 0:
        return {"error": f"crashed ({signal.Signals(-done.returncode).name})"}
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"error": lines[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def ops_of(workload: str, size: int) -> int:
    if workload == "mlp":
        return w.mlp_ops(2, w.MLP_SIZES, size)
    if workload == "chain":
        return 3 * w.chain_steps(size)
    return 2 * size - 1


def summarize(report: dict[str, Any], ops: int) -> dict[str, Any]:
    """Medians in ms of the total and of each phase, and the median cost per op in µs."""
    runs = report["runs"]
    total = statistics.median(sum(r) for r in runs)
    phases = [statistics.median(r[i] for r in runs) for i in range(3)]
    return {"runs": len(runs), "median_ms": 1e3 * total,
            "all_ms": [round(1e3 * sum(r), 3) for r in runs],
            "build_ms": 1e3 * phases[0], "backward_ms": 1e3 * phases[1],
            "free_ms": 1e3 * phases[2], "per_op_us": 1e6 * total / ops,
            "result": report["result"], "compile_seconds": report.get("compile_seconds")}


def available(engine: str) -> str | None:
    """None if `engine` can run here, else why not."""
    module = {"microgrid.nn": "microgrid.nn", "micrograd": "micrograd", "torch": "torch"}
    name = module.get(engine)
    if name and importlib.util.find_spec(name) is None:
        return f"{name} is not installed" + (
            " (pip install torch==2.13.0)" if engine == "torch" else "")
    return None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    engines = [e for e in ENGINES if e in args.engines]
    notes = {e: why for e in engines if (why := available(e))}
    engines = [e for e in engines if e not in notes]
    chain_sizes = QUICK_CHAIN_SIZES if args.quick else CHAIN_SIZES
    tree = 4_096 if args.quick else TREE
    memory_chain = 10_000 if args.quick else MEMORY_CHAIN
    depths = [d for d in DEPTHS if not args.quick or d <= 100_000]
    per_worker = ["--repeats", str(-(-args.repeats // args.rounds)), "--budget",
                  str(args.budget / args.rounds)]

    cells: list[dict[str, Any]] = []
    gc_off: list[dict[str, Any]] = []  # the same timings with the garbage collector disabled

    def add(engine: str, workload: str, size: int, mode: str, report: dict[str, Any],
            began: float, collector: str = "on") -> None:
        ops = ops_of(workload, size)
        row = {"engine": engine, "workload": workload, "size": size, "ops": ops, "mode": mode}
        if "error" in report:
            row["error"] = report["error"]
        elif mode == "time":
            row.update(summarize(report, ops))
        else:
            row.update({k: report[k] / ops if report[k] is not None else None
                        for k in ("rss_bytes", "traced_bytes")})
        (cells if collector == "on" else gc_off).append(row)
        shown = row.get("error") or (f"{row['median_ms']:.1f} ms" if mode == "time" else
                                     f"{row['rss_bytes']:.0f} B/op RSS")
        print(f"  {engine:13} {mode:6} {workload:5} {size:>9,}: {shown}"
              f"{'' if collector == 'on' else ' (gc off)'}"
              f"  [{time.perf_counter() - began:.0f} s]", file=sys.stderr, flush=True)

    def timed(workload: str, size: int, names: list[str], collector: str = "on") -> None:
        """Time `workload` on each engine in `names`, in `args.rounds` rounds that take the
        engines in turn, so that a slow spell of a shared machine hits every engine alike."""
        began = time.perf_counter()
        reports: dict[str, list[dict[str, Any]]] = {e: [] for e in names}
        for _ in range(args.rounds):
            for e in names:
                reports[e].append(worker(e, workload, size, "--mode", "time", *per_worker,
                                         "--gc", collector, timeout=args.timeout))
        for e in names:
            failed = next((r for r in reports[e] if "error" in r), None)
            add(e, workload, size, "time", failed or {
                "runs": [run for r in reports[e] for run in r["runs"]],
                "result": reports[e][0]["result"],
                "compile_seconds": statistics.median(
                    r["compile_seconds"] for r in reports[e]) if e == "compiled" else None},
                began, collector)

    def memory(engine: str, workload: str, size: int) -> None:
        began = time.perf_counter()
        add(engine, workload, size, "memory",
            worker(engine, workload, size, "--mode", "memory", timeout=args.timeout), began)

    plain = [e for e in engines if e not in STEP_ONLY]
    timed("mlp", w.MLP_POINTS, engines)
    for n in chain_sizes:
        timed("chain", n, plain)
    timed("tree", tree, plain)
    for engine in engines:
        if engine == "compiled":
            continue  # no graph is alive while the compiled step runs
        memory(engine, "mlp", w.MLP_POINTS)
        if engine in plain:
            memory(engine, "chain", memory_chain)
    print("garbage collector off:", file=sys.stderr, flush=True)
    collected = [e for e in engines if e in ("tape", "microgrid", "micrograd")]
    timed("mlp", w.MLP_POINTS, collected, "off")
    for n in (chain_sizes[0], chain_sizes[-1]):
        timed("chain", n, collected, "off")

    depth: dict[str, dict[str, Any]] = {}
    for engine in engines:
        if engine in STEP_ONLY:
            continue
        survived, failure = 0, None
        for d in depths:
            report = worker(engine, "chain", d, "--mode", "depth", timeout=args.timeout)
            if "error" in report:
                failure = {"depth": d, "error": report["error"]}
                break
            survived = 3 * w.chain_steps(d)
        depth[engine] = {"survives": survived, "fails": failure, "tried_up_to": depths[-1]}
        print(f"  {engine:13} depth  {survived:,} {failure or ''}", file=sys.stderr, flush=True)

    return {"machine": machine(), "quick": args.quick, "repeats": args.repeats,
            "rounds": args.rounds,
            "cells": cells, "gc_off": gc_off, "depth": depth, "notes": notes,
            "checks": check(cells + gc_off)}


def check(cells: list[dict[str, Any]]) -> list[str]:
    """Every engine's loss and gradients must match the tape's (to 1e-9, relative)."""
    problems = []
    ref = {(c["workload"], c["size"]): c["result"] for c in cells
           if c["engine"] == "tape" and "result" in c}
    for c in cells:
        expected = ref.get((c["workload"], c["size"]))
        if "result" not in c or expected is None:
            continue
        (loss, grads), (loss0, grads0) = c["result"], expected
        got, want = [loss, *grads], [loss0, *grads0]
        if len(got) != len(want) or any(abs(a - b) > 1e-9 * max(abs(a), abs(b)) + 1e-300
                                        for a, b in zip(got, want, strict=True)):
            problems.append(f"{c['engine']} {c['workload']} {c['size']}: result differs "
                            f"from the flat tape: {loss!r} vs {loss0!r}")
    return problems


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in ("micrograd", "torch"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:
            versions[name] = None
    engine = (ROOT / "microgrid" / "core" / "engine.py").read_bytes()
    git = subprocess.run(["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg(),
            "microgrid_engine_sha256": hashlib.sha256(engine).hexdigest()[:12], "git": git,
            "date": time.strftime("%Y-%m-%d %H:%M"), **versions}


# --- reporting -------------------------------------------------------------------------------
def ratio(mine: float | None, theirs: float | None, better: str, worse: str) -> str:
    if not mine or not theirs:
        return "–"
    return f"{theirs / mine:.1f}x {better}" if theirs >= mine else f"{mine / theirs:.1f}x {worse}"


def find(cells: list[dict[str, Any]], engine: str, workload: str, size: int | None, mode: str
         ) -> dict[str, Any] | None:
    """The cell of `engine` on `workload` at `size` (any size if None) in `mode`, if any."""
    for c in cells:
        if (c["engine"], c["workload"], c["mode"]) == (engine, workload, mode) and (
                size is None or c["size"] == size):
            return c
    return None


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table, microgrid against each peer."""
    cells = results["cells"]
    engines = [e for e in ["tape", "microgrid", "micrograd", "torch"]
               if any(c["engine"] == e for c in cells)]

    def get(engine: str, workload: str, size: int | None, mode: str) -> dict[str, Any] | None:
        return find(cells, engine, workload, size, mode)

    head = ["workload", "ops", *engines, "microgrid vs micrograd", "vs torch", "vs flat tape"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name: str, ops: str, values: dict[str, float | None], shown: dict[str, str],
            better: str = "", worse: str = "") -> None:
        mine = values.get("microgrid")
        ratios = [ratio(mine, values.get(p), better, worse) if better else ""
                  for p in ("micrograd", "torch", "tape")]
        lines.append("| " + " | ".join([name, ops, *(shown[e] for e in engines), *ratios]) + " |")

    def time_row(name: str, workload: str, size: int, mine: str = "microgrid") -> None:
        values: dict[str, float | None] = {}
        shown: dict[str, str] = {}
        for e in engines:
            c = get(mine if e == "microgrid" else e, workload, size, "time")
            if c is None:
                values[e], shown[e] = None, "–"
            elif "error" in c:
                values[e], shown[e] = None, c["error"].split(":")[0]
            else:
                values[e] = c["median_ms"]
                shown[e] = f"{c['median_ms']:,.1f} ms"
                if workload == "chain":
                    shown[e] += f" ({c['per_op_us']:.2f} µs/op)"
        row(name, f"{ops_of(workload, size):,}", values, shown, "faster", "slower")

    size = next((c["size"] for c in cells if c["workload"] == "mlp"), w.MLP_POINTS)
    sizes = ", ".join(map(str, w.MLP_SIZES))
    time_row(f"MLP(2, [{sizes}]) step, {size} points, plain Value ops", "mlp", size)
    if get("microgrid.nn", "mlp", None, "time"):
        time_row("same step, microgrid.nn.MLP (peers: plain ops)", "mlp", size, "microgrid.nn")
    if get("compiled", "mlp", None, "time"):
        time_row("same step, plain ops, microgrid.compile", "mlp", size, "compiled")
    for n in sorted({c["size"] for c in cells if c["workload"] == "chain" and c["mode"] == "time"}):
        time_row(f"chain {n:,}, forward + backward", "chain", n)
    for n in sorted({c["size"] for c in cells if c["workload"] == "tree"}):
        time_row(f"wide tree: {n:,} products summed pairwise", "tree", n)

    growth: dict[str, float | None] = {}
    for e in engines:
        per_op = [c.get("per_op_us") for c in sorted(cells, key=lambda c: c["size"])
                  if c["engine"] == e and c["workload"] == "chain" and c["mode"] == "time"]
        growth[e] = per_op[-1] / per_op[0] if len(per_op) > 1 and all(per_op) else None
    row("chain per-op cost, largest / smallest size", "", growth,
        {e: f"{g:.2f}x" if g else "–" for e, g in growth.items()})

    memory = [("chain", "chain", "microgrid"), ("mlp", "MLP loss", "microgrid"),
              ("mlp", "MLP loss (microgrid.nn)", "microgrid.nn")]
    for workload, label, mine in memory:
        if not get(mine, workload, None, "memory"):
            continue
        for key, how in (("traced_bytes", "tracemalloc"), ("rss_bytes", "RSS growth")):
            values, shown = {}, {}
            for e in engines:
                c = get(mine if e == "microgrid" else e, workload, None, "memory")
                v = c.get(key) if c else None
                values[e] = v
                shown[e] = f"{v:,.0f}" if v else ("n/a" if c and "error" not in c else "–")
            ops = next((c["ops"] for c in cells if c["workload"] == workload
                        and c["mode"] == "memory"), 0)
            row(f"bytes per op, {label} graph alive ({how})", f"{ops:,}", values, shown,
                "smaller", "larger")

    depth = results["depth"]
    shown = {}
    for e in engines:
        d = depth.get(e)
        if not d:
            shown[e] = "–"
        elif d["fails"]:
            shown[e] = f"{d['survives']:,} ({d['fails']['error'].split(':')[0]} at " \
                       f"{d['fails']['depth']:,})"
        else:
            shown[e] = f"≥ {d['survives']:,} (all tried)"
    lines.append("| " + " | ".join(["deepest chain backward() survives", "",
                                      *(shown[e] for e in engines), "", "", ""]) + " |")
    return "\n".join(lines)


def compiled_goals(results: dict[str, Any]) -> str:
    """The goals of issue 17 for the compiled MLP step, checked against this run."""
    cells = results["cells"]

    def median(engine: str) -> float | None:
        c = find(cells, engine, "mlp", None, "time")
        return c.get("median_ms") if c else None

    compiled, plain = median("compiled"), median("microgrid")
    c = find(cells, "compiled", "mlp", None, "time")
    made = c.get("compile_seconds") if c else None
    if not compiled:
        return ""
    lines = ["| goal (issue 17), MLP step | measured | |", "|---|---|---|"]
    for peer, goal in (("micrograd", 100), ("tape", 3)):
        theirs = median(peer)
        if theirs:
            times = theirs / compiled
            lines.append(f"| compiled ≥ {goal}x faster than {peer} | {times:.1f}x | "
                         f"{'met' if times >= goal else 'missed'} |")
    if made and plain:
        steps = 1e3 * made / plain
        lines.append(f"| trace + generate + compile ≤ 25 plain-Value steps | {made:.2f} s = "
                     f"{steps:.1f} steps | {'met' if steps <= 25 else 'missed'} |")
    return "\n".join(lines)


def phases(results: dict[str, Any]) -> str:
    """Where each engine's time goes: build (forward), backward, free, in ms (medians)."""
    lines = ["| workload | engine | build | backward | free |", "|---|---|---|---|---|"]
    for c in results["cells"]:
        if c["mode"] == "time" and "median_ms" in c and (
                c["workload"] != "chain" or c["size"] == max(
                    x["size"] for x in results["cells"] if x["workload"] == "chain")):
            lines.append(f"| {c['workload']} {c['size']:,} | {c['engine']} | "
                         f"{c['build_ms']:,.1f} | {c['backward_ms']:,.1f} | {c['free_ms']:,.1f} |")
    return "\n".join(lines)


def collector_share(results: dict[str, Any]) -> str:
    """Each engine's time with the garbage collector on and off, and the collector's share."""
    lines = ["| workload | engine | GC on | GC off | the collector's share |",
             "|---|---|---|---|---|"]
    for off in results.get("gc_off", []):
        on = find(results["cells"], off["engine"], off["workload"], off["size"], "time")
        if not on or "median_ms" not in on or "median_ms" not in off:
            continue
        share = 1 - off["median_ms"] / on["median_ms"]
        lines.append(f"| {off['workload']} {off['size']:,} | {off['engine']} | "
                     f"{on['median_ms']:,.1f} ms | {off['median_ms']:,.1f} ms | {share:.0%} |")
    return "\n".join(lines)


def describe(results: dict[str, Any]) -> str:
    m = results["machine"]
    notes = "".join(f"\n- {e} skipped: {why}" for e, why in results["notes"].items())
    checks = "".join(f"\n- MISMATCH: {p}" for p in results["checks"]) or (
        "\n- every engine's loss and gradients match the flat tape's (relative 1e-9)")
    return (f"Machine: {m['cpu']}, {m['nproc']} CPUs, Python {m['python']}, {m['platform']}; "
            f"micrograd {m['micrograd']}, torch {m['torch']}; microgrid at {m['git']}, engine.py "
            f"sha256 {m['microgrid_engine_sha256']}; {m['date']}, load average "
            f"{', '.join(f'{x:.2f}' for x in m['load_average'])}. Medians of "
            f"{results['repeats']} runs after warm-up, in {results.get('rounds', 1)} rounds of "
            f"one worker process per engine, the engines taken in turn; garbage collector "
            f"on.{notes}{checks}")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in ["tape", "microgrid", "micrograd", "torch"]:
        points = sorted((c["ops"], c["per_op_us"]) for c in results["cells"]
                        if c["engine"] == e and c["workload"] == "chain" and "per_op_us" in c)
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=e)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ops in the chain (forward + backward)")
    ax.set_ylabel("µs per op (median)")
    ax.set_title("Per-op cost against graph size: chain x = (x * a + b).relu()")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], out: Path, readme: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out / "per_op_cost.png")
    if readme:
        path = HERE / "README.md"
        text = path.read_text()
        start, end = text.index(MARKERS[0]), text.index(MARKERS[1])
        goals = compiled_goals(results)
        goals = f"\n\nThe compiled step against its goals:\n\n{goals}" if goals else ""
        block = f"{MARKERS[0]}\n{table(results)}\n\n{describe(results)}{goals}\n\n" \
                f"Where the time goes (ms, medians):\n\n{phases(results)}\n\n" \
                f"What the garbage collector costs (the same runs with it disabled):\n\n" \
                f"{collector_share(results)}\n"
        path.write_text(text[:start] + block + text[end:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--repeats", type=int, default=6, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="split the repeats over this many worker processes per engine, "
                             "taking the engines in turn")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, 1 repeat; writes to benchmarks/quick/")
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="stop repeating a measurement after this many seconds")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up on one worker process after this many seconds")
    parser.add_argument("--out", type=Path, help="where to write results (default: "
                        "benchmarks/, or benchmarks/quick/ with --quick)")
    args = parser.parse_args(argv)
    given = argv if argv is not None else sys.argv
    if args.quick and "--repeats" not in given:
        args.repeats = 1
    if args.quick and "--rounds" not in given:
        args.rounds = 1
    results = measure(args)
    print(f"\n{table(results)}\n\n{describe(results)}\n\n{compiled_goals(results)}\n\n"
          f"{phases(results)}\n\n{collector_share(results)}")
    out = args.out or (HERE / "quick" if args.quick else HERE)
    write(results, out, readme=out == HERE)
    print(f"\nwrote {out / 'results.json'} and {out / 'per_op_cost.png'}")


if __name__ == "__main__":
    main()
