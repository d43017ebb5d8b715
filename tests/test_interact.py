"""microgrid.interact: the session (in process), the widget's model state in a real kernel
(nbclient), and the widget in JupyterLab in headless Chromium (a slider moved, bad numbers
typed)."""

from __future__ import annotations

import html
import math
import os
import sys
from pathlib import Path

import pytest
from conftest import chromium, lab_log

from benchmarks.browser import run_notebook, wait
from microgrid import Value, format_number, nn, topological_order
from microgrid.drawing.theme import contrast
from microgrid.notebook.widget import Session, control, parse
from microgrid.teaching.demos.apple_orange import build

ROOT = Path(__file__).resolve().parent.parent


def tanh_graph(a, b):
    return (a * b + 1).tanh()


def expected_numbers(a: float, b: float) -> list[str]:
    """What the drawing of tanh(a*b + 1) must show at a, b: the output and both gradients."""
    y = math.tanh(a * b + 1)
    return [format_number(y, 4), format_number((1 - y * y) * b, 4),
            format_number((1 - y * y) * a, 4)]


# --- the session, in process -------------------------------------------------------------
def test_a_move_recomputes_forward_and_backward_and_redraws():
    s = Session(tanh_graph, {"a": 0.5, "b": -1.0})
    assert s.output == f"output = {format_number(math.tanh(0.5), 4)}"
    s.set("a", "0.7")
    assert s.values == {"a": 0.7, "b": -1.0}
    leaves = {v.label: v for v in topological_order(s.root) if v.is_leaf}
    assert leaves["a"].grad == pytest.approx((1 - math.tanh(0.3) ** 2) * -1.0, rel=1e-15)
    for number in expected_numbers(0.7, -1.0):
        assert number in html.unescape(s.svg)  # Graphviz writes a minus as &#45;


@pytest.mark.parametrize("text, message", [
    ("abc", "a: 'abc' is not a number"),
    ("nan", "a: nan is not a finite number"),
    ("", "a: '' is not a number"),
])
def test_a_bad_number_raises_and_keeps_the_last_good_picture(text, message):
    s = Session(tanh_graph, {"a": 0.5, "b": -1.0})
    s.set("a", 0.6)
    svg, output = s.svg, s.output
    with pytest.raises(ValueError, match=message):
        s.set("a", text)
    assert (s.svg, s.output, s.values["a"]) == (svg, output, 0.6)


def test_a_value_at_which_an_operation_fails_keeps_the_last_good_graph():
    x = Value(2.0, "x")
    y = x.log() * x
    s = Session(y, {})
    with pytest.raises(ValueError, match=r"log: log\(-1.0\) is undefined"):
        s.set("x", "-1")
    assert x.data == 2.0 and y.data == math.log(2) * 2 and s.values == {"x": 2.0}
    s.set("x", "3")
    assert y.data == math.log(3) * 3 and x.grad == pytest.approx(math.log(3) + 1)


def test_a_graph_built_already_has_its_leaves_as_inputs_moved_in_place():
    v = build()
    s = Session(v["price"], {})
    assert [c.name for c in s.controls] == ["apple", "apple_num", "orange", "orange_num", "tax"]
    s.set("apple", 101)
    assert v["price"].data == pytest.approx(717.2) and v["apple"].grad == pytest.approx(2.2)
    assert v["tax"].grad == pytest.approx(652.0)  # gradients from zero, not accumulated
    s.set("tax", 1.0)
    assert v["price"].data == pytest.approx(652.0) and v["apple"].grad == pytest.approx(2.0)


def test_the_nudge_of_the_input_moved_last():
    s = Session(tanh_graph, {"a": 0.5, "b": -1.0})
    s.set("b", -0.5)
    s.show_nudge(True, "0.01")
    b = Value(-0.5)
    y = tanh_graph(Value(0.5), b)
    y.backward()
    actual = tanh_graph(Value(0.5), Value(-0.49)).data - y.data
    assert f"Δoutput = {format_number(actual, 4)} (predicted {format_number(b.grad * 0.01, 4)})" \
        in s.output
    assert "when b moves by 0.01" in s.output
    assert "Δ: the change when b moves by 0.01" in s.svg  # the drawing's legend
    # the output's node is named as in the line above the picture (not #4)
    assert s.root.label == "output" and f"Δoutput = {format_number(actual, 4)}" in \
        html.unescape(s.svg)
    with pytest.raises(ValueError, match="h: the nudge must not be 0"):
        s.show_nudge(True, "0")
    assert s.h == 0.01


