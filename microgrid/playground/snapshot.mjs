// Run by `python -m microgrid.playground build` (node snapshot.mjs SITE OUT): Pyodide starts once
// here, with the site's wheels, imports what the page uses, and writes its memory, gzipped, to
// OUT. The page starts from that snapshot in a fraction of Pyodide's start-up time.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { pathToFileURL } from "node:url";

const [site, out] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(site, "pyodide", "pyodide.mjs")).href);
const manifest = JSON.parse(fs.readFileSync(path.join(site, "manifest.json"), "utf8"));
const pyodide = await loadPyodide({ indexURL: path.join(site, "pyodide") + "/", _makeSnapshot: true,
                                    env: { HOME: "/home/pyodide" } });
for (const wheel of manifest.wheels) {
  pyodide.unpackArchive(new Uint8Array(fs.readFileSync(path.join(site, wheel))), "wheel");
}
pyodide.runPython(`
import importlib
import microgrid.playground.page as page
for name in page.PRELOAD:
    importlib.import_module(name)
page.warm_up()
`);
fs.writeFileSync(out, zlib.gzipSync(pyodide.makeMemorySnapshot(), { level: 6 }));
