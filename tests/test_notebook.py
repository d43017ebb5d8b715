"""In Jupyter: a notebook that draws a graph and shows the step-by-step player, executed by
nbclient as Jupyter would, and its outputs checked (MIME types, sizes in bytes, the player
working in a headless browser); then saved, and reopened in JupyterLab 4 (untrusted, as a
notebook someone sent is), where the pictures and the player's finished pass must show."""

from __future__ import annotations

import base64
import copy
import html
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import chromium

from benchmarks import browser

JUPYTER_REASON = "needs nbformat, nbclient and ipykernel (pip install -e '.[dev]')"
nbformat = pytest.importorskip("nbformat", reason=JUPYTER_REASON)
nbclient = pytest.importorskip("nbclient", reason=JUPYTER_REASON)

CELLS = [
    "from microgrid import Value, draw, backward_steps\n"
    "from microgrid.teaching.demos.apple_orange import build\n"
    "price = build()['price']",
    "draw(price)",
    "backward_steps(price)",
    "from microgrid import nn, group\n"
    "x = Value(2.0, 'x')\n"
    "y = x * x + 1.0\n"
    "y.backward()\n"
    "draw(y)",  # a 4-value drawing
    "model = nn.MLP(2, [16, 16, 1], activation='relu', seed=0)\n"
    "out = model.output([Value(0.5, 'x1'), Value(-1.0, 'x2')])\n"
    "out.backward()\n"
    "draw(out)",  # the whole MLP, 402 values
]


@pytest.fixture(scope="module")
def executed() -> object:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    return notebook


@pytest.fixture(scope="module")
def outputs(executed) -> list[list[dict]]:
    return [cell.outputs for cell in executed.cells]


def test_a_diagram_shows_inline_once(outputs):
    (shown,) = outputs[1]
    assert shown["output_type"] == "execute_result"
    assert set(shown["data"]) == {"text/html", "text/plain"}  # no image/svg+xml copy
    page = shown["data"]["text/html"]
    sources = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"[^>]*'
                         r'style="max-width:100%;height:auto"', page)
    from microgrid import draw
    from microgrid.teaching.demos.apple_orange import build

    expected = draw(build()["price"]).svg()  # the drawing, drawn here, byte for byte
    assert [base64.b64decode(src).decode() for src in sources] == [expected]
    assert "full size" not in page and "Scaled" not in page  # 955 px: it fits a cell


def _bytes(output: dict) -> int:
    return len(json.dumps(output).encode("utf-8"))


def test_notebook_outputs_are_one_copy_of_the_drawing(outputs):
    (small,) = outputs[3]
    (mlp,) = outputs[4]
    # the 4-value drawing: its SVG (with its 13 KB font) once, in base64: 98 KB before
    assert _bytes(small) < 40_000, _bytes(small)
    assert small["data"]["text/html"].count("data:image/svg+xml;base64,") == 1
    # the whole MLP: once (3.8 MB before), with a notice that says how to draw less
    assert _bytes(mlp) < 1_600_000, _bytes(mlp)
    page = mlp["data"]["text/html"]
    assert page.count("data:image/svg+xml;base64,") == 1
    assert "collapse=1" in page and "focus=" in page
    assert "Scaled to fit the cell" in page  # and it is scaled: it is wider than a cell


def test_the_player_shows_inline_as_a_page_in_an_iframe(outputs):
    (shown,) = outputs[2]
    page = shown["data"]["text/html"]
    iframe = re.fullmatch(r'<iframe [^>]*srcdoc="([^"]*)"[^>]*>(.*)</iframe>', page.strip(),
                          re.DOTALL)
    assert iframe, page[:300]
    assert 'sandbox="allow-scripts"' in page
    inner = html.unescape(iframe[1])
    from microgrid import backward_steps
    from microgrid.teaching.demos.apple_orange import build

    assert inner == backward_steps(build()["price"]).html()  # the page, made here


def test_the_player_inline_works_in_a_browser(outputs, tmp_path):
    (shown,) = outputs[2]
    notebook_page = tmp_path / "cell.html"  # the cell's output, as a notebook shows it
    notebook_page.write_text("<!DOCTYPE html><html><body><div style='width:700px'>"
                             + shown["data"]["text/html"] + "</div></body></html>")
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(notebook_page).as_uri())
        frame = page.frame_locator("iframe")
        counter = frame.locator("#counter")
        assert counter.inner_text() == "1 / 9"
        frame.locator("#next").click()
        frame.locator("#next").click()
        assert counter.inner_text() == "3 / 9"
        # the fallback for an untrusted notebook is in the iframe's content: not shown here
        assert page.locator(".microgrid-player-static").count() == 0
        page.screenshot(path=str(tmp_path / "cell.png"))
    assert not errors


