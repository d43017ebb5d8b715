"""The playground site: built by `python -m microgrid.playground build`, served on localhost,
driven in Debian's headless Chromium. The page runs microgrid itself in Pyodide: what it draws
is compared with what microgrid computes and draws in this process."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import re
import shutil
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import chromium

from microgrid import Value, draw
from microgrid.cli.commands import demo_title, main
from microgrid.core.formulas import format_number
from microgrid.drawing.player import backward_steps
from microgrid.playground.build import PYODIDE, VIZ, build
from microgrid.teaching.demos import apple_orange
from microgrid.teaching.demos.apple_orange import build as build_apple_orange

REASON = ("needs npm (apt-get install npm), Debian's chromium (apt-get install chromium) and "
          "playwright (pip install -e '.[dev]'); .ci/run installs them")
SVG = "{http://www.w3.org/2000/svg}"
LOAD_TIMEOUT = 60_000  # ms: Pyodide starts in a few seconds, more on a busy machine
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for program in ("npm", "node"):
        if shutil.which(program) is None:
            pytest.skip(f"no {program} on the PATH: the build {REASON}")
    return build(tmp_path_factory.mktemp("playground") / "site")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(site):
    """The site, served by Python's http.server on a free port of localhost."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with chromium(REASON) as browser:
        yield browser


def open_site(browser, server, requests: list[str] | None = None, errors: list[str] | None = None):
    context = browser.new_context(viewport={"width": 1200, "height": 1050})
    if requests is not None:  # every request: the page's, its frames' and its worker's
        context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready]", timeout=LOAD_TIMEOUT)
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    """One page for the tests that draw (Pyodide starts once); each test types its own input."""
    errors: list[str] = []
    page = open_site(browser, server, errors=errors)
    page.errors = errors
    yield page
    assert errors == []
    page.context.close()


def texts(svg: str) -> list[str]:
    """Every text of an SVG, in document order."""
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def node_texts(svg: str) -> dict[str, list[str]]:
    """The texts of each node of a drawing, by its element id (v0, op1, ...)."""
    return {g.get("id", ""): [t.text or "" for t in g.iter(f"{SVG}text")]
            for g in ET.fromstring(svg).iter(f"{SVG}g") if "node" in g.get("class", "")}


def drawn(page) -> str:
    return page.eval_on_selector("#drawing svg", "svg => new XMLSerializer()"
                                                 ".serializeToString(svg)")


def draw_in_page(page, expression: str, variables: str, style: str = "values") -> None:
    before = page.get_attribute("#drawing", "data-drawn")
    page.fill("#expression", expression)
    page.fill("#variables", variables)
    page.select_option("#style", style)
    page.click("#draw")
    page.wait_for_function(f"document.querySelector('#drawing').dataset.drawn !== '{before}'"
                           " || document.querySelector('#message').textContent !== ''")
    assert page.text_content("#message") == ""


def apple_graph(apple: float = 100.0) -> tuple[Value, list[Value]]:
    """The apple of "Deep Learning from Scratch", ch. 5, in this process: (apple * n) * tax,
    after backward(), and its inputs."""
    a, n, tax = Value(apple, "apple"), Value(2.0, "n"), Value(1.1, "tax")
    price = a * n * tax
    price.backward()
    return price, [a, n, tax]


def check_drawing(svg: str, root: Value, leaves: list[Value], style: str = "values",
                  title: str | None = None) -> None:
    """The page's drawing is microgrid's: the same texts as draw(root) in this process gives,
    and each input shows the value and the gradient that backward() computed here. An
    unlabelled output is named as the command line names it (y, or f if y is a variable)."""
    from microgrid.cli.commands import _named_root

    _named_root(root, {v.label: v.data for v in leaves})
    assert texts(svg) == texts(draw(root, style=style, title=title).svg())
    if style == "values":
        boxes = [t for t in node_texts(svg).values() if t and t[0] in {v.label for v in leaves}]
        assert sorted(boxes) == sorted(
            [v.label, f"data {format_number(v.data)}", f"grad {format_number(v.grad)}"]
            for v in leaves)
    else:  # book style: an input is an edge labelled 'name value' per use, its gradient
        shown = texts(svg)  # below it: the uses' gradients add up to the input's
        for v in leaves:
            uses = [k for k, t in enumerate(shown) if t == f"{v.label} {format_number(v.data)}"]
            assert uses
            assert sum(float(shown[k + 1]) for k in uses) == pytest.approx(v.grad, rel=1e-3)


