"""Groups, collapsed and focused drawings: the numbers on a collapsed drawing add up exactly as
in the full one, focus keeps exactly the paths to the root, goldens for the MLP."""

from __future__ import annotations

import math
import os
import random
import re
import threading
from pathlib import Path

import pytest
from conftest import check_golden

from microgrid import Value, draw, edges, group, no_grad, operand_uses, topological_order
from microgrid.core import groups
from microgrid.core.groups import current_group
from microgrid.drawing.collapse import Block, Bus, Stub, view
from microgrid.drawing.diagram import GRAD_COLOR
from microgrid.nn import MLP

GOLDEN = Path(__file__).parent / "golden"


# --- groups ----------------------------------------------------------------------------------
def test_groups_nest_and_close():
    x = Value(1.0, "x")
    assert current_group() is None
    with group("layer 1") as outer:
        y = x * 2
        with group("neuron 3") as inner:
            z = y + 1
            w = Value(5.0)
        after = z * y
    assert current_group() is None
    assert x.group is None
    assert y.group is outer and after.group is outer
    assert z.group is inner and w.group is inner and inner.parent is outer
    assert inner.path == ("layer 1", "neuron 3") and inner.depth == 2


def test_an_exception_leaves_no_group_open():
    with pytest.raises(ZeroDivisionError), group("a"), group("b"):
        Value(1.0) / 0
    assert current_group() is None
    assert (Value(1.0) + 1).group is None


def test_groups_under_no_grad():
    with no_grad(), group("g"):
        y = Value(2.0) * 3
    assert y.is_leaf and y.group is not None and y.group.path == ("g",)
    with group("h"), no_grad():
        z = Value(1.0).tanh()
    assert z.group is not None and z.group.path == ("h",)


def test_group_names_are_checked():
    with pytest.raises(TypeError), group(3):  # type: ignore[arg-type]
        pass
    with pytest.raises(ValueError), group(""):
        pass
    assert current_group() is None


def test_nn_names_its_groups():
    m = MLP(2, [3, 1])
    x = [Value(0.5, "x1"), Value(-1.0, "x2")]
    y = m.output(x)
    assert y.group is not None and y.group.path == ("layer 2", "z[2]_0")
    a = y.parents[3]  # dot's operands: weights, inputs, bias
    assert a.label == "a[1]_0" and a.group is not None and a.group.path == ("layer 1", "a[1]_0")
    assert m.layers[0].neurons[2].w[1].group.path == ("layer 1", "a[1]_2")  # type: ignore[union-attr]
    assert all(v.group is None for v in x)
    assert current_group() is None
    # the same group objects on the next call: nodes share them
    assert m.output(x).group is y.group


def test_groups_are_per_thread():
    # a group opened in one thread tags only that thread's values, while another thread goes on
    # making values outside every group, or in a group of its own
    opened, made, close = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def other() -> None:
        with group("other thread"):
            seen["before"] = Value(1.0) * 2
            opened.set()
            made.wait(5)
            seen["after"] = Value(1.0) + 1
            close.wait(5)
        seen["closed"] = Value(1.0) * 3

    t = threading.Thread(target=other)
    t.start()
    assert opened.wait(5)
    here = Value(2.0) * 3
    assert here.group is None and Value(1.0).group is None and current_group() is None
    with group("this thread") as mine:
        inside = here * 2
    made.set()
    close.set()
    t.join(5)
    assert inside.group is mine
    for key in ("before", "after"):
        assert seen[key].group is not None and seen[key].group.path == ("other thread",)
    assert seen["closed"].group is None
    assert (Value(1.0) * 2).group is None and not groups.any_open


