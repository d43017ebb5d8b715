"""`interact`: a graph to touch. A slider and a number box per input; moving one runs the forward
and backward pass again and redraws every value and gradient.

Two parts: a `Session` computes (the inputs' numbers, the graph at them, its picture) and knows
nothing of widgets, so that it is tested and timed on its own; the widget (anywidget, with the
front end in ``widget.js``) shows a session and sends it the moves. anywidget is an optional
extra: ``pip install "microgrid[notebook]"``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from microgrid.core.engine import Value, topological_order
from microgrid.core.formulas import format_number
from microgrid.core.forward import nudge, rerun

__all__ = ["Control", "Session", "interact"]

INSTALL = 'pip install "microgrid[notebook]"'
H = 0.01  # the nudge's h, by default


@dataclass(frozen=True)
class Control:
    """One input's slider: its name, starting value and range."""

    name: str
    value: float
    min: float
    max: float
    step: float


def control(name: str, spec: object) -> Control:
    """The `Control` of an input given as a number (a range around it) or, as in ipywidgets'
    ``interact``, a tuple ``(min, max)`` or ``(min, max, step)`` (starting in the middle)."""
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise ValueError(f"interact: {name}={spec!r}: give a number, (min, max) or "
                             "(min, max, step)")
        low, high = (_finite(x, f"interact: {name}'s range") for x in spec[:2])
        if not low < high:
            raise ValueError(f"interact: {name}={spec!r}: min must be less than max")
        step = _finite(spec[2], f"interact: {name}'s step") if len(spec) == 3 else None
        if step is not None and step <= 0:
            raise ValueError(f"interact: {name}={spec!r}: the step must be positive")
        return Control(name, (low + high) / 2, low, high, step or _step(high - low))
    value = _finite(spec, f"interact: {name}")
    span = 2 * max(abs(value), 1.0)
    return Control(name, value, value - span, value + span, _step(2 * span))


def _step(width: float) -> float:
    """A round step of about a hundredth of `width`: 1, 0.1, 0.01..."""
    return 10.0 ** math.floor(math.log10(width / 100))