def test_the_build_holds_everything_the_page_loads(site):
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["pyodide"] == PYODIDE[1] and manifest["viz"] == VIZ[1]
    for path in manifest["wheels"]:
        assert (site / path).is_file()
    assert [Path(p).name.split("-")[0] for p in manifest["wheels"]] == ["microgrid", "graphviz"]
    for name in ("index.html", "pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip",
                 "viz/viz.js", "pyodide/LICENSE", "viz/LICENSE", "LICENSES.md"):
        assert (site / name).is_file(), name
    # only what the page needs of Pyodide's 16 MB package, and the snapshot of its memory
    assert manifest["snapshot"] == "pyodide/snapshot.bin.gz"
    assert sum(f.stat().st_size for f in (site / "pyodide").iterdir()
               if f.name != "snapshot.bin.gz") < 15e6
    assert "Mozilla Public License" in (site / "pyodide" / "LICENSE").read_text()


def test_an_expression_is_drawn_with_the_numbers_python_computes(page):
    draw_in_page(page, "(x*y + z).tanh() * x", "x=0.5 y=-3 z=2")
    x, y, z = Value(0.5, "x"), Value(-3.0, "y"), Value(2.0, "z")
    out = (x * y + z).tanh() * x
    out.backward()
    check_drawing(drawn(page), out, [x, y, z])
    assert page.text_content("#printed").splitlines()[0] == \
        f"(x*y + z).tanh() * x = {format_number(out.data)}"
    # the book's style too
    draw_in_page(page, "(x*y + z).tanh() * x", "x=0.5 y=-3 z=2", style="book")
    check_drawing(drawn(page), out, [x, y, z], style="book")


def test_a_slider_moves_an_input_and_the_drawing_follows(page):
    draw_in_page(page, "apple * n * tax", "apple=100 n=2 tax=1.1")
    assert page.locator("#sliders input[type=range]").count() == 3
    before = page.get_attribute("#drawing", "data-drawn")
    page.focus("#slider-apple")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('#drawing').dataset.drawn !== '{before}' "
                           "&& !window.playground.drawing && !window.playground.pending")
    variables = page.input_value("#variables")
    apple = float(re.match(r"apple=(\S+) n=2 tax=1.1$", variables)[1])
    assert apple == pytest.approx(110.0)  # 5 steps of 2: the slider spans 100 ± 200
    assert page.text_content("#sliders output") == f"{apple:g}"
    check_drawing(drawn(page), *apple_graph(apple))


def test_the_player_steps_backward_to_the_end(page):
    draw_in_page(page, "apple * n * tax", "apple=100 n=2 tax=1.1")
    page.click("#steps-button")
    player = page.frame_locator("#player")
    counter = player.locator("#counter")
    counter.wait_for()
    total = int(counter.text_content().split("/")[1])
    assert total == len(backward_steps(apple_graph()[0])) == 5  # one step per node
    for _ in range(total - 1):
        player.locator("#next").click()
    assert counter.text_content() == f"{total} / {total}"
    assert "is an input: its gradient is final." in player.locator("#caption").text_content()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue().strip()


def test_explain_and_the_quiz_are_the_command_lines(page):
    draw_in_page(page, "x*x + x", "x=3")
    page.select_option("#wrt", "x")
    page.click("#explain-button")
    page.wait_for_function("document.querySelector('#explanation').textContent !== ''")
    assert page.text_content("#explanation") == cli("explain", "x*x + x", "x=3", "--wrt", "x")[1]
    page.fill("#quiz-seed", "7")
    page.click("#quiz-button")
    quiz = page.frame_locator("#quiz")
    quiz.locator("input").first.wait_for()
    assert quiz.locator("input").count() >= 4


@pytest.mark.parametrize("name", ["apple_orange", "perceptron", "mlp_backprop", "notation"])
def test_a_demo_from_the_menu_shows_its_numbers_and_its_check(page, name):
    page.select_option("#demo", name)
    page.click("#demo-button")
    page.wait_for_function(f"document.querySelector('#demo-output').textContent"
                           f".includes({json.dumps(name)}) || document.querySelector("
                           "'#demo-status').textContent !== ''")
    status, out, _ = cli("demo", name)
    assert status == 0
    # the same text, and the same numbers to within rounding (WebAssembly's exp and log are
    # not the C library's: a difference of 0 here may be 7e-18 there)
    assert same_numbers(page.text_content("#demo-output"), out.rstrip("\n"))
    assert page.text_content("#demo-status") == "check passed"
    assert page.locator("#demo-drawing svg").count() == 1
    page.evaluate("document.querySelector('#demo-status').textContent = ''")


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")


