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

Groups are per thread, as grad mode is: a group opened in one thread tags only the values that
thread makes. The engine reads the group of every node it makes; so that this costs nothing
while no thread has a group open (a plain network), it first reads one module flag,
`any_open`, and only when some thread has a group open, this thread's own group (a
thread-local read costs a node about 5%). `microgrid.nn` tags the values of its neurons itself,
without opening a group, so that a network keeps that fast path.
"""

from __future__ import annotations

import threading
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


class _ThisThread(threading.local):
    current: Group | None = None  # this thread's innermost open group


this_thread = _ThisThread()
# True while some thread has a group open; the engine reads `this_thread.current` only then.
# `_threads_open` counts those threads (under `_lock`).
any_open = False
_threads_open = 0
_lock = threading.Lock()


def current_group() -> Group | None:
    """This thread's innermost open group, or None outside every ``with group(...)`` block."""
    return this_thread.current


def _set_current(g: Group | None) -> None:
    """Make `g` this thread's innermost open group (None: no group open)."""
    global any_open, _threads_open
    if (this_thread.current is None) != (g is None):  # this thread opens its first or closes
        with _lock:                                    # its last group
            _threads_open += 1 if g is not None else -1
            any_open = _threads_open > 0
    this_thread.current = g


@contextmanager
def group(name: str) -> Iterator[Group]:
    """Inside this block, every `Value` this thread makes belongs to the group `name` (inside
    the groups already open). The group is closed when the block ends, by an exception too."""
    if not isinstance(name, str):
        raise TypeError(f"group: name must be a str, got {type(name).__name__} {name!r}")
    if not name:
        raise ValueError("group: name must not be empty")
    previous = this_thread.current
    opened = Group(name, previous)
    _set_current(opened)
    try:
        yield opened
    finally:
        _set_current(previous)
