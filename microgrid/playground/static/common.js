// Loading Python: Pyodide from ./pyodide/, then the wheels of manifest.json unpacked into its
// site-packages. Used by the page (playground.js) and by the training worker (worker.js).
import { loadPyodide } from "./pyodide/pyodide.mjs";

export async function loadPython(base) {
  const manifest = await (await fetch(new URL("manifest.json", base))).json();
  const wheels = manifest.wheels.map(async (path) => {
    const response = await fetch(new URL(path, base));
    if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
    return [path, await response.arrayBuffer()];
  });
  const pyodide = await loadPyodide({ indexURL: new URL("pyodide/", base).href });
  for (const [path, data] of await Promise.all(wheels)) {
    pyodide.unpackArchive(data, "wheel", { filename: path.split("/").pop() });
  }
  return pyodide;
}