def test_nn_groups_in_two_threads_at_once():
    # two threads run networks at once: each one's values are in its own network's groups
    barrier = threading.Barrier(2, timeout=5)
    out: dict[int, list[Value]] = {}

    def run(k: int) -> None:
        m = MLP(2, [3, 1], seed=k)
        barrier.wait()
        with group(f"model {k}"):
            out[k] = [m.output([Value(0.1 * i, "x1"), Value(-0.2, "x2")]) for i in range(200)]
        out[k].append(Value(1.0) * 2)  # after its block: no group

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for k in (0, 1):
        *ys, plain = out[k]
        assert plain.group is None
        for y in ys:
            for v in topological_order(y):
                if v.group is not None and v.group.path[0].startswith("model"):
                    assert v.group.path[0] == f"model {k}"
            assert y.group is not None and y.group.path == (f"model {k}", "layer 2", "z[2]_0")
    assert not groups.any_open


# --- random graphs with groups ---------------------------------------------------------------
def random_graph(seed: int) -> Value:
    rng = random.Random(seed)
    pool = [Value(rng.uniform(-2, 2), f"x{i}") for i in range(rng.randint(1, 4))]
    names = ["a", "b", "c"]

    def step(depth: int) -> None:
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.25 and depth < 3:
                with group(rng.choice(names)):
                    step(depth + 1)
                continue
            a, b = rng.choice(pool), rng.choice(pool)
            op = rng.choice(["+", "*", "tanh", "-", "c*", "leaf"])
            if op == "+":
                pool.append(a + b)
            elif op == "*":
                pool.append(a * b)
            elif op == "-":
                pool.append(a - b)
            elif op == "c*":
                pool.append(0.5 * a)
            elif op == "leaf":
                pool.append(Value(rng.uniform(-1, 1)))
            else:
                pool.append(a.tanh())

    step(0)
    root = pool[-1]
    for v in pool[:-1]:  # use most of the pool, so that the graph is a web, not a chain
        if rng.random() < 0.6:
            root = root + v * 0.3
    if root.is_leaf:
        root = root * 1.5
    root.backward()
    return root


def random_network(seed: int) -> Value:
    rng = random.Random(seed)
    sizes = [rng.randint(1, 4) for _ in range(rng.randint(1, 3))]
    m = MLP(rng.randint(1, 3), sizes, activation=rng.choice(["tanh", "relu", "sigmoid"]),
            seed=seed)
    x = [Value(rng.uniform(-1, 1), f"x{i}") for i in range(m.nin)]
    out = m.outputs(x)
    loss = sum((o * o for o in out), Value(0.0, "zero"))
    loss.backward()
    return loss


GRAPHS = [("graph", s) for s in range(40)] + [("network", s) for s in range(15)]


def build(kind: str, seed: int) -> Value:
    return random_graph(seed) if kind == "graph" else random_network(seed)


def drawn_node(v: Value, depth: int) -> tuple[str, ...] | Value:
    """Independently of collapse.py: the drawn node of `v` at `depth`."""
    if depth and v.group is not None:
        return v.group.path[:depth]
    return v


def ident(n: object) -> object:
    return n.path if isinstance(n, Block) else n


