"""Practise backpropagation: a small random graph, and its gradients to find one at a time.

`make_quiz(seed, ops, size)` draws a graph (the same seed gives the same graph); `run(quiz)`
asks, in the order `backward()` visits the nodes, for each node's gradient, reading answers
from standard input (so answers can be piped in, for tests and classrooms), accepts one within
a tolerance, and on a wrong one shows the right value and its chain-rule step; a score at the
end. `quiz_html(quiz)` is the same exercise as one self-contained page: the drawing with empty
gradient boxes, each checked as it is filled in, and a hint button for each.
"""

from __future__ import annotations

import html
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TextIO

from microgrid.core.engine import Value
from microgrid.core.formulas import format_number, local_formula, with_number
from microgrid.drawing.diagram import GRAD_COLOR, LOCAL_COLOR
from microgrid.drawing.player import BackwardSteps, _inline, _script_json
from microgrid.teaching.explain import tree

OPS = ("+", "-", "*", "/", "tanh", "relu", "exp", "sigmoid")
DEFAULT_OPS = ("+", "-", "*")
TOLERANCE = 0.01  # an answer within 1% (or 0.001) of the gradient is right
LEAF_NAMES = "abcdefgh"
NAMES = "pqrstuvw"  # the intermediate values; the output is y


@dataclass(frozen=True)
class Question:
    """Find `node`'s gradient, `answer`; `hint` gives what it is made of, `step` the working."""

    node: Value
    name: str
    answer: float
    hint: str
    step: str


@dataclass(frozen=True)
class Quiz:
    root: Value
    seed: int
    ops: tuple[str, ...]
    questions: tuple[Question, ...]
    expression: str

    def text(self) -> str:
        """The exercise as it opens: the graph, and what to find."""
        return "\n".join([
            f"Quiz {self.seed}: y = {self.expression}",
            "",
            str(tree(self.root, show_grads=False)),
            "",
            f"Backpropagate from y (y.grad = 1): give each gradient dy/d(node) in the order "
            f"backward() visits the nodes ({len(self.questions)} questions).",
        ])


def make_quiz(seed: int = 0, ops: Sequence[str] = DEFAULT_OPS, size: int = 4) -> Quiz:
    """A graph of `size` operations drawn from `ops` (see `OPS`) on small whole numbers, every
    input used; the same seed, ops and size give the same quiz."""
    ops = tuple(ops)
    unknown = [op for op in ops if op not in OPS]
    if not ops or unknown:
        raise ValueError(f"quiz: unknown operation {', '.join(map(repr, unknown))}; choose "
                         f"from {' '.join(OPS)}" if unknown else "quiz: no operations given")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= len(NAMES) + 1:
        raise ValueError(f"quiz: size must be from 1 to {len(NAMES) + 1} operations, "
                         f"got {size!r}")
    rng = random.Random(seed)
    for _ in range(10_000):  # draws until a graph is a good exercise (the same for a seed)
        root = _draw_graph(rng, ops, size)
        if root is not None:
            break
    else:  # e.g. exp of exp of exp ...: the numbers grow too large to work out
        raise ValueError(f"quiz: found no graph of {size} operations from {' '.join(ops)} "
                         "whose numbers stay workable; use a smaller size, or add + or *")
    steps = BackwardSteps(root, local=True)
    questions = []
    for k, step in enumerate(steps):
        if step.node is root:
            continue
        terms = [f"{steps.name(t.consumer)}.grad = {steps.num(t.consumer_grad)} times the "
                 "local derivative " + with_number(
                     (local_formula(t.consumer, t.index, steps._called)
                      or "∂/∂").replace("∂/", f"∂{steps.name(t.consumer)}/", 1),
                     steps.num(t.local_grad)) for t in step.terms]
        times = "once" if len(step.terms) == 1 else f"{len(step.terms)} times"
        hint = (f"{steps.name(step.node)} is used {times}: " + "; ".join(terms)
                + (" (the uses add up)" if len(step.terms) > 1 else ""))
        questions.append(Question(step.node, steps.name(step.node), step.grad, hint,
                                  steps.chain_rule(k)))
    return Quiz(root, seed, ops, tuple(questions), _expression(root))


