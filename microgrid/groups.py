"""Groups: names for the parts of a graph, so that a drawing can box or collapse them.

``with group("layer 1"):`` makes every `Value` made inside the block belong to the group
"layer 1"; groups nest (``with group("layer 1"): with group("a[1]_3"): ...``), and a value
belongs to the innermost one open when it was made. `microgrid.nn` opens them itself: a
`Layer` is a group and each `Neuron` a group inside it.

A value records its group in one slot (`Value.group`), a `Group` that knows its parent: the
stack of open groups is a linked list, so opening a group is one allocation and recording it
costs a node one pointer. Two blocks opened with the same names (a layer's parameters made at
construction, its sums at each call) are different `Group` objects with the same `path`, and
drawings treat them as one group.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Group", "current_group", "group"]


class Group:
    """A named group of values, inside `parent` (None at the top level)."""

    __slots__ = ("name", "parent", "path")

    name: str
    parent: Group | None
    path: tuple[str, ...]  # the names from the top-level group down to this one

    def __init__(self, name: str, parent: Group | None = None) -> None:
        self.name = name
        self.parent = parent
        self.path = (*parent.path, name) if parent is not None else (name,)

    @property
    def depth(self) -> int:
        """1 for a top-level group, 2 for a group inside it, and so on."""
        return len(self.path)

    def __repr__(self) -> str:
        return f"Group({' / '.join(self.path)!r})"


current: Group | None = None  # the innermost open group; read by the engine for every node


def current_group() -> Group | None:
    """The innermost group open now, or None outside every ``with group(...)`` block."""
    return current


@contextmanager
def group(name: str) -> Iterator[Group]:
    """Inside this block, every `Value` made belongs to the group `name` (inside the groups
    already open). The group is closed when the block ends, by an exception too."""
    global current
    if not isinstance(name, str):
        raise TypeError(f"group: name must be a str, got {type(name).__name__} {name!r}")
    if not name:
        raise ValueError("group: name must not be empty")
    previous = current
    current = Group(name, previous)
    try:
        yield current
    finally:
        current = previous
