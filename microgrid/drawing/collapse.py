"""What a collapsed or focused drawing shows: a `View` of a graph, computed here, drawn by
`microgrid.drawing` (this module knows nothing of DOT).

- **Collapse** to a depth d: every value whose group (see `microgrid.core.groups`) has a path is
  drawn inside the `Block` of the first d names of that path (for an MLP, d = 1 gives a block
  per layer and d = 2 a block per neuron); values outside every group are drawn as themselves.
  An edge into a block stands for every use, inside the block, of values that come from one
  drawn node, and carries the gradient that flows back along those uses: the sum over them of
  ``consumer.grad * local_grad``, so that a value's outgoing edges still sum to its `grad`.
- **Focus** on some values: only what lies on a path from them to the root is kept (the
  focused values themselves are drawn as values, never hidden in a block); every operand off
  those paths becomes a `Stub` that shows its value; a block only counts its inputs off the
  paths (they would be a stub per block, and the block shows no value inside it either).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from microgrid.core.engine import Edge, Value, operand_uses, topological_order

__all__ = ["Block", "Bus", "Stub", "View", "ViewEdge", "view"]

MAX_STUBS = 4  # a consumer with more off-path operands than this gets one stub for the rest


@dataclass(eq=False)
class Block:
    """The values of one group (at the collapse depth), drawn as one node."""

    path: tuple[str, ...]
    members: list[Value] = field(default_factory=list)  # in topological order
    outputs: list[Value] = field(default_factory=list)  # members used by drawn nodes outside
    off_path: list[Value] = field(default_factory=list)  # inputs off the focused paths

    @property
    def name(self) -> str:
        return self.path[-1]


@dataclass(eq=False)
class Stub:
    """Operands off the focused paths, drawn as their value(s) only."""

    values: list[Value]


@dataclass(eq=False)
class Bus:
    """Where the values entering the blocks of one group meet, when drawing every source's edge
    to every block would take more edges than a source's edge to the bus and the bus's edge to
    each block (a layer's inputs, at a neuron per block)."""

    path: tuple[str, ...]  # the group whose blocks it feeds

    @property
    def name(self) -> str:
        return self.path[-1]


Node = Value | Block | Stub | Bus


@dataclass(eq=False)
class ViewEdge:
    """A drawn edge from `tail` into `head`: the uses of the full graph it stands for.

    Into a value, it is one use (`index` is its position among the value's operands, constants
    included); into a block, every use inside the block of the values coming from `tail`.
    """

    tail: Node
    head: Value | Block | Bus
    uses: list[Edge]
    index: int = -1

    @property
    def values(self) -> list[Value]:
        """The distinct values the edge carries, in the order of their first use."""
        return list({e.parent: None for e in self.uses})

    @property
    def grad(self) -> float:
        """The gradient flowing back along the edge: the sum of its uses' gradients."""
        return sum((e.grad for e in self.uses), 0.0)


@dataclass
class View:
    root: Value
    order: list[Value]  # the full graph, in topological order
    nodes: list[Node]  # the drawn nodes: values and blocks in topological order, then stubs
    edges: list[ViewEdge]
    focus: list[Value]


def _focus_list(focus: Value | Iterable[Value] | None) -> list[Value]:
    if focus is None:
        return []
    values = [focus] if isinstance(focus, Value) else list(focus)
    for v in values:
        if not isinstance(v, Value):
            raise TypeError(f"draw: focus must be a Value or a list of them, "
                            f"got {type(v).__name__} {v!r}")
    if not values:
        raise ValueError("draw: focus is an empty list; give the Value(s) to focus on")
    return list(dict.fromkeys(values))


def view(root: Value, collapse: int = 0, focus: Value | Iterable[Value] | None = None,
         order: list[Value] | None = None) -> View:
    """The graph of `root`, collapsed to depth `collapse` (0: not at all) and, with `focus`,
    cut down to the paths from the focused values to `root`."""
    if isinstance(collapse, bool) or not isinstance(collapse, int) or collapse < 0:
        raise ValueError(f"draw: collapse must be a non-negative int, got {collapse!r}")
    order = topological_order(root) if order is None else order
    focused = _focus_list(focus)
    position = {v: i for i, v in enumerate(order)}
    for v in focused:
        if v not in position:
            name = f" {v.label!r}" if v.label else ""
            raise ValueError(f"draw: the focused value{name} ({v!r}) is not in the graph of "
                             "the value drawn; focus on a value that the result depends on")
    # kept: the values on a path from a focused value to the root (every value of the graph
    # is on a path to the root), that is the focused values and everything computed from them
    if focused:
        on_path = set(focused)
        for v in order:
            if v not in on_path and any(p in on_path for p in v.parents):
                on_path.add(v)
        kept = [v for v in order if v in on_path]
    else:
        on_path = set(order)
        kept = order
    focus_set = set(focused)

    def key(v: Value) -> tuple[str, ...] | None:
        group = v.group
        if not collapse or group is None or v in focus_set:
            return None
        return group.path[:collapse]

    blocks: dict[tuple[str, ...], Block] = {}
    for v in kept:
        path = key(v)
        if path is not None and path not in blocks:
            blocks[path] = Block(path)
    node_of: dict[Value, Value | Block] = {}
    for v in order:
        path = key(v)
        if path is None:
            if v in on_path:
                node_of[v] = v
        elif path in blocks:
            node_of[v] = blocks[path]
            blocks[path].members.append(v)

    # in topological order of the values, a block where its last member is (its parameters,
    # leaves, come early in the order, its output last)
    last: dict[int, tuple[int, Value | Block]] = {}
    for i, v in enumerate(order):
        n = node_of.get(v)
        if n is not None:
            last[id(n)] = (i, n)
    nodes: list[Node] = [n for _, n in sorted(last.values(), key=lambda pair: pair[0])]

    edges: list[ViewEdge] = []
    stubs: list[Stub] = []
    into_block: dict[tuple[int, int], ViewEdge] = {}
    for v in order:
        head = node_of.get(v)
        if head is None:
            continue
        uses = [Edge(p, v, k, d) for k, _, p, d in operand_uses(v)
                if p is not None and d is not None]
        if isinstance(head, Block):
            for e in uses:
                tail = node_of.get(e.parent)
                if tail is head:
                    continue
                if tail is None:  # off the focused paths: the block counts them, no stub
                    if e.parent not in head.off_path:
                        head.off_path.append(e.parent)
                    continue
                edge = into_block.get((id(tail), id(head)))
                if edge is None:
                    edge = into_block[id(tail), id(head)] = ViewEdge(tail, head, [])
                    edges.append(edge)
                edge.uses.append(e)
            continue
        # into a value: an edge per operand use, as in the full drawing
        indices = [e.index for e in uses]
        single = {e.index for e in uses if e.parent not in node_of}
        if len(single) > MAX_STUBS:  # keep the operands that pair with on-path ones in a `dot`
            single = _partners(v, indices, {e.index for e in uses
                                            if e.parent in node_of}) & single
        rest: ViewEdge | None = None
        for e in uses:
            k = e.index
            tail = node_of.get(e.parent)
            if tail is not None:
                edges.append(ViewEdge(tail, v, [e], k))
            elif k in single:
                stub = Stub([e.parent])
                stubs.append(stub)
                edges.append(ViewEdge(stub, v, [e], k))
            else:
                if rest is None:
                    stub = Stub([])
                    stubs.append(stub)
                    rest = ViewEdge(stub, v, [], k)
                    edges.append(rest)
                rest.uses.append(e)
                if e.parent not in rest.tail.values:  # type: ignore[union-attr]
                    rest.tail.values.append(e.parent)  # type: ignore[union-attr]

    edges = _buses(edges, nodes)
    for block in blocks.values():
        used_outside = {u.parent for edge in edges if edge.tail is block for u in edge.uses}
        block.outputs = [v for v in block.members if v in used_outside or v is root]
    return View(root, order, [*nodes, *stubs], edges, focused)


def _partners(v: Value, indices: list[int], on: set[int]) -> set[int]:
    """In a `dot` (operands w_1..w_n, x_1..x_n, b), the operand paired with each on-path one:
    its local derivative is the pair's other number."""
    if v.op != "dot":
        return set()
    n = (len(v.operands) - 1) // 2
    pairs = {k + n if k < n else k - n for k in on if k < 2 * n}
    return pairs & set(indices)


def _buses(edges: list[ViewEdge], nodes: list[Node]) -> list[ViewEdge]:
    """Edges into the blocks of a group from outside it, through a `Bus` where that draws
    fewer edges: a bus's edge from a source stands for all the source's uses in the group, a
    bus's edge into a block for all the block's uses of values from outside the group."""
    by_group: dict[tuple[str, ...], list[ViewEdge]] = {}
    for e in edges:
        head, tail = e.head, e.tail
        if (isinstance(head, Block) and len(head.path) > 1 and not isinstance(tail, Stub)
                and not (isinstance(tail, Block) and tail.path[:-1] == head.path[:-1])):
            by_group.setdefault(head.path[:-1], []).append(e)
    replaced: set[int] = set()
    added: list[ViewEdge] = []
    for path, group_edges in by_group.items():
        tails = list({id(e.tail): e.tail for e in group_edges}.values())
        heads = list({id(e.head): e.head for e in group_edges}.values())
        if len(tails) < 2 or len(heads) < 2 or len(group_edges) <= len(tails) + len(heads):
            continue
        bus = Bus(path)
        first = min(nodes.index(h) for h in heads)
        nodes.insert(first, bus)
        for t in tails:
            added.append(ViewEdge(t, bus, [u for e in group_edges if e.tail is t
                                           for u in e.uses]))
        for h in heads:
            added.append(ViewEdge(bus, h, [u for e in group_edges if e.head is h
                                           for u in e.uses]))
        replaced.update(id(e) for e in group_edges)
    return [e for e in edges if id(e) not in replaced] + added