def _draw_graph(rng: random.Random, ops: tuple[str, ...], size: int) -> Value | None:
    """A random graph, labelled, after backward(); None if it makes a poor exercise: a value
    or a gradient that is 0 (or x - x), or numbers too small or too large to work out."""
    binary = [op for op in ops if op in ("+", "-", "*", "/")]
    n_leaves = max(2, min(len(LEAF_NAMES), (size + 3) // 2)) if binary else 1
    leaves = [Value(float(rng.choice([-3, -2, -1, 1, 2, 3])), label=LEAF_NAMES[i])
              for i in range(n_leaves)]
    unused = list(leaves)  # values no operation uses yet
    everything = list(leaves)
    try:
        for i in range(size):
            op = rng.choice(ops)
            if binary and len(unused) > size - i:  # too many left to use: join two now
                op = rng.choice(binary)
            a = unused.pop(rng.randrange(len(unused))) if unused else rng.choice(everything)
            if op in binary:
                # a second use of a value (its gradients add up) when nothing is left unused
                b = unused.pop(rng.randrange(len(unused))) if unused else rng.choice(leaves)
                if b is a and op in ("-", "/"):
                    return None
                v = {"+": a + b, "-": a - b, "*": a * b}[op] if op != "/" else a / b
            else:
                v = getattr(a, op)()
            everything.append(v)
            unused.append(v)
    except (ArithmeticError, ValueError):
        return None
    if len(unused) > 1:
        return None
    root = everything[-1]
    for v, name in zip(everything[n_leaves:-1], NAMES, strict=False):
        v.label = name
    root.label = "y"
    root.backward()
    nodes = [v for v in everything if v is not root]
    if any(not 0.05 <= abs(v.data) <= 100 for v in everything[n_leaves:]) or any(
            not 0.01 <= abs(v.grad) <= 1000 for v in nodes):
        return None
    return root


def _expression(v: Value) -> str:
    """The formula of `v` in its inputs: y = (a × b + c)... with the labels of its inputs."""
    if v.is_leaf:
        return v.label
    parts = [_expression(x) if isinstance(x, Value) else format_number(float(x))
             for x in v.operands]
    if len(parts) == 2:
        symbol = {"+": "+", "-": "-", "*": "*", "/": "/"}[v.op]
        return f"({parts[0]} {symbol} {parts[1]})" if v.label != "y" else \
            f"{parts[0]} {symbol} {parts[1]}"
    return f"{v.op}({parts[0].removeprefix('(').removesuffix(')')})" \
        if parts[0].startswith("(") and parts[0].endswith(")") else f"{v.op}({parts[0]})"


def is_right(answer: float, truth: float, tolerance: float = TOLERANCE) -> bool:
    return abs(answer - truth) <= max(tolerance * abs(truth), 1e-3)


def parse_answer(text: str) -> float | None:
    """A number as a learner types it: ``2``, ``-0.5``, ``1/3``, ``.25``; None if it is not."""
    try:
        value = float(Fraction(text.strip().replace(" ", "")))
    except (ValueError, ZeroDivisionError, OverflowError):  # 1e400: too large for a float
        return None
    return value if math.isfinite(value) else None


def run(quiz: Quiz, input: TextIO | None = None, output: TextIO | None = None,
        tolerance: float = TOLERANCE) -> tuple[int, int]:
    """Ask the quiz's questions on `output`, reading answers from `input` (standard input and
    output by default); returns (right answers, questions). A blank line asks again; ``q`` or
    the end of the input stops early: the questions left count as not answered."""
    inp = sys.stdin if input is None else input
    out = sys.stdout if output is None else output
    print(quiz.text(), file=out)
    right = 0
    for n, q in enumerate(quiz.questions, 1):
        while True:
            print(f"\n{n}/{len(quiz.questions)}. {q.name}.grad = ? ", end="", file=out)
            out.flush()
            line = inp.readline()
            if not line or line.strip().lower() in ("q", "quit"):
                print("\n(stopped)", file=out)
                return _score(right, len(quiz.questions), out)
            if not line.strip():  # a stray Enter: ask again
                continue
            if line.strip().lower() in ("h", "hint", "?"):
                print(f"Hint: {q.hint}", file=out)
                continue
            answer = parse_answer(line)
            if answer is not None:
                break
            print(f"{line.strip()!r} is not a number (type e.g. 2, -0.5 or 1/3; h for a "
                  "hint, q to stop)", file=out)
        if is_right(answer, q.answer, tolerance):
            right += 1
            print(f"Right: {q.name}.grad = {format_number(q.answer)}.", file=out)
        else:
            print(f"Not quite: {q.name}.grad = {format_number(q.answer)}, not "
                  f"{format_number(answer)}. {q.step}", file=out)
    return _score(right, len(quiz.questions), out)


def _score(right: int, total: int, out: TextIO) -> tuple[int, int]:
    print(f"\nScore: {right}/{total}" + (" - every gradient right!" if right == total else ""),
          file=out)
    return right, total


# --- the page ---------------------------------------------------------------------------------
def quiz_html(quiz: Quiz, tolerance: float = TOLERANCE) -> str:
    """The quiz as one self-contained page (no network): the drawing, every gradient an empty
    box to fill in, checked as it is typed; a hint button for each gives the local derivative
    and the upstream gradient."""
    steps = BackwardSteps(quiz.root, local=True, title=None)
    svg = _inline(steps._final_svg())
    ids = steps.ids
    # what a right answer for node j shows: its gradient on its box and on the edge from its
    # operation, and on each edge that carries a part of it (j's uses as an operand)
    shows: dict[Value, list[str]] = {v: [f"v{i}", f"out{i}"] for v, i in ids.items()}
    for v, i in ids.items():
        for k, x in enumerate(v.operands):
            if isinstance(x, Value):
                shows[x].append(f"e{i}_{k}")
    questions = [{"name": q.name, "answer": q.answer, "shows": shows[q.node],
                  "box": f"v{ids[q.node]}",
                  "hint": q.hint, "step": q.step} for q in quiz.questions]
    title = f"Backpropagation quiz {quiz.seed}: y = {quiz.expression}"
    rows = "\n".join(
        f'<li><label for="q{k}"><code>{html.escape(q.name)}.grad =</code></label> '
        f'<input id="q{k}" data-k="{k}" inputmode="decimal" autocomplete="off" size="8"> '
        f'<button type="button" class="hint" data-k="{k}">hint</button> '
        f'<span class="verdict" id="verdict{k}"></span>'
        f'<div class="hinttext" id="hint{k}" hidden></div></li>'
        for k, q in enumerate(quiz.questions))
    return _PAGE.format(
        title=html.escape(title), svg=svg, rows=rows, n=len(questions),
        data=_script_json({"questions": questions, "tolerance": tolerance,
                           "known": shows[quiz.root][:2]}),
        grad=GRAD_COLOR, local=LOCAL_COLOR)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline';
 font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; }}
