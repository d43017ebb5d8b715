"""Shared test fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from microgrid.core import engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
from benchmarks import browser as _browser  # noqa: E402

BROWSER_REASON = ("needs Debian's chromium (apt-get install chromium) and playwright "
                  "(pip install -e '.[dev]'); .ci/run installs both")


@contextmanager
def chromium(reason: str = BROWSER_REASON) -> Iterator[Any]:
    """A Playwright browser: Debian's headless Chromium (a test tool's own browser download does
    not work here), closed after; the test skips, saying `reason`, where either is missing."""
    if _browser.chromium_executable() is None:
        pytest.skip(f"no chromium on the PATH: this test {reason}")
    pytest.importorskip("playwright.sync_api", reason=reason)
    with _browser.chromium() as browser:
        yield browser


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab serving `tmp_path` (benchmarks/browser.py: no token, a kernel spec
    ``microgrid-test`` of this Python); yields its URL. Its log, on failure: `lab_log`."""
    pytest.importorskip("jupyterlab", reason="needs JupyterLab (pip install -e '.[dev]')")
    pytest.importorskip("nbformat", reason="needs nbformat (pip install -e '.[dev]')")
    with _browser.jupyterlab(tmp_path) as url:
        yield url


def lab_log(folder: Path) -> str:
    """The end of the log of the JupyterLab that served `folder`."""
    return (folder / "jupyterlab.log").read_text(errors="replace")[-3000:]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`microgrid ARGV...` in this process: its exit status, stdout and stderr."""
    from microgrid.cli import main

    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def check_golden(golden: Path, text: str) -> None:
    """Compare `text` with the golden file; with UPDATE_GOLDEN set, rewrite a file that differs
    and fail, so that an update is a diff to review, never a file compared with itself."""
    data = text.encode("utf-8")
    if os.environ.get("UPDATE_GOLDEN"):
        if not golden.exists() or golden.read_bytes() != data:
            golden.write_bytes(data)
            pytest.fail(f"golden file {golden.name} rewritten: review the diff")
    assert data == golden.read_bytes()


@pytest.fixture(autouse=True)
def recording_stays_on():
    """Fail a test that leaves gradient recording off (a broken no_grad), and turn it back on,
    so that the failure is that test's alone, not every later test's."""
    yield
    if not engine.is_grad_enabled():
        engine._set_recording(True)
        pytest.fail("the test left gradient recording off (no_grad did not restore it)")
