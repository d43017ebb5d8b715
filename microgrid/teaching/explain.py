"""The chain rule, shown: every path to a gradient, each operation's local derivative as a
formula, numerical gradients to check them, and the graph as text for terminals.

- `explain(root, wrt)`: how d(root)/d(wrt) comes about, as the sum over every path from `wrt`
  to `root` of the product of the local derivatives along it. Paths are counted by dynamic
  programming over the topological order (time linear in the edges, exact for 2^60 paths); when
  there are too many to list, the largest few are found best-first (polynomial time too).
- Each step names its local derivative's rule (`microgrid.core.formulas`); the numerical
  check beside it is `microgrid.core.check`'s.
- `tree(root)`: the graph as an indented tree of text, a shared sub-expression written once.
"""

from __future__ import annotations

import heapq
import html
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from microgrid.core.engine import (
    Value,
    check_fields,
    grad_number,
    operand_uses,
    topological_order,
)
from microgrid.core.formulas import (
    format_number,
    local_formula,
    node_names,
    parenthesized,
    with_number,
)
from microgrid.core.functions import SYMBOLS

__all__ = ["Explanation", "Path", "PathStep", "Tree", "explain", "tree"]


MAX_PATHS = 10  # paths listed in full; past this many, the largest ones
LONG_PATH = 12  # a path of more edges is written shortened


# --- naming values --------------------------------------------------------------------------
def describe(v: object, depth: int = 2) -> str:
    """A short name for `v`: its label, a number for a constant or an unlabelled leaf, else the
    expression that computes it, to `depth` operations (``x×x``, ``tanh(…)``)."""
    if not isinstance(v, Value):
        return format_number(float(v))  # type: ignore[arg-type]
    if v.label:
        return printable(v.label)
    if v.is_leaf:
        return format_number(v.data)
    if depth == 0:
        return "…"
    return _expression(v, [describe(x, depth - 1) for x in v.operands])


def _expression(v: Value, parts: list[str]) -> str:
    """`v`'s operation written on its operands `parts` (``x×x``, ``a + b``, ``tanh(x)``)."""
    symbol = SYMBOLS.get(v.op, v.op)
    if v.op in ("+", "-", "*", "/", "**") and len(parts) == 2:
        inner = [parenthesized(p) if v.op != "+" else p for p in parts]
        spaced = v.op in ("+", "-")
        return f" {symbol} ".join(inner) if spaced else symbol.join(inner)
    if v.op == "neg":
        return "−" + parenthesized(parts[0])
    if v.op == "dot":
        return "Σwx(…)"
    return f"{symbol}({', '.join(parts)})"


def printable(text: str) -> str:
    """`text` with its control characters (an ANSI escape, a newline) written as escapes
    (``\\x1b``), so that a label prints as itself and not as a command to the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def count_text(n: int) -> str:
    """`n` with thousands separators; past 2^128, as a power of ten (``about 2.82 × 10^4515``):
    Python refuses to write an int of more than 4,300 digits, and no reader counts them."""
    if n.bit_length() <= 128:
        return f"{n:,}"
    exponent = int(math.log10(n))
    mantissa = n / 10**exponent
    if mantissa >= 10:  # log10 rounded up
        exponent, mantissa = exponent + 1, n / 10**(exponent + 1)
    return f"about {mantissa:.3g} × 10^{exponent}"


# --- paths ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PathStep:
    """One edge of a path: `child` uses `parent` as its operand `index` (constants counted)."""

    parent: Value
    child: Value
    index: int
    local_grad: float

    @property
    def formula(self) -> str | None:
        """The rule of this local derivative, the operands named (``∂/∂x = x``)."""
        return local_formula(self.child, self.index, lambda x, g: describe(x))


@dataclass(frozen=True)
class Path:
    """A path from the input to the output: its edges, and the product of their local
    derivatives, this path's share of the gradient."""

    steps: tuple[PathStep, ...]
    product: float


_Use = tuple[Value, int, float]  # (consumer, operand index, local derivative)


