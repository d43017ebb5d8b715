"""`microgrid demo nudge` and `microgrid demo modes` check themselves: exit 1 on a mismatch."""

from __future__ import annotations

import re

from microgrid.core import forward
from microgrid.teaching.demos import modes, nudge


def test_demo_nudge_prints_its_tables_and_passes(capsys):
    status, root = nudge.run([])
    out = capsys.readouterr().out
    assert status == 0 and root.label == "price"
    assert re.search(r"Δprice += +2.2 +\(predicted 2.2\)", out)
    assert "order 2.000, 2.000, 2.000 (expected 2)" in out
    assert "central error shrinks 1000x" in out and "OK:" in out


def test_demo_nudge_fails_when_a_nudge_is_wrong(monkeypatch, capsys):
    real = forward.nudge

    def off(root, shifts):  # the prediction of a node off by a little: an order is wrong
        return {v: forward.Nudge(e.actual * 1.001, e.predicted) for v, e in
                real(root, shifts).items()}

    monkeypatch.setattr(nudge, "nudge", off)
    assert nudge.main([]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_demo_modes_counts_and_agrees(capsys):
    status, root = modes.run([])
    out = capsys.readouterr().out
    assert status == 0 and root.label == "price"
    assert "P = 337 parameters" in out
    assert "forward mode       337" in out and "OK:" in out


def test_demo_modes_fails_when_forward_mode_is_wrong(monkeypatch, capsys):
    real = forward.forward_sweep

    def off(order, seeds):
        tangents, ops = real(order, seeds)
        return {v: t * (1 + 1e-9) for v, t in tangents.items()}, ops

    monkeypatch.setattr(modes, "forward_sweep", off)
    assert modes.main([]) == 1
    assert "<-- differs" in capsys.readouterr().out
