"""What the playground page runs in Pyodide: the command line's own code, called as the shell
would call it, so that the page draws, explains and reports errors as `microgrid draw`,
`explain`, `quiz` and `demo` do; and the training of the two moons, a few steps at a time.

`use_layout(layout)` makes every drawing use `layout` (Graphviz compiled to WebAssembly, in
the page's JavaScript: DOT in, SVG out) in place of a Graphviz program. Each command returns
JSON: ``{"ok": true, ...}`` or ``{"ok": false, "message": "microgrid draw: ..."}``, the one
line the command line prints on its standard error.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microgrid.cli.commands import demo_title, main
from microgrid.cli.expr import ExpressionError, parse_variables
from microgrid.core.engine import no_grad
from microgrid.drawing import render
from microgrid.nn.data import make_moons
from microgrid.nn.losses import bce_with_logits
from microgrid.nn.optim import Adam
from microgrid.teaching import demos
from microgrid.teaching.demos.train import DEFAULT_LR, model_for

# the seed demos the menu offers, in the order of the lessons
DEMO_MENU = ["apple", "apple_orange", "perceptron", "mlp_backprop", "notation", "derivatives"]
FOLDER = Path(tempfile.gettempdir()) / "microgrid-playground"
# what the page's first uses import: imported once at build time, in the snapshot of Python's
# memory that the page starts from (see build.py)
PRELOAD = ["microgrid.drawing.diagram", "microgrid.drawing.player", "microgrid.teaching.quiz",
           "microgrid.teaching.explain", "graphviz",
           *(f"microgrid.teaching.demos.{name}" for name in DEMO_MENU)]


def use_layout(layout: Callable[[str], str]) -> None:
    """Draw every SVG with `layout` (DOT source to SVG text); its errors become RenderErrors."""
    def in_process(source: str) -> str:
        try:
            return str(layout(source))
        except Exception as e:  # a JavaScript error, as Pyodide hands it on
            message = str(e).strip().splitlines()
            raise render.RenderError(f"render: Graphviz failed: "
                                     f"{message[-1] if message else 'no message'}") from None
    render.in_process_layout = in_process


def warm_up() -> None:
    """Do once what every first call does (regular expressions compiled, the command line's
    parser built, the font read), with a stand-in for the layout; for the snapshot."""
    use_layout(lambda source: '<svg width="1pt" height="1pt"></svg>')
    try:
        draw("(a*b + c).tanh()", "a=2 b=-3 c=10")
        explain("a*a", "a=2", "a")
    finally:
        render.in_process_layout = None


def _height(page: str) -> int:
    """The height in pixels for an iframe that shows the player's `page` whole, as Jupyter's
    (`BackwardSteps._repr_html_`): its drawing and its controls."""
    from microgrid.drawing.player import CONTROLS_HEIGHT, MAX_IFRAME_HEIGHT

    return min(MAX_IFRAME_HEIGHT, round(render.svg_size(page)[1] * render.DPI / 72)
               + CONTROLS_HEIGHT)


def _run(argv: list[str]) -> tuple[int, str, str]:
    """Run the command line with `argv`: its exit status, standard output and the last line of
    its standard error (argparse's usage errors end with their one-line message)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:  # argparse: --help, or a usage error
            status = e.code if isinstance(e.code, int) else 2
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    return status, out.getvalue(), lines[-1] if lines else ""


def _result(**fields: Any) -> str:
    return json.dumps({"ok": True, **fields})


def _failure(message: str) -> str:
    return json.dumps({"ok": False, "message": message})


def _file(name: str) -> Path:
    FOLDER.mkdir(exist_ok=True)
    path = FOLDER / name
    path.unlink(missing_ok=True)
    return path


def variables(text: str, command: str = "draw") -> str:
    """The variables of `text` (``a=2 b=-3``, spaces or commas between them), as
    ``[[name, value], ...]``, read by the command line's parser."""
    try:
        pairs = parse_variables(_pairs(text))
    except ExpressionError as e:
        return _failure(f"microgrid {command}: {e}")
    return _result(variables=list(pairs.items()))


def _pairs(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,]+", text) if p]


def _checked(command: str, text: str) -> list[str] | str:
    """`text`'s variables as arguments, or the failure if one is not NAME=NUMBER (so that
    nothing typed there is taken for an option)."""
    checked = json.loads(variables(text, command))
    return _pairs(text) if checked["ok"] else str(checked["message"])


def draw(expression: str, text: str, style: str = "values", steps: bool = False) -> str:
    """`microgrid draw EXPRESSION VARIABLES --style STYLE -o graph.svg` (and ``--animate
    steps.html`` if `steps`): the SVG, what the command printed, and the page of steps."""
    pairs = _checked("draw", text)
    if isinstance(pairs, str):
        return _failure(pairs)
    svg, page = _file("graph.svg"), _file("steps.html")
    argv = ["draw", expression, *pairs, "--style", style, "-o", str(svg)]
    status, out, err = _run(argv + (["--animate", str(page)] if steps else []))
    if status or not svg.is_file():
        first = out.strip().splitlines()[:1] or ["nothing was drawn"]
        return _failure(err or f"microgrid draw: {first[0]}")
    printed = [line for line in out.splitlines() if not line.startswith(("drew the graph to ",
                                                                           "wrote the backward"))]
    if not steps:
        return _result(svg=svg.read_text(encoding="utf-8"), printed="\n".join(printed))
    text = page.read_text(encoding="utf-8")
    return _result(svg=svg.read_text(encoding="utf-8"), printed="\n".join(printed),
                   steps=text, height=_height(text))


def explain(expression: str, text: str, wrt: str) -> str:
    """`microgrid explain EXPRESSION VARIABLES --wrt NAME`: its text."""
    pairs = _checked("explain", text)
    if isinstance(pairs, str):
        return _failure(pairs)
    status, out, err = _run(["explain", expression, *pairs, "--wrt", wrt])
    return _failure(err) if status else _result(text=out)


def quiz(seed: int, ops: str = "+,-,*", size: int = 4) -> str:
    """`microgrid quiz --seed SEED --ops OPS --size SIZE --html quiz.html`: the page."""
    page = _file("quiz.html")
    status, out, err = _run(["quiz", "--seed", str(seed), "--ops", ops, "--size", str(size),
                             "--html", str(page)])
    if status:
        return _failure(err)
    return _result(page=page.read_text(encoding="utf-8"), printed=out.strip())


def demo_menu() -> str:
    """The demos of the menu: name and the first line of its docstring."""
    return _result(demos=[[name, (demos.load(name).__doc__ or "").strip().splitlines()[0]]
                          for name in DEMO_MENU])


def demo(name: str, style: str = "values") -> str:
    """`microgrid demo NAME -o graph.svg --style STYLE`: what it printed (its numbers and its
    check), its status, and the drawing of its graph."""
    if name not in DEMO_MENU:
        return _failure(f"microgrid demo: unknown demo {name!r}; the demos are: "
                        f"{', '.join(DEMO_MENU)}")
    svg = _file("demo.svg")
    status, out, err = _run(["demo", name, "-o", str(svg), "--style", style])
    printed = "\n".join(line for line in out.splitlines()
                        if not line.startswith("drew the graph to "))
    if not svg.is_file():
        return _failure(err or f"microgrid demo: {name} drew nothing")
    return _result(svg=svg.read_text(encoding="utf-8"), printed=printed, status=status,
                   message=err)


def demo_steps(name: str, style: str = "values") -> str:
    """The step-by-step player of the graph that demo `name` computes (its page)."""
    from microgrid.drawing.player import backward_steps

    if name not in DEMO_MENU:
        return _failure(f"microgrid demo: unknown demo {name!r}")
    module = demos.load(name)
    with contextlib.redirect_stdout(io.StringIO()):
        _, root = module.run([])
    title = demo_title(module.__doc__ or "") or name  # as `microgrid demo NAME -o` titles it
    try:
        text = backward_steps(root, style="book" if style == "book" else "values",
                              title=title).html()
        return _result(steps=text, height=_height(text))
    except (ValueError, render.RenderError) as e:
        return _failure(f"microgrid demo: {e}")


class Training:
    """The two moons, learnt by an MLP as in `microgrid demo train` (the same data, model and
    optimizer): forward, loss, backward, step, a few steps at a time (`steps`), and the
    model's probability of class 1 over the plane (`boundary`), for the page to plot."""

    def __init__(self, seed: int = 0, n: int = 100, hidden: int = 16, lr: float | None = None,
                 noise: float = 0.1) -> None:
        self.X, self.y = make_moons(n, noise=noise, seed=seed)
        self.model = model_for(hidden, seed)
        self.optimizer = Adam(self.model.parameters(),
                              lr=DEFAULT_LR["adam"] if lr is None else lr)
        self.losses: list[float] = []

    def points(self) -> str:
        return json.dumps({"X": self.X, "y": self.y})

    def steps(self, k: int = 1) -> str:
        """`k` training steps; the loss of each, and the training accuracy after them."""
        new = []
        for _ in range(k):
            logits = [self.model.output(x) for x in self.X]  # forward
            loss = bce_with_logits(logits, self.y)  # loss
            self.optimizer.zero_grad()
            loss.backward()  # backward: the gradient of every weight
            self.optimizer.step()  # update
            new.append(loss.data)
        self.losses += new
        right = sum((z.data > 0) == (t == 1) for z, t in zip(logits, self.y, strict=True))
        return json.dumps({"losses": new, "step": len(self.losses),
                           "accuracy": right / len(self.y)})

    def boundary(self, size: int = 24, box: tuple[float, float, float, float] = (
            -1.5, 2.5, -1.0, 1.5)) -> str:
        """The model's probability of class 1 at `size` x `size` points of the box (x0, x1,
        y0, y1), row by row from the top."""
        x0, x1, y0, y1 = box
        grid = [[x0 + (x1 - x0) * (i + 0.5) / size, y1 - (y1 - y0) * (j + 0.5) / size]
                for j in range(size) for i in range(size)]
        with no_grad():
            probabilities = [self.model.output(p).sigmoid().data for p in grid]
        return json.dumps({"size": size, "box": box, "probabilities": probabilities})