def _finite(x: object, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{where}: expected a number, got {type(x).__name__} {x!r}")
    if not math.isfinite(x):
        raise ValueError(f"{where}: expected a finite number, got {x!r}")
    return float(x)


def parse(name: str, text: object) -> float:
    """The number a number box holds, or a ValueError that names the input and the text."""
    try:
        x = float(str(text).strip())
    except ValueError:
        raise ValueError(f"{name}: {str(text)!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{name}: {str(text).strip()} is not a finite number")
    return x


class Session:
    """The inputs of `interact`, the graph at them, and its picture.

    `target` is a function of the inputs (called with one `Value` per input, by name, it
    returns the output `Value`) or the output of a graph already built, whose leaves are the
    inputs (each moved in place, with `microgrid.core.forward.rerun`). `set` moves an input: on
    success the graph, `svg` and `output` are new; on an error (a bad number, an operation
    that fails there) it raises, and everything stays as it was.
    """

    def __init__(self, target: Callable[..., Value] | Value, inputs: dict[str, object], *,
                 style: str = "values", collapse: int = 0,
                 focus: Value | str | Sequence[Value | str] | None = None, digits: int = 4,
                 rankdir: str = "LR", theme: str = "light", h: float = H) -> None:
        self._leaves: dict[str, Value] = {}
        if isinstance(target, Value):
            if inputs:
                raise TypeError(f"interact: a graph's inputs are its leaves; got inputs "
                                f"{', '.join(inputs)} too (give a function to name them)")
            leaves = [v for v in topological_order(target) if v.is_leaf]
            if target.is_leaf:
                raise ValueError(f"interact: {target!r} is a leaf; give the output of a graph")
            self._leaves = dict(zip(_unique_names(leaves), leaves, strict=True))
            self.controls = [control(name, leaf.data) for name, leaf in self._leaves.items()]
        elif callable(target):
            if not inputs:
                raise TypeError("interact: give each input of the function a starting number, "
                                "as in interact(f, a=2.0, b=-3.0)")
            self.controls = [control(name, spec) for name, spec in inputs.items()]
        else:
            raise TypeError(f"interact: expected a function or a Value, got "
                            f"{type(target).__name__} {target!r}")
        self.target = target
        self.options = {"style": style, "collapse": collapse, "digits": digits,
                        "rankdir": rankdir, "theme": theme}
        self.focus = focus
        self.values = {c.name: c.value for c in self.controls}
        self.moved = self.controls[0].name  # the input the nudge moves: the last one moved
        self.nudge = False
        self.h = _finite(h, "interact: h")
        self.root, self.svg, self.output = self._compute(self.values)

    def set(self, name: str, text: object) -> None:
        """Move the input `name` to the number `text` (a str, as typed, or a number)."""
        if name not in self.values:
            raise KeyError(f"interact: no input named {name!r}; the inputs are "
                           f"{', '.join(self.values)}")
        values = {**self.values, name: parse(name, text)}
        self.root, self.svg, self.output = self._compute(values, moved=name)
        self.values, self.moved = values, name

    def show_nudge(self, on: bool, h: object = None) -> None:
        """Show (or hide) the nudge of the input moved last, by `h`."""
        h = self.h if h is None else parse("h", h)
        if not h:
            raise ValueError("h: the nudge must not be 0; give a small number, such as 0.01")
        before = self.nudge, self.h
        self.nudge, self.h = bool(on), h
        try:
            self.root, self.svg, self.output = self._compute(self.values)
        except Exception:
            self.nudge, self.h = before
            raise

    def _compute(self, values: dict[str, float], moved: str | None = None
                 ) -> tuple[Value, str, str]:
        """The graph at `values`, after backward(), its SVG and the output's line."""
        from microgrid.drawing import draw

        root = self._graph(values)
        leaf = self._leaf(root, moved or self.moved)
        effects = nudge(root, {leaf: self.h}) if self.nudge and leaf is not None else None
        whole = not self.options["collapse"] and self.focus is None
        picture = draw(root, focus=self._focus(root), title=None,
                       nudge={leaf: self.h} if leaf is not None and effects and whole else None,
                       **self.options)  # type: ignore[arg-type]
        name = root.label or "output"
        digits = int(self.options["digits"])  # type: ignore[call-overload]
        line = f"{name} = {format_number(root.data, digits)}"
        if effects is not None:
            e = effects[root]
            line += (f"; when {moved or self.moved} moves by {format_number(self.h, digits)}: "
                     f"Δ{name} = {format_number(e.actual, digits)} (predicted "
                     f"{format_number(e.predicted, digits)})")
        return root, picture.svg(), line

    def _graph(self, values: dict[str, float]) -> Value:
        if isinstance(self.target, Value):
            root = self.target
            old = {leaf: leaf.data for leaf in self._leaves.values()}
            rerun(root, {leaf: values[name] for name, leaf in self._leaves.items()})
            try:
                _backward(root)
            except Exception:
                rerun(root, old)
                raise
            return root
        out = self.target(**{name: Value(x, name) for name, x in values.items()})
        if not isinstance(out, Value):
            raise TypeError(f"interact: the function must return a Value, got "
                            f"{type(out).__name__} {out!r}")
        if not out.label:  # a new node (made from new inputs): named as in the output's line
            out.label = "output"
        _backward(out)
        return out

    def _leaf(self, root: Value, name: str) -> Value | None:
        """The leaf of the input `name` in the graph of `root` (None if it does not use it)."""
        if self._leaves:
            return self._leaves[name]
        return next((v for v in topological_order(root) if v.is_leaf and v.label == name), None)

    def _focus(self, root: Value) -> Value | list[Value] | None:
        """`focus` in this graph: a name stands for the value with that label."""
        if self.focus is None or isinstance(self.focus, Value):
            return self.focus
        wanted = [self.focus] if isinstance(self.focus, str) else list(self.focus)
        labelled = {v.label: v for v in topological_order(root) if v.label}
        found = []
        for x in wanted:
            if isinstance(x, Value):
                found.append(x)
            elif x in labelled:
                found.append(labelled[x])
            else:
                raise ValueError(f"interact: focus={x!r}: no value of the graph has that label")
        return found


def _backward(root: Value) -> None:
    """backward() from zero: leaves accumulate, so their gradients are reset first."""
    for v in topological_order(root):
        v.grad = 0.0
    root.backward()


def _unique_names(leaves: list[Value]) -> list[str]:
    """Each leaf's label, or x0, x1... for one without; a repeated label gets ' (2)'..."""
    names: list[str] = []
    for i, leaf in enumerate(leaves):
        name = leaf.label or f"x{i}"
        base, k = name, 2
        while name in names:
            name, k = f"{base} ({k})", k + 1
        names.append(name)
    return names


def interact(target: Callable[..., Value] | Value, /, *, style: str = "values",
             collapse: int = 0, focus: Value | str | Sequence[Value | str] | None = None,
             digits: int = 4, rankdir: str = "LR", theme: str = "light", h: float = H,
             **inputs: object) -> Any:
    """A live widget: a slider and a number box per input, the output's value, and the drawing
    of the graph with every value and gradient; a move runs forward and backward again.

    - ``interact(fn, a=2.0, b=-3.0)``: `fn` gets one `Value` per input, labelled with its
      name, and returns the output. An input is a number (a slider around it) or, as in
      ipywidgets, ``(min, max)`` or ``(min, max, step)``.
    - ``interact(root)``: the graph of `root`, whose leaves are the inputs (moved in place).
    - `style`, `collapse`, `focus` (Values, or labels), `digits`, `rankdir`, `theme`: as
      `draw`'s (``theme="dark"`` for a dark notebook).
    - `h`: the nudge's step; the widget's check box shows, for the input moved last, how
      much every value changes when it moves by h, beside the gradient's prediction.

    A number box that holds no number, or a number at which an operation fails (``log`` of a
    negative), shows the error in the widget and keeps the last good picture. In Python,
    ``widget.set(a=0.5)`` moves an input (and raises on such an error). Needs anywidget:
    ``pip install "microgrid[notebook]"``.
    """
    widget_class = _widget_class()
    session = Session(target, inputs, style=style, collapse=collapse, focus=focus,
                      digits=digits, rankdir=rankdir, theme=theme, h=h)
    return widget_class(session)


@functools.cache
def _widget_class() -> type:
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise ImportError(f"interact needs anywidget, which is not installed: {INSTALL}") \
            from None
    files = resources.files("microgrid.notebook")

    class Interact(anywidget.AnyWidget):
        """microgrid's live graph (see `microgrid.interact`)."""

        _esm = files.joinpath("widget.js").read_text(encoding="utf-8")
        _css = files.joinpath("widget.css").read_text(encoding="utf-8")
        controls: Any = traitlets.List().tag(sync=True)
        svg = traitlets.Unicode("").tag(sync=True)
        output = traitlets.Unicode("").tag(sync=True)
        error = traitlets.Unicode("").tag(sync=True)
        nudge = traitlets.Bool(False).tag(sync=True)
        h = traitlets.Float(H).tag(sync=True)
        frame = traitlets.Int(0).tag(sync=True)  # the last move answered

        def __init__(self, session: Session) -> None:
            super().__init__(controls=[asdict(c) for c in session.controls], svg=session.svg,
                             output=session.output, nudge=session.nudge, h=session.h)
            self.session = session
            self.on_msg(self._on_message)

        @property
        def root(self) -> Value:
            """The graph drawn now (the last good one)."""
            return self.session.root

        @property
        def values(self) -> dict[str, float]:
            return dict(self.session.values)

        def set(self, **values: float) -> None:
            """Move inputs, as the sliders do; raises on a bad value (the widget shows it)."""
            for name, x in values.items():
                self._answer(functools.partial(self.session.set, name, x), None, True)

        def _on_message(self, widget: object, content: dict[str, Any], buffers: object) -> None:
            """A move from the front end. Never raises: an error is shown in the widget."""
            seq = content.get("seq")
            kind = content.get("kind")
            if kind == "set":
                self._answer(lambda: self.session.set(str(content.get("name")),
                                                      content.get("text")), seq)
            elif kind == "nudge":
                self._answer(lambda: self.session.show_nudge(bool(content.get("on")),
                                                             content.get("text")), seq)

        def _answer(self, move: Callable[[], None], seq: object, reraise: bool = False
                    ) -> None:
            error = ""
            try:
                move()
            except Exception as e:  # the user's function may raise anything: show it
                error = f"{type(e).__name__}: {e}"
                if reraise:
                    self._show(error, seq)
                    raise
            self._show(error, seq)

        def _show(self, error: str, seq: object) -> None:
            s = self.session
            with self.hold_sync():
                self.svg, self.output, self.error = s.svg, s.output, error
                self.nudge, self.h = s.nudge, s.h
                self.frame = seq if isinstance(seq, int) else self.frame + 1

    return Interact
