// Loading Python: Pyodide from ./pyodide/, started from the snapshot of its memory that the
// build made (Python started, microgrid imported), then the wheels of manifest.json unpacked
// into its site-packages (the files of what is imported later). Used by the page
// (playground.js) and by the training worker (worker.js).
import { loadPyodide } from "./pyodide/pyodide.mjs";

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response;
}

async function gunzip(response) {
  const stream = response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function loadPython(base, mark = () => {}) {
  const manifest = await (await fetchBytes(new URL("manifest.json", base))).json();
  const wheels = manifest.wheels.map(async (path) =>
    [path, await (await fetchBytes(new URL(path, base))).arrayBuffer()]);
  const options = { indexURL: new URL("pyodide/", base).href, env: { HOME: "/home/pyodide" } };
  if (manifest.snapshot) {
    options._loadSnapshot = fetchBytes(new URL(manifest.snapshot, base)).then(gunzip);
  }
  const pyodide = await loadPyodide(options);
  mark("pyodide");
  for (const [path, data] of await Promise.all(wheels)) {
    pyodide.unpackArchive(data, "wheel", { filename: path.split("/").pop() });
  }
  return pyodide;
}