def _uses(order: list[Value]) -> dict[Value, list[_Use]]:
    """Each node's uses by consumers: in topological order of the consumer, then by operand."""
    uses: dict[Value, list[_Use]] = {v: [] for v in order}
    for node in order:
        for k, _, p, d in operand_uses(node):
            if p is not None and d is not None:
                uses[p].append((node, k, d))
    return uses


def count_paths(root: Value, wrt: Value) -> int:
    """How many paths lead from `wrt` to `root` (exactly, in time linear in the edges)."""
    order = topological_order(root)
    return _counts(order, _uses(order), root).get(wrt, 0)


def _counts(order: list[Value], uses: dict[Value, list[_Use]], root: Value) -> dict[Value, int]:
    """For each node, its number of paths to `root`: 1 for the root, and for any other node the
    sum over its uses of the consumer's number, as backward() sums gradients."""
    counts: dict[Value, int] = {}
    for v in reversed(order):
        counts[v] = 1 if v is root else sum(counts[c] for c, _, _ in uses[v])
    return counts


def _all_paths(wrt: Value, root: Value, uses: dict[Value, list[_Use]]) -> Iterator[Path]:
    """Every path from `wrt` to `root`, depth first, uses in order (call only when few)."""
    # a prefix is (its last step, the prefix before it): shared, so not copied at each step
    stack: list[tuple[Value, _Prefix]] = [(wrt, None)]
    while stack:
        v, prefix = stack.pop()
        if v is root:
            steps = _steps(prefix)
            yield Path(steps, math.prod(s.local_grad for s in steps))
            continue
        for c, k, d in reversed(uses[v]):
            stack.append((c, (PathStep(v, c, k, d), prefix)))


_Prefix = tuple[PathStep, "_Prefix"] | None


def _steps(prefix: _Prefix) -> tuple[PathStep, ...]:
    steps = []
    while prefix is not None:
        step, prefix = prefix
        steps.append(step)
    return tuple(reversed(steps))


def _largest_paths(wrt: Value, root: Value, order: list[Value], uses: dict[Value, list[_Use]],
                   counts: dict[Value, int], limit: int) -> list[Path]:
    """The `limit` paths from `wrt` to `root` whose products are largest in size.

    best[v], the largest |product| of a path from v to the root, comes from one pass over the
    edges; a path is then the best path with deviations, and each path found yields, as
    candidates, its deviations after its last one (the usual k-best scheme: each path is a
    candidate exactly once), so the work is about limit × depth × degree, not the path count.
    """
    best: dict[Value, float] = {}
    choice: dict[Value, int] = {}  # the use that realizes best[v]
    for v in reversed(order):
        if v is root:
            best[v] = 1.0
            continue
        scores = [abs(d) * best[c] if counts[c] else -1.0 for c, _, d in uses[v]]
        if scores:
            i = max(range(len(scores)), key=scores.__getitem__)
            best[v], choice[v] = scores[i], i
        else:
            best[v] = -1.0
    found: list[Path] = []
    tick = 0
    # a candidate: (-value, tick, prefix of steps (see `_all_paths`), its product, its end)
    heap: list[tuple[float, int, _Prefix, float, Value]] = [(-best[wrt], tick, None, 1.0, wrt)]
    while heap and len(found) < limit:
        _, _, path, product, v = heapq.heappop(heap)
        while v is not root:  # follow the best uses to the root, branching off at each node
            for j, (c, k, d) in enumerate(uses[v]):
                if j != choice[v] and counts[c]:
                    tick += 1
                    step = PathStep(v, c, k, d)
                    heapq.heappush(heap, (-abs(product * d) * best[c], tick,
                                          (step, path), product * d, c))
            c, k, d = uses[v][choice[v]]
            path = (PathStep(v, c, k, d), path)
            product *= d
            v = c
        found.append(Path(_steps(path), product))
    return found


