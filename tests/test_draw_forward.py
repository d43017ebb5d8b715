"""draw(root, forward=a) and draw(root, nudge={a: h}): the tangents and the changes on every
edge, in colours of their own, with a legend."""

from __future__ import annotations

import re

import pytest

from microgrid import Value, draw, format_number, forward_grad, nn, nudge, topological_order
from microgrid.drawing.theme import FORWARD_COLOR, NUDGE_COLOR
from microgrid.teaching.demos.apple_orange import build


def _edge_lines(source: str) -> dict[str, list[str]]:
    """Each edge's id with its label's lines, markup removed."""
    found = {}
    for m in re.finditer(r"\[label=<(.*?)> (?:[^\]]* )?id=(\w+)\]", source):
        label = m[1]
        if label.startswith("<TABLE"):  # lines in cells (a line sized by its measured width)
            label = re.sub(r"</TD></TR><TR><TD>", "<br/>", label)
            label = re.sub(r"</?(TABLE|TR|TD)[^>]*>", "", label)
        found[m[2]] = label.split("<br/>")
    return found


def _coloured(line: str, colour: str) -> str | None:
    m = re.fullmatch(f'<font color="{colour}">(.*)</font>', line)
    return m[1] if m else None


@pytest.mark.parametrize("style", ["values", "book"])
def test_every_edge_carries_the_tangent_of_its_value(style):
    v = build()
    price, apple = v["price"], v["apple"]
    tangents = forward_grad(price, apple)
    order = topological_order(price)
    source = draw(price, forward=apple, style=style).source
    lines = _edge_lines(source)
    checked = 0
    for i, node in enumerate(order):
        for k, parent in enumerate(node.operands):
            (purple,) = [x for line in lines[f"e{i}_{k}"]
                         if (x := _coloured(line, FORWARD_COLOR)) is not None]
            assert purple == format_number(tangents[parent], 4)
            checked += 1
    assert checked == 8
    assert "purple: d(value)/d(apple), forward mode" in source
    assert "red: d(price)/d(value), reverse mode" in source


def test_the_nudge_on_every_edge_is_the_change_beside_the_prediction():
    v = build()
    price, apple = v["price"], v["apple"]
    source = draw(price, nudge={apple: 0.01}, digits=6).source
    lines = _edge_lines(source)
    order = topological_order(price)
    effects = nudge(price, {apple: 0.01})
    root_line = _coloured(lines[f"out{order.index(price)}"][1], NUDGE_COLOR)
    assert root_line == "Δprice = 0.022 (predicted 0.022)"
    shown = 0
    for i, node in enumerate(order):
        for k, parent in enumerate(node.operands):
            teal = [x for line in lines[f"e{i}_{k}"]
                    if (x := _coloured(line, NUDGE_COLOR)) is not None]
            e = effects[parent]
            if e.actual == 0 and e.predicted == 0:
                assert not teal  # a value that does not move shows no line
                continue
            assert teal == [f"Δ = {format_number(e.actual, 6)} "
                            f"(predicted {format_number(e.predicted, 6)})"]
            shown += 1
    assert shown == 3  # the edges of apple, apple_price and all_price
    assert "Δ: the change when apple moves by 0.01 (predicted: d(value)/d(apple) × 0.01)" in source


def test_a_nudge_with_curvature_shows_actual_and_predicted_apart():
    a, b = Value(0.5, "a"), Value(-1.0, "b")
    y = (a * b + 1).tanh()
    y.label = "y"
    y.backward()
    e = nudge(y, {a: 0.1})[y]
    source = draw(y, nudge={a: 0.1}).source
    assert f"Δy = {format_number(e.actual, 4)} (predicted {format_number(e.predicted, 4)})" \
        in source
    assert format_number(e.actual, 4) != format_number(e.predicted, 4)


def test_forward_and_nudge_refuse_collapse_and_name_their_option():
    model = nn.MLP(2, [2, 1])
    x = Value(0.5, "x")
    y = model([x, Value(1.0)])
    with pytest.raises(ValueError, match="collapse and focus draw without forward or nudge"):
        draw(y, collapse=1, forward=x)
    with pytest.raises(ValueError, match="draw: nudge=: .* is computed by"):
        draw(y, nudge={y: 0.1})
    with pytest.raises(TypeError, match="draw: forward=: expected a Value or a dict"):
        draw(y, forward=[x])


def test_forward_and_nudge_pictures_render(tmp_path):
    v = build()
    d = draw(v["price"], forward=v["apple"], nudge={v["apple"]: 0.01}, title="t")
    assert d.svg().count("forward mode") == 1
    assert d.save(tmp_path / "f.png").stat().st_size > 1000
