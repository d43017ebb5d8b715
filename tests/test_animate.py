"""Backpropagation step by step: the steps, the frames, and the page in a headless browser."""

from __future__ import annotations

import html
import io
import json
import re
import time
import xml.etree.ElementTree as ET

import pytest
from conftest import chromium

from microgrid import Value, dot, topological_order
from microgrid.drawing.player import HIGHLIGHT, backward_steps
from microgrid.teaching.demos.apple_orange import build

SVG_NS = "{http://www.w3.org/2000/svg}"


def chain(size: int) -> Value:
    """A chain ``y = tanh(0.9 y + a_k)`` of at least `size` values."""
    y, k = Value(0.1, label="x"), 0
    while len(topological_order(y)) < size:
        y, k = (y * 0.9 + Value(0.5, label=f"a{k}")).tanh(), k + 1
    return y


def steps_data(page: str) -> list[dict]:
    """The steps' JSON of a page, as its script reads it."""
    block = re.search(r'<script type="application/json" id="steps">(.*?)</script>', page, re.S)
    assert block is not None
    return json.loads(block[1])


def page_svg(page: str) -> str:
    """The page's one drawing."""
    assert page.count("<svg") == 1 and page.count("</svg>") == 1
    return page[page.index("<svg"):page.index("</svg>") + len("</svg>")]


def grad_ids(svg: str) -> set[str]:
    """The ids of the drawing's elements that show a gradient."""
    return set(re.findall(r'<g id="([^"]+)" class="[^"]*\bgrad\b', svg))


def grad_texts(svg: str) -> dict[str, str]:
    """What each element that shows a gradient shows as its gradient (its last text)."""
    groups = ET.fromstring(svg).iter(f"{SVG_NS}g")
    return {g.get("id"): [*g.iter(f"{SVG_NS}text")][-1].text for g in groups
            if "grad" in g.get("class", "").split()}


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
    for frame in frames:  # each frame is an SVG of its own, of the same elements
        assert ET.fromstring(frame).tag == f"{SVG_NS}svg"
        assert grad_ids(frame) == grad_ids(frames[0])


@pytest.mark.parametrize("style", ["values", "book"])
def test_each_gradient_is_revealed_once_by_the_step_of_its_node(style):
    x = Value(3.0, label="x")
    steps = backward_steps((x * x + x * 2).tanh(), style=style)
    frames = steps.frames()
    svg = steps._final_svg()
    reveals = [gid for frame in frames for gid in frame.reveals]
    assert sorted(reveals) == sorted(grad_ids(svg))  # every gradient shown, each once
    for step, frame in zip(steps, frames, strict=True):
        i = steps.ids[step.node]
        assert all(re.fullmatch(rf"(?:v|out){i}|e{i}_\d+", gid) for gid in frame.reveals)
        assert all(f'<g id="{gid}"' in svg for gid in frame.node + frame.edges)
        assert frame.edges == tuple(steps.edge_id(t) for t in step.terms)
    # frame k shows '?' exactly for the gradients of the nodes of the later steps
    for k, frame_svg in enumerate(steps.frame_svgs()):
        later = {gid for frame in frames[k + 1:] for gid in frame.reveals}
        unknown = {gid for gid, text in grad_texts(frame_svg).items()
                   if text in ("?", "grad ?")}
        assert unknown == later


def drawn_edges(svg: str) -> dict[str, tuple[str, str]]:
    """Each edge of Graphviz's SVG, by id: (tail, head) as its <title> gives them (ports cut)."""
    ends = {}
    for g in ET.fromstring(svg).iter(f"{SVG_NS}g"):
        if g.get("class", "").split()[:1] == ["edge"]:
            tail, head = g.find(f"{SVG_NS}title").text.split("->")
            ends[g.get("id")] = (tail.split(":")[0], head.split(":")[0])
    return ends


def expected_highlights(steps, style: str, svg: str) -> list[tuple[set[str], set[str], int]]:
    """For each step, worked out from the graph and the SVG alone (not from the steps' terms,
    frames or edge ids): the step's node's elements, the edges that carried its gradient (every
    drawn edge from the node into a consumer's operation) and how many gradients are not known
    yet (those of the nodes of the later steps: each one's value box or root edge, its
    operation's edge to its box, and the edges of its Value operands)."""
    order = topological_order(steps.root)
    ends = drawn_edges(svg)
    out = []
    for k, node in enumerate(reversed(order)):  # backward() visits the nodes in this order
        i = order.index(node)
        if style == "values":  # a box per value, a circle per operation
            tail = f"v{i}"
            shapes = {tail, f"op{i}"} if node.op else {tail}
        else:  # operations are the nodes; an input is a dot
            tail = f"op{i}" if node.op else f"v{i}"
            shapes = {tail}
        carried = {gid for gid, (t, h) in ends.items() if t == tail and h.startswith("op")}
        later = list(reversed(order))[k + 1:]
        if style == "values":
            unknown = sum(1 + bool(v.op) + len(v.parents) for v in later)
        else:
            unknown = sum(len(v.parents) for v in later)
        out.append((shapes, carried, unknown))
    return out


