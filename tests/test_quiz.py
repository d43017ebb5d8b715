"""The quiz: seeded graphs, answers piped in, corrections, the command and the page."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import chromium

from microgrid import topological_order
from microgrid.cli import main
from microgrid.teaching.quiz import OPS, is_right, make_quiz, parse_answer, quiz_html, run


def answers(quiz, wrong: set[int] = frozenset()) -> io.StringIO:  # type: ignore[assignment]
    """One line per question: the right answer, or a wrong one for the indices `wrong`."""
    return io.StringIO("".join(f"{q.answer + 7 if k in wrong else q.answer}\n"
                               for k, q in enumerate(quiz.questions)))


def test_the_same_seed_gives_the_same_quiz():
    one, two = make_quiz(5, size=5), make_quiz(5, size=5)
    assert one.expression == two.expression and one.text() == two.text()
    assert [(q.name, q.answer) for q in one.questions] == [(q.name, q.answer)
                                                          for q in two.questions]
    others = {make_quiz(seed, size=5).expression for seed in range(10)}
    assert len(others) > 5


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("ops", [("+", "-", "*"), OPS, ("*", "tanh"), ("+", "relu", "exp")])
def test_every_quiz_is_a_good_exercise(seed, ops):
    quiz = make_quiz(seed, ops, size=5)
    order = topological_order(quiz.root)
    assert {v.op for v in order if v.op} <= set(ops)
    # asked in the order backward() visits the nodes, every node but the output
    assert [q.node for q in quiz.questions] == [v for v in reversed(order)][1:]
    for q in quiz.questions:
        assert q.answer == q.node.grad and 0.01 <= abs(q.answer) <= 1000
    assert all(v.label for v in order) and quiz.root.label == "y"


def test_piped_right_answers_score_full_marks():
    quiz = make_quiz(1, size=4)
    out = io.StringIO()
    assert run(quiz, answers(quiz), out) == (len(quiz.questions), len(quiz.questions))
    text = out.getvalue()
    assert text.startswith(f"Quiz 1: y = {quiz.expression}\n")
    assert f"Score: {len(quiz.questions)}/{len(quiz.questions)} - every gradient right!" in text
    assert "Not quite" not in text


def test_wrong_answers_are_corrected_with_the_right_value_and_the_chain_rule_step():
    quiz = make_quiz(1, size=4)
    out = io.StringIO()
    right, total = run(quiz, answers(quiz, wrong={0, 2}), out)
    assert (right, total) == (total - 2, len(quiz.questions))
    text = out.getvalue()
    for k in (0, 2):
        q = quiz.questions[k]
        from microgrid import format_number
        assert (f"Not quite: {q.name}.grad = {format_number(q.answer)}, not "
                f"{format_number(q.answer + 7)}. {q.step}") in text
        assert q.step.startswith(f"{q.name}.grad = ") and "×" in q.step


def test_answers_within_the_tolerance_fractions_hints_and_stopping():
    assert is_right(0.4199, 0.42) and not is_right(0.40, 0.42)
    assert is_right(0.0, 0.0005) and not is_right(0.0, 0.002)
    assert parse_answer("1/3") == pytest.approx(1 / 3) and parse_answer(" -2 ") == -2
    assert parse_answer(".25") == 0.25 and parse_answer("two") is None
    assert parse_answer("1/0") is None and parse_answer("inf") is None
    quiz = make_quiz(2, size=3)
    first = quiz.questions[0]
    out = io.StringIO()
    score = run(quiz, io.StringIO(f"h\nseven\n{first.answer}\n"), out)
    text = out.getvalue()
    assert f"Hint: {first.hint}" in text
    assert "'seven' is not a number" in text
    assert score == (1, len(quiz.questions))  # the input ended: the rest not answered
    assert "(stopped)" in text


def test_bad_options():
    with pytest.raises(ValueError, match="unknown operation 'sin'"):
        make_quiz(0, ["+", "sin"])
    with pytest.raises(ValueError, match="size must be from 1 to 9"):
        make_quiz(0, size=0)
    with pytest.raises(ValueError, match="use a smaller size, or add"):
        make_quiz(0, ["exp"], size=6)


def test_the_command_reads_answers_from_standard_input(monkeypatch, capsys):
    quiz = make_quiz(4, ("+", "*"), size=3)
    monkeypatch.setattr("sys.stdin", answers(quiz))
    assert main(["quiz", "--seed", "4", "--ops", "+,*", "--size", "3"]) == 0
    out = capsys.readouterr().out
    assert f"Score: {len(quiz.questions)}/{len(quiz.questions)}" in out
    assert main(["quiz", "--ops", "+,sin"]) == 2
    assert "microgrid quiz: unknown operation 'sin'" in capsys.readouterr().err


def test_the_command_writes_the_page(tmp_path, capsys):
    page = tmp_path / "quiz.html"
    assert main(["quiz", "--seed", "3", "--html", str(page)]) == 0
    assert f"to {page}" in capsys.readouterr().out
    assert page.read_text() == quiz_html(make_quiz(3))
    assert main(["quiz", "--html", str(tmp_path / "quiz.txt")]) == 2


def quiz_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="quiz">(.*?)</script>', page, re.S)
    assert block is not None
    return json.loads(block[1])


def test_the_page_is_self_contained():
    quiz = make_quiz(3)
    page = quiz_html(quiz)
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page and "<script src" not in page
    data = quiz_data(page)
    assert [q["answer"] for q in data["questions"]] == [q.answer for q in quiz.questions]
    assert page.count("<svg") == 1 and page.count('<input id="q') == len(quiz.questions)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


GRADS = """() => Object.fromEntries([...document.querySelectorAll("svg g.grad")].map(g => {
  const t = g.getElementsByTagName("text"); return [g.id, t[t.length - 1].textContent]; }))"""


def test_the_page_in_headless_chromium(tmp_path, browser):
    quiz = make_quiz(3)
    path = tmp_path / "quiz.html"
    path.write_text(quiz_html(quiz), encoding="utf-8")
    data = quiz_data(path.read_text())
    context = browser.new_context(offline=True)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    n = len(quiz.questions)
    assert page.inner_text("#score") == f"0 of {n} right."
    shown = page.evaluate(GRADS)
    known = set(data["known"])
    assert all(text in ("?", "grad ?") for gid, text in shown.items() if gid not in known)
    assert shown[known.pop()] in ("grad 1", "1")
    # a wrong answer is flagged and shows nothing
    page.fill("#q0", str(quiz.questions[0].answer + 3))
    assert page.inner_text("#verdict0") == "not yet"
    assert "wrong" in page.get_attribute("#q0", "class")
    assert page.evaluate(GRADS) == shown
    page.fill("#q1", "abc")
    assert page.inner_text("#verdict1") == "not a number"
    # the hint: the local derivative and the upstream gradient
    page.click("button.hint[data-k='0']")
    assert page.inner_text("#hint0") == quiz.questions[0].hint
    assert "local derivative" in quiz.questions[0].hint
    # each value's box on the drawing has its answer box, over its gradient, twin of the list's
    for k in range(n):
        box = page.eval_on_selector(f"#box{k}", "b => b.getBoundingClientRect().toJSON()")
        value = page.eval_on_selector(f"#{data['questions'][k]['box']}",
                                      "g => g.getBoundingClientRect().toJSON()")
        assert box["height"] > 10 and box["width"] >= 48
        # inside its value's box (or as wide as 48 px, centred on it), in its lower half
        middle = box["x"] + box["width"] / 2
        assert abs(middle - (value["x"] + value["width"] / 2)) < 1
        assert value["y"] + value["height"] / 2 < box["y"] + box["height"] / 2
        assert box["y"] + box["height"] < value["y"] + value["height"] + 2
    page.fill("#box1", "12345")
    assert page.input_value("#q1") == "12345" and page.inner_text("#verdict1") == "not yet"
    assert "wrong" in page.get_attribute("#box1", "class")
    page.fill("#box1", "")
    # right answers are accepted, one by one, and appear on the drawing
    for k, q in enumerate(quiz.questions):
        if k % 2:
            page.fill(f"#box{k}", f"{q.answer:.4g}")  # on the drawing
            assert page.input_value(f"#q{k}") == f"{q.answer:.4g}"
        else:
            page.fill(f"#q{k}", f"{q.answer:.4g}")  # in the list
        assert page.is_hidden(f"#box{k}")  # the red gradient shows in its place
        assert page.inner_text(f"#verdict{k}") == "right", k
        for gid in data["questions"][k]["shows"]:
            if gid in shown:
                assert "?" not in page.evaluate(GRADS)[gid]
    assert page.inner_text("#score") == f"{n} of {n} right. Every gradient right!"
    assert all("?" not in text for text in page.evaluate(GRADS).values())
    assert errors == [] and requests == [path.as_uri()]
    context.close()


def test_the_page_refuses_an_answer_of_the_wrong_sign(tmp_path, browser):
    quiz = make_quiz(3, size=5)  # gradients 1, 3, -20, 6, 18, -12, ...: both signs
    path = tmp_path / "quiz.html"
    path.write_text(quiz_html(quiz), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    n = len(quiz.questions)
    assert n >= 3 and all(abs(q.answer) >= 0.01 for q in quiz.questions)
    for k, q in enumerate(quiz.questions):
        for where in (f"#q{k}", f"#box{k}"):  # in the list and on the drawing
            page.fill(where, f"{-q.answer:.4g}")
            assert page.inner_text(f"#verdict{k}") == "not yet", (k, q.answer)
            assert "wrong" in page.get_attribute(f"#q{k}", "class")
            assert page.is_visible(f"#box{k}")
        assert page.inner_text("#score") == f"{k} of {n} right."
        page.fill(f"#q{k}", f"{q.answer:.4g}")
        assert page.inner_text(f"#verdict{k}") == "right", (k, q.answer)
        assert "right" in page.get_attribute(f"#q{k}", "class")
        assert page.inner_text("#score") == f"{k + 1} of {n} right." + (
            " Every gradient right!" if k + 1 == n else "")
    page.close()