def same_numbers(shown: str, expected: str) -> bool:
    words, numbers = NUMBER.split(shown), [float(x) for x in NUMBER.findall(shown)]
    expected_numbers = [float(x) for x in NUMBER.findall(expected)]
    return words == NUMBER.split(expected) and numbers == pytest.approx(
        expected_numbers, rel=1e-9, abs=1e-15)


def test_the_apple_orange_lesson_with_its_player(page):
    page.select_option("#demo", "apple_orange")
    page.click("#demo-button")
    page.wait_for_function("document.querySelector('#demo-status').textContent !== ''")
    assert page.text_content("#demo-status") == "check passed"
    assert "OK: the layers, autograd and the book agree" in page.text_content("#demo-output")
    price = build_apple_orange()["price"]
    check_drawing(page.eval_on_selector("#demo-drawing svg", "svg => new XMLSerializer()"
                                        ".serializeToString(svg)"),
                  price, [v for v in build_apple_orange().values() if v.is_leaf],
                  title=demo_title(apple_orange.__doc__ or ""))
    page.click("#demo-steps-button")
    player = page.frame_locator("#demo-player")
    total = len(backward_steps(price))
    player.locator("#slider").fill(str(total - 1))  # the slider, to its end
    assert player.locator("#counter").text_content() == f"{total} / {total}"
    page.evaluate("document.querySelector('#demo-status').textContent = ''")


BAD = [
    ("a +", "a=1"),  # a syntax error
    ("a * b", "a=1"),  # an unknown variable
    ("a", "a=nan"),  # not a finite number
    ("log(-1)", ""),  # a constant's numeric error
    ("log(a)", "a=-1"),  # a variable's
    ("a / b", "a=1 b=0"),  # division by zero
    ("__import__('os').system('echo hi')", ""),  # code
    ("<img src=x onerror=alert(1)>", ""),  # markup
    ("a", "a=1 <b>b</b>=2"),
]


@pytest.mark.parametrize(("expression", "variables"), BAD)
def test_bad_input_shows_the_command_lines_message_and_the_page_keeps_working(
        page, expression, variables, tmp_path):
    draw_in_page(page, "x * 2", "x=3")
    before = drawn(page)
    page.fill("#expression", expression)
    page.fill("#variables", variables)
    page.click("#draw")
    page.wait_for_function("document.querySelector('#message').textContent !== ''")
    status, _, err = cli("draw", expression, *variables.split(), "-o", str(tmp_path / "g.svg"))
    assert status == 2 and "\n" not in err
    assert page.text_content("#message") == err
    assert page.locator("#message *").count() == 0  # text, never markup
    assert page.locator("img").count() == 0
    assert drawn(page) == before  # the last good drawing stays
    draw_in_page(page, "x * 2", "x=4")  # and the page keeps working
    assert "data 8" in texts(drawn(page))


def test_a_bad_quiz_shows_the_command_lines_message(page):
    page.fill("#quiz-ops", "+,%")
    page.click("#quiz-button")
    page.wait_for_function("document.querySelector('#quiz-message').textContent !== ''")
    status, _, err = cli("quiz", "--seed", "1", "--ops", "+,%", "--html", "unused.html")
    assert status == 2
    assert page.text_content("#quiz-message") == err
    page.fill("#quiz-ops", "+,-,*")


def test_training_in_a_worker_lowers_the_loss_and_stops(page):
    press(page, "#train-start")
    page.wait_for_function("window.playground.losses.length >= 4", timeout=LOAD_TIMEOUT * 2)
    # the page stays responsive while the worker trains: it draws in the meantime
    draw_in_page(page, "x * 3", "x=2")
    assert "data 6" in texts(drawn(page))
    press(page, "#train-stop")
    page.wait_for_function("!window.playground.training", timeout=LOAD_TIMEOUT)
    losses = page.evaluate("window.playground.losses")
    assert losses[-1] < losses[0]
    assert page.evaluate("window.playground.grid.probabilities.length") == 24 * 24
    page.wait_for_timeout(500)
    assert page.evaluate("window.playground.losses.length") == len(losses)  # it stopped
    assert "(stopped)" in page.text_content("#train-status")


def press(page, selector: str) -> None:
    """Click the button `selector` (the event itself: a button far down a page that is still
    laying out may move between Playwright's scroll and its click)."""
    button = page.locator(selector)
    button.wait_for()
    assert button.is_enabled()
    button.dispatch_event("click")


