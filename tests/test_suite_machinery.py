"""The test suite's own machinery: golden files and the autouse grad-mode fixture, each made to
fail the way it must (a golden update that passes, or one broken no_grad failing every test,
would hide the bugs they are there to show)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import check_golden

TESTS = Path(__file__).parent


def test_a_golden_file_that_differs_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    golden = tmp_path / "g.dot"
    golden.write_text("digraph { a }\n")
    check_golden(golden, "digraph { a }\n")
    with pytest.raises(AssertionError):
        check_golden(golden, "digraph { b }\n")
    assert golden.read_text() == "digraph { a }\n"  # left as it was


def test_the_update_mode_rewrites_a_golden_file_and_fails_to_show_the_diff(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    golden = tmp_path / "g.dot"
    golden.write_text("digraph { a }\n")
    with pytest.raises(pytest.fail.Exception, match="g.dot rewritten: review the diff"):
        check_golden(golden, "digraph { b }\n")
    assert golden.read_text() == "digraph { b }\n"
    check_golden(golden, "digraph { b }\n")  # now the same: it passes, and writes nothing
    new = tmp_path / "new.dot"
    with pytest.raises(pytest.fail.Exception, match="new.dot rewritten"):
        check_golden(new, "digraph { c }\n")
    assert new.read_text() == "digraph { c }\n"


def test_a_test_that_leaves_recording_off_fails_alone(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('suite', {str(TESTS / 'conftest.py')!r})\n"
        "suite = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(suite)\n"
        "recording_stays_on = suite.recording_stays_on\n")
    (tmp_path / "test_grad_mode.py").write_text(
        "from microgrid import Value\n"
        "from microgrid.core.engine import _set_recording\n\n"
        "def test_a_broken_no_grad():\n"
        "    _set_recording(False)  # what a no_grad that does not restore the mode leaves\n\n"
        "def test_the_next_one_records():\n"
        "    x = Value(2.0)\n"
        "    y = x * x\n"
        "    y.backward()\n"
        "    assert x.grad == 4.0\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
                             "-p", "no:randomly", str(tmp_path)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    out = result.stdout
    assert "the test left gradient recording off (no_grad did not restore it)" in out, out
    assert "test_the_next_one_records PASSED" in out, out
    assert "2 passed, 1 error" in out, out  # the broken test's teardown, and nothing else