# --- the explanation ------------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """How d(root)/d(wrt) comes about; see `explain`. Its text (``str``, ``repr``) and HTML
    (in Jupyter) read as a derivation."""

    root: Value
    wrt: Value
    grad: float  # the sum over all paths, as backward() computes it
    count: int  # how many paths lead from wrt to root
    paths: tuple[Path, ...]  # all of them, or the largest `max_paths`
    edges: int  # the edges of the graph, which backward() visits once each
    digits: int = 4
    names: dict[Value, str] = field(default_factory=dict)  # `node_names`: a label, or '#i'

    @property
    def complete(self) -> bool:
        """Whether `paths` lists every path."""
        return len(self.paths) == self.count

    def _num(self, x: float) -> str:
        return format_number(x, self.digits)

    def _name(self, v: object) -> str:
        """How the text names `v`: as the drawings do (`node_names`), a constant by its number."""
        if isinstance(v, Value) and v in self.names:
            return self.names[v]
        return describe(v)

    def _d(self) -> str:
        return f"d{_in_d(self._root_name())}/d{_in_d(self._name(self.wrt))}"

    def _where(self) -> str:
        """What each unlabelled value named in the listed paths computes: '#1 = x×x'."""
        unnamed = [v for v in dict.fromkeys(s.child for p in self.paths for s in p.steps)
                   if not v.label and v in self.names]
        if not unnamed:
            return ""
        defs = [f"{self._name(v)} = {_expression(v, [self._name(x) for x in v.operands])}"
                for v in unnamed[:MAX_WHERE]]
        more = f" and {len(unnamed) - MAX_WHERE} more" if len(unnamed) > MAX_WHERE else ""
        return ", where " + ", ".join(defs) + more

    def _path_text(self, path: Path) -> str:
        hops = [self._name(self.wrt)]
        for step in path.steps:
            hop = SYMBOLS.get(step.child.op, step.child.op)
            if sum(1 for x in step.child.operands if x is step.parent) > 1:
                hop += f" ({_ordinal(step.index)} operand)"
            if step.child is not self.root and (step.child.label or step.child in self.names):
                hop += f" [{self._name(step.child)}]"
            hops.append(hop)
        if path.steps:
            hops.append(self._root_name())
        if len(hops) > LONG_PATH:
            hops[4:-3] = [f"… {len(hops) - 7} more …"]
        return f"{' → '.join(hops)}: {self._factors(path)} = {self._num(path.product)}"

    def _factors(self, path: Path) -> str:
        """The local derivatives along `path`, multiplied; a long path's grouped as powers."""
        factors = [self._num(s.local_grad) for s in path.steps] or ["1"]
        if len(factors) <= LONG_PATH:
            return " × ".join(factors)
        counts: dict[str, int] = {}
        for f in factors:
            counts[f] = counts.get(f, 0) + 1
        return " × ".join(f if n == 1 else f"{f}^{n}" for f, n in counts.items())

    def _root_name(self) -> str:
        name = self._name(self.root)
        return "the output" if "…" in name else name

    def _locals(self, path: Path) -> list[str]:
        if len(path.steps) > LONG_PATH:
            return []
        lines = []
        for step in path.steps:
            formula = local_formula(step.child, step.index, lambda x, g: self._name(x))
            out = parenthesized(self._name(step.child))
            rule = (f"∂{out}" + formula[1:] if formula
                    else f"∂{out}/∂{parenthesized(self._name(step.parent))}")
            lines.append(with_number(rule, self._num(step.local_grad)))
        return lines

    def parts(self) -> tuple[str, list[tuple[str, list[str]]], str]:
        """The derivation in three parts: the head line; each path listed, with the local
        derivatives along it; the closing line ('' when there is nothing to list)."""
        d, num = self._d(), self._num
        root, wrt = self._root_name(), self._name(self.wrt)
        if self.count == 0:
            return (f"{d} = 0: {root} does not depend on {wrt} (no path leads from {wrt} to "
                    f"{root}), so a change in {wrt} does not change {root}.", [], "")
        if not self.paths[0].steps:
            return f"{d} = 1: {root} is {wrt} itself.", [], ""
        if self.count == 1:
            head = (f"{d} = {num(self.grad)}, the product of the local derivatives along the "
                    f"one path from {wrt} to {root}{self._where()}:")
        elif self.complete:
            terms = " + ".join(num(p.product) for p in self.paths)
            head = (f"{d} = {num(self.grad)} = {terms}, the sum over {self.count} paths from "
                    f"{wrt} to {root} of the product of the local derivatives along each"
                    f"{self._where()}:")
        else:
            head = (f"{d} = {num(self.grad)}, the sum over {count_text(self.count)} paths from "
                    f"{wrt} to "
                    f"{root}" + (f" (2^{self.count.bit_length() - 1})"
                                 if self.count & (self.count - 1) == 0 else "")
                    + f", too many to list; the {len(self.paths)} largest{self._where()}:")
        paths = [(self._path_text(path), self._locals(path)) for path in self.paths]
        if not self.complete:
            tail = (f"backward() gets the exact sum of all {count_text(self.count)} products, "
                    f"{num(self.grad)}, in one pass over the graph's {self.edges} edges: each "
                    "node passes its gradient, times a local derivative, once along each edge, "
                    "so the paths' products are added up where they meet instead of one path "
                    "at a time. That is the point of backpropagation.")
        elif self.count > 1:
            tail = (f"A value used more than once gets a gradient from each use: the paths add "
                    f"up. backward() gets the same sum, {num(self.grad)}, in one pass over the "
                    f"graph's {self.edges} edges.")
        else:
            tail = f"backward() gives the same, {num(self.grad)}."
        return head, paths, tail

    def lines(self) -> list[str]:
        """The derivation, line by line."""
        head, paths, tail = self.parts()
        out = [head]
        for n, (path, local) in enumerate(paths, 1):
            out.append(f"  {n}. {path}")
            out.extend(f"       {line}" for line in local)
        return out + ([tail] if tail else [])

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head, paths, tail = self.parts()
        items = "".join(
            f"<li><code>{html.escape(path)}</code>"
            + "".join(f"<br><small>{html.escape(line)}</small>" for line in local) + "</li>"
            for path, local in paths)
        return (f'<div class="microgrid-explanation"><p>{html.escape(head)}</p>'
                + (f"<ol>{items}</ol>" if items else "")
                + (f"<p>{html.escape(tail)}</p>" if tail else "") + "</div>")


