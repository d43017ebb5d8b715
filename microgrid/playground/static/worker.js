// The training worker: its own Pyodide, running microgrid.playground.page.Training a step at a
// time, so that the page stays responsive; a "stop" message ends the loop after the step.
import { loadPython } from "./common.js";

const BOUNDARY_EVERY_MS = 400;
let page = null, training = null, running = false;

async function python() {
  if (!page) {
    postMessage({ type: "loading" });
    const pyodide = await loadPython(new URL(".", import.meta.url));
    page = pyodide.pyimport("microgrid.playground.page");
  }
  return page;
}

function boundary() {
  postMessage({ type: "boundary", ...JSON.parse(training.boundary()) });
}

async function train(restart) {
  running = true;
  const p = await python();
  if (!training || restart) {
    training = p.Training();
    postMessage({ type: "points", ...JSON.parse(training.points()) });
    boundary();
  }
  let last = performance.now();
  while (running) {
    postMessage({ type: "progress", ...JSON.parse(training.steps(1)) });
    if (performance.now() - last > BOUNDARY_EVERY_MS) { boundary(); last = performance.now(); }
    await new Promise((resolve) => setTimeout(resolve, 0)); // let a "stop" message in
  }
  boundary();
  postMessage({ type: "stopped" });
}

onmessage = (event) => {
  const { command, restart } = event.data;
  if (command === "stop") running = false;
  else if (command === "start" && !running) {
    train(restart).catch((error) => {
      running = false;
      postMessage({ type: "error", message: String(error.message || error) });
      postMessage({ type: "stopped" });
    });
  }
};
