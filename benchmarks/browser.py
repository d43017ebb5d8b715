"""A browser and JupyterLab for the benchmarks and tests that need them: Debian's headless
Chromium driven by Playwright, JupyterLab on localhost, and a notebook opened and run in it
(`python -m benchmarks.widget --browser`, `benchmarks.playground`, and tests/conftest.py's
`chromium` and `jupyterlab` fixtures).

The server is cut off from the machine's Jupyter: its settings, data (kernels, the notary's
signatures) and runtime files are under ``FOLDER/.jupyter``, it has no token, and its one
kernel spec, ``microgrid-test``, runs this Python (the one with microgrid installed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
KERNEL = "microgrid-test"

PAGE_STATE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const ctx = w && w.sessionContext, dialog = document.querySelector('.jp-Dialog');
  return {kernel: ctx && ctx.session && ctx.session.kernel && ctx.session.kernel.name,
          status: ctx && ctx.kernelDisplayStatus, dialog: dialog && dialog.innerText,
          outputs: [...document.querySelectorAll('.jp-OutputArea')].map(o => o.innerText)};
}"""
KERNEL_READY = """k => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const ctx = w && w.sessionContext;
  return ctx && ctx.session && ctx.session.kernel && ctx.session.kernel.name === k
    && ctx.kernelDisplayStatus === 'idle';
}"""


def chromium_executable() -> str | None:
    """Debian's Chromium on the PATH (Playwright's own browser download does not work here)."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser: headless Chromium, closed after."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    if executable is None:
        raise RuntimeError("no chromium on the PATH (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def data_dir(folder: Path) -> Path:
    """The server's JUPYTER_DATA_DIR (kernel specs; the notary's signatures database)."""
    return folder / ".jupyter" / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(folder: Path) -> Iterator[str]:
    """JupyterLab serving `folder` on a free localhost port; yields its URL, stops it after.

    Its log is ``FOLDER/jupyterlab.log`` (a file: a pipe nobody reads fills up and stalls it)."""
    home = folder / ".jupyter"
    kernel = data_dir(folder) / "kernels" / KERNEL
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "microgrid's test kernel", "language": "python"}))
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(data_dir(folder))}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "jupyterlab.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             "--ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
             f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
             "--ServerApp.disable_check_xsrf=True", "--LabApp.extension_manager=readonly",
             "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: "
                                       + log_path.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


def write_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    """A notebook of code `cells`, for the ``microgrid-test`` kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "microgrid's test kernel",
                                 "language": "python"}
    path = folder / name
    nbformat.write(nb, path)
    return path


def run_notebook(page: Any, url: str, folder: Path, cells: list[str],
                 name: str = "play.ipynb") -> None:
    """Write a notebook of `cells`, open it in JupyterLab and start running all its cells.

    It runs once its kernel is up: run before, JupyterLab asks for a kernel in a dialog (the
    execution indicator says idle before there is a kernel at all). Wait for what the cells
    show with `wait`."""
    write_notebook(folder, name, cells)
    page.goto(f"{url}/lab/tree/{name}")
    wait(page, "the notebook's kernel to be idle", KERNEL_READY, KERNEL)
    # not awaited: the command's promise ends when the cells have run, with no timeout
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def wait(page: Any, what: str, condition: str, arg: object = None,
         timeout: float = 60_000) -> None:
    """Wait for `condition` (a JavaScript function of `arg`); else fail, saying what the page
    shows (the kernel, a dialog, the cells' outputs)."""
    try:
        page.wait_for_function(condition, arg=arg, timeout=timeout)
    except Exception as e:
        raise AssertionError(f"waited {timeout / 1000:.0f} s for {what}; the page shows "
                             f"{page.evaluate(PAGE_STATE)}") from e
