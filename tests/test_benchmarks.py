"""Smoke tests of the benchmark harness: on tiny sizes, every engine computes the same loss and
gradients as the flat tape, and the worker and the report work. No timing is asserted."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import run, worker  # importable: conftest puts the repository on sys.path
from benchmarks import workloads as w
from benchmarks.engines import ENGINES

ROOT = Path(__file__).resolve().parent.parent

SIZES = [4, 3, 1]
MODULES = {"microgrid": "microgrid", "microgrid.nn": "microgrid.nn", "micrograd": "micrograd",
           "torch": "torch"}


def engine(name):
    if name in MODULES and importlib.util.find_spec(MODULES[name]) is None:
        pytest.skip(f"{MODULES[name]} is not installed")
    return ENGINES[name]()


def same(got, want):
    (loss, grads), (loss0, grads0) = got, want
    assert len(grads) == len(grads0)
    for a, b in zip([loss, *grads], [loss0, *grads0], strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)


def nothing():
    pass


def tiny_mlp():
    return w.mlp_weights(2, SIZES, seed=3), *w.moons(5, seed=3)


def test_tape_mlp_has_the_counted_ops_and_gradients(monkeypatch):
    weights, xs, ys = tiny_mlp()
    n_params = sum(len(ws) + 1 for layer in weights for ws, _ in layer)
    tapes = []

    class Spy(w.Tape):
        def __init__(self):
            super().__init__()
            tapes.append(self)

    monkeypatch.setattr(w, "Tape", Spy)
    loss, grads = w.tape_mlp_step([list(layer) for layer in weights], xs, ys, nothing)
    assert len(tapes[0].vals) - n_params == w.mlp_ops(2, SIZES, 5)
    # d(loss)/d(output bias) by hand: mean over points of -y where the margin is violated
    model, _ = w.plain_mlp(engine("microgrid"), weights)
    margins = [1 - y * model(x).data for x, y in zip(xs, ys, strict=True)]
    expected = sum(-y for y, m in zip(ys, margins, strict=True) if m > 0) / len(ys)
    assert grads[-1] == pytest.approx(expected + 2 * w.ALPHA * weights[-1][0][1])
    assert loss > 0


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_matches_the_tape_on_the_mlp_step(name):
    e = engine(name)
    weights, xs, ys = tiny_mlp()
    model, params = e.mlp(weights)
    got = w.mlp_step(e, model, params, xs, ys, nothing)
    want = w.tape_mlp_step([list(layer) for layer in weights], xs, ys, nothing)
    same(got, want)


@pytest.mark.parametrize("name", ["microgrid", "micrograd", "torch", "handles"])
@pytest.mark.parametrize("workload", ["chain", "tree"])
def test_every_engine_matches_the_tape_on_chain_and_tree(name, workload):
    e = engine(name)
    size = 30 if workload == "chain" else 16
    got = getattr(w, workload)(e, size, nothing)
    want = getattr(w, f"tape_{workload}")(size, nothing)
    same(got, want)
    assert any(g != 0 for g in got[1])


def test_workloads_call_mark_at_four_phase_boundaries():
    calls = []
    w.tape_chain(9, lambda: calls.append(1))
    assert len(calls) == 4
    calls.clear()
    w.chain(engine("microgrid"), 9, lambda: calls.append(1))
    assert len(calls) == 4


@pytest.mark.parametrize("mode", ["time", "time --gc off", "memory", "depth"])
def test_worker_reports_one_json_line(mode):
    mode, *options = mode.split()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", "microgrid", "chain", "30", "--mode", mode,
         "--repeats", "2", *options], cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    if mode == "time":
        assert report["gc"] == ("off" if options else "on")
        assert len(report["runs"]) == 2 and all(len(r) == 3 for r in report["runs"])
    elif mode == "memory":
        assert report["traced_bytes"] > 0
    else:
        same(report["result"], w.tape_chain(30, nothing))


def test_memory_sees_the_graph_alive():
    bytes_ = worker.memory(worker.make_run("tape", "chain", 3000), python_only=True)
    assert bytes_["traced_bytes"] > 3000 * 3 * 8  # at least a pointer per op in each list


def test_report_renders_results_errors_and_skips():
    cells = []
    for e in ["tape", "microgrid", "micrograd"]:
        for size in (1000, 10000):
            report = {"runs": [[0.001, 0.002, 0.0001]] * 3, "result": [1.0, [2.0]]}
            cells.append({"engine": e, "workload": "chain", "size": size, "mode": "time",
                          "ops": run.ops_of("chain", size),
                          **run.summarize(report, run.ops_of("chain", size))})
    cells.append({"engine": "torch", "workload": "chain", "size": 1000, "mode": "time",
                  "ops": 999, "error": "crashed (SIGSEGV)"})
    cells.append({"engine": "microgrid", "workload": "chain", "size": 100, "mode": "memory",
                  "ops": 99, "rss_bytes": 120.0, "traced_bytes": 110.0})
    results = {"cells": cells, "notes": {"microgrid.nn": "microgrid.nn is not installed"},
               "depth": {"micrograd": {"survives": 498, "tried_up_to": 10**6,
                                       "fails": {"depth": 1000, "error": "RecursionError: x"}}},
               "repeats": 3, "machine": run.machine()}
    off = {**cells[2], **run.summarize({"runs": [[0.0005, 0.002, 0.0001]] * 3,
                                        "result": [1.0, [2.0]]}, cells[2]["ops"])}
    results["gc_off"] = [off]
    results["checks"] = run.check(cells)
    text = run.table(results) + run.describe(results) + run.phases(results)
    assert "crashed (SIGSEGV)" in text and "RecursionError at 1,000" in text
    assert "| chain 1,000 | microgrid | 3.1 ms | 2.6 ms | 16% |" in run.collector_share(results)
    assert "microgrid.nn skipped" in text and "MISMATCH" not in text
    assert "1.0x faster" in text  # same times everywhere


def test_the_compiled_engine_matches_the_tape_and_reports_its_compile_time():
    compiled = worker.make_run("compiled", "mlp", 4)
    tape = worker.make_run("tape", "mlp", 4)
    assert compiled.compile_seconds > 0
    first = compiled(nothing)
    same(first, tape(nothing))
    second = compiled(nothing)  # both updated their weights with SGD: read afresh
    same(second, tape(nothing))
    assert second[0] != first[0]
    calls = []
    compiled(lambda: calls.append(1))
    assert len(calls) == 4


def test_compiled_goals_are_checked_against_the_run():
    def cell(engine, ms, **extra):
        report = {"runs": [[ms / 1e3, 0.0, 0.0]] * 3, "result": [1.0, [2.0]], **extra}
        return {"engine": engine, "workload": "mlp", "size": 100, "mode": "time",
                "ops": 65077, **run.summarize(report, 65077)}
    cells = [cell("compiled", 5.0, compile_seconds=2.0), cell("microgrid", 100.0),
             cell("micrograd", 600.0), cell("tape", 50.0)]
    text = run.compiled_goals({"cells": cells})
    assert "| compiled ≥ 100x faster than micrograd | 120.0x | met |" in text
    assert "| compiled ≥ 3x faster than tape | 10.0x | met |" in text
    assert "2.00 s = 20.0 steps | met |" in text
    cells[0] = cell("compiled", 10.0, compile_seconds=3.0)
    text = run.compiled_goals({"cells": cells})
    assert "60.0x | missed" in text and "30.0 steps | missed" in text
    assert "same step, plain ops, microgrid.compile" in run.table(
        {"cells": cells, "depth": {}})


@pytest.mark.browser
def test_the_widget_benchmark_moves_both_widgets_in_jupyterlab():
    pytest.importorskip("anywidget", reason='needs anywidget: pip install "microgrid[notebook]"')
    pytest.importorskip("jupyterlab", reason="needs JupyterLab (pip install -e '.[dev]')")
    from benchmarks import browser, widget

    if browser.chromium_executable() is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    results = widget.browser_times(moves=2)
    assert list(results) == list(widget.GOALS_MS)
    for single, drags in results.values():  # every move answered: a picture for each sent
        assert len(single) == 2 and all(ms > 0 for ms in single)
        for drag in drags:
            assert drag["ms"] > 0 and 1 <= drag["drawn"] <= widget.DRAG
            assert drag["drawn"] + drag["dropped"] <= widget.DRAG


@pytest.mark.browser
def test_the_widget_libraries_benchmark_checks_both_pictures(tmp_path):
    """anywidget's interact and the stock-ipywidgets build, moved once and dragged, in
    JupyterLab: browser_run raises if either picture shows numbers other than Python's."""
    pytest.importorskip("anywidget", reason='needs anywidget: pip install "microgrid[notebook]"')
    pytest.importorskip("jupyterlab", reason="needs JupyterLab (pip install -e '.[dev]')")
    from benchmarks import browser
    from benchmarks import widget_libraries as libraries

    if browser.chromium_executable() is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    results = libraries.browser_run(["apple/orange"], 1, tmp_path)
    for library in libraries.LIBRARIES:
        (ms,) = results["move"]["apple/orange", library]
        drag = results["drag"]["apple/orange", library]
        assert ms > 0 and 1 <= drag["pictures"] <= libraries.DRAG_PRESSES
    assert results["drag"]["apple/orange", "ipywidgets"]["dropped"] is None  # no front end
    assert libraries.kernel_share(["apple/orange"], 2)["apple/orange"] > 0
