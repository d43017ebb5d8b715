"""The house's plan, checked: microgrid's packages form layers, imports only point down, and no
module imports itself round a circle. The layers are written once, here (docs/architecture.md
explains them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "microgrid"

# Bottom first. A package may import the packages of the layers below its own, never one of
# its own layer or above. The package root (microgrid/__init__.py, __main__.py) is the public
# API on top of them all, and no package imports it.
LAYERS = [
    ["core"],
    ["nn", "compile", "drawing"],
    ["teaching"],
    ["notebook"],
    ["cli"],
    ["playground"],
]


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and "TYPE_CHECKING" in test.id) or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """The modules of the package that `name` imports, anywhere in it (inside functions too),
    each with whether it is imported for type checking only."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.body:
                    visit_one(sub, True)
                for sub in child.orelse:
                    visit_one(sub, typing_only)
            else:
                visit_one(child, typing_only)

    def visit_one(node: ast.AST, typing_only: bool) -> None:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports the module a.b where there is one, else a
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for target in targets:
            while target and target not in known:  # `import a.b.c`: the deepest known module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, typing_only))
        visit(node, typing_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def layer_of(name: str) -> int:
    """The layer of a module by its package (`microgrid.core.engine` is in `core`'s); the
    package root is above every layer."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return len(LAYERS)
    for i, layer in enumerate(LAYERS):
        if parts[1] in layer:
            return i
    raise AssertionError(f"{name}: the package {parts[1]!r} is in no layer of this test: add it")


def problems(root: Path) -> list[str]:
    """Every import that points up or sideways, and every circle, as a sentence."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    found = []
    for name, path in known.items():
        for target, typing_only in imports(name, path, known):
            here, there = layer_of(name), layer_of(target)
            same_package = name.split(".")[:2] == target.split(".")[:2]
            if not same_package and there >= here:
                way = "up" if there > here else "sideways"
                found.append(f"{name} imports {target}: {way}, from layer {here} to {there}")
            if not typing_only:
                graph[name].add(target)
    found += [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each strongly connected set of modules larger than one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(_circle_through(sorted(members), graph))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _circle_through(members: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the first member back to itself, inside the set (breadth first)."""
    start, inside = members[0], set(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & inside):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError("a strongly connected set has a circle")


def test_imports_only_point_down_and_make_no_circle():
    assert problems(ROOT) == []


def test_every_package_is_in_a_layer_and_says_what_it_holds():
    for package in sorted(p for p in ROOT.iterdir() if (p / "__init__.py").exists()):
        layer_of(f"microgrid.{package.name}")
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"microgrid/{package.name}/__init__.py: say what it holds"


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "microgrid"
    for name, text in {"__init__.py": "", "core/__init__.py": "", "nn/__init__.py": "",
                       "drawing/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_planted_circle_is_found(tmp_path):
    root = _plant(tmp_path, {
        "core/engine.py": "from microgrid.core import functions\n",
        "core/functions.py": "def call():\n    from microgrid.core.engine import apply\n",
    })
    assert problems(root) == [
        "import circle: microgrid.core.engine -> microgrid.core.functions -> microgrid.core.engine"]


def test_a_type_checking_import_makes_no_circle_but_still_points_only_down(tmp_path):
    root = _plant(tmp_path, {
        "core/engine.py": "from microgrid.core.functions import rule\n",
        "core/functions.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from microgrid.core.engine import Value\n"
                             "    from microgrid.drawing import draw\n",
    })
    assert problems(root) == [
        "microgrid.core.functions imports microgrid.drawing: up, from layer 0 to 1"]


@pytest.mark.parametrize(("source", "expected"), [
    ("from microgrid.drawing import draw\n",
     "microgrid.nn.modules imports microgrid.drawing: sideways, from layer 1 to 1"),
    ("from microgrid import Value\n",
     "microgrid.nn.modules imports microgrid: up, from layer 1 to 6"),
    ("import microgrid.teaching.explain\n",
     "microgrid.nn.modules imports microgrid.teaching.explain: up, from layer 1 to 2"),
    ("from ..teaching import explain\n",
     "microgrid.nn.modules imports microgrid.teaching.explain: up, from layer 1 to 2"),
])
def test_a_planted_upward_or_sideways_import_is_found(tmp_path, source, expected):
    root = _plant(tmp_path, {"nn/modules.py": source, "teaching/__init__.py": "",
                             "teaching/explain.py": ""})
    assert problems(root) == [expected]


def test_the_public_api_is_all_that_dir_shows():
    import microgrid

    assert dir(microgrid) == sorted([*microgrid.__all__, "__version__"])
    assert all(getattr(microgrid, name) is not None for name in microgrid.__all__)
    assert not {"Any", "TYPE_CHECKING", "annotations", "importlib", "sys"} & set(dir(microgrid))


def test_the_module_paths_of_before_the_packages_still_work():
    import importlib

    import microgrid

    for old, new in [("functions", "core.functions"), ("losses", "nn.losses"),
                     ("optim", "nn.optim"), ("data", "nn.data"), ("layers", "teaching.layers")]:
        assert importlib.import_module(f"microgrid.{old}") is importlib.import_module(
            f"microgrid.{new}")
    from microgrid.functions import sin
    from microgrid.losses import mse
    assert callable(sin) and callable(mse)
    for old, new in [("render", "drawing.render"), ("collapse", "drawing.collapse"),
                     ("animate", "drawing.player"), ("demos", "teaching.demos")]:
        assert getattr(microgrid, old) is importlib.import_module(f"microgrid.{new}")
    from microgrid.compile import compile as compile_fn
    assert microgrid.compile is compile_fn  # the function, not its package
