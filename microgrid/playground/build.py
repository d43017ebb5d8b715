"""Build the playground site: the page, Pyodide, a WebAssembly Graphviz and the wheels, in one
folder that needs nothing from the network when it is opened.

npm and pip fetch the pinned packages once into a cache folder (``~/.cache/microgrid-playground``,
or ``$MICROGRID_PLAYGROUND_CACHE``); later builds copy them from there. The microgrid wheel is
built from the source tree this package was imported from.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

# The npm packages, pinned, and the files of each that the site uses (Pyodide's package is
# 16 MB unpacked; the page needs its runtime, its standard library and its lock file only).
PYODIDE = ("pyodide", "314.0.8", "MPL-2.0",
           ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
            "pyodide-lock.json", "package.json"])
VIZ = ("@viz-js/viz", "3.31.0", "MIT", ["dist/viz.js", "package.json"])
NPM = {"pyodide": PYODIDE, "viz": VIZ}
# The pure-Python dependencies that go into the page (graphviz-pure is a native program: the
# page lays graphs out with VIZ instead).
WHEELS = ["graphviz"]
STATIC = ["index.html", "playground.js", "worker.js", "common.js", "playground.css"]


class BuildError(RuntimeError):
    """The site could not be built; the message says why, in one line."""


def default_cache() -> Path:
    return Path(os.environ.get("MICROGRID_PLAYGROUND_CACHE")
                or Path.home() / ".cache" / "microgrid-playground")


def build(site: Path, cache: Path | None = None) -> Path:
    """Write the site to the folder `site` (made if missing; the files it writes are
    replaced) and return it."""
    cache = default_cache() if cache is None else cache
    site.mkdir(parents=True, exist_ok=True)
    licences = ["# Licences of what this site holds\n"]
    for folder, (name, version, licence, files) in NPM.items():
        package = _npm_package(name, version, cache / "npm")
        target = site / folder
        if target.exists():
            shutil.rmtree(target)
        for file in files:
            _copy(package / file, target / Path(file).name)
        for extra in sorted(package.glob("LICENSE*")):
            _copy(extra, target / extra.name)
        licences.append(f"- {folder}/: the npm package {name} {version}, licence {licence}")
    wheels = [_microgrid_wheel(cache / "build")] + [
        _pypi_wheel(name, cache / "wheels") for name in WHEELS]
    target = site / "wheels"
    if target.exists():
        shutil.rmtree(target)
    for wheel in wheels:
        _copy(wheel, target / wheel.name)
        licences.append(f"- wheels/{wheel.name}: licence {_wheel_licence(wheel)} "
                        "(its text is in the wheel's .dist-info)")
    static = resources.files("microgrid.playground").joinpath("static")
    for file in STATIC:
        (site / file).write_bytes(static.joinpath(file).read_bytes())
    manifest: dict[str, object] = {"pyodide": PYODIDE[1], "viz": VIZ[1],
                                   "wheels": [f"wheels/{w.name}" for w in wheels]}
    (site / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    manifest["snapshot"] = f"pyodide/{_snapshot(site, wheels, cache / 'snapshots').name}"
    (site / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    _write_licences(site, licences)
    return site


def _snapshot(site: Path, wheels: list[Path], cache: Path) -> Path:
    """Python's memory after start-up and the page's imports, made by Node with the site's
    Pyodide and wheels (``snapshot.mjs``): from the cache when they are the same."""
    digest = hashlib.sha256(PYODIDE[1].encode())
    for wheel in wheels:
        digest.update(wheel.read_bytes())
    script = resources.files("microgrid.playground").joinpath("snapshot.mjs").read_bytes()
    digest.update(script)
    cached = cache / f"{digest.hexdigest()[:16]}.bin.gz"
    if not cached.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "snapshot.mjs").write_bytes(script)
            made = Path(tmp) / "snapshot.bin.gz"
            _run(["node", str(Path(tmp) / "snapshot.mjs"), str(site.resolve()), str(made)],
                 "making the snapshot of Python's memory")
            shutil.copyfile(made, cached.with_suffix(".tmp"))
            os.replace(cached.with_suffix(".tmp"), cached)
    target = site / "pyodide" / "snapshot.bin.gz"
    shutil.copyfile(cached, target)
    return target


def _copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BuildError(f"{source} is missing from the downloaded package")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _run(args: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=600)
    except FileNotFoundError:
        raise BuildError(f"{what} needs {args[0]}, which is not on the PATH") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what}: {args[0]} took more than 10 minutes") from None
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no message"]
        errors = [line.strip() for line in lines if "error" in line.lower()]
        raise BuildError(f"{what} failed: {(errors or lines)[-1]}")


def _npm_package(name: str, version: str, cache: Path) -> Path:
    """The unpacked npm package `name`@`version`: from the cache, or `npm pack`ed into it."""
    unpacked = cache / f"{name.replace('/', '+')}-{version}"
    if (unpacked / "package" / "package.json").is_file():
        return unpacked / "package"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        _run(["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", tmp],
             f"downloading {name}@{version}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise BuildError(f"npm pack {name}@{version} wrote no tarball")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(Path(tmp) / "x", filter="data")
        got = json.loads((Path(tmp) / "x" / "package" / "package.json").read_text())
        if got.get("version") != version:
            raise BuildError(f"npm gave {name} {got.get('version')}, not {version}")
        os.replace(Path(tmp) / "x", unpacked)
    return unpacked / "package"


def _source_tree() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise BuildError(f"the site holds a microgrid wheel built from the source tree, but "
                         f"microgrid was imported from {root}, which is none; build from a "
                         "checkout (pip install -e .)")
    return root


def _microgrid_wheel(cache: Path) -> Path:
    """A wheel of the working tree, rebuilt when a file of the package changed."""
    root = _source_tree()
    digest = hashlib.sha256()
    for path in sorted((root / "microgrid").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    digest.update((root / "pyproject.toml").read_bytes())
    folder = cache / digest.hexdigest()[:16]
    found = sorted(folder.glob("microgrid-*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory() as tmp:  # a copy: pip's build must not touch the tree
        copy = Path(tmp) / "src"
        shutil.copytree(root / "microgrid", copy / "microgrid",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copyfile(root / name, copy / name)
        # with this environment's setuptools if it can build wheels, else pip fetches one
        isolation = [] if importlib.util.find_spec("setuptools.command.bdist_wheel") is None \
            else ["--no-build-isolation"]
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation,
              "-w", str(Path(tmp) / "out"), str(copy)], "building the microgrid wheel")
        wheels = list((Path(tmp) / "out").glob("microgrid-*.whl"))
        if len(wheels) != 1:
            raise BuildError("pip wheel wrote no microgrid wheel")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheels[0], folder / wheels[0].name)
    return folder / wheels[0].name


def _pypi_wheel(name: str, cache: Path) -> Path:
    """The wheel of `name` at the version installed here, from the cache or `pip download`."""
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(f"{name} is not installed; pip install microgrid first") from None
    stem = name.replace("-", "_")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
          "--only-binary=:all:", "-d", str(cache), f"{name}=={version}"],
         f"downloading {name}=={version}")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise BuildError(f"pip download {name}=={version} gave no wheel")
    return found[0]


def _wheel_licence(wheel: Path) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith(("License-Expression:", "License:")) and line.split(":", 1)[1].strip():
            return line.split(":", 1)[1].strip()
    classifiers = [line.rsplit("::", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("Classifier: License ::")]
    return ", ".join(classifiers) or "see the wheel"


MIT_VIZ = """\
Viz.js (the npm package @viz-js/viz) is under the MIT licence (its package.json); its npm
package ships no licence file. It contains Graphviz (https://www.graphviz.org, Eclipse Public
License 1.0) and Expat (https://libexpat.github.io, MIT) in object code form.

MIT License

Copyright (c) Michael Daines

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _write_licences(site: Path, lines: list[str]) -> None:
    (site / "viz" / "LICENSE").write_text(MIT_VIZ)
    mpl = Path("/usr/share/common-licenses/MPL-2.0")  # Debian's copy of the text
    note = ("Pyodide's npm package ships no licence file: its licence, the Mozilla Public "
            "License 2.0, is at https://mozilla.org/MPL/2.0/. Pyodide contains CPython "
            "(PSF License) and its standard library.\n")
    (site / "pyodide" / "LICENSE").write_text(
        note + ("\n" + mpl.read_text() if mpl.is_file() else ""))
    lines.append("\nThe licence texts: pyodide/LICENSE, viz/LICENSE, and each wheel's "
                 ".dist-info folder (a wheel is a zip file).")
    (site / "LICENSES.md").write_text("\n".join(lines) + "\n")
