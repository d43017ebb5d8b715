import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SCRIPTS = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
           if not block.startswith(">>>")]


def test_readme_examples_run_as_shown():
    result = doctest.testfile(str(README), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.splitlines()[0][:40] for s in SCRIPTS])
def test_readme_scripts_run(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}
    exec(compile(script, str(README), "exec"), names)
    if "opt" in names:  # the training loop learns the moons
        assert names["loss"].data < 0.05  # type: ignore[attr-defined]
    elif "collapse" in script:  # the network's drawings
        assert ">layer 2</text>" in (tmp_path / "layers.svg").read_text()
        assert ">a[2]_15</text>" in (tmp_path / "neurons.svg").read_text()
        assert "w[1]_2_0" in (tmp_path / "why.svg").read_text()
        assert ">w[1]_2_0 " in (tmp_path / "why_book.svg").read_text()  # on its edge
        assert names["y"].group.path == ("my block",)  # type: ignore[attr-defined]
    else:  # the drawing example writes its files
        assert (tmp_path / "neuron.svg").read_text().count("<g id=") > 10
        assert "<html" in (tmp_path / "steps.html").read_text().lower()
