"""What a teacher takes away (issue 24): the demos' pictures, one name for a value everywhere,
and the small things a class trips on (the quiz's blank line, `demo compiled`'s columns,
`explain`'s wording, `--wrt`, `demo --animate`, the player's `focus`, the citations)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from microgrid import Value, backward_steps, draw, explain, topological_order, tree
from microgrid.cli import main as cli_main
from microgrid.drawing.render import DPI, svg_size
from microgrid.teaching import demos
from microgrid.teaching.quiz import make_quiz
from microgrid.teaching.quiz import run as run_quiz

ROOT = Path(__file__).resolve().parent.parent
SLIDE = 2000  # px, the long side of a picture a slide takes, at 96 dpi


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- the demos' pictures ------------------------------------------------------------------
@pytest.mark.parametrize("style", ["values", "book"])
@pytest.mark.parametrize("name", demos.DEMOS)
def test_every_demo_picture_fits_a_slide_or_says_why(capsys, tmp_path, name, style):
    # Before: perceptron 5924 x 1315 px, mlp_backprop 3141 x 3310, notation 2703 x 3451, and
    # train 2048 x 19,529 px (at 43 dpi), none of them saying so.
    svg = tmp_path / f"{name}.svg"
    code, out, err = cli(capsys, "demo", name, "-o", str(svg), "--style", style)
    assert code == 0, err
    width, height = (x * DPI / 72 for x in svg_size(svg.read_text()))
    module = demos.load(name)
    if max(width, height) <= SLIDE:
        assert "more than 2,000" not in out
        return
    why = getattr(module, "LARGE", "")
    assert why, f"{name} ({style}): {width:.0f} x {height:.0f} px and no word why"
    line = out.splitlines()[-1]
    assert line.startswith(f"drew the graph to {svg} (") and why in line
    assert f"{round(width):,} x {round(height):,} px" in line and "--focus" in line


def test_no_demo_writes_a_file_it_was_not_asked_to(capsys, tmp_path, monkeypatch):
    # `microgrid demo train -o net.png` also wrote train.png in the current folder
    monkeypatch.chdir(tmp_path)
    for name in demos.DEMOS:
        extra = ["--steps", "3", "--target", "0"] if name == "train" else []
        code, _, err = cli(capsys, "demo", name, *extra, "-o", f"{name}.dot")
        assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == sorted(f"{name}.dot" for name in demos.DEMOS)


def test_the_perceptron_sums_with_one_dot():
    # one Σwx per output, not a staircase of nine binary +
    root = demos.load("perceptron").check(1, 0)[1]
    ops = [v.op for v in topological_order(root) if v.op]
    assert ops.count("dot") == 1 and ops.count("+") <= 1  # the + of E's sum over k
    source = draw(root).source
    assert source.count("Σwx") == 1


def test_the_docs_focus_examples_land_on_a_weight_with_a_gradient(capsys, tmp_path, monkeypatch):
    # README's (now docs/drawing.md's) `--focus 'w[1]_0_0'` landed on a dead ReLU's weight
    command = r"microgrid demo train[^`\n]*(?:\n\s*[^`\n]*)?--focus\s+'([^']+)'"
    commands = [m for doc in ("drawing.md", "demos.md")
                for m in re.findall(command, (ROOT / "docs" / doc).read_text())]
    assert commands, "the docs show no `microgrid demo train ... --focus` example"
    monkeypatch.chdir(tmp_path)
    root = demos.load("train").run(["--no-plot"])[1]  # the graph the docs' command draws
    capsys.readouterr()
    for label in commands:
        (weight,) = [v for v in topological_order(root) if v.label == label]
        assert weight.grad != 0, label


# --- one name for a value -----------------------------------------------------------------
def unlabelled() -> tuple[Value, Value]:
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    d = a * b + a  # a*b is #2, d is #3
    d.backward()
    return d, a


def test_an_unlabelled_value_has_one_name_everywhere():
    # it was "data -6" (no name) in draw, "#2" in the player, tree and explain
    d, a = unlabelled()
    assert "#2<br/>data -6" in draw(d).source and "#3<br/>data -4" in draw(d).source
    assert "#2 -6" in draw(d, style="book").source  # on its edge, as a label is
    steps = backward_steps(d)
    assert "#2<br/>data -6" in steps._final_svg().replace("\n", "") or "#2" in steps.html()
    assert any(steps.caption(k).startswith("#2.grad = ") for k in range(len(steps)))
    assert "#2 = -6  grad 1  (×)" in str(tree(d))
    text = str(explain(d, a))
    assert text.startswith("d#3/da = -2") and "where #2 = a×b, #3 = #2 + a" in text
    assert "∂#2/∂a = b = -3" in text
    focused = draw(d, focus=a).source  # a focused or collapsed drawing names it the same
    assert "#3<br/>data -4" in focused


def test_the_command_line_calls_the_root_y_in_every_command(capsys, tmp_path):
    # CLI explain named the root "y", and draw --text "#5"
    code, out, _ = cli(capsys, "draw", "x*x + x", "x=3", "--text")
    assert code == 0 and out.startswith("y = 12")
    code, out, _ = cli(capsys, "explain", "x*x + x", "x=3", "--wrt", "x")
    assert code == 0 and out.startswith("dy/dx = 7")
    code, out, _ = cli(capsys, "draw", "x*x + x", "x=3")
    assert code == 0 and "y<br/>data 12" in out
    page = tmp_path / "s.html"
    code, _, _ = cli(capsys, "draw", "x*x + x", "x=3", "--animate", str(page))
    assert code == 0 and "y.grad = 1" in page.read_text()


# --- the small things -------------------------------------------------------------------
def test_a_blank_line_asks_the_quiz_question_again():
    # a stray Enter ended the quiz with "Score: 0/6"
    quiz = make_quiz(3)
    answers = "\n".join(f"{q.answer!r}" for q in quiz.questions)
    out = io.StringIO()
    right, total = run_quiz(quiz, io.StringIO("\n  \n" + answers + "\n"), out)
    assert right == total == len(quiz.questions)
    assert "(stopped)" not in out.getvalue()
    assert out.getvalue().count(f"1/{total}. ") == 3  # asked again, twice


def test_demo_compiled_pairs_each_book_line_with_its_generated_lines(capsys):
    # the two columns did not pair up, yet the docs said "line for line"
    assert demos.load("compiled").main([]) == 0
    out = capsys.readouterr().out
    rows = out.split("\n\n")[0].splitlines()[1:]
    width = rows[0].index("# forward", 2)
    book = ""
    for row in rows:
        left, right = row[:width].strip(), row[width:].strip()
        book = left or book  # a book line, and the generated lines under it
        if right.startswith("d_"):  # d_tax += d_price * all_price
            target = right.split("=")[0].rstrip(" +").removeprefix("d_").replace("_", "")
            assigned = book.split("=")[0].replace("_", "")
            assert f"d{target}" in re.split(r"[ ,]+", assigned), (book, right)
    assert "(no line: the gradient dall_price is used as it is)" in out
    assert "line for line" not in (ROOT / "docs" / "compile.md").read_text()


def test_explain_says_one_path_in_the_singular_and_parenthesizes_a_root_named_d():
    e = Value(2.0, "e")
    d = e * 3.0
    d.label = "d"
    text = str(explain(d, e))
    assert text.startswith("d(d)/de = 3, the product of the local derivatives along the one path "
                           "from e to d:")
    assert "1 path" not in text and "along each" not in text


def test_cli_explain_needs_wrt_only_with_several_variables(capsys):
    code, out, err = cli(capsys, "explain", "x*x + x", "x=3")
    assert code == 0, err
    assert out.startswith("dy/dx = 7")
    code, _, err = cli(capsys, "explain", "x*y", "x=3", "y=2")
    assert code == 2 and "--wrt NAME" in err and "x, y" in err


def test_demo_animate_writes_the_player(capsys, tmp_path):
    # `microgrid demo NAME --animate x.html` was refused
    page = tmp_path / "x.html"
    code, out, err = cli(capsys, "demo", "apple_orange", "--animate", str(page))
    assert code == 0, err
    assert f"wrote the backward pass, 9 steps, to {page}" in out
    html = page.read_text()
    assert html.count("<svg") == 1 and "price.grad = 1" in html
    code, _, err = cli(capsys, "demo", "apple_orange", "--animate", "x.svg")
    assert code == 2 and "--animate writes an HTML page" in err
    code, _, err = cli(capsys, "demo", "apple_orange", "--animate", str(page),
                       "--focus", "orange")
    assert code == 0 and "orange.grad" in page.read_text()


def test_backward_steps_focus_shows_the_paths_and_collapse_says_why_not(tmp_path):
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c")
    y = (a * b + c).tanh()
    y.label = "y"
    y.backward()
    steps = backward_steps(y, focus=a)
    # a's paths: a, a*b, + and tanh; b and c are stubs (no step)
    assert [s.node.label or "?" for s in steps] == ["y", "?", "?", "a"]
    assert len(steps) == 4 and steps.caption(3).startswith("a.grad = #2.grad × ∂#2/∂a")
    svg = steps._final_svg()
    b_box = f'id="v{steps.ids[b]}"'
    assert b_box in draw(y).svg() and b_box not in svg  # b is a stub: its value, no box
    assert f'id="v{steps.ids[a]}"' in svg and "#2" in svg
    steps.save_animation(tmp_path / "s.html")
    with pytest.raises(ValueError, match="collapse=2 would hide many steps in one node"):
        backward_steps(y, collapse=2)
    with pytest.raises(ValueError, match="focus draws without local or check"):
        backward_steps(y, focus=a, local=True)


def test_the_command_line_cites_the_posts_and_the_book_by_title(capsys):
    # "the source documents", "the backprop-in-outline post", "issue 5": none a reader finds
    vague = re.compile(r"source document|backprop-in-outline|issue \d|perceptron post")
    texts = []
    for argv in (["--help"], ["demo", "--help"], ["draw", "--help"], ["explain", "--help"],
                 ["quiz", "--help"]):
        with pytest.raises(SystemExit):
            cli_main(argv)
        texts.append(capsys.readouterr().out)
    for name in demos.DEMOS:
        cli_main(["demo", name, *(["--fast", "--no-plot"] if name == "train" else [])])
        texts.append(capsys.readouterr().out)
    cli_main(["demo", "--list"])
    texts.append(capsys.readouterr().out)
    assert not [m.group() for t in texts for m in vague.finditer(t)]
    assert "'Deep Learning from Scratch' by Koki Saitoh" in texts[2]
