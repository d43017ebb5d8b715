"""The `microgrid` command line: `microgrid demo NAME [-o FILE] [--animate HTML]`, `microgrid
demo --list`, `microgrid draw EXPRESSION NAME=NUMBER ... [-o FILE] [--animate FILE] [--local]
[--check] [--text] [--legend] [--theme dark] [--dpi N]`, `microgrid explain EXPRESSION
NAME=NUMBER ... [--wrt NAME]`, `microgrid quiz [--seed N] [--ops OPS] [--size N] [--html FILE]`.

Exit status: 0 done; 1 a drawing could not be made or written (Graphviz failed or ran out of
its time budget, a file could not be written); 2 a bad command line (an option, a file name, an
expression, or a graph too large to draw); 130 interrupted (Ctrl-C). Every error is one line.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from microgrid.core.engine import Value, topological_order
from microgrid.drawing.render import (
    DPI,
    MAX_DPI,
    TIME_BUDGET,
    RenderError,
    check_writable,
    write_atomically,
)
from microgrid.drawing.theme import THEMES
from microgrid.teaching import demos

if TYPE_CHECKING:
    from types import ModuleType

    from microgrid.drawing.diagram import Diagram, Style

SUFFIXES = (".svg", ".png", ".pdf", ".tex", ".dot", ".gv")  # as Diagram.save

DRAW_HELP = """\
Draw the graph of an expression, with the forward value and the gradient on every edge.
The expression may use numbers, the variables given as NAME=NUMBER, + - * / **,
exp log sqrt tanh sigmoid relu sin cos abs, called as tanh(x) or x.tanh(), maximum(a, b),
minimum(a, b), clamp(x, low, high) and leaky_relu(x, slope) (settings are numbers). Example:

  microgrid draw "(a*b + c).tanh()" a=2 b=-3 c=10 -o graph.svg --animate steps.html
  microgrid draw "(a*b + c).tanh()" a=2 b=-3 c=10 -o slide.png --legend --theme dark --dpi 300
"""


EXPLAIN_HELP = """\
Explain how a gradient comes about: every path from the variable to the expression, the
local derivatives along it and their product, and their sum. --wrt names the variable, unless
there is only one. Examples:

  microgrid explain "x*x + x" x=3
  microgrid explain "a*b + a" a=2 b=-3 --wrt a
"""

QUIZ_HELP = """\
Practise backpropagation: a small random graph; type each gradient, in the order backward()
visits the nodes (h for a hint, q to stop). Answers may be piped in, one a line. Example:

  microgrid quiz --seed 3 --ops "+,*,tanh" --size 5
  microgrid quiz --seed 3 --html quiz.html     # the same quiz as a page to hand out