def graphs_to_step_through() -> list[Value]:
    x, w = Value(3.0, label="x"), Value(-2.0, label="w")
    return [build()["price"], 2 * x, (x * x + x * 2).tanh(), dot([w, 0.5], [x, x], 1.0),
            (2 * x).clamp(-1, 10) * w - x / w]


@pytest.mark.parametrize("style", ["values", "book"])
@pytest.mark.parametrize("k", range(len(graphs_to_step_through())))
def test_each_frame_highlights_exactly_the_edges_into_its_node_from_its_consumers(style, k):
    steps = backward_steps(graphs_to_step_through()[k], style=style)
    svg = steps._final_svg()
    expected = expected_highlights(steps, style, svg)
    for frame, frame_svg, (shapes, carried, unknown) in zip(
            steps.frames(), steps.frame_svgs(), expected, strict=True):
        assert set(frame.node) == shapes
        assert set(frame.edges) == carried
        highlighted = {g.get("id") for g in ET.fromstring(frame_svg).iter(f"{SVG_NS}g")
                       if any(e.get("stroke") == HIGHLIGHT for e in g)}
        assert highlighted == shapes | carried
        assert len(re.findall(r">(?:grad )?\?<", frame_svg)) == unknown


def test_page_is_self_contained(tmp_path):
    page = backward_steps(build()["price"], style="book").save_animation(tmp_path / "s.html")
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert len(steps_data(html)) == 9 and html.count("<svg") == 1  # one drawing for all steps
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]*)"', html)[1]
    assert set(csp.split("; ")) == {"default-src 'none'", "style-src 'unsafe-inline'",
                                    "script-src 'unsafe-inline'", "font-src data:"}
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=", html)  # the page may load nothing
    assert re.findall(r"url\([^)]{,23}", html) == ["url(data:font/woff2;base64,"]  # but its font
    external = set(re.findall(r'https?://[^"\s<]+', html))
    assert external <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "$" not in html  # every placeholder of the template filled in


def test_the_page_grows_linearly_with_the_graph():
    small, large = backward_steps(chain(40)), backward_steps(chain(160))
    assert len(large.html()) / len(small.html()) < 6  # one drawing per step made it ~16
    steps = backward_steps(chain(290))
    start = time.monotonic()
    page = steps.html()
    seconds = time.monotonic() - start
    assert len(steps) >= 290 and len(page.encode("utf-8")) < 5_000_000
    assert seconds < 10  # about 0.3 s here, nearly all of it Graphviz's layout


def test_control_characters_in_labels_and_title_are_shown_escaped(tmp_path):
    x = Value(2.0, label="bell\x07 nul\x00 <b>&\ud800")
    steps = backward_steps((x * 3).tanh(), title="title\x07\x00 </script>")
    page = steps.save_animation(tmp_path / "s.html").read_text(encoding="utf-8")
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page)
    svg = ET.fromstring(page_svg(page))  # the drawing is well-formed XML
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG_NS}text")]
    assert "title\\x07\\x00 </script>" in texts and "bell\\x07 nul\\x00 <b>&\\ud800" in texts
    assert "<title>title\\x07\\x00 &lt;/script&gt;</title>" in page
    assert "<h1>title\\x07\\x00 &lt;/script&gt;</h1>" in page
    assert page.count("</script>") == 2  # neither the label nor the title ends a script
    assert steps_data(page)[-1]["caption"].startswith("bell\\x07 nul\\x00 <b>&\\ud800.grad = ")
    assert len(steps.frame_svgs()) == len(steps)


def test_labels_can_neither_end_the_script_nor_comment_it_out():
    x = Value(2.0, label="</script><script>alert(1)</script><!--<script>")
    page = backward_steps(x * 3).html()
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<!--<script" not in page
    assert steps_data(page)[-1]["caption"].startswith(x.label)  # JSON.parse reads it back


def test_jupyter_shows_the_page_in_a_sandboxed_iframe():
    steps = backward_steps(build()["price"], title="Apples & oranges")
    m = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" '
                     r'title="Apples &amp; oranges" width="100%" height="(\d+)" [^>]*>'
                     r'(<div class="microgrid-player-static">.*</div>)</iframe>',
                     steps._repr_html_(), re.DOTALL)
    assert m is not None
    assert html.unescape(m[1]) == steps.html()
    assert 400 < int(m[2]) <= 900  # the drawing's height, and room for the controls
    # what an untrusted notebook shows instead (see test_notebook.py): the finished pass,
    # the note, the steps in words; nothing in it ends the iframe early
    fallback = m[3]
    assert "</iframe" not in fallback and "<iframe" not in fallback
    assert fallback.count("data:image/svg+xml;base64,") == 1
    assert fallback.count("<li>") == len(steps) == 9
    assert "Apples &amp; oranges" in fallback and "save_animation" in fallback


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


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def open_page(browser, requests: list[str], errors: list[str]):
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