def test_options_are_drawings_and_a_network_collapses():
    model = nn.MLP(2, [16, 16, 1])
    s = Session(lambda x1, x2: model([x1, x2]), {"x1": 0.5, "x2": -1.0}, collapse=2,
                digits=3)
    s.set("x1", 0.25)
    assert s.root.data == pytest.approx(model([Value(0.25), Value(-1.0)]).data)
    assert "neuron" in s.svg.lower() or "layer" in s.svg.lower()
    s.show_nudge(True)  # collapsed: the nudge is in the output's line, not drawn
    assert f"Δ{s.root.label} = " in s.output
    focused = Session(tanh_graph, {"a": 0.5, "b": -1.0}, focus="a")
    assert focused.svg
    with pytest.raises(ValueError, match="focus='c': no value of the graph has that label"):
        Session(tanh_graph, {"a": 0.5, "b": -1.0}, focus="c")
    with pytest.raises(ValueError, match="draw: digits must be an int"):
        Session(tanh_graph, {"a": 0.5, "b": -1.0}, digits=0)
    # the picture paints its own page (the widget has no background of its own)
    assert 'fill="white"' in Session(tanh_graph, {"a": 0.5, "b": -1.0}).svg
    dark = Session(tanh_graph, {"a": 0.5, "b": -1.0}, theme="dark")
    dark.set("a", 0.7)
    assert 'fill="#1e1e1e"' in dark.svg and 'fill="white"' not in dark.svg
    with pytest.raises(ValueError, match="theme must be 'light' or 'dark', got 'night'"):
        Session(tanh_graph, {"a": 0.5, "b": -1.0}, theme="night")


def test_controls_and_bad_calls():
    assert control("a", 2.0) == control("a", 2.0)
    c = control("apple", 100)
    assert (c.min, c.max, c.step, c.value) == (-100, 300, 1, 100)
    assert control("a", (0, 1)).value == 0.5 and control("a", (0, 1, 0.1)).step == 0.1
    with pytest.raises(ValueError, match="min must be less than max"):
        control("a", (1, 0))
    with pytest.raises(TypeError, match="interact: a: expected a number, got str"):
        control("a", "2")
    with pytest.raises(TypeError, match="give each input of the function a starting number"):
        Session(tanh_graph, {})
    with pytest.raises(TypeError, match="a graph's inputs are its leaves"):
        Session(build()["price"], {"apple": 1.0})
    with pytest.raises(TypeError, match="the function must return a Value, got float"):
        Session(lambda a: 2.0, {"a": 1.0})
    with pytest.raises(KeyError, match="no input named 'c'"):
        Session(tanh_graph, {"a": 0.5, "b": -1.0}).set("c", 1)
    assert parse("a", " 2.5 ") == 2.5


# --- the widget, in process ---------------------------------------------------------------
def test_the_widget_never_raises_on_a_message_and_shows_the_error():
    pytest.importorskip("anywidget", reason='needs anywidget: pip install "microgrid[notebook]"')
    import microgrid

    w = microgrid.interact(tanh_graph, a=0.5, b=-1.0)
    w._on_message(w, {"kind": "set", "name": "a", "text": "0.7", "seq": 11}, [])
    assert (w.frame, w.error) == (11, "") and expected_numbers(0.7, -1.0)[0] in w.output
    svg = w.svg
    w._on_message(w, {"kind": "set", "name": "a", "text": "abc", "seq": 12}, [])
    assert (w.frame, w.error, w.svg) == (12, "ValueError: a: 'abc' is not a number", svg)
    w._on_message(w, {"kind": "set", "name": "zzz", "text": "1", "seq": 13}, [])
    assert "no input named 'zzz'" in w.error and w.frame == 13
    with pytest.raises(ValueError, match="not a number"):
        w.set(a="x")
    w.set(a=0.2)
    assert w.values["a"] == 0.2 and w.error == ""


def test_interact_without_anywidget_says_what_to_install(monkeypatch):
    from microgrid.notebook import widget

    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget fails
    widget._widget_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "microgrid\[notebook\]"'):
            widget.interact(tanh_graph, a=0.5, b=-1.0)
    finally:
        widget._widget_class.cache_clear()


# --- the widget's model state in a real kernel (nbclient) ---------------------------------
NOTEBOOK_CELLS = [
    "import microgrid\n"
    "w = microgrid.interact(lambda a, b: (a * b + 1).tanh(), a=0.5, b=-1.0)\n"
    "w",
    # what the front end sends when the slider moves, and when a bad number is typed
    "w._on_message(w, {'kind': 'set', 'name': 'a', 'text': '0.7', 'seq': 1}, [])\n"
    "good = w.svg",
    "w._on_message(w, {'kind': 'set', 'name': 'b', 'text': 'abc', 'seq': 2}, [])\n"
    "assert w.svg == good",
    "w._on_message(w, {'kind': 'set', 'name': 'b', 'text': 'nan', 'seq': 3}, [])",
    "x = microgrid.interact(lambda x: x.log(), x=1.0)\n"
    "x._on_message(x, {'kind': 'set', 'name': 'x', 'text': '-2', 'seq': 1}, [])\n"
    "x",
    "print(1 + 1)",
]