"""

# The long options of the commands that take an expression (tests/test_cli.py checks that
# these are all of them).
LONG_OPTIONS = {
    "draw": {"--help", "--output", "--style", "--rankdir", "--digits", "--no-grads", "--title",
             "--animate", "--local", "--check", "--text", "--time-budget", "--collapse",
             "--focus", "--legend", "--theme", "--dpi"},
    "explain": {"--help", "--wrt", "--max-paths", "--digits"},
}


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microgrid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a teaching demo (and draw its graph)")
    demo.add_argument("name", nargs="?", help="the demo to run (see --list)")
    demo.add_argument("--list", action="store_true", help="list the demos")
    demo.add_argument("-o", "--output", metavar="FILE",
                      help=f"draw the demo's graph to FILE ({', '.join(SUFFIXES)})")
    demo.add_argument("--style", choices=["values", "book"],
                      help="drawing style, with -o or --animate (default: values)")
    _view_options(demo, collapse_default="the demo's own: train and mlp_backprop 2, the "
                                         "others 0")
    _slide_options(demo, needs=", with -o")
    demo.add_argument("--animate", metavar="HTML",
                      help="write the backward pass, step by step, as an HTML page")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the demo")

    draw = commands.add_parser("draw", help="draw the graph of an expression",
                               description=DRAW_HELP, allow_abbrev=False,  # see below
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    draw.add_argument("expression", help='e.g. "(a*b + c).tanh()"')
    draw.add_argument("variables", nargs="*", metavar="NAME=NUMBER",
                      help="the value of each variable, e.g. a=2")
    draw.add_argument("-o", "--output", metavar="FILE",
                      help=f"write the drawing to FILE ({', '.join(SUFFIXES)}); "
                           "without it, print the DOT source")
    draw.add_argument("--style", choices=["values", "book"], default="values",
                      help="values: a box per value; book: values on the edges, as in "
                           "'Deep Learning from Scratch' by Koki Saitoh (default: values)")
    draw.add_argument("--rankdir", choices=["LR", "TB"], default="LR",
                      help="left to right or top to bottom (default: LR)")
    draw.add_argument("--digits", type=int, default=4, help="significant digits (default: 4)")
    draw.add_argument("--no-grads", action="store_true", help="show forward values only")
    draw.add_argument("--title", help="a caption above the graph")
    _view_options(draw)
    _slide_options(draw)
    draw.add_argument("--animate", metavar="HTML",
                      help="also write the backward pass, step by step, as an HTML page")
    draw.add_argument("--local", action="store_true",
                      help="show on every edge the local derivative: its rule and its number")
    draw.add_argument("--check", action="store_true",
                      help="show each input's numerical gradient (central differences) and "
                           "flag a mismatch")
    draw.add_argument("--text", action="store_true",
                      help="print the graph as an indented tree of text (for terminals)")
    draw.add_argument("--time-budget", type=float, default=TIME_BUDGET, metavar="SECONDS",
                      help=f"how long Graphviz may take to lay the graph out "
                           f"(default: {TIME_BUDGET:g})")

    explain = commands.add_parser("explain", help="explain a gradient: every path, the chain "
                                  "rule", description=EXPLAIN_HELP, allow_abbrev=False,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    explain.add_argument("expression", help='e.g. "x*x + x"')
    explain.add_argument("variables", nargs="*", metavar="NAME=NUMBER",
                         help="the value of each variable, e.g. x=3")
    explain.add_argument("--wrt", metavar="NAME",
                         help="the variable to differentiate with respect to (may be left out "
                              "when there is one variable)")
    explain.add_argument("--max-paths", type=int, default=10, metavar="N",
                         help="list at most N paths, the largest (default: 10)")
    explain.add_argument("--digits", type=int, default=4, help="significant digits (default: 4)")

    quiz = commands.add_parser("quiz", help="practise: find the gradients of a random graph",
                               description=QUIZ_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    quiz.add_argument("--seed", type=int, default=None,
                      help="which quiz (the same seed gives the same quiz; default: random)")
    quiz.add_argument("--ops", default=None, metavar="OPS",
                      help="the operations to draw from, comma-separated, from "
                           "+,-,*,/,tanh,relu,exp,sigmoid (default: +,-,*)")
    quiz.add_argument("--size", type=int, default=4, help="how many operations (default: 4)")
    quiz.add_argument("--tolerance", type=float, default=0.01,
                      help="relative error an answer may have (default: 0.01)")
    quiz.add_argument("--html", metavar="FILE",
                      help="write the quiz as a self-contained page instead of asking here")
    return parser


def _view_options(parser: argparse.ArgumentParser, collapse_default: str = "") -> None:
    parser.add_argument("--collapse", type=int, default=None if collapse_default else 0,
                        metavar="DEPTH",
                        help="draw each group DEPTH levels down as one node: 1 a node per "
                             "layer of a network, 2 a node per neuron (0: every value; "
                             f"default: {collapse_default or 0})")
    parser.add_argument("--focus", metavar="LABEL", action="append",
                        help="draw only the paths from the value labelled LABEL (e.g. "
                             "'w[1]_0_0') to the result; may be given more than once")


def _slide_options(parser: argparse.ArgumentParser, needs: str = "") -> None:
    """--legend, --theme and --dpi: a picture for slides (`draw`'s legend and theme, and
    `Diagram.save`'s dpi); `needs` says what they need. The page of --animate has neither
    legend nor theme, so `demo` gives --theme no default: it can tell it was asked for."""
    parser.add_argument("--legend", action="store_true",
                        help=f"say under the picture what its colours mean{needs}")
    parser.add_argument("--theme", choices=THEMES, default=None if needs else "light",
                        help="light: black on white; dark: light on dark, for dark slides "
                             f"(default: light; not --animate's page){needs}")
    parser.add_argument("--dpi", type=float, metavar="N",
                        help=f"a PNG's pixels per inch (default: {DPI:g}; up to {MAX_DPI:g}, "
                             f"for slides and print; SVG and PDF are sharp at any size){needs}")


def _check_dpi(dpi: float | None, output: str | None) -> None:
    if dpi is None:
        return
    if output is None:
        raise UsageError("--dpi needs -o FILE.png (it is a PNG's pixels per inch)")
    if Path(output).suffix.lower() != ".png":
        raise UsageError(f"--dpi is for a PNG, and {output!r} is not a .png: SVG, PDF and "
                         "TikZ are sharp at any size")
    if not 1 <= dpi <= MAX_DPI:  # as Diagram.png's
        raise UsageError(f"--dpi must be a number from 1 to {MAX_DPI:g}, got {dpi:g}")


def _focus(root: Value, labels: list[str] | None) -> list[Value] | None:
    """The values of `root`'s graph that the --focus labels name."""
    if not labels:
        return None
    order = topological_order(root)
    found = []
    for label in labels:
        named = [v for v in order if v.label == label]
        if not named:
            known = sorted({v.label for v in order if v.label and v.is_leaf})
            hint = f" (its leaves: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})"
            raise UsageError(f"--focus {label}: no value of the graph is labelled {label!r}"
                             + (hint if known else ""))
        found += named
    return found


def _check_collapse(depth: int) -> None:
    if depth < 0:
        raise UsageError(f"--collapse must be 0 or more, got {depth}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_expressions_as_positionals(
        sys.argv[1:] if argv is None else argv))
    try:
        with warnings.catch_warnings():  # a warning is a line of its own, as errors are
            warnings.showwarning = functools.partial(_warning, args.command)
            if args.command == "demo":
                return _demo(args)
            if args.command == "explain":
                return _explain(args)
            if args.command == "quiz":
                return _quiz(args)
            return _draw(args)
    except UsageError as e:
        print(f"microgrid {args.command}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `microgrid ... | head` stopped reading: no message, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RenderError, OSError) as e:
        print(f"microgrid {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"microgrid {args.command}: interrupted", file=sys.stderr)
        return 130


def _warning(command: str, message: Warning | str, *args: object, **kwargs: object) -> None:
    print(f"microgrid {command}: warning: {message}", file=sys.stderr)


def _expressions_as_positionals(argv: list[str]) -> list[str]:
    """argparse takes any argument that starts with '-' for an option, so the expression of
    ``microgrid draw "-a*b" a=2 b=3`` would be refused. An argument with a space is positional
    to argparse, and `draw` has no short options but -o and -h, so any other argument that
    starts with a single '-' is an expression: it gets a leading space (`expr.parse` strips it).
    So is one that starts with '--' but is none of the command's long options (``--a*b``, which
    is ``-(-a*b)``); these commands take no abbreviated options, so that this rule is the whole
    story. (The same holds for `explain`, whose only short option is -h.)
    """
    options = LONG_OPTIONS.get(argv[0] if argv else "")
    if options is None:
        return argv
    return [" " + a if a[:1] == "-" and a not in ("-o", "-h", "--") and " " not in a
            and a.split("=", 1)[0] not in options else a for a in argv]


def _demo(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        for name in demos.DEMOS:
            print(f"{name:<16} {(demos.load(name).__doc__ or '').strip().splitlines()[0]}")
        return 0
    known, rest = _drawing_options(args)
    output, collapse, focus, animate = known.output, known.collapse, known.focus, known.animate
    style: Style = known.style or "values"
    try:
        module = demos.load(args.name)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    if collapse is None:  # the demo's own, unless --focus is given
        collapse = getattr(module, "COLLAPSE", 0) if not focus else 0
    _check_collapse(collapse)
    if output is not None:
        _check_suffix(output)
    _check_animate(animate)
    check_writable(Path(p) for p in (output, animate) if p is not None)
    status, root = module.run(rest)  # the graph the demo computed, with the demo's arguments
    if output is None and animate is None:
        return int(status)
    title = demo_title(module.__doc__ or "") or args.name
    if hasattr(module, "title"):  # a demo in the language asked for (--lang)
        title = module.title(rest) or title
    from microgrid.drawing.diagram import draw
    from microgrid.drawing.player import backward_steps

    try:  # both made before either file is written
        diagram = None if output is None else draw(root, style=style, title=title,
                                                   collapse=collapse, focus=_focus(root, focus),
                                                   legend=known.legend,
                                                   theme=known.theme or "light")
        # the page: every step of the paths --focus keeps (a collapsed node would hide many)
        steps = None if animate is None else backward_steps(root, style=style, title=title,
                                                            focus=_focus(root, focus))
    except ValueError as e:  # too large to draw or to animate
        raise UsageError(str(e)) from None
    if diagram is not None and output is not None:
        diagram.save(output, dpi=known.dpi)
        full = collapse == 0 and not focus  # the view the demo's LARGE speaks of
        print(f"drew the graph to {output}" + _too_large(diagram, module, root, full))
    if steps is not None and animate is not None:
        steps.save_animation(animate)
        print(f"wrote the backward pass, {len(steps)} steps, to {animate}")
    return int(status)


SLIDE = 2000  # px: the long side of a picture that fits a slide, at 96 dpi


def _too_large(diagram: Diagram, module: ModuleType, root: Value, full: bool) -> str:
    """What `microgrid demo NAME -o FILE` adds when the picture is past a slide's size: how
    large, and why and how to draw a smaller one (the demo's `LARGE`, for the full graph)."""
    from microgrid.drawing.render import DPI, svg_size

    width, height = (round(x * DPI / 72) for x in svg_size(diagram.svg()))
    if max(width, height) <= SLIDE:
        return ""
    why = getattr(module, "LARGE", "") if full else ""
    grouped = any(v.group is not None for v in topological_order(root))
    smaller = ("--collapse 2 draws a node per neuron, " if grouped else "") + \
        "--focus LABEL only the paths from one value"
    return (f" ({width:,} x {height:,} px at 96 dpi, more than {SLIDE:,} on its long side: "
            f"{why or smaller})")


def demo_title(doc: str) -> str:
    """A demo's title: its docstring's first line up to the first ':' outside parentheses and
    quotes (a post's title may have a ':' of its own)."""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    depth, quoted = 0, False
    for i, c in enumerate(line):
        if c == '"':
            quoted = not quoted
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == ":" and depth == 0 and not quoted:
            return line[:i]
    return line


def _check_animate(path: str | None) -> None:
    if path is not None and Path(path).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--animate writes an HTML page: use a file name ending in .html, "
                         f"not {path!r}")


def _drawing_options(args: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """-o, --style, --collapse, --focus, --animate, --legend, --theme and --dpi may also come
    after the demo's name, where REMAINDER collects them: those options, and the demo's own
    arguments."""
    extra = argparse.ArgumentParser(prog="microgrid demo", add_help=False, exit_on_error=False)
    extra.add_argument("-o", "--output", default=args.output)
    extra.add_argument("--style", choices=["values", "book"], default=args.style)
    extra.add_argument("--collapse", type=int, default=args.collapse)
    extra.add_argument("--focus", action="append", default=args.focus)
    extra.add_argument("--animate", default=args.animate)
    extra.add_argument("--legend", action="store_true", default=args.legend)
    extra.add_argument("--theme", choices=THEMES, default=args.theme)
    extra.add_argument("--dpi", type=float, default=args.dpi)
    try:
        known, rest = extra.parse_known_args(args.args)
    except argparse.ArgumentError as e:
        raise UsageError(str(e)) from None
    if known.style is not None and known.output is None and known.animate is None:
        raise UsageError("--style needs -o FILE or --animate HTML (the style is how the graph "
                         "is drawn)")
    if known.collapse is not None and known.output is None:
        raise UsageError("--collapse needs -o FILE (it is how the graph is drawn)")
    if known.focus and known.output is None and known.animate is None:
        raise UsageError("--focus needs -o FILE or --animate HTML (it is how the graph is "
                         "drawn)")
    if known.output is None and (known.legend or known.theme is not None):
        raise UsageError(f"{'--legend' if known.legend else '--theme'} needs -o FILE (it is "
                         "how the picture is drawn; the page of --animate is drawn light, "
                         "without a legend)")
    _check_dpi(known.dpi, known.output)
    return known, rest


def _check_suffix(path: str) -> None:
    if path.endswith(("/", os.sep)):  # Path() would drop the /
        raise UsageError(f"cannot write {path!r}: a name that ends in / is a folder")
    if Path(path).suffix.lower() not in SUFFIXES:
        raise UsageError(f"cannot tell the format of {path!r}: "
                         f"use a file name ending in {', '.join(SUFFIXES)}")


def _draw(args: argparse.Namespace) -> int:
    from microgrid.cli.expr import ExpressionError, parse, parse_variables
    from microgrid.drawing.diagram import draw, format_number
    from microgrid.drawing.player import backward_steps

    if args.output is not None:
        _check_suffix(args.output)
    _check_dpi(args.dpi, args.output)
    if args.animate is not None and args.output is None and (args.legend or
                                                             args.theme != "light"):
        raise UsageError(f"{'--legend' if args.legend else '--theme'} needs -o FILE with "
                         "--animate: the page of --animate is drawn light, without a legend")
    _check_animate(args.animate)
    _check_collapse(args.collapse)
    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be from 1 to 17, got {args.digits}")
    if not 0 < args.time_budget < float("inf"):
        raise UsageError(f"--time-budget must be a positive number of seconds, "
                         f"got {args.time_budget:g}")
    check_writable(Path(p) for p in (args.output, args.animate) if p is not None)
    try:
        variables = parse_variables(args.variables)
        root = _named_root(parse(args.expression, variables), variables)
        if not root.is_leaf:
            root.backward()
        if args.check and (args.no_grads or root.is_leaf):
            raise UsageError("--check compares gradients with numerical ones: it needs the "
                             "gradients (drop --no-grads; the expression needs an operation)")
        focus = _focus(root, args.focus)
        diagram = draw(root, style=args.style, rankdir=args.rankdir, digits=args.digits,
                       title=args.title, time_budget=args.time_budget,
                       show_grads=not args.no_grads, local=args.local, check=args.check,
                       collapse=args.collapse, focus=focus, legend=args.legend,
                       theme=args.theme)
        # everything is checked, drawn and kept in memory before the first file is written;
        # the page shows every step of the paths --focus keeps (a collapsed node hides many)
        steps = None if args.animate is None else backward_steps(
            root, style=args.style, rankdir=args.rankdir, digits=args.digits,
            title=args.title, time_budget=args.time_budget, local=args.local,
            check=args.check, focus=focus)
    except (ExpressionError, ValueError, ArithmeticError) as e:
        raise UsageError(str(e)) from None
    picture = None if args.output is None else diagram.encode(args.output, dpi=args.dpi)
    page = None if steps is None else steps.html().encode("utf-8")
    if args.text:
        from microgrid.teaching.explain import tree

        print(tree(root, show_grads=not args.no_grads, digits=args.digits))
    elif args.output is None:
        print(diagram.source, end="")
    else:
        print(f"{args.expression.strip()} = {format_number(root.data, args.digits)}")
        for name in variables if not root.is_leaf else ():
            leaf = next(v for v in _leaves(root) if v.label == name)
            print(f"  d/d{name} = {format_number(leaf.grad, args.digits)}")
    if picture is not None:
        write_atomically(Path(args.output), picture)
        print(f"drew the graph to {args.output}")
    if steps is not None and page is not None:
        write_atomically(Path(args.animate), page)
        print(f"wrote the backward pass, {len(steps)} steps, to {args.animate}",
              file=sys.stdout if args.output else sys.stderr)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from microgrid.cli.expr import ExpressionError, parse, parse_variables
    from microgrid.teaching.explain import explain

    if not 1 <= args.digits <= 17:
        raise UsageError(f"--digits must be from 1 to 17, got {args.digits}")
    if args.max_paths < 1:
        raise UsageError(f"--max-paths must be a positive number, got {args.max_paths}")
    try:
        variables = parse_variables(args.variables)
        if args.wrt is None:
            if len(variables) != 1:
                raise UsageError(f"--wrt NAME: which variable to differentiate with respect "
                                 f"to, one of {', '.join(variables) or 'the variables'} "
                                 "(NAME=NUMBER)")
            args.wrt = next(iter(variables))
        if args.wrt not in variables:
            raise UsageError(f"--wrt {args.wrt}: not a variable of the command line "
                             f"(give it a value, e.g. {args.wrt}=1)")
        root = _named_root(parse(args.expression, variables), variables)
        # parse() refuses a variable that the expression does not use: the leaf is there
        leaf = next(v for v in _leaves(root) if v.label == args.wrt)
        print(explain(root, leaf, max_paths=args.max_paths, digits=args.digits))
    except (ExpressionError, ValueError, ArithmeticError) as e:
        raise UsageError(str(e)) from None
    return 0


def _quiz(args: argparse.Namespace) -> int:
    import random

    from microgrid.teaching.quiz import DEFAULT_OPS, make_quiz, quiz_html, run

    if args.html is not None:
        if Path(args.html).suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"--html writes an HTML page: use a file name ending in .html, "
                             f"not {args.html!r}")
        check_writable([Path(args.html)])
    if not 0 <= args.tolerance < 1:
        raise UsageError(f"--tolerance must be from 0 to 1 (a relative error), "
                         f"got {args.tolerance:g}")
    ops = [op.strip() for op in args.ops.split(",")] if args.ops else None
    seed = random.randrange(1000) if args.seed is None else args.seed
    try:
        quiz = make_quiz(seed, ops or DEFAULT_OPS, size=args.size)
    except ValueError as e:
        raise UsageError(str(e).removeprefix("quiz: ")) from None
    if args.html is not None:
        write_atomically(Path(args.html), quiz_html(quiz, args.tolerance).encode("utf-8"))
        print(f"wrote quiz {seed}, {len(quiz.questions)} gradients to find, to {args.html}")
        return 0
    run(quiz, sys.stdin, sys.stdout, args.tolerance)
    return 0


def _named_root(root: Value, variables: dict[str, float]) -> Value:
    """The expression's value, named as a derivation names it (dy/dx) in every command's
    output, drawing and text: y, or f, out or result if a variable is called y."""
    if not root.label:
        root.label = next((n for n in ("y", "f", "out", "result") if n not in variables),
                          "")  # all four are variables: the derivation says "the output"
    return root


def _leaves(root: Value) -> list[Value]:
    return [v for v in topological_order(root) if v.is_leaf]


if __name__ == "__main__":
    raise SystemExit(main())