# What the drawing shows: the gradient each element shows (its last text) and whether it is
# grey, and which elements are highlighted (the step's node, the edges of its gradient).
SHOWN = """() => {
  const shown = {}, grey = [];
  for (const g of document.querySelectorAll("svg g.grad")) {
    const texts = g.getElementsByTagName("text"), last = texts[texts.length - 1];
    shown[g.id] = last.textContent;
    if (getComputedStyle(last).fill === "rgb(176, 176, 176)") grey.push(g.id);
  }
  const ids = sel => [...document.querySelectorAll(sel)].map(e => e.id);
  return {shown, grey, node: ids("svg .mg-node"), edges: ids("svg .mg-edge")};
}"""


def test_the_page_in_headless_chromium(tmp_path, browser):
    from PIL import Image

    steps = backward_steps(build()["price"], title="Apples and oranges")
    page_file = steps.save_animation(tmp_path / "steps.html")
    frames, frame_svgs = steps.frames(), steps.frame_svgs()
    n = len(steps)
    expected = expected_highlights(steps, "values", steps._final_svg())  # from the graph
    requests: list[str] = []
    errors: list[str] = []
    page = open_page(browser, requests, errors)
    page.goto(page_file.as_uri())
    assert page.evaluate("document.fonts.ready.then(() => document.fonts.check('12px Arimo'))")

    def check(k: int) -> None:
        """The page shows step k: as frame_svgs()[k], with the step's node in orange."""
        assert page.inner_text("#counter") == f"{k + 1} / {n}"
        caption = page.inner_text("figcaption")
        assert caption == f"Step {k + 1} of {n}. {steps.caption(k)}"
        shown = page.evaluate(SHOWN)
        assert shown["shown"] == grad_texts(frame_svgs[k])  # '?' until the step's node's turn
        later = {gid for frame in frames[k + 1:] for gid in frame.reveals}
        assert set(shown["grey"]) == later
        assert set(shown["node"]) == set(frames[k].node) == expected[k][0]
        assert set(shown["edges"]) == set(frames[k].edges) == expected[k][1]
        for gid in frames[k].reveals:  # the gradients this step computes, in red
            fill = page.eval_on_selector(f"#{gid} text:last-of-type",
                                         "t => getComputedStyle(t).fill")
            assert fill == "rgb(214, 39, 40)"
        stroke = page.eval_on_selector(f"#{frames[k].node[0]} > :is(path, ellipse)",
                                       "s => getComputedStyle(s).stroke")
        assert stroke == "rgb(255, 127, 14)"

    check(0)
    assert page.is_disabled("#prev") and not page.is_disabled("#next")
    for k in range(1, n):  # the Next button steps through every frame
        page.click("#next")
        check(k)
    assert page.is_disabled("#next")
    assert "apple.grad" in page.inner_text("figcaption")
    for k in range(n - 2, -1, -1):  # and Previous back
        page.click("#prev")
        check(k)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    check(2)
    page.keyboard.press("ArrowLeft")
    check(1)
    page.keyboard.press("End")
    check(n - 1)
    page.keyboard.press("Home")
    check(0)
    page.eval_on_selector("#slider", "s => { s.value = 4; s.dispatchEvent(new Event('input')); }")
    check(4)
    shot = page.locator("#player svg").screenshot()
    page.screenshot(path=str(tmp_path / "step5.png"), full_page=True)  # to look at
    assert requests == [page_file.as_uri()]  # nothing but the page itself
    assert errors == []
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] > 500 and image.size[1] > 150
    data = image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    dark = sum(1 for r, g, b in pixels if r + g + b < 200)
    red = sum(1 for r, g, b in pixels if r > 180 and g < 90 and b < 90)
    orange = sum(1 for r, g, b in pixels if r > 230 and 100 < g < 160 and b < 60)
    grey = sum(1 for r, g, b in pixels if 160 < r < 200 and abs(r - g) < 8 and abs(g - b) < 8)
    assert dark > 2000 and red > 100 and orange > 100 and grey > 50  # text, the gradients
    # known, the highlight and the gradients not known yet


def test_the_page_runs_in_a_sandboxed_iframe_as_in_jupyter(browser):
    steps = backward_steps(build()["price"])
    requests: list[str] = []
    errors: list[str] = []
    page = open_page(browser, requests, errors)
    page.set_content(f"<!DOCTYPE html><title>notebook</title>{steps._repr_html_()}")
    frame = page.frame_locator("iframe")
    assert frame.locator("#counter").inner_text() == f"1 / {len(steps)}"
    frame.locator("#next").click()
    assert frame.locator("#counter").inner_text() == f"2 / {len(steps)}"
    assert frame.locator("figcaption").inner_text().startswith("Step 2 of 9. tax.grad = ")
    assert frame.locator("svg .mg-node").count() == 1
    fits = "b => document.documentElement.scrollHeight <= window.innerHeight"
    assert frame.locator("body").evaluate(fits)  # the frame is tall enough for the page
    assert errors == [] and all(url.startswith(("about:", "data:")) for url in requests)
