"""README.md and docs/*.md: every code example runs as shown, every relative link and anchor
resolves, and README stays a front door (at most 120 lines)."""

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PAGE_IDS = [str(p.relative_to(ROOT)) for p in PAGES]
SCRIPTS = [(page, block) for page in PAGES
           for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
           if not block.startswith(">>>")]
# The command lines of the pages' shell blocks that run microgrid itself (not the set-up).
COMMANDS = [(page, line.split("#")[0].strip()) for page in PAGES
            for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)
            for line in block.splitlines() if line.startswith("microgrid ")]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_examples_run_as_shown(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may save a drawing
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert (result.attempted > 0) == (">>> " in page.read_text())


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's
@pytest.mark.parametrize(("page", "script"), SCRIPTS,
                         ids=[f"{p.relative_to(ROOT)}: {s.splitlines()[0][:40]}"
                              for p, s in SCRIPTS])
def test_scripts_run(page: Path, script: str, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "import torch" in script:  # PyTorch's side of docs/pytorch.md (.ci/run installs torch)
        pytest.importorskip("torch", reason="a PyTorch example: pip install torch")
    names: dict[str, object] = {}
    exec(compile(script, str(page), "exec"), names)
    if "import torch" in script:  # each PyTorch example checks itself
        assert "\nassert " in script and "torch" in names
    elif "opt" in names:  # the training loop learns the moons
        assert names["loss"].data < 0.05  # type: ignore[attr-defined]
    elif "collapse" in script:  # the network's drawings
        assert ">layer 2</text>" in (tmp_path / "layers.svg").read_text()
        assert ">a[2]_15</text>" in (tmp_path / "neurons.svg").read_text()
        assert "w[1]_2_0" in (tmp_path / "why.svg").read_text()
        assert ">w[1]_2_0 " in (tmp_path / "why_book.svg").read_text()  # on its edge
        assert names["y"].group.path == ("my block",)  # type: ignore[attr-defined]
    elif "backward_steps" in script:  # the drawing example writes its files
        assert (tmp_path / "neuron.svg").read_text().count("<g id=") > 10
        assert "<html" in (tmp_path / "steps.html").read_text().lower()
    elif "microgrid.interact" in script:  # the widget, at its start
        assert names["w"].output == "output = 0.4621"  # type: ignore[attr-defined]
    elif "dpi=300" in script:  # pictures for slides and papers
        assert (tmp_path / "slide.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "neuron.pdf").read_bytes()[:4] == b"%PDF"
        assert r"\begin{tikzpicture}" in (tmp_path / "neuron.tex").read_text()
        assert 'fill="#1e1e1e"' in (tmp_path / "dark.svg").read_text()
    else:
        pytest.fail("a script with no check of what it produces: add one here")


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 120
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/microgrid demo" in text
    assert ('python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/pytest\n'
            in text)
    for page in PAGES[1:]:  # a table of contents: every page, one line each
        assert f"](docs/{page.name})" in text


# --- links ----------------------------------------------------------------------------------
def _prose(text: str) -> str:
    """`text` without its code: fenced blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text()))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of `page`: lower case, punctuation dropped, spaces
    to hyphens; a repeated heading gets -1, -2, ..."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        base, n = slug, 0
        while slug in anchors:
            n += 1
            slug = f"{base}-{n}"
        anchors.add(slug)
    return anchors


def test_anchors_follow_githubs_rule():
    assert _anchors(README) >= {"quick-start", "contents"}
    assert "compiling-a-training-step-compile" in _anchors(ROOT / "docs" / "compile.md")


LINKS = [(page, link) for page in PAGES for link in _links(page)
         if not re.match(r"[a-z]+:", link)]  # http:, https:, mailto: are not checked


def test_pages_have_relative_links():
    assert len(LINKS) > len(PAGES)


@pytest.mark.parametrize(("page", "link"), LINKS,
                         ids=[f"{p.relative_to(ROOT)}: {link}" for p, link in LINKS])
def test_relative_links_resolve(page, link):
    path, _, anchor = link.partition("#")
    target = (page.parent / path).resolve() if path else page
    assert target.exists(), f"{page.name} links to {link}, which does not exist"
    assert ROOT in target.parents or target == ROOT, f"{link} leaves the repository"
    if anchor:
        assert target.suffix == ".md", f"{link}: an anchor into a file that is not Markdown"
        assert anchor in _anchors(target), f"{link}: {target.name} has no such heading"


@pytest.mark.parametrize(("page", "command"), COMMANDS,
                         ids=[f"{p.relative_to(ROOT)}: {c[:50]}" for p, c in COMMANDS])
def test_commands_run(page: Path, command: str, tmp_path: Path, monkeypatch, capsys):
    import shlex

    from microgrid.cli import main

    monkeypatch.chdir(tmp_path)
    words = shlex.split(command)
    assert main(words[1:]) == 0, capsys.readouterr().err
    for option, file in zip(words, words[1:], strict=False):
        if option in ("-o", "--animate", "--html"):  # the files it writes
            assert (tmp_path / file).stat().st_size > 1000