@pytest.fixture(scope="module")
def jupyterlab(executed, tmp_path_factory):
    """JupyterLab 4 serving the executed notebook, saved twice: ``class.ipynb`` as nbclient
    leaves it, unsigned, so that reopened it is untrusted (as a notebook someone sent is: this
    server has a notary of its own), and ``trusted.ipynb``, signed by that notary. Yields the
    URL of a notebook without its name."""
    pytest.importorskip("jupyterlab", reason="needs jupyterlab (pip install -e '.[notebook]')")
    from nbformat.sign import NotebookNotary

    folder = tmp_path_factory.mktemp("lab")
    executed = copy.deepcopy(executed)  # reopened with the server's kernel, asking no one
    executed.metadata["kernelspec"] = {"name": browser.KERNEL, "language": "python",
                                       "display_name": "microgrid's test kernel"}
    nbformat.write(executed, folder / "class.ipynb")
    trusted = copy.deepcopy(executed)
    trusted.metadata["title"] = "trusted"  # the notary trusts contents: not class.ipynb's
    data = browser.data_dir(folder)
    data.mkdir(parents=True)
    NotebookNotary(data_dir=str(data)).sign(trusted)
    nbformat.write(trusted, folder / "trusted.ipynb")
    with browser.jupyterlab(folder) as url:
        yield f"{url}/lab/tree/"


@pytest.fixture
def lab_page(jupyterlab):
    """Open a notebook of `jupyterlab` in Chromium: ``lab_page("class.ipynb")``."""
    with chromium() as chrome:
        def open_notebook(name: str):
            page = chrome.new_page(viewport={"width": 1280, "height": 1000})
            # reset: JupyterLab reopens the notebooks of the last visit otherwise
            page.goto(f"{jupyterlab}{name}?reset", timeout=120_000)
            page.locator(".jp-Cell .jp-OutputArea-output").first.wait_for(timeout=120_000)
            return page
        yield open_notebook


def test_a_saved_notebook_reopened_in_jupyterlab_shows_the_pictures_and_the_finished_pass(
        lab_page, tmp_path):
    page = lab_page("class.ipynb")
    drawing = page.locator(".jp-OutputArea-output .microgrid-diagram img").first
    drawing.wait_for(timeout=60_000)
    drawing.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "lab-drawing.png"))
    assert drawing.is_visible()
    assert drawing.evaluate("img => img.complete && img.naturalWidth") == 955
    # the player: no iframe (the sanitizer removed it), but its finished pass and the note
    assert page.locator(".jp-OutputArea-output iframe").count() == 0
    player = page.locator(".jp-OutputArea-output .microgrid-player-static")
    player.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "lab-player.png"))
    picture = player.locator("img")
    assert picture.is_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth") > 500
    note = player.locator(".microgrid-note").inner_text()
    assert "trusted notebook" in note and "Trust Notebook" in note and "save_animation" in note
    assert player.locator("li").count() == 9  # every step, in words
    assert "price.grad = 1" in (player.locator("li").first.text_content() or "")
    # the notice over the whole MLP
    notice = page.locator(".jp-OutputArea-output .microgrid-notice")
    notice.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "lab-mlp.png"))
    assert "collapse=1" in notice.inner_text()
    _keep(tmp_path, "lab-drawing.png", "lab-player.png", "lab-mlp.png")


def test_a_trusted_notebook_in_jupyterlab_shows_the_player_and_not_the_fallback(
        lab_page, tmp_path):
    page = lab_page("trusted.ipynb")
    frame = page.frame_locator(".jp-OutputArea-output iframe")
    counter = frame.locator("#counter")
    counter.wait_for(timeout=60_000)
    assert counter.inner_text() == "1 / 9"
    frame.locator("#next").click()
    assert counter.inner_text() == "2 / 9"
    assert page.locator(".microgrid-player-static").count() == 0  # the iframe's content
    page.locator(".jp-OutputArea-output iframe").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "lab-trusted.png"))
    _keep(tmp_path, "lab-trusted.png")


def _keep(folder: Path, *names: str) -> None:
    """Copy screenshots to $MICROGRID_SCREENSHOTS, if set, to look at them."""
    if os.environ.get("MICROGRID_SCREENSHOTS"):
        for name in names:
            shutil.copy(folder / name, Path(os.environ["MICROGRID_SCREENSHOTS"]) / name)