def test_the_widget_state_in_a_kernel():
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat (pip install -e '.[dev]')")
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient (pip install -e '.[dev]')")
    pytest.importorskip("anywidget", reason='needs anywidget: pip install "microgrid[notebook]"')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            store_widget_state=True).execute()
    assert not [o for c in nb.cells for o in c.outputs if o["output_type"] == "error"]
    assert nb.cells[-1].outputs[0]["text"] == "2\n"  # the kernel still answers
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    ours = [m["state"] for m in states.values() if "svg" in m["state"]]
    assert len(ours) == 2
    tanh, log = ours  # in the order made
    assert tanh["error"] == "ValueError: b: nan is not a finite number" and tanh["frame"] == 3
    assert tanh["output"] == f"output = {expected_numbers(0.7, -1.0)[0]}"
    for number in expected_numbers(0.7, -1.0):
        assert number in html.unescape(tanh["svg"])
    assert [c["name"] for c in tanh["controls"]] == ["a", "b"]
    assert log["error"].startswith("ValueError: log: log(-2.0) is undefined")
    assert log["output"] == "output = 0"


# --- the widget in JupyterLab, in headless Chromium -----------------------------------------
BROWSER_NOTEBOOK = [
    "import microgrid\n"
    "w = microgrid.interact(lambda a, b: (a * b + 1).tanh(), a=0.5, b=-1.0)\n"
    "w",
]


def open_widget(page, url: str, folder: Path, cells: list[str]):
    """Run a notebook of `cells` in JupyterLab; the widget's element, once it has drawn."""
    pytest.importorskip("anywidget", reason='needs anywidget: pip install "microgrid[notebook]"')
    run_notebook(page, url, folder, cells)
    wait(page, "the widget's picture",
         "() => document.querySelector('.microgrid-interact .mg-picture svg')")
    return page.locator(".microgrid-interact")


@pytest.mark.browser
def test_the_widget_in_jupyterlab(jupyterlab, tmp_path):
    url, folder = jupyterlab, tmp_path
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            play_with_the_widget(page, url, folder)
        except Exception as e:
            page.screenshot(path=str(folder / "failure.png"))  # what the page showed
            raise AssertionError(f"{e}\n(screenshot: {folder / 'failure.png'}); JupyterLab's "
                                 f"log ends:\n{lab_log(folder)}") from e
    assert not errors