@pytest.mark.parametrize(("kind", "seed"), GRAPHS)
def test_collapsed_gradients_add_up(kind, seed):
    root = build(kind, seed)
    full = edges(root)
    for depth in range(0, 5):
        shown = view(root, depth)
        assert not any(isinstance(n, Stub) for n in shown.nodes)
        # every full edge between two drawn nodes is stood for by exactly one drawn edge into
        # its consumer's node, or by one edge into a bus and one out of it; internal ones by none
        count: dict[tuple[int, int, int], int] = {}
        for e in shown.edges:
            for u in e.uses:
                k = (id(u.parent), id(u.child), u.index)
                count[k] = count.get(k, 0) + 1
                assert drawn_node(u.parent, depth) != drawn_node(u.child, depth)
        expected_total = 0.0
        for u in full:
            k = (id(u.parent), id(u.child), u.index)
            crossing = drawn_node(u.parent, depth) != drawn_node(u.child, depth)
            assert count.get(k, 0) in ((1, 2) if crossing else (0,))
            expected_total += u.grad if crossing else 0.0
        # each drawn edge's gradient is the sum of the full graph's edge gradients it stands for,
        # computed from engine.edges() by the nodes' membership
        for e in shown.edges:
            if isinstance(e.tail, Bus) or isinstance(e.head, Bus):
                continue
            t, h = ident(e.tail), ident(e.head)
            expected = math.fsum(u.grad for u in full
                                 if drawn_node(u.parent, depth) == t
                                 and drawn_node(u.child, depth) == h
                                 and (not isinstance(e.head, Value) or u.index == e.uses[0].index))
            assert e.grad == pytest.approx(expected, abs=1e-12)
        # the gradients leaving each drawn value sum to its grad; a bus passes on what it gets
        for n in shown.nodes:
            out = [e for e in shown.edges if e.tail is n]
            if isinstance(n, Value) and n is not root:
                assert math.fsum(e.grad for e in out) == pytest.approx(n.grad, abs=1e-12)
            if isinstance(n, Bus):
                into = [e for e in shown.edges if e.head is n]
                assert math.fsum(e.grad for e in out) == pytest.approx(
                    math.fsum(e.grad for e in into), abs=1e-12)
            if isinstance(n, Block):  # a block's outputs: their grads, less what stays inside
                inside = math.fsum(u.grad for u in full if drawn_node(u.child, depth) == n.path
                                   and drawn_node(u.parent, depth) == n.path
                                   and u.parent in n.outputs)
                assert math.fsum(e.grad for e in out) == pytest.approx(
                    math.fsum(o.grad for o in n.outputs if o is not root) - inside, abs=1e-12)
        # and every value is drawn once: as itself or in one block
        members = [m for n in shown.nodes if isinstance(n, Block) for m in n.members]
        alone = [n for n in shown.nodes if isinstance(n, Value)]
        assert sorted(map(id, members + alone)) == sorted(map(id, topological_order(root)))


def drawn_edges(source: str) -> list[tuple[str, str, str, float | None]]:
    """Each edge of a DOT source: tail, head, id, and the gradient it shows (None: none); an
    input drawn as its text (the book style's inputs of a Σwx) shows its edge's gradient."""
    def grad(attrs: str) -> float | None:
        grads = re.findall(f'<font color="{GRAD_COLOR}">(?:Σ )?([^<]+)</font>', attrs)
        return float(grads[-1]) if grads else None

    texts = {m[1]: grad(m[2]) for m in re.finditer(r"^\t(\S+) \[(.*shape=plaintext.*)\]$",
                                                   source, re.M)}
    out = []
    for m in re.finditer(r"^\t(\S+) -> (\S+) \[(.*)\]$", source, re.M):
        edge_id = re.search(r"\bid=([^\s\]]+)", m[3])
        assert edge_id is not None, m[0]
        shown = grad(m[3]) if "label=" in m[3] else texts.get(m[1])
        out.append((m[1], m[2], edge_id[1], shown))
    return out


