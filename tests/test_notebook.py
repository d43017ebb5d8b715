"""In Jupyter: a notebook that draws a graph and shows the step-by-step player, executed by
nbclient as Jupyter would, and its outputs checked (MIME types, scaling, the player working in a
headless browser)."""

from __future__ import annotations

import base64
import html
import re
import shutil
from pathlib import Path

import pytest

JUPYTER_REASON = "needs nbformat, nbclient and ipykernel (pip install -e '.[dev]')"
nbformat = pytest.importorskip("nbformat", reason=JUPYTER_REASON)
nbclient = pytest.importorskip("nbclient", reason=JUPYTER_REASON)

CELLS = [
    "from microgrid import Value, draw, backward_steps\n"
    "from microgrid.teaching.demos.apple_orange import build\n"
    "price = build()['price']",
    "draw(price)",
    "backward_steps(price)",
]


@pytest.fixture(scope="module")
def outputs() -> list[list[dict]]:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return [cell.outputs for cell in notebook.cells]


def test_a_diagram_shows_inline_scaled_to_the_cell(outputs):
    (shown,) = outputs[1]
    assert shown["output_type"] == "execute_result"
    assert {"text/html", "image/svg+xml", "text/plain"} <= set(shown["data"])
    page = shown["data"]["text/html"]
    src = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"[^>]*'
                    r'style="max-width:100%;height:auto"', page)
    from microgrid import draw
    from microgrid.teaching.demos.apple_orange import build

    expected = draw(build()["price"]).svg()  # the drawing, drawn here, byte for byte
    assert src and base64.b64decode(src[1]).decode() == expected
    assert shown["data"]["image/svg+xml"] == expected
    assert "<summary>full size" in page


def test_the_player_shows_inline_as_a_page_in_an_iframe(outputs):
    (shown,) = outputs[2]
    page = shown["data"]["text/html"]
    iframe = re.fullmatch(r'<iframe [^>]*srcdoc="([^"]*)"[^>]*></iframe>', page.strip())
    assert iframe, page[:300]
    assert 'sandbox="allow-scripts"' in page
    inner = html.unescape(iframe[1])
    from microgrid import backward_steps
    from microgrid.teaching.demos.apple_orange import build

    assert inner == backward_steps(build()["price"]).html()  # the page, made here


def test_the_player_inline_works_in_a_browser(outputs, tmp_path):
    executable = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    if executable is None:
        pytest.skip("no chromium on the PATH (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="needs playwright (pip install -e '.[dev]')")
    (shown,) = outputs[2]
    notebook_page = tmp_path / "cell.html"  # the cell's output, as a notebook shows it
    notebook_page.write_text("<!DOCTYPE html><html><body><div style='width:700px'>"
                             + shown["data"]["text/html"] + "</div></body></html>")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
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
        page.screenshot(path=str(tmp_path / "cell.png"))
        browser.close()
    assert not errors