def play_with_the_widget(page, url: str, folder: Path) -> None:
    """Drag a slider, turn the nudge on, type bad numbers, and check what the page shows."""
    widget = open_widget(page, url, folder, BROWSER_NOTEBOOK)
    picture = widget.locator(".mg-picture")
    output = widget.locator(".mg-output")
    assert output.inner_text() == f"output = {expected_numbers(0.5, -1.0)[0]}"

    # drag a's slider with the mouse, then wait for the picture of where it stopped
    slider = widget.locator(".mg-slider[data-name='a']")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.02 * k), y)
    page.mouse.up()
    a = float(slider.input_value())
    assert a > 0.5
    expected = expected_numbers(a, -1.0)
    page.wait_for_function(
        "t => document.querySelector('.microgrid-interact .mg-output').textContent === t",
        arg=f"output = {expected[0]}", timeout=30_000)
    shown = picture.inner_text()
    for number in expected:
        assert number in shown, (number, a)
    assert widget.locator(".mg-box[data-name='a']").input_value() == slider.input_value()
    width = picture.bounding_box()["width"]  # a little wider than the cell: scaled to fit it
    assert picture.locator("svg").bounding_box()["width"] == pytest.approx(width, abs=1)
    screenshot(page, widget, "interact.png")
    sent = int(widget.get_attribute("data-sent"))
    assert 1 <= sent <= 20

    # the nudge of a, drawn and in the output's line
    widget.locator(".mg-nudge-on").check()
    page.wait_for_function("() => document.querySelector('.microgrid-interact .mg-output')"
                           ".textContent.includes('Δoutput')", timeout=30_000)
    page.wait_for_timeout(300)
    svg = picture.locator("svg")
    natural = float(svg.get_attribute("width").removesuffix("pt")) * 4 / 3
    drawn = svg.bounding_box()["width"]  # far wider than the cell: 60%, and it scrolls
    assert natural > picture.bounding_box()["width"]
    assert drawn == pytest.approx(0.6 * natural, abs=1)
    screenshot(page, widget, "interact-nudge.png")

    # h typed, and Enter: the nudge by 0.1, re-evaluated
    h_box = widget.locator(".mg-h")
    h_box.fill("0.1")
    h_box.press("Enter")
    change = format_number(math.tanh((a + 0.1) * -1.0 + 1) - math.tanh(a * -1.0 + 1), 4)
    page.wait_for_function(
        "t => document.querySelector('.microgrid-interact .mg-output').textContent.endsWith(t)",
        arg=f"when a moves by 0.1: Δoutput = {change} (predicted "
            f"{format_number((1 - math.tanh(1 - a) ** 2) * -1.0 * 0.1, 4)})", timeout=30_000)

    # the keyboard: ArrowRight on b's slider moves it one step (JupyterLab's command mode
    # has ArrowRight too), and the picture follows
    b_slider = widget.locator(".mg-slider[data-name='b']")
    b_slider.focus()
    b_slider.press("ArrowRight")
    b = float(b_slider.input_value())
    assert b > -1.0
    page.wait_for_function(
        "t => document.querySelector('.microgrid-interact .mg-output').textContent.startsWith(t)",
        arg=f"output = {expected_numbers(a, b)[0]};", timeout=30_000)
    b_slider.press("ArrowLeft")
    assert float(b_slider.input_value()) == -1.0
    page.wait_for_function(
        "t => document.querySelector('.microgrid-interact .mg-output').textContent.startsWith(t)",
        arg=f"output = {expected[0]};", timeout=30_000)

    # bad numbers: the error shows, the picture stays, the kernel answers the next move
    good = picture.inner_html()
    number_box = widget.locator(".mg-box[data-name='b']")
    error = widget.locator(".mg-error")
    for text, message in [("abc", "b: 'abc' is not a number"),
                          ("nan", "b: nan is not a finite number")]:
        number_box.fill(text)
        number_box.press("Enter")  # commits the box (a change event)
        page.wait_for_function(
            "t => document.querySelector('.microgrid-interact .mg-error').textContent"
            ".includes(t)", arg=message, timeout=30_000)
        assert error.is_visible() and picture.inner_html() == good
    number_box.fill("-2")
    number_box.press("Enter")
    page.wait_for_function(
        "t => document.querySelector('.microgrid-interact .mg-output').textContent"
        ".startsWith(t)", arg=f"output = {format_number(math.tanh(a * -2 + 1), 4)}",
        timeout=30_000)
    assert not error.is_visible()
    assert not page.locator(".jp-OutputArea-output[data-mime-type="
                            "'application/vnd.jupyter.stderr']").count()

    # in JupyterLab's dark theme, the widget's words are as readable as on the light one
    for theme, light in [("JupyterLab Dark", "false"), ("JupyterLab Light", "true")]:
        page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', "
                      "{theme: t})", theme)
        page.wait_for_function("v => document.body.dataset.jpThemeLight === v", arg=light)
        page.wait_for_timeout(300)
        for part in (".mg-nudge", ".mg-output", ".mg-name"):
            ink, page_colour = page.evaluate(COLOURS, f".microgrid-interact {part}")
            assert contrast(ink, page_colour) >= 4.5, (theme, part, ink, page_colour)


# The colour of an element's text and of the page under it (the first ancestor with a
# background), as #rrggbb
COLOURS = """selector => {
  const hex = c => "#" + c.match(/\\d+/g).slice(0, 3)
    .map(x => (+x).toString(16).padStart(2, "0")).join("");
  let e = document.querySelector(selector), ink = getComputedStyle(e).color;
  while (e && /rgba\\(0, 0, 0, 0\\)|transparent/.test(getComputedStyle(e).backgroundColor))
    e = e.parentElement;
  return [hex(ink), hex(e ? getComputedStyle(e).backgroundColor : "rgb(255, 255, 255)")];
}"""



def screenshot(page, widget, name: str) -> None:
    """With $MICROGRID_SCREENSHOTS set, a screenshot of the widget there (docs/interact.png and
    docs/interact-nudge.png are taken so), in a window wide enough for all of its picture."""
    folder = os.environ.get("MICROGRID_SCREENSHOTS")
    if not folder:
        return
    width = float(widget.locator("svg").get_attribute("width").removesuffix("pt")) * 4 / 3
    viewport = page.viewport_size
    page.set_viewport_size({"width": int(width) + 400, "height": viewport["height"]})
    page.wait_for_timeout(500)
    widget.screenshot(path=str(Path(folder) / name))
    page.set_viewport_size(viewport)
    page.wait_for_timeout(500)