@pytest.mark.parametrize("style", ["values", "book"])
@pytest.mark.parametrize(("kind", "seed"), GRAPHS)
def test_the_drawn_numbers_add_up(kind, seed, style):
    # Read from the DOT (digits=17: each number exactly), in both styles, at every depth: an
    # edge into a value shows consumer.grad * local; the edges leaving a drawn value (a block)
    # show gradients that sum to its grad (what leaves the block in the full graph), the edges
    # entering a block what enters it in the full graph, and a bus passes on what it gets.
    root = build(kind, seed)
    order = topological_order(root)
    index = {v: i for i, v in enumerate(order)}
    full = edges(root)
    for depth in range(0, 5):
        blocks = [n.path for n in view(root, depth).nodes if isinstance(n, Block)]

        def key(v: Value, depth: int = depth) -> object:
            n = drawn_node(v, depth)
            return ("value", index[n]) if isinstance(n, Value) else n

        def node(dot_id: str, blocks: list = blocks) -> object:
            if dot_id[0] == "g":
                return blocks[int(dot_id[1:])]
            if dot_id.startswith(("v", "op")):
                return ("value", int(dot_id.lstrip("opv")))
            return dot_id  # a bus, a constant, the book's output
        drawn = [(node(t), node(h), i, g) for t, h, i, g in
                 drawn_edges(draw(root, collapse=depth, style=style, digits=17).source)
                 if not i.startswith("out")]  # out: a value's own edge (or the root's out)
        for t, h, i, g in drawn:
            if i.startswith("e") and t != h:  # into a value: one use
                v = order[h[1]]  # type: ignore[index]
                k = int(i.split("_")[1])
                local = next(d for kk, _, p, d in operand_uses(v) if kk == k)
                assert g is None if local is None else g == v.grad * local  # exact
        sums_out: dict[object, list[float]] = {}
        sums_in: dict[object, list[float]] = {}
        for t, h, _, g in drawn:
            if g is not None:
                sums_out.setdefault(t, []).append(g)
                sums_in.setdefault(h, []).append(g)
        crossing = [u for u in full if key(u.parent) != key(u.child)]
        tails = {key(u.parent) for u in crossing} | {key(u.child) for u in crossing}
        for n in tails:
            leaving = math.fsum(u.grad for u in crossing if key(u.parent) == n)
            entering = math.fsum(u.grad for u in crossing if key(u.child) == n)
            assert math.fsum(sums_out.get(n, [])) == pytest.approx(leaving, abs=1e-12)
            assert math.fsum(sums_in.get(n, [])) == pytest.approx(entering, abs=1e-12)
            if isinstance(n, tuple) and n[0] == "value" and order[n[1]] is not root:
                assert leaving == pytest.approx(order[n[1]].grad, abs=1e-12)  # type: ignore[index]
        for bus in {t for t, *_ in drawn if isinstance(t, str) and t.startswith("j")}:
            assert math.fsum(sums_out[bus]) == pytest.approx(math.fsum(sums_in[bus]), abs=1e-12)


@pytest.mark.parametrize(("kind", "seed"), GRAPHS[::3])
def test_focused_book_drawing_draws_exactly_the_paths(kind, seed):
    root = build(kind, seed)
    order = topological_order(root)
    focus = random.Random(seed).sample(order, 1)
    source = draw(root, focus=focus, style="book").source
    drawn = {int(m[1]) for m in re.finditer(r"^\t(?:op|v)(\d+) \[", source, re.M)}
    assert drawn == {order.index(v) for v in descendants(root, focus)}
    stubs = re.findall(r"^\ts\d+ -> ", source, re.M)
    assert len(stubs) == sum(isinstance(n, Stub) for n in view(root, 0, focus).nodes)


def descendants(root: Value, focus: list[Value]) -> set[Value]:
    """Independently of collapse.py: the values on a path from `focus` to `root`."""
    children: dict[Value, list[Value]] = {}
    for e in edges(root):
        children.setdefault(e.parent, []).append(e.child)
    seen, stack = set(focus), list(focus)
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


@pytest.mark.parametrize(("kind", "seed"), GRAPHS)
def test_focus_keeps_exactly_the_paths_to_the_root(kind, seed):
    root = build(kind, seed)
    order = topological_order(root)
    rng = random.Random(seed)
    focus = rng.sample(order, min(len(order), rng.randint(1, 2)))
    shown = view(root, 0, focus)
    values = {n for n in shown.nodes if isinstance(n, Value)}
    assert values == descendants(root, focus)
    # every operand of a drawn value is drawn, or is a stub that shows it
    for v in values:
        into = [e for e in shown.edges if e.head is v]
        assert sorted(u.index for e in into for u in e.uses) == [
            k for k, x in enumerate(v.operands) if isinstance(x, Value)]
        for e in into:
            if isinstance(e.tail, Stub):
                assert all(u.parent not in values for u in e.uses)
                assert e.tail.values == e.values
    assert all(isinstance(n, Value | Stub) for n in shown.nodes)


