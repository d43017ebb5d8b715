"""Every demo runs, prints the source document's quantities, and its checks pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microgrid import Value, demos
from microgrid.demos import _compare, apple, apple_orange, perceptron

ROOT = Path(__file__).resolve().parent.parent
FAST = {"train": ["--fast", "--no-plot"]}


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_passes_its_checks(name, capsys):
    module = demos.load(name)
    assert module.__doc__ and len(module.__doc__.strip().splitlines()) == 1
    assert module.main(FAST.get(name, [])) == 0
    assert "OK:" in capsys.readouterr().out


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_has_a_thin_entry_point_in_demos_folder(name):
    script = ROOT / "demos" / f"{name}.py"
    text = script.read_text()
    assert f"from microgrid.demos.{name} import main" in text
    assert len(text.splitlines()) <= 8


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_graph_is_a_value_after_backward(name):
    module = demos.load(name)
    root = module.graph()
    assert isinstance(root, Value) and not root.is_leaf and root.grad == 1.0


def test_entry_point_script_runs():
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "apple.py")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "price:       220" in result.stdout


def test_apple_prints_the_books_numbers(capsys):
    assert apple.main([]) == 0
    out = capsys.readouterr().out
    for line in ["price:       220", "dApple:      2.2", "dApple_num:  110", "dTax:        200"]:
        assert line in out
    assert apple.by_layers() == pytest.approx(apple.by_value(), abs=0)


def test_apple_orange_layers_and_value_agree():
    values = apple_orange.build()
    layers = apple_orange.by_layers()
    assert layers["price"] == values["price"].data
    assert layers["dOrange_num"] == values["orange_num"].grad == pytest.approx(165)


def test_a_demo_exits_non_zero_when_a_check_fails(capsys, monkeypatch):
    monkeypatch.setitem(apple.BOOK, "dTax", 201)
    assert apple.main([]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert _compare.compare(["", "a", "b"], [("x", 1.0, 1.0 + 2e-9)]) is False
    assert _compare.compare(["", "a", "b"], [("x", 1.0, 1.0 + 1e-12)]) is True


def test_perceptron_formula_rows(capsys):
    assert perceptron.main(["--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("dE/dw_") == 10 + 20
    assert "differs" not in out