#drawing {{ overflow: auto; position: relative; }}
input.onbox {{ position: absolute; box-sizing: border-box; font-size: 11px; padding: 0 2px;
  text-align: center; border: 1px solid #999; border-radius: 3px; }}
#drawing > svg {{ display: block; max-width: 100%; height: auto; }}
ol li {{ margin: 0.4em 0; }}
input {{ font-size: 1em; }}
input.right {{ border: 2px solid #2a7f2a; background: #eaf6ea; }}
input.wrong {{ border: 2px solid #e6550d; background: #fff1e0; }}
.verdict.right {{ color: #2a7f2a; font-weight: bold; }}
.verdict.wrong {{ color: #e6550d; font-weight: bold; }}
.hinttext {{ color: #1f5fa8; margin: 0.2em 0 0 1em; }}
text.mg-unknown {{ fill: #b0b0b0; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Each edge shows its forward value and, in <b style="color:{local}">blue</b>, its local
derivative. Fill in each gradient, in its box on the drawing or in the list below (in the
order <code>backward()</code> finds them, with a hint for each); a right one appears in
<b style="color:{grad}">red</b> on the drawing. y.grad = 1.</p>
<div id="drawing">
{svg}
</div>
<ol id="questions">
{rows}
</ol>
<p id="score" aria-live="polite">0 of {n} right.</p>
<p><small>Written by microgrid (microgrid quiz --html).</small></p>
<script type="application/json" id="quiz">{data}</script>
<script>
(function () {{
  "use strict";
  var quiz = JSON.parse(document.getElementById("quiz").textContent);
  var questions = quiz.questions, right = questions.map(function () {{ return false; }});
  // every gradient on the drawing but the output's starts as "?"
  var texts = [];
  document.querySelectorAll("svg g.grad").forEach(function (g) {{
    if (quiz.known.indexOf(g.id) >= 0) return;
    var t = g.getElementsByTagName("text"), last = t[t.length - 1];
    texts.push({{g: g.id, text: last, known: last.textContent}});
    last.textContent = last.textContent.indexOf("grad ") === 0 ? "grad ?" : "?";
    last.classList.add("mg-unknown");
  }});
  function reveal(ids, known) {{  // a gradient found (or lost): where the drawing shows it
    texts.forEach(function (t) {{
      if (ids.indexOf(t.g) >= 0) {{
        t.text.textContent = known ? t.known :
          (t.known.indexOf("grad ") === 0 ? "grad ?" : "?");
        t.text.classList.toggle("mg-unknown", !known);
      }}
    }});
  }}
  // an answer box on each value's box of the drawing, over its "grad ?", twin of the list's
  var drawing = document.getElementById("drawing"), boxes = [];
  questions.forEach(function (q, k) {{
    var input = document.createElement("input");
    input.className = "onbox";
    input.id = "box" + k;
    input.dataset.k = k;
    input.setAttribute("aria-label", q.name + ".grad");
    input.setAttribute("autocomplete", "off");
    input.setAttribute("inputmode", "decimal");
    input.placeholder = "grad ?";
    drawing.appendChild(input);
    boxes.push(input);
  }});
  function place() {{
    var origin = drawing.getBoundingClientRect();
    questions.forEach(function (q, k) {{
      var g = document.getElementById(q.box), t = g.getElementsByTagName("text");
      var r = t[t.length - 1].getBoundingClientRect(), frame = g.getBoundingClientRect();
      var input = boxes[k], width = Math.max(48, frame.width - 10);
      input.style.left = (frame.left + (frame.width - width) / 2 - origin.left +
                          drawing.scrollLeft) + "px";
      input.style.top = (r.top - origin.top + drawing.scrollTop - 1) + "px";
      input.style.width = width + "px";
      input.style.height = (r.height + 2) + "px";
    }});
  }}
  place();
  window.addEventListener("resize", place);
  if (document.fonts) document.fonts.ready.then(place);
  function parse(s) {{
    s = s.replace(/\\s+/g, "");
    var m = /^([-+]?[0-9]*\\.?[0-9]+(?:e[-+]?[0-9]+)?)(?:\\/([-+]?[0-9]*\\.?[0-9]+))?$/i.exec(s);
    if (!m) return null;
    var v = parseFloat(m[1]);
    if (m[2] !== undefined) v /= parseFloat(m[2]);
    return isFinite(v) ? v : null;
  }}
  function check(k, value) {{
    var input = document.getElementById("q" + k), verdict = document.getElementById("verdict" + k);
    var box = boxes[k], q = questions[k], v = parse(value), was = right[k], verdictText = "";
    input.value = value;
    box.value = value;
    right[k] = false;
    var state = "";
    if (value.trim() === "") state = "";
    else if (v === null) verdictText = "not a number";
    else if (Math.abs(v - q.answer) <= Math.max(quiz.tolerance * Math.abs(q.answer), 1e-3)) {{
      state = "right"; verdictText = "right"; right[k] = true;
    }} else {{ state = "wrong"; verdictText = "not yet"; }}
    [input, box, verdict].forEach(function (e) {{
      e.classList.remove("right", "wrong");
      if (state) e.classList.add(state);
    }});
    verdict.textContent = verdictText;
    box.hidden = right[k];  // a right answer shows on the drawing itself, in red
    if (right[k] !== was) reveal(q.shows, right[k]);
    var n = right.filter(Boolean).length;
    document.getElementById("score").textContent = n + " of " + questions.length + " right." +
      (n === questions.length ? " Every gradient right!" : "");
  }}
  document.querySelectorAll("#questions input, input.onbox").forEach(function (input) {{
    input.addEventListener("input", function () {{
      check(Number(input.dataset.k), input.value);
    }});
  }});
  document.querySelectorAll("button.hint").forEach(function (b) {{
    b.addEventListener("click", function () {{
      var k = Number(b.dataset.k), h = document.getElementById("hint" + k);
      h.textContent = questions[k].hint;
      h.hidden = false;
    }});
  }});
}})();
</script>
</body>
</html>
"""
