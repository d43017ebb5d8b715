"""The command line: demos that draw, `microgrid draw`, and hostile or malformed input."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from microgrid.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_prints_the_books_numbers_and_draws_the_graph(capsys, tmp_path):
    svg = tmp_path / "apple_orange.svg"
    code, out, err = run(capsys, "demo", "apple_orange", "-o", str(svg))
    assert code == 0, err
    for line in ["price:       715", "dApple:      2.2", "dApple_num:  110", "dOrange:     3.3",
                 "dOrange_num: 165", "dTax:        650"]:
        assert line in out
    text = svg.read_text()
    for number in [">2.2<", ">110<", ">3.3<", ">165<", ">650<", ">1.1<", ">715<"]:
        assert number in text
    assert "Apples and oranges" in text


def test_demo_output_before_the_name_with_dashes_and_book_style(capsys, tmp_path):
    png = tmp_path / "g.png"
    code, out, err = run(capsys, "demo", "-o", str(png), "--style", "book", "apple-orange")
    assert code == 0, err
    from microgrid import draw
    from microgrid.teaching.demos.apple_orange import build

    title = 'Apples and oranges ("Deep Learning from Scratch" by Koki Saitoh, ch. 5)'  # its doc
    expected = draw(build()["price"], style="book", title=title)
    assert png.read_bytes() == expected.png()


def test_demo_options_after_the_name(capsys, tmp_path):
    values, book = tmp_path / "values.dot", tmp_path / "book.dot"
    assert run(capsys, "demo", "apple_orange", "-o", str(values))[0] == 0
    assert run(capsys, "demo", "apple_orange", "--style", "book", "--output", str(book))[0] == 0
    assert "data 715" in values.read_text() and "data 715" not in book.read_text()
    assert "price 715" in book.read_text()


@pytest.mark.parametrize("name", ["perceptron", "mlp_backprop", "notation", "train"])
def test_demo_draws_the_graph_it_computed_with_its_own_arguments(capsys, tmp_path, name):
    from microgrid import draw
    from microgrid.teaching import demos

    extra = ["--fast", "--no-plot"] if name == "train" else []
    module = demos.load(name)
    title = module.__doc__.strip().splitlines()[0].split("):")[0] + ")"
    drawn = {}
    for seed in (["--seed", "3"], []):
        dot = tmp_path / "graph.dot"
        assert run(capsys, "demo", name, *seed, *extra, "-o", str(dot))[0] == 0
        _, root = module.run([*seed, *extra])  # the graph the demo computes with those arguments
        collapse = getattr(module, "COLLAPSE", 0)  # train, mlp_backprop: a node per neuron
        assert dot.read_text() == draw(root, title=title, collapse=collapse).source
        drawn[tuple(seed)] = dot.read_text()
    assert drawn[("--seed", "3")] != drawn[()]


def test_demo_perceptron_seed_draws_that_seeds_numbers(capsys, tmp_path):
    dot = tmp_path / "g.dot"
    code, out, err = run(capsys, "demo", "perceptron", "--seed", "3", "-o", str(dot))
    assert code == 0, err
    assert "x_0<br/>data 0.09471<br/>" in dot.read_text()  # seed 3's x_0 (seed 0's: 0.9417)


def test_demo_list(capsys):
    code, out, _ = run(capsys, "demo", "--list")
    assert code == 0 and "apple_orange" in out
    # the sources by names a learner knows, not by the internal file names "seed 000" ...
    assert "seed 0" not in out
    for source in ['"Deep Learning from Scratch" by Koki Saitoh, ch. 5', '"The perceptron"',
                   '"Backpropagation in the multi-layer perceptron"',
                   '"The notation of neural networks, 2"', '"Deep Learning from Scratch 3"',
                   '"A brief analysis of the backpropagation algorithm"']:
        assert source in out


@pytest.mark.parametrize("argv, message", [
    (["demo", "no_such_demo"], "unknown demo 'no_such_demo'"),
    (["demo", "apple_orange", "-o", "g.jpeg"], "cannot tell the format of 'g.jpeg'"),
    (["demo", "apple_orange", "-o"], "expected one argument"),
    (["demo", "apple_orange", "-o", "g.svg", "--style", "nice"], "invalid choice: 'nice'"),
    (["demo", "apple_orange", "--style", "book"], "--style needs -o FILE"),
    (["demo", "--style", "values", "perceptron", "--seed", "3"], "--style needs -o FILE"),
])
def test_demo_bad_arguments(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == ""  # refused before the demo ran


def test_draw_writes_svg_and_prints_value_and_gradients(capsys, tmp_path):
    svg = tmp_path / "graph.svg"
    code, out, err = run(capsys, "draw", "(a*b + c).tanh()", "a=2", "b=-3", "c=10",
                         "-o", str(svg))
    assert code == 0, err
    # tanh(4) = 0.99933, d/dc = 1 - tanh(4)^2 = 0.0013409, d/da = b * that, d/db = a * that
    assert out.splitlines()[:4] == ["(a*b + c).tanh() = 0.9993", "  d/da = -0.004023",
                                    "  d/db = 0.002682", "  d/dc = 0.001341"]
    text = svg.read_text()
    assert "tanh" in text and ">data 0.9993<" in text and ">grad 0.001341<" in text


def test_draw_book_style_and_animation(capsys, tmp_path):
    svg, page = tmp_path / "g.svg", tmp_path / "steps.html"
    code, out, err = run(capsys, "draw", "x*x + x", "x=3", "-o", str(svg), "--style", "book",
                         "--animate", str(page), "--rankdir", "TB", "--title", "fan-out")
    assert code == 0, err
    assert ">x 3<" in svg.read_text()
    html = page.read_text()
    assert '<span id="counter">1 / 3</span>' in html and html.count("<svg") == 1
    assert "x.grad = " in html and "= 7." in html


@pytest.mark.parametrize("options", [[], ["-o", "{svg}"], ["--title", "-a times b"]])
def test_draw_an_expression_that_starts_with_a_minus(capsys, tmp_path, options):
    svg = str(tmp_path / "neg.svg")
    options = [o.format(svg=svg) for o in options]
    code, out, err = run(capsys, "draw", "-a*b", "a=2", "b=3", *options)
    assert code == 0, err
    if "-o" in options:  # d(-a*b)/da = -b, d/db = -a
        assert out.splitlines()[:3] == ["-a*b = -6", "  d/da = -3", "  d/db = -2"]
    else:
        assert 'v3 [label=<y<br/>data -6<br/><font color="#d62728">grad 1</font>>' in out
        assert ("label=<-a times b>" in out) == ("--title" in options)


@pytest.mark.parametrize("expression", ["--a*b", "--b", "--(b)"])
def test_draw_an_expression_that_starts_with_two_minuses(capsys, expression, tmp_path):
    variables = ["a=2", "b=3"] if "a" in expression else ["b=3"]
    code, out, err = run(capsys, "draw", expression, *variables, "-o", str(tmp_path / "g.svg"))
    assert code == 0, err
    assert out.splitlines()[0] == f"{expression} = {6 if 'a' in expression else 3}"


@pytest.mark.parametrize("command", ["draw", "explain"])
def test_the_long_options_are_all_known_to_the_expression_rule(command):
    from microgrid.cli import commands as cli

    parser = next(a for a in cli._parser()._subparsers._group_actions  # type: ignore
                  if isinstance(a, argparse._SubParsersAction)).choices[command]
    longs = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    assert longs == cli.LONG_OPTIONS[command]


def test_draw_without_output_prints_dot(capsys):
    code, out, err = run(capsys, "draw", "2 * x", "x=1.5", "--digits", "2", "--no-grads")
    assert code == 0, err
    assert out.startswith("digraph microgrid {") and "class=grad" not in out


HOSTILE = [
    ("__import__('os')", ["a=1"], "calling '__import__' at column 1 is not allowed"),
    ("a.__class__", ["a=1"], "attribute access '.__class__' at column 1 is not allowed"),
    ("a.tanh().__globals__", ["a=1"], "attribute access '.__globals__'"),
    ("open('x')", ["a=1"], "calling 'open'"),
    ("[x for x in y]", [], "a list comprehension at column 1 is not allowed"),
    ("(lambda: 1)() + a", ["a=1"], "calling this"),
    ("lambda: a", ["a=1"], "a lambda at column 1 is not allowed"),
    ("import os", [], "syntax error"),
    ("a; b", ["a=1", "b=2"], "syntax error"),
    ("'x' * a", ["a=1"], "the constant 'x'"),
    ("a // 2", ["a=1"], "the operator '//'"),
    ("a if a else a", ["a=1"], "'if ... else'"),
    ("(a := 2)", ["a=1"], "':='"),
    ("a[0]", ["a=1"], "indexing"),
    ("exec('1') + a", ["a=1"], "calling 'exec'"),
    ("exp(a, a)", ["a=1"], "exp takes one argument"),
    ("a.tanh(2)", ["a=1"], "tanh takes one argument"),
    ("a + d", ["a=1"], "unknown variable 'd' at column 5; give its value as d=NUMBER"),
    ("a", ["a="], "variable 'a=': expected NAME=NUMBER"),
    ("a", ["a=abc"], "'abc' is not a number"),
    ("a", ["a=nan"], "'nan' is not a finite number"),
    ("a", ["a"], "expected NAME=NUMBER"),
    ("a", ["a=1", "a=2"], "variable 'a' is given twice"),
    ("a", ["__class__=1"], "'__class__' is not allowed as a variable name"),
    ("a", ["a=1", "b=2"], "variable 'b' is not used"),
    ("2 + 3", [], "the expression uses no variable"),
    ("", [], "the expression is empty"),
    ("log(a)", ["a=-1"], "log: log(-1.0) is undefined"),
    ("a / (a - a)", ["a=1"], "division by zero"),
    ("exp(a)", ["a=1000"], "overflows"),
    ("(" * 250 + "a" + ")" * 250, ["a=1"], "too many nested parentheses"),
    ("a + " + "-" * 500 + "a", ["a=1"], "nested more than 200 deep"),
    ("a" + " + a" * 5000, ["a=1"], "the limit is 10000"),
]


@pytest.mark.parametrize("expression, variables, message", HOSTILE)
def test_draw_refuses_hostile_or_malformed_input(capsys, tmp_path, expression, variables,
                                                 message):
    out_file = tmp_path / "g.svg"
    code, out, err = run(capsys, "draw", expression, *variables, "-o", str(out_file))
    assert code == 2
    assert message in err
    assert err.startswith("microgrid draw: ") and err.count("\n") == 1  # one line
    assert "Traceback" not in err and not out_file.exists()


@pytest.mark.parametrize("argv, message", [
    (["draw", "a", "a=1", "-o", "g.jpeg"], "cannot tell the format of 'g.jpeg'"),
    (["draw", "a*2", "a=1", "--animate", "steps.svg"], "--animate writes an HTML page"),
    (["draw", "a*2", "a=1", "--digits", "0"], "--digits must be from 1 to 17"),
    (["draw", "a*2", "a=1", "--style", "fancy"], "invalid choice: 'fancy'"),
    (["draw"], "the following arguments are required: expression"),
])
def test_draw_bad_options(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_draw_unwritable_output_is_an_error_not_a_traceback(capsys, tmp_path):
    code, out, err = run(capsys, "draw", "a*2", "a=1", "-o", str(tmp_path / "no" / "g.svg"))
    assert code == 1
    assert "cannot write" in err and "no folder" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_the_installed_command_refuses_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "microgrid", "draw", "__import__('os')",
                             "-o", str(tmp_path / "g.svg")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "not allowed" in result.stderr and "Traceback" not in result.stderr


def test_draw_checks_every_output_before_writing_any(capsys, tmp_path):
    svg, page = tmp_path / "g.svg", tmp_path / "no" / "steps.html"
    code, out, err = run(capsys, "draw", "a*2", "a=1", "-o", str(svg), "--animate", str(page))
    assert code == 1 and "no folder" in err
    assert not svg.exists()


def test_draw_refuses_to_animate_a_too_large_graph_before_writing_the_svg(capsys, tmp_path):
    svg, page = tmp_path / "g.svg", tmp_path / "steps.html"
    expression = " + ".join(f"a*{k}" for k in range(160))  # 160 products, 159 sums, a
    code, out, err = run(capsys, "draw", expression, "a=1", "-o", str(svg),
                         "--animate", str(page))
    assert code == 2 and "more than max_steps=300" in err and err.count("\n") == 1
    assert not svg.exists() and not page.exists()


def test_a_render_failure_is_one_line_and_leaves_the_old_file(capsys, tmp_path):
    svg = tmp_path / "g.svg"
    svg.write_text("the old drawing")
    steps = "(" * 45 + "y" + "".join("*0.9 + a).tanh()" for _ in range(45))
    code, out, err = run(capsys, "draw", steps.replace("(", "((", 0), "y=0", "a=0.5",
                         "-o", str(svg), "--time-budget", "0.05")
    assert code == 1, err
    assert err.startswith("microgrid draw: draw: Graphviz could not lay this graph out within "
                          "time_budget=0.05 s") and err.count("\n") == 1
    assert "Traceback" not in err
    assert svg.read_text() == "the old drawing"


def test_control_characters_in_the_title_and_labels(capsys, tmp_path):
    import xml.etree.ElementTree as ET

    svg, page = tmp_path / "g.svg", tmp_path / "steps.html"
    code, out, err = run(capsys, "draw", "a*b", "a=2", "b=3", "-o", str(svg),
                         "--title", "bell\x07 nul\x00 esc\x1b", "--animate", str(page))
    assert code == 0, err
    text = svg.read_text()
    ET.fromstring(text)  # well-formed: a browser opens it
    assert "bell\\x07 nul\\x00 esc\\x1b" in text
    assert "\x07" not in page.read_text() and "\x00" not in page.read_text()


def test_a_closed_pipe_is_no_error(tmp_path):
    # `microgrid ... | head -1`: the reader stops after the first line; no message, no traceback
    script = (f"{sys.executable} -m microgrid explain 'x*x + x' x=3 --wrt x | head -1; "
              f"{sys.executable} -m microgrid draw 'a*b' a=2 b=3 -o {tmp_path / 'g.svg'} "
              "| head -1")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == [
        "dy/dx = 7 = 3 + 3 + 1, the sum over 3 paths from x to y of the product of the local "
        "derivatives along each, where #1 = x×x:", "a*b = 6"]
    assert result.stderr == ""


def test_draw_collapse_and_focus(capsys, tmp_path):
    code, out, err = run(capsys, "draw", "(a*b + c).tanh()", "a=2", "b=-3", "c=10",
                         "--focus", "a")
    assert code == 0, err
    assert "v0 [" in out and 'b -3' in out and "s0" in out  # a, and b as a stub
    code, out, err = run(capsys, "draw", "a*b", "a=2", "b=3", "--focus", "q")
    assert code == 2 and "--focus q: no value of the graph is labelled 'q'" in err
    assert "leaves: a, b" in err
    code, out, err = run(capsys, "draw", "a*b", "a=2", "b=3", "--collapse", "-1")
    assert code == 2 and "--collapse" in err


def test_demo_collapse_and_focus(capsys, tmp_path):
    dot = tmp_path / "net.dot"
    code, out, err = run(capsys, "demo", "train", "--fast", "--no-plot", "-o", str(dot),
                         "--collapse", "1")
    assert code in (0, 1), err
    source = dot.read_text()
    assert "<b>layer 1</b>" in source and "<b>layer 3</b>" in source
    focused = tmp_path / "focus.dot"
    code, out, err = run(capsys, "demo", "train", "--fast", "--no-plot", "--collapse", "2",
                         "--focus", "w[1]_0_0", "-o", str(focused))
    assert code in (0, 1), err
    assert "w[1]_0_0" in focused.read_text() and "<b>a[2]_3</b>" in focused.read_text()
    book = tmp_path / "book.dot"  # the book style: values on the edges, blocks as boxes
    code, out, err = run(capsys, "demo", "train", "--fast", "--no-plot", "--collapse", "2",
                         "--focus", "w[1]_0_0", "--style", "book", "-o", str(book))
    assert code in (0, 1), err
    source = book.read_text()
    assert "<b>a[2]_3</b>" in source and "label=<w[1]_0_0 " in source
    assert "shape=point" in source and "data " not in source
    code, out, err = run(capsys, "demo", "apple_orange", "--collapse", "1")
    assert code == 2 and "--collapse needs -o FILE" in err
    code, out, err = run(capsys, "demo", "apple_orange", "--focus", "tax")
    assert code == 2 and "--focus needs -o FILE or --animate HTML" in err


def test_a_warning_is_one_line_and_the_drawing_is_written(capsys, tmp_path):
    out = tmp_path / "g.png"
    assert main(["draw", "a*b", "a=2", "b=3", "--title", "price 😀", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err == ("microgrid draw: warning: draw: the PNG's fonts (Arimo, Noto Sans CJK) have "
                   "no letters for '😀', which show as empty boxes; an SVG shows them in the "
                   "viewer's fonts, and renderer='dot' draws them with the system's (Graphviz "
                   "installed)\n")
    assert out.read_bytes().startswith(b"\x89PNG")
    svg = str(tmp_path / "g.svg")
    assert main(["draw", "a*b", "a=2", "b=3", "--title", "苹果", "-o", svg]) == 0
    assert capsys.readouterr().err == ""


def test_draw_book_style_collapsed_and_focused(capsys):
    code, out, err = run(capsys, "draw", "(a*b + c).tanh()", "a=2", "b=-3", "c=10",
                         "--focus", "a", "--style", "book")
    assert code == 0, err
    assert "label=<b -3<br/>" in out and "s0 -> op" in out and "v0 [" in out


def test_a_command_that_only_computes_does_not_import_the_drawing():
    """`import microgrid` (and `microgrid demo train`) leaves drawing and the player to their
    first use; their names still work, by attribute and by `from ... import`."""
    code = ("import sys, microgrid, microgrid.cli\n"
            "lazy = ('microgrid.drawing.diagram', 'microgrid.drawing.player')\n"
            "print(sorted(m for m in lazy if m in sys.modules))\n"
            "assert {'draw', 'Diagram', 'backward_steps'} <= set(dir(microgrid))\n"
            "assert microgrid.drawing.Diagram is microgrid.Diagram\n"
            "from microgrid import draw, Diagram, backward_steps\n"
            "assert draw is microgrid.drawing.draw and Diagram is microgrid.drawing.Diagram\n"
            "assert callable(microgrid.explain) and callable(microgrid.format_number)\n"
            "assert backward_steps is microgrid.drawing.player.backward_steps\n"
            "assert all(getattr(microgrid, n) is not None for n in microgrid.__all__)\n"
            "try:\n    microgrid.nothing\nexcept AttributeError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "module 'microgrid' has no attribute 'nothing'"]


# --- pictures for slides: --legend, --theme, --dpi -------------------------------------------
SLIDE_COMMANDS = {"draw": ["draw", "(a*b + c).tanh()", "a=2", "b=-3", "c=10"],
                  "demo": ["demo", "apple_orange"]}
LEGEND = "the gradient that flows back along an edge"  # the legend's line for red


@pytest.mark.parametrize("command", ["draw", "demo"])
def test_dpi_draws_the_png_that_many_pixels_per_inch(capsys, tmp_path, command):
    from microgrid.drawing.render import png_size

    screen, slide = tmp_path / "screen.png", tmp_path / "slide.png"
    assert run(capsys, *SLIDE_COMMANDS[command], "-o", str(screen))[0] == 0
    code, out, err = run(capsys, *SLIDE_COMMANDS[command], "-o", str(slide), "--dpi", "300")
    assert code == 0, err
    (width, height), (width_300, height_300) = (png_size(p.read_bytes()) for p in (screen, slide))
    assert width_300 / width == pytest.approx(300 / 96, rel=0.03)
    assert height_300 / height == pytest.approx(300 / 96, rel=0.03)


def test_demo_takes_the_slide_options_before_its_name_too(capsys, tmp_path):
    from microgrid.drawing.render import png_size

    screen, slide = tmp_path / "screen.png", tmp_path / "slide.png"
    assert run(capsys, "demo", "-o", str(screen), "apple_orange")[0] == 0
    code, out, err = run(capsys, "demo", "--dpi", "192", "--theme", "dark", "--legend",
                         "-o", str(slide), "apple_orange")
    assert code == 0, err
    assert png_size(slide.read_bytes())[0] / png_size(screen.read_bytes())[0] == \
        pytest.approx(2, rel=0.03)


@pytest.mark.parametrize("command", ["draw", "demo"])
def test_theme_dark_draws_on_a_dark_page(capsys, tmp_path, command):
    from PIL import Image

    from microgrid.drawing.theme import DARK_PAGE

    light, dark, png = tmp_path / "light.svg", tmp_path / "dark.svg", tmp_path / "dark.png"
    assert run(capsys, *SLIDE_COMMANDS[command], "-o", str(light), "--theme", "light")[0] == 0
    for path in (dark, png):
        code, out, err = run(capsys, *SLIDE_COMMANDS[command], "--theme", "dark", "-o", str(path))
        assert code == 0, err
    assert f'fill="{DARK_PAGE}"' in dark.read_text()
    assert DARK_PAGE not in light.read_text()
    with Image.open(png) as image:
        assert max(image.convert("RGB").getpixel((0, 0))) < 60  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["draw", "demo"])
def test_legend_says_what_the_colours_mean(capsys, tmp_path, command):
    plain, legend = tmp_path / "plain.svg", tmp_path / "legend.svg"
    assert run(capsys, *SLIDE_COMMANDS[command], "-o", str(plain))[0] == 0
    code, out, err = run(capsys, *SLIDE_COMMANDS[command], "--legend", "-o", str(legend))
    assert code == 0, err
    assert LEGEND in legend.read_text() and LEGEND not in plain.read_text()


def test_draw_without_output_prints_the_dot_of_the_dark_legend_drawing(capsys):
    from microgrid.drawing.theme import DARK_PAGE

    code, out, err = run(capsys, *SLIDE_COMMANDS["draw"], "--theme", "dark", "--legend")
    assert code == 0, err
    assert DARK_PAGE in out and LEGEND in out


@pytest.mark.parametrize("options, message", [
    (["-o", "g.svg", "--dpi", "300"], "--dpi is for a PNG, and 'g.svg' is not a .png: SVG, "
                                      "PDF and TikZ are sharp at any size"),
    (["-o", "g.pdf", "--dpi", "300"], "--dpi is for a PNG, and 'g.pdf' is not a .png"),
    (["-o", "g.tex", "--dpi", "300"], "--dpi is for a PNG, and 'g.tex' is not a .png"),
    (["-o", "g.dot", "--dpi", "300"], "--dpi is for a PNG, and 'g.dot' is not a .png"),
    (["-o", "g.png", "--dpi", "0"], "--dpi must be a number from 1 to 300, got 0"),
    (["-o", "g.png", "--dpi", "nan"], "--dpi must be a number from 1 to 300, got nan"),
    (["-o", "g.png", "--dpi", "10000"], "--dpi must be a number from 1 to 300, got 10000"),
    (["-o", "g.png", "--dpi", "many"], "invalid float value: 'many'"),
    (["-o", "g.svg", "--theme", "night"], "invalid choice: 'night'"),
    (["--dpi", "300"], "--dpi needs -o FILE.png"),
])
@pytest.mark.parametrize("command", ["draw", "demo"])
def test_bad_slide_options(capsys, tmp_path, monkeypatch, command, options, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *SLIDE_COMMANDS[command], *options)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert out == "" and list(tmp_path.iterdir()) == []  # refused before anything ran
    if "invalid" not in message or command == "demo":  # argparse's own come with the usage
        assert err.startswith(f"microgrid {command}: ") and err.count("\n") == 1


@pytest.mark.parametrize("options, message", [
    (["--legend"], "--legend needs -o FILE"),
    (["--theme", "dark"], "--theme needs -o FILE"),
    (["--theme", "light", "--animate", "steps.html"], "the page of --animate is drawn light"),
    (["--legend", "--animate", "steps.html"], "--legend needs -o FILE"),
])
def test_demo_slide_options_need_output(capsys, tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    for argv in (["demo", "apple_orange", *options], ["demo", *options, "apple_orange"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and message in err and "Traceback" not in err
        assert out == "" and list(tmp_path.iterdir()) == []


def test_draw_animate_alone_refuses_the_slide_options(capsys, tmp_path, monkeypatch):
    """Without -o, `draw` prints the DOT of the drawing, legend and theme included; with only
    --animate, a dark theme or a legend would be asked for a page that has neither."""
    monkeypatch.chdir(tmp_path)
    for options in (["--theme", "dark"], ["--legend"]):
        code, out, err = run(capsys, *SLIDE_COMMANDS["draw"], *options, "--animate", "s.html")
        assert code == 2 and f"{options[0]} needs -o FILE with --animate" in err
        assert out == "" and list(tmp_path.iterdir()) == []
    code, out, err = run(capsys, *SLIDE_COMMANDS["draw"], "--theme", "dark", "--legend",
                         "--animate", "s.html", "-o", "g.svg")  # the picture's, not the page's
    assert code == 0, err
    assert LEGEND in (tmp_path / "g.svg").read_text()
    assert LEGEND not in (tmp_path / "s.html").read_text()
