"""Backpropagation step by step: the steps, the frames, and the page in a headless browser."""

from __future__ import annotations

import io
import re
import shutil

import pytest

from microgrid import Value
from microgrid.animate import backward_steps
from microgrid.demos.apple_orange import build

BROWSER_REASON = ("needs Debian's chromium (apt-get install chromium) and playwright "
                  "(pip install -e '.[dev]'); .ci/run installs both")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_steps_follow_backward_and_reproduce_the_books_gradients():
    price = build()["price"]
    steps = backward_steps(price)
    names = [s.node.label for s in steps]
    assert names[0] == "price" and len(steps) == 9
    grads = {s.node.label: s.grad for s in steps}
    assert grads == pytest.approx({"price": 1, "tax": 650, "all_price": 1.1,
                                   "orange_price": 1.1, "orange_num": 165, "orange": 3.3,
                                   "apple_price": 1.1, "apple_num": 110, "apple": 2.2})
    for step in steps:  # each gradient is the sum of its terms (the chain rule)
        if step.terms:
            assert step.grad == pytest.approx(sum(t.consumer_grad * t.local_grad
                                                  for t in step.terms))
        # a node's step comes after the steps of all its consumers
        before = {s.node for s in steps[: steps.steps.index(step)]}
        assert all(t.consumer in before for t in step.terms)
    assert steps.caption(8) == ("apple.grad = apple_price.grad × ∂apple_price/∂apple = "
                                "1.1 × 2 = 2.2. apple is an input: its gradient is final.")


def test_steps_do_not_touch_the_graphs_gradients():
    x = Value(3.0, label="x")
    y = x * x + x
    steps = backward_steps(y)
    assert x.grad == 0.0 and y.grad == 0.0
    last = steps[-1]
    assert last.node is x and last.grad == 7.0
    assert sorted(t.consumer_grad * t.local_grad for t in last.terms) == [1.0, 3.0, 3.0]


def test_frames_reveal_the_gradients_one_node_at_a_time():
    steps = backward_steps(build()["price"])
    frames = steps.frame_svgs()
    assert len(frames) == 9
    unknown = [len(re.findall(r">(?:grad )?\?<", f)) for f in frames]
    assert unknown == sorted(unknown, reverse=True) and unknown[-1] == 0 and unknown[0] > 10
    assert ">grad 2.2<" in frames[-1] and ">grad 2.2<" not in frames[-2]
    # the step's node and the edges that carried its gradient are highlighted
    assert frames[1].count('stroke="#ff7f0e"') >= 3
    assert len(set(re.findall(r'id="(f\d+)-', "".join(frames)))) == 9  # unique ids per frame


def test_page_is_self_contained(tmp_path):
    page = backward_steps(build()["price"], style="book").save_animation(tmp_path / "s.html")
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count('<figure class="frame"') == 9 and html.count("<svg") == 9
    assert "default-src 'none'" in html  # the page may not load anything
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=|url\(", html)
    external = set(re.findall(r'https?://[^"\s<]+', html))
    assert external <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_bad_input():
    with pytest.raises(ValueError, match="is a leaf"):
        backward_steps(Value(1.0))
    y = Value(1.0)
    for _ in range(10):
        y = y * 2
    with pytest.raises(ValueError, match="more than max_steps=5"):
        backward_steps(y, max_steps=5)
    with pytest.raises(ValueError, match="style must be"):
        backward_steps(y, style="nope")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, match", [
    ({"max_steps": 0}, "^backward_steps: max_steps must be a positive int, got 0$"),
    ({"max_steps": True}, "^backward_steps: max_steps must be a positive int"),
    ({"digits": 0}, "^backward_steps: digits must be an int from 1 to 17"),
    ({"rankdir": "up"}, "^backward_steps: rankdir must be"),
    ({"renderer": "cairo"}, "^backward_steps: renderer must be"),
])
def test_bad_options_name_backward_steps_and_its_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        backward_steps(Value(1.0) * 2, **kwargs)
    with pytest.raises(TypeError, match="^backward_steps: expected a Value, got float 2.0"):
        backward_steps(2.0)  # type: ignore[arg-type]


def test_an_unlabelled_root_is_the_output_in_the_title(tmp_path):
    x = Value(3.0, label="x")
    steps = backward_steps(x * x + 1)
    page = steps.html()
    assert "<h1>Backpropagation through the output, step by step</h1>" in page
    assert "#" not in re.search(r"<title>(.*)</title>", page)[1]
    assert steps.caption(0).startswith("#2.grad = 1")  # the captions still number it
    labelled = backward_steps(Value(2.0, label="w") * x)
    labelled.root.label = "loss"
    assert "<title>Backpropagation through loss, step by step</title>" in labelled.html()


def test_the_page_in_headless_chromium(tmp_path):
    executable = chromium_path()
    if executable is None:
        pytest.skip(f"no chromium on the PATH: this test {BROWSER_REASON}")
    playwright_api = pytest.importorskip("playwright.sync_api", reason=BROWSER_REASON)
    from PIL import Image

    steps = backward_steps(build()["price"], title="Apples and oranges")
    page_file = steps.save_animation(tmp_path / "steps.html")
    n = len(steps)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            requests, errors = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(page_file.as_uri())

            def visible() -> list[str]:
                return page.eval_on_selector_all(
                    ".frame", "fs => fs.filter(f => !f.hidden).map(f => f.id)")

            assert visible() == ["frame0"]
            assert page.inner_text("#counter") == f"1 / {n}"
            assert page.is_disabled("#prev") and not page.is_disabled("#next")
            for k in range(1, n):  # the Next button steps through every frame
                page.click("#next")
                assert visible() == [f"frame{k}"]
                assert page.inner_text("#counter") == f"{k + 1} / {n}"
                caption = page.inner_text(f"#frame{k} figcaption")
                assert caption.startswith(f"Step {k + 1} of {n}.")
            assert page.is_disabled("#next")
            assert "apple.grad" in page.inner_text(f"#frame{n - 1} figcaption")
            for k in range(n - 2, -1, -1):  # and Previous back
                page.click("#prev")
                assert visible() == [f"frame{k}"]
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            assert visible() == ["frame2"]
            page.keyboard.press("ArrowLeft")
            assert visible() == ["frame1"]
            page.keyboard.press("End")
            assert visible() == [f"frame{n - 1}"]
            page.eval_on_selector("#slider", "s => { s.value = 4; "
                                  "s.dispatchEvent(new Event('input')); }")
            assert visible() == ["frame4"]
            shot = page.locator("#frame4 svg").screenshot()
            assert requests == [page_file.as_uri()]  # nothing but the page itself
            assert errors == []
        finally:
            browser.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] > 500 and image.size[1] > 150
    data = image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    dark = sum(1 for r, g, b in pixels if r + g + b < 200)
    red = sum(1 for r, g, b in pixels if r > 180 and g < 90 and b < 90)
    orange = sum(1 for r, g, b in pixels if r > 230 and 100 < g < 160 and b < 60)
    assert dark > 2000 and red > 100 and orange > 100  # text, gradients, the highlight
