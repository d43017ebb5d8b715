"""Every demo runs, prints the source document's quantities, and its checks pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from microgrid import Value, losses, topological_order
from microgrid.teaching import demos
from microgrid.teaching.demos import (
    _compare,
    apple,
    apple_orange,
    mlp_backprop,
    notation,
    perceptron,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
FAST = {"train": ["--fast", "--no-plot"], "pytorch": ["--fast"]}
NEEDS = {"pytorch": "torch"}  # a demo's optional dependency (.ci/run installs it)


def _needs(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"demo {name} needs {NEEDS[name]} "
                            f"(pip install -e '.[{NEEDS[name]}]')")


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_passes_its_checks(name, capsys):
    _needs(name)
    module = demos.load(name)
    assert module.__doc__ and len(module.__doc__.strip().splitlines()) == 1
    assert module.main(FAST.get(name, [])) == 0
    assert "OK:" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["nn.modules", "nn.optim", "teaching.layers", "nn.losses",
                                    "teaching", "teaching.demos", "cli.commands",
                                    *(f"teaching.demos.{name}" for name in demos.DEMOS)])
def test_docstrings_name_sources_as_a_learner_knows_them(module):
    # by the posts' titles and the book's author and title, not by names a reader cannot find
    import importlib
    mod = importlib.import_module(f"microgrid.{module}")
    texts = [mod.__doc__ or ""] + [getattr(mod, name).__doc__ or "" for name in dir(mod)
                                   if callable(getattr(mod, name))]
    vague = r"seed 00\d|source document|backprop-in-outline|issue \d|perceptron post"
    assert not any(re.search(vague, text) for text in texts), module


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_has_a_thin_entry_point_in_demos_folder(name):
    script = ROOT / "demos" / f"{name}.py"
    text = script.read_text()
    assert "from microgrid.cli import main" in text and f'["demo", "{name}", ' in text
    assert len(text.splitlines()) <= 10


@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_runs_and_returns_its_graph_after_backward(name, capsys):
    _needs(name)
    status, root = demos.load(name).run(FAST.get(name, []))
    assert status == 0
    assert isinstance(root, Value) and not root.is_leaf and root.grad == 1.0


def test_perceptron_graph_keeps_the_gradients_of_E_not_of_mse(capsys):
    root = perceptron.run(["--seed", "3"])[1]
    x, w, (o,) = perceptron.perceptron(1, 3)
    leaves = {v.label: v for v in topological_order(root) if v.is_leaf}
    assert leaves["x_0"].data == x[0].data  # seed 3's perceptron, not seed 0's
    # dE/dw_00 = (O - t) O (1 - O) x_0 with t = 1, not the F.mse_loss gradient
    assert leaves["w_00"].grad == pytest.approx((o.data - 1) * o.data * (1 - o.data) * x[0].data,
                                               abs=1e-15)


def test_train_graph_is_the_first_training_point_before_training(capsys):
    # Issue 24: it drew the first point through the trained model, L = 1.3e-06, 238 of 337
    # leaves with grad 0 and the rest about 1e-6: nothing to see. Now the untrained weights,
    # whose gradients the first step follows; the inputs are Values (a collapsed drawing shows
    # them) and the loss is a group of its own (it collapses to one node).
    from microgrid import draw
    from microgrid.nn.losses import bce_with_logits

    root = train.run(["--fast", "--no-plot"])[1]
    out = capsys.readouterr().out
    assert "the first point" in out and "untrained weights" in out  # it says what it draws
    leaves = [v for v in topological_order(root) if v.is_leaf]
    assert root.label == "L" and len(leaves) == 2 + 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1  # 8 units
    assert [v.label for v in leaves if v.label.startswith("x_")] == ["x_0", "x_1"]
    untrained = train.model_for(8, 0)
    assert all(v.data == p.data for p in untrained.parameters() for v in leaves
               if v.label == p.label)
    X, y = train.make_moons(30, noise=0.1, seed=0)
    assert root.data == bce_with_logits([untrained.output(X[0])], y[:1]).data > 0.5
    assert sum(v.grad != 0 for v in leaves) > len(leaves) / 4  # real gradients
    drawn = [v.grad for v in leaves]  # each weight's gradient for that point alone
    for v in topological_order(root):
        v.grad = 0.0
    root.backward()
    assert drawn == [v.grad for v in leaves]
    source = draw(root, collapse=1).source  # layer 1, 2, 3, the loss as one node, the inputs
    assert source.count("<b>layer ") == 3 and "<b>loss</b>" in source
    assert "x_0<br/>data" in source and "x_1<br/>data" in source
    assert "bce" not in source and "Σwx" not in source


def test_entry_point_script_runs():
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "apple.py")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "price:       220" in result.stdout


def test_entry_point_script_takes_the_commands_options(tmp_path):
    out = tmp_path / "apple.svg"
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "apple.py"), "-o", str(out),
                             "--style", "book"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "price:       220" in result.stdout and out.read_text().startswith("<?xml")


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


def test_apple_orange_layers_and_value_read_the_same_named_numbers(monkeypatch):
    monkeypatch.setattr(apple_orange, "ORANGE_NUM", 4)
    values, layers = apple_orange.build(), apple_orange.by_layers()
    assert layers["price"] == values["price"].data == pytest.approx((100 * 2 + 150 * 4) * 1.1)
    assert layers["dOrange"] == values["orange"].grad == pytest.approx(4 * 1.1)


def test_perceptron_and_mlp_backprop_use_the_shared_half_squared_error(monkeypatch, capsys):
    calls = []
    real = losses.half_squared_error
    for module in (perceptron, mlp_backprop):
        monkeypatch.setattr(module, "half_squared_error", lambda *a: calls.append(1) or real(*a))
    assert perceptron.main([]) == 0 and mlp_backprop.main([]) == 0
    assert len(calls) == 2 + 1  # perceptron: single and multi-output; mlp_backprop: one


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_backprop_checks_every_weight_and_bias(seed, capsys):
    assert mlp_backprop.main(["--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    n, j, k = mlp_backprop.N, mlp_backprop.J, mlp_backprop.K
    assert out.count("dE/dw[2]_") == j * k and out.count("dE/dw[1]_") == n * j
    assert out.count("dE/db[") == j + k


@pytest.mark.parametrize("seed", [0, 5])
def test_notation_prints_the_documents_names(seed, capsys):
    assert notation.main(["--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    for name in ["z = ", "a = ", "L = ", "  da ", "  dz ", "  dw_0", "  db ",
                 "da[2]", "dz[2]", "dW[2]_0_3", "db[2]_0", "da[1]_3", "dz[1]_3", "dW[1]_3_2",
                 "db[1]_3", "a[2]_0 = "]:
        assert name in out


def test_notation_two_layer_intermediate_gradients_are_the_closed_forms():
    x, y, layers, zs, acts, loss = notation.two_layer(3)
    loss.backward()
    assert zs[1][0].grad == pytest.approx(acts[1][0].data - y, abs=1e-12)  # dz[2] = a[2] - y


@pytest.mark.parametrize("seed", [0, 4])
def test_notation_batch_prints_examples_cost_and_averaged_gradients(seed, capsys):
    assert notation.main(["--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    m, nh, nx = notation.M, notation.NH, notation.NX
    for name in ["x(3)_2 = ", "y(3) = ", "z(3) = ", "a(3) = ", "L(3) = ", "a[2](3)_0 = ",
                 "J = ", "  dz(3) ", "  dz[2](3)_0 "]:
        assert name in out
    assert out.count("  dW[1]_") == 2 * nh * nx and out.count("  db[1]_") == 2 * nh  # both
    assert out.count("  dw_") == 2 * nx and out.count("  dz[2](") == m
    assert "differs" not in out


def test_notation_batch_cost_is_the_mean_loss_and_starts_with_the_single_example():
    x, y, *_ = notation.logistic_regression(2)
    xs, ys, w, b, zs, acts, losses, cost = notation.logistic_regression_batch(2, 3)
    assert (xs[0], ys[0]) == (x, y) and len(xs) == 3
    assert cost.data == pytest.approx(sum(loss.data for loss in losses) / 3, abs=1e-15)
    cost.backward()  # dJ/db = (1/m) Σ_i (a(i) - y(i))
    dz = [a.data - y for a, y in zip(acts, ys, strict=True)]
    assert b.grad == pytest.approx(sum(dz) / 3, abs=1e-12)
    assert notation.two_layer_batch(2, 3)[0][0] == notation.two_layer(2)[0]


def test_notation_fails_when_a_batch_formula_forgets_the_1_over_m(capsys, monkeypatch):
    monkeypatch.setattr(notation, "_average", sum)
    assert notation.main([]) == 1
    out = capsys.readouterr().out
    assert "db[1]_0" in out and "<-- differs" in out and "FAILED" in out


def test_train_fast_saves_a_png_of_boundary_and_loss(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="pip install -e '.[demos]' to test the picture")
    png = tmp_path / "train.png"
    assert train.main(["--fast", "--plot", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    out = capsys.readouterr().out
    assert "step   10/10  loss" in out
    assert f"saved the decision boundary and the loss curve to {png}" in out


def test_train_fast_saves_no_picture_and_has_no_target(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--fast"]) == 0
    assert list(tmp_path.iterdir()) == []  # train.png of an earlier full run is not overwritten
    out = capsys.readouterr().out
    assert "(no target)" in out and "target 0%" not in out and "saved" not in out


def test_train_fast_keeps_an_explicit_target(capsys):
    assert train.main(["--fast", "--target", "1.01"]) == 1
    assert "(target 101%)" in capsys.readouterr().out


def test_train_reaches_97_percent_with_both_optimizers(capsys):
    for optimizer in ("adam", "sgd"):
        assert train.main(["--optimizer", optimizer, "--steps", "50", "--no-plot"]) == 0
        out = capsys.readouterr().out
        accuracy = re.search(r"training accuracy (\d+\.\d)%", out)
        assert accuracy is not None and float(accuracy[1]) >= 97.0, out


def test_train_same_seed_same_losses():
    args = train._parser().parse_args(["--n", "20", "--hidden", "4", "--steps", "3"])
    assert train.train(args)[3] == train.train(args)[3]


def test_train_without_tqdm_or_matplotlib_falls_back(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert train.main(["--fast", "--plot", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert "step    1/10" in out and "matplotlib is not installed" in out
    assert 'pip install -e ".[demos]" in the clone' in out  # microgrid is not on PyPI
    assert not (tmp_path / "x.png").exists()


def test_train_below_target_exits_non_zero(capsys):
    args = ["--n", "20", "--hidden", "2", "--steps", "1", "--target", "1.0", "--no-plot"]
    assert train.main(args) == 1
    assert "below the target" in capsys.readouterr().out


def test_train_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--steps", "0"])
    assert e.value.code == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_newton_iterates_are_dezeros_and_a_mismatch_fails(capsys, monkeypatch):
    from microgrid.teaching.demos import newton
    status, root = newton.run([])
    assert status == 0 and root.label == "f'(x)" and root.data == 0.0  # f'(1) = 0
    monkeypatch.setattr(newton, "BOOK", [*newton.BOOK[:-1], 1.0 + 1e-14])
    assert newton.run([])[0] == 1
    assert "FAILED" in capsys.readouterr().out


def test_derivatives_returns_the_graph_of_the_nth_derivative(capsys, monkeypatch):
    import math

    from microgrid.teaching.demos import derivatives
    for order in (1, 3):
        status, root = derivatives.run(["--order", str(order)])
        assert status == 0 and root.grad == 1.0
        assert root.data == derivatives.closed_forms(0.5)[order - 1] or math.isclose(
            root.data, derivatives.closed_forms(0.5)[order - 1], rel_tol=1e-12)
        assert all(v.label != "x" or v.grad == derivatives.closed_forms(0.5)[order]
                   or math.isclose(v.grad, derivatives.closed_forms(0.5)[order], rel_tol=1e-12)
                   for v in topological_order(root) if v.is_leaf)
    monkeypatch.setattr(derivatives, "closed_forms", lambda x: [0.0] * 4)
    assert derivatives.run([])[0] == 1


@pytest.mark.parametrize("name, labels", [
    ("apple", ["苹果", "苹果的个数", "消费税", "总价格"]),
    ("apple_orange", ["苹果", "苹果的个数", "橘子", "橘子的个数", "消费税", "总价格"])])
def test_the_seeds_demos_in_their_own_words(name, labels, capsys, tmp_path):
    # --lang zh: the seed's labels on the values, the explanation in Chinese, the same check
    from microgrid.cli import main
    from microgrid.teaching import labels as words
    module = demos.load(name)
    status, root = module.run(["--lang", "zh"])
    out = capsys.readouterr().out
    assert status == 0 and "OK：层、自动微分" in out and "用书中的层手算" in out
    assert "dApple = 2.2 意味着" in out
    drawn = {v.label for v in topological_order(root)}
    assert set(labels) <= drawn and root.label == "总价格"
    english, _ = module.run([])
    assert english == 0 and "OK: the layers, autograd and the book agree" in capsys.readouterr().out
    dot = tmp_path / "g.dot"
    assert main(["demo", name, "--lang", "zh", "-o", str(dot)]) == 0
    source = dot.read_text()
    assert all(f">{label}</TD>" in source or f"{label} " in source for label in labels)
    assert f'>{words.say(name + "_title", "zh")}</TD>' in source  # the title, in Chinese
    with pytest.raises(SystemExit):
        module.run(["--lang", "fr"])
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def test_a_failed_check_says_so_in_chinese(monkeypatch, capsys):
    monkeypatch.setattr(apple_orange, "BOOK", {**apple_orange.BOOK, "dTax": 651})
    status, _ = apple_orange.run(["--lang", "zh"])
    out = capsys.readouterr().out
    assert status == 1 and "书中: 651" in out and "失败：" in out


def test_newton_prints_every_digit_of_the_books_iterates(capsys):
    from microgrid.teaching.demos import newton
    assert newton.main([]) == 0
    out = capsys.readouterr().out
    for x in newton.BOOK:
        assert f" {x!r} " in out  # 1.4545454545454546, as the book prints it
    assert "y.backward(create_graph=True)" in out and "relative 1e-15" in out


def test_pytorch_demo_shows_the_same_numbers_in_both_libraries(capsys):
    pytest.importorskip("torch", reason="pip install -e '.[torch]'")
    from microgrid.teaching.demos import pytorch
    status, root = pytorch.run(["--fast"])
    out = capsys.readouterr().out
    assert status == 0 and "OK: microgrid and PyTorch agree to within 1e-12" in out
    # the loss and every one of the 2*4+4 + 4*4+4 + 4+1 parameters' gradients, side by side
    rows = [line for line in out.splitlines() if re.match(r"  [wb]\[\d\]_[\d_]+ = \d", line)]
    assert len(rows) == 12 + 20 + 5 and "w[2]_0_3 = 2.weight[0, 3]" in out
    assert re.search(r"PyTorch is \d+x faster", out)
    assert root.label == "L" and root.grad == 1.0


def test_pytorch_demo_fails_when_the_libraries_differ(capsys, monkeypatch):
    pytest.importorskip("torch", reason="pip install -e '.[torch]'")
    from microgrid.teaching.demos import pytorch
    real = pytorch.torch_loss
    monkeypatch.setattr(pytorch, "torch_loss", lambda *a: real(*a) * (1 + 1e-11))
    assert pytorch.run(["--fast"])[0] == 1
    assert "FAILED" in capsys.readouterr().out


def test_pytorch_demo_without_torch_says_what_to_install(capsys, monkeypatch):
    import sys

    from microgrid.teaching.demos import pytorch
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(SystemExit) as e:
        pytorch.run([])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("microgrid demo pytorch needs PyTorch, which is not installed: pip "
                          "install torch") and err.count("\n") == 1