def test_focus_on_a_value_not_in_the_graph_is_a_clear_error():
    x = Value(1.0, "x")
    y = x * 2
    y.backward()
    stranger = Value(3.0, "w")
    with pytest.raises(ValueError, match="'w'.*not in the graph"):
        draw(y, focus=stranger)
    with pytest.raises(ValueError, match="empty"):
        draw(y, focus=[])
    with pytest.raises(TypeError):
        draw(y, focus=[3.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="collapse"):
        draw(y, collapse=-1)
    with pytest.raises(ValueError, match="without local or check"):
        draw(y, collapse=1, local=True)
    with pytest.raises(ValueError, match="without local or check"):
        draw(y, focus=x, check=True)


def readme_network() -> tuple[MLP, Value]:
    model = MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    return model, out


def test_the_readme_network_collapsed_is_small():
    model, out = readme_network()
    one = view(out, 1)
    assert [n.path for n in one.nodes if isinstance(n, Block)] == [
        ("layer 1",), ("layer 2",), ("layer 3",)]
    two = view(out, 2)
    assert sum(isinstance(n, Block) for n in two.nodes) == 33
    assert sum(isinstance(n, Bus) for n in two.nodes) == 2  # into layers 1 and 2
    assert len(two.edges) < 100


# --- goldens ---------------------------------------------------------------------------------
def small_network() -> tuple[MLP, Value]:
    model = MLP(2, [3, 3, 1], seed=0)
    out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
    out.backward()
    return model, out


@pytest.mark.parametrize("style", ["values", "book"])
@pytest.mark.parametrize("name", ["collapse1", "collapse2", "focus", "focus_collapse2"])
def test_golden_dot_files(name, style):
    def source() -> str:
        model, out = small_network()
        w = model.layers[0].neurons[0].w[0]
        options = {"collapse1": {"collapse": 1}, "collapse2": {"collapse": 2},
                   "focus": {"focus": w}, "focus_collapse2": {"focus": w, "collapse": 2}}[name]
        return draw(out, style=style, **options).source  # type: ignore[arg-type]

    text = source()
    assert text == source()  # deterministic
    golden = GOLDEN / f"mlp_{name}{'_book' if style == 'book' else ''}.dot"
    check_golden(golden, text)


def test_clusters_box_every_group_inside_its_parent():
    model, out = small_network()
    source = draw(out, clusters=True).source
    assert source.count("subgraph cluster_") == 3 + 3 + 3 + 1  # 3 layers, 7 neurons
    assert "label=<<b>layer 1</b>>" in source and "label=<<b>a[1]_2</b>>" in source
    # the drawing is the full one, with the clusters added
    plain = draw(out).source
    assert source.startswith(plain[:-2])
    book = draw(out, clusters=True, style="book").source
    assert book.count("subgraph cluster_") == 10


def test_collapsed_dot_shows_the_views_numbers():
    model, out = small_network()
    shown = view(out, 1)
    source = draw(out, collapse=1).source
    from microgrid import format_number
    for e in shown.edges:
        assert format_number(e.grad) in source
    assert "3 values" in source and "Σ " in source


def test_a_neuron_alone_is_one_group_its_parameters_too():
    from microgrid.nn import Neuron
    n = Neuron(2, seed=0)
    y = n([Value(1.0), Value(2.0)])
    assert y.group is not None and y.group.path == ("a[1]_0",)
    assert all(p.group is not None and p.group.path == ("a[1]_0",) for p in n.parameters())
    assert [type(x).__name__ for x in view(y, 1).nodes].count("Block") == 1


def test_dot_is_the_same_in_processes_of_different_hash_seeds():
    """Each drawing's DOT does not depend on the order of sets or of ids: the same bytes in
    processes with different PYTHONHASHSEEDs (within one process, it could not tell)."""
    import subprocess
    import sys

    script = """
from microgrid import Value, draw
from microgrid.nn import MLP
model = MLP(2, [3, 3, 1], seed=0)
out = model.output([Value(0.5, "x1"), Value(-1.0, "x2")])
out.backward()
w = model.layers[0].neurons[0].w[0]
for options in ({}, {"style": "book"}, {"collapse": 1}, {"collapse": 2}, {"focus": w},
                {"focus": w, "collapse": 2}, {"clusters": True}, {"local": True, "check": True},
                {"focus": w, "collapse": 1, "style": "book"}, {"collapse": 2, "style": "book"}):
    print(draw(out, **options).source)
"""
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                              timeout=120).stdout for seed in ("0", "1", "12345")}
    assert len(outputs) == 1 and "digraph" in outputs.pop()