MAX_WHERE = 6  # unlabelled values defined in the head line, at most


def _in_d(name: str) -> str:
    """`name` as the numerator or denominator of d(…)/d(…): in parentheses when it has spaces
    or operators, or starts with d (a value named d: d(d)/da, not dd/da)."""
    return f"({name})" if name.startswith("d") and not name.startswith("(") else \
        parenthesized(name)


def _ordinal(k: int) -> str:
    return ("first", "second", "third")[k] if k < 3 else f"{k + 1}th"


def explain(root: Value, wrt: Value | str, *, max_paths: int = MAX_PATHS, digits: int = 4,
            max_nodes: int = 200_000) -> Explanation:
    """How d(root)/d(wrt) comes about: every path from `wrt` to `root`, the local derivatives
    along it and their product, and their sum, the gradient (what ``backward()`` gives).

    `wrt` is a Value of the graph or the label of one. Past `max_paths` paths, the largest
    `max_paths` are listed and the text says how many there are. A graph of more than
    `max_nodes` values is refused (explain a part of it). Nothing is changed: no ``grad`` is
    set.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: expected a Value, got {type(root).__name__} {root!r}")
    if isinstance(max_paths, bool) or not isinstance(max_paths, int) or max_paths < 1:
        raise ValueError(f"explain: max_paths must be a positive int, got {max_paths!r}")
    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(f"explain: the graph has {len(order)} values, more than max_nodes="
                         f"{max_nodes}; explain a part of it (an intermediate Value)")
    check_fields(order, "explain", fields=())  # a label set by hand to None, say
    if isinstance(wrt, str):
        matches = [v for v in order if v.label == wrt]
        if len(matches) != 1:
            labels = sorted({v.label for v in order if v.label})
            what = "no value" if not matches else f"{len(matches)} values"
            raise ValueError(f"explain: {what} of the graph labelled {wrt!r}; the labels are "
                             f"{', '.join(map(repr, labels)) or 'none'}")
        wrt = matches[0]
    elif not isinstance(wrt, Value):
        raise TypeError(f"explain: wrt must be a Value or a label, got {type(wrt).__name__} "
                        f"{wrt!r}")
    uses = _uses(order)
    n_edges = sum(len(u) for u in uses.values())
    names = {v: printable(name) for v, name in node_names(order).items()}
    if wrt not in uses:
        return Explanation(root, wrt, 0.0, 0, (), n_edges, digits, names)
    counts = _counts(order, uses, root)
    grads: dict[Value, float] = {}
    for v in reversed(order):  # backward()'s sums, without touching any grad
        grads[v] = 1.0 if v is root else math.fsum(grads[c] * d for c, _, d in uses[v])
    count = counts[wrt]
    if count <= max_paths:
        paths = tuple(_all_paths(wrt, root, uses))
    else:
        paths = tuple(_largest_paths(wrt, root, order, uses, counts, max_paths))
    return Explanation(root, wrt, grads[wrt], count, paths, n_edges, digits, names)


# --- the graph as text ----------------------------------------------------------------------
class Tree(str):
    """The text of `tree`: a str that shows itself as its lines in a REPL."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def tree(root: Value, *, show_grads: bool | None = None, digits: int = 4,
         max_nodes: int = 2500) -> Tree:
    """The graph of `root` as an indented tree, the output first and each operand under its
    operation: each value with its label, data and grad, each operation with its symbol. A
    value used more than once is written out once and referred to after (``see above``), so
    the text grows with the graph, not with its paths. Unlabelled values are named ``#i``,
    their place in topological order. `show_grads` as in `draw`."""
    if not isinstance(root, Value):
        raise TypeError(f"tree: expected a Value, got {type(root).__name__} {root!r}")
    order = topological_order(root)
    check_fields(order, "tree", fields=())
    if len(order) > max_nodes:
        raise ValueError(f"tree: the graph has {len(order)} values, more than max_nodes="
                         f"{max_nodes}; write a part of it (an intermediate Value)")
    if show_grads is None:
        show_grads = any(grad_number(v) != 0 for v in order)
    names = {v: printable(name) for v, name in node_names(order).items()}
    uses: dict[Value, int] = {}
    for v in order:
        for p in v.parents:
            uses[p] = uses.get(p, 0) + 1

    def num(x: float) -> str:
        return format_number(x, digits)

    def name(v: Value) -> str:
        return names[v]

    def line(v: Value) -> str:
        text = f"{name(v)} = {num(v.data)}"
        if show_grads:
            text += f"  grad {num(grad_number(v))}"
        if v.op:
            text += f"  ({SYMBOLS.get(v.op, v.op)})"
        return text

    out: list[str] = []
    written: set[Value] = set()
    stack: list[tuple[object, str, str]] = [(root, "", "")]  # (operand, prefix, child prefix)
    while stack:
        x, prefix, under = stack.pop()
        if not isinstance(x, Value):
            out.append(f"{prefix}{num(float(x))}  (constant)")  # type: ignore[arg-type]
            continue
        if x in written:
            out.append(f"{prefix}{name(x)}  (see above)")
            continue
        if uses.get(x, 0) > 1:
            written.add(x)
        out.append(prefix + line(x))
        operands = x.operands
        for k in reversed(range(len(operands))):
            last = k == len(operands) - 1
            stack.append((operands[k], under + ("└── " if last else "├── "),
                          under + ("    " if last else "│   ")))
    return Tree("\n".join(out))