def test_no_request_leaves_the_site(browser, server, tmp_path):
    """Every request the page, its frames and its worker make, from opening it to training,
    is for a file of the site."""
    requests: list[str] = []
    errors: list[str] = []
    page = open_site(browser, server, requests, errors)
    # the pictures of docs/playground.md, rewritten with UPDATE_SCREENSHOT=1
    docs = DOCS if os.environ.get("UPDATE_SCREENSHOT") else tmp_path
    try:
        draw_in_page(page, "apple * n * tax", "apple=100 n=2 tax=1.1")
        page.click("#steps-button")
        player = page.frame_locator("#player")
        player.locator("#next").click()
        player.locator("#next").click()
        page.click("#quiz-button")
        page.frame_locator("#quiz").locator("input").first.wait_for()
        page.select_option("#demo", "apple_orange")
        page.click("#demo-button")
        page.wait_for_selector("#demo-drawing svg")
        press(page, "#train-start")
        steps = 60 if docs is DOCS else 3  # a trained network for the picture
        page.wait_for_function(f"window.playground.losses.length >= {steps}",
                               timeout=LOAD_TIMEOUT * 4)
        press(page, "#train-stop")
        page.wait_for_function("!window.playground.training", timeout=LOAD_TIMEOUT)
        page.wait_for_timeout(300)  # the last plot
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(docs / "playground.png"))
        page.locator("#train-section").screenshot(path=str(docs / "playground-training.png"))
    finally:
        page.context.close()
    assert errors == []
    outside = [url for url in requests
               if not url.startswith(server + "/") and not url.startswith(("data:", "blob:",
                                                                           "about:"))]
    assert outside == []
    assert any(url.endswith("pyodide.asm.wasm") for url in requests)
    assert any(url.endswith("worker.js") for url in requests)


# --- the page's Python, in this process (no browser, no npm) --------------------------------
def test_the_pages_python_answers_as_the_command_line(tmp_path):
    from microgrid.playground import page as python

    drawn_here = json.loads(python.draw("(a*b + c).tanh()", "a=2, b=-3 c=10"))
    assert drawn_here["ok"]
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c")
    out = (a * b + c).tanh()
    out.backward()
    out.label = "y"  # as the command line names it
    assert texts(drawn_here["svg"]) == texts(draw(out).svg())
    assert json.loads(python.variables("a=2 b=-3")) == {"ok": True,
                                                         "variables": [["a", 2.0], ["b", -3.0]]}
    for expression, variables in BAD:
        _, _, err = cli("draw", expression, *variables.split(), "-o", str(tmp_path / "g.svg"))
        assert json.loads(python.draw(expression, variables)) == {"ok": False, "message": err}
    # nothing typed among the variables is taken for an option
    assert json.loads(python.draw("a", "a=1 -o x.svg"))["message"] == \
        "microgrid draw: variable '-o': expected NAME=NUMBER, e.g. a=2"


def test_the_in_process_layout_draws_every_svg(monkeypatch):
    from microgrid.drawing import render
    from microgrid.playground import page as python

    laid_out = []

    def layout(source: str) -> str:
        laid_out.append(source)
        return '<svg width="10pt" height="10pt"><text font-family="Arimo">x</text></svg>'

    monkeypatch.setattr(render, "in_process_layout", None)
    python.use_layout(layout)
    x = Value(2.0, "x")
    y = x * x
    y.backward()
    diagram = draw(y)
    svg = diagram.svg()
    assert laid_out == [diagram.source]
    assert "@font-face" in svg and 'font-family="Arimo,Arial' in svg  # as render() makes it
    with pytest.raises(render.RenderError, match="only SVG can be drawn here"):
        diagram.png()

    def broken(source: str) -> str:
        raise RuntimeError("Error: syntax error in line 1")

    python.use_layout(broken)
    with pytest.raises(render.RenderError, match="render: Graphviz failed: Error: syntax error"):
        draw(y).svg()


def test_training_lowers_the_loss_and_the_boundary_covers_the_plane():
    from microgrid.playground.page import Training

    training = Training(n=20, hidden=4)
    losses = [loss for _ in range(5) for loss in json.loads(training.steps(2))["losses"]]
    assert len(losses) == 10 and losses[-1] < losses[0]
    grid = json.loads(training.boundary(size=5))
    assert len(grid["probabilities"]) == 25
    assert all(0 < p < 1 for p in grid["probabilities"])
