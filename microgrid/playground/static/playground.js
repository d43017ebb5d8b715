// The playground page: Python (Pyodide) runs microgrid.playground.page, which calls microgrid's
// command line; Graphviz compiled to WebAssembly (Viz.js) lays the drawings out. This script
// only moves text between the page and Python: what a user types goes to Python as a string and
// comes back as text (textContent) or as an SVG that Graphviz wrote (parsed, never run).
import { instance as vizInstance } from "./viz/viz.js";
import { loadPython } from "./common.js";

const $ = (id) => document.getElementById(id);
const state = { page: null, variables: [], drawing: false, pending: false, lastDrawMs: null,
                losses: [], worker: null, training: false, timings: {} };
window.playground = state; // for tests and benchmarks

function setMessage(id, text) { $(id).textContent = text || ""; }

function showSvg(container, svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("the layout gave no SVG");
  for (const script of svg.querySelectorAll("script, foreignObject")) script.remove();
  for (const element of svg.querySelectorAll("*")) { // Graphviz writes no handlers: drop any
    for (const name of element.getAttributeNames()) {
      if (name.toLowerCase().startsWith("on")) element.removeAttribute(name);
    }
  }
  const shown = document.importNode(svg, true);
  // a wide drawing shrinks to the page's width, but not below 60%: past that, it scrolls
  const width = parseFloat(svg.getAttribute("width")) * 96 / 72;
  if (width > 0) shown.style.minWidth = `${Math.round(width * 0.6)}px`;
  container.replaceChildren(shown);
}

function call(name, ...args) {
  return JSON.parse(state.page[name](...args));
}

// --- drawing an expression ------------------------------------------------------------------
function expression() { return $("expression").value; }
function variablesText() { return $("variables").value; }

function draw() {
  const started = performance.now();
  const result = call("draw", expression(), variablesText(), $("style").value, false);
  if (!result.ok) {
    setMessage("message", result.message);
    return false;
  }
  setMessage("message", "");
  $("printed").textContent = result.printed;
  showSvg($("drawing"), result.svg);
  state.lastDrawMs = performance.now() - started;
  $("drawing").dataset.drawn = String((Number($("drawing").dataset.drawn) || 0) + 1);
  return true;
}

function redraw() { // coalesce slider moves: one drawing at a time, then the latest values
  if (state.drawing) { state.pending = true; return; }
  state.drawing = true;
  requestAnimationFrame(() => {
    try { draw(); } finally {
      state.drawing = false;
      if (state.pending) { state.pending = false; redraw(); }
    }
  });
}

function makeSliders() {
  const result = call("variables", variablesText());
  const box = $("sliders");
  box.replaceChildren();
  $("wrt").replaceChildren();
  if (!result.ok) { state.variables = []; return; }
  state.variables = result.variables;
  for (const [name, value] of state.variables) {
    const span = Math.max(1, Math.abs(value)) * 2;
    const label = document.createElement("label");
    label.textContent = name;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: value - span, max: value + span,
                            step: span / 100, value });
    slider.dataset.name = name;
    slider.setAttribute("aria-label", `value of ${name}`);
    label.htmlFor = slider.id = `slider-${name}`;
    const shown = document.createElement("output");
    shown.textContent = String(value);
    slider.addEventListener("input", () => {
      const v = Number(Number(slider.value).toPrecision(6));
      shown.textContent = String(v);
      state.variables = state.variables.map(([n, old]) => [n, n === name ? v : old]);
      $("variables").value = state.variables.map(([n, x]) => `${n}=${x}`).join(" ");
      redraw();
    });
    box.append(label, slider, shown);
    const option = document.createElement("option");
    option.value = option.textContent = name;
    $("wrt").append(option);
  }
}

function drawFromForm(event) {
  if (event) event.preventDefault();
  $("player").hidden = true;
  $("explanation").textContent = "";
  if (draw()) makeSliders();
}

function showSteps() {
  const result = call("draw", expression(), variablesText(), $("style").value, true);
  if (!result.ok) { setMessage("message", result.message); return; }
  setMessage("message", "");
  $("player").srcdoc = result.steps;
  $("player").style.height = `${result.height}px`;
  $("player").hidden = false;
}

function explain() {
  const result = call("explain", expression(), variablesText(), $("wrt").value);
  if (!result.ok) { setMessage("message", result.message); $("explanation").textContent = ""; return; }
  setMessage("message", "");
  $("explanation").textContent = result.text;
}

// --- quiz and demos -----------------------------------------------------------------------
function newQuiz(event) {
  if (event) event.preventDefault();
  const result = call("quiz", Number($("quiz-seed").value) | 0, $("quiz-ops").value,
                      Number($("quiz-size").value) | 0);
  if (!result.ok) { setMessage("quiz-message", result.message); return; }
  setMessage("quiz-message", "");
  $("quiz").srcdoc = result.page;
  $("quiz").hidden = false;
}

function runDemo() {
  const result = call("demo", $("demo").value, $("style").value);
  const verdict = $("demo-status");
  if (!result.ok) { setMessage("demo-message", result.message); return; }
  setMessage("demo-message", result.message);
  $("demo-output").textContent = result.printed;
  verdict.textContent = result.status === 0 ? "check passed" : "check FAILED";
  verdict.className = `verdict ${result.status === 0 ? "ok" : "failed"}`;
  showSvg($("demo-drawing"), result.svg);
  $("demo-player").hidden = true;
  $("demo-steps-button").disabled = false;
}

function demoSteps() {
  const result = call("demo_steps", $("demo").value, $("style").value);
  if (!result.ok) { setMessage("demo-message", result.message); return; }
  setMessage("demo-message", "");
  $("demo-player").srcdoc = result.steps;
  $("demo-player").style.height = `${result.height}px`;
  $("demo-player").hidden = false;
}

// --- training, in a worker ----------------------------------------------------------------
const COLORS = ["#1f77b4", "#ff7f0e"];

function plotLoss() {
  const canvas = $("loss"), ctx = canvas.getContext("2d");
  const { width, height } = canvas, pad = 30, losses = state.losses;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#999"; ctx.strokeRect(pad, 5, width - pad - 5, height - pad - 5);
  if (!losses.length) return;
  const top = Math.max(...losses), n = Math.max(losses.length - 1, 1);
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  ctx.fillText(top.toPrecision(2), 2, 14); ctx.fillText("0", 2, height - pad);
  ctx.fillText(`step ${losses.length}`, width - 60, height - 10);
  ctx.beginPath(); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
  losses.forEach((loss, i) => {
    const x = pad + (width - pad - 5) * i / n, y = 5 + (height - pad - 5) * (1 - loss / top);
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
}

function plotBoundary(grid) {
  if (grid) state.grid = grid;
  const canvas = $("boundary"), ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const g = state.grid, points = state.points;
  const box = g ? g.box : [-1.5, 2.5, -1.0, 1.5];
  if (g) { // one pixel per grid point, scaled up smoothly: light blue (class 0) to orange (1)
    const small = new OffscreenCanvas(g.size, g.size), image = new ImageData(g.size, g.size);
    g.probabilities.forEach((p, k) => {
      const mix = (a, b) => Math.round(a + (b - a) * p);
      image.data.set([mix(190, 255), mix(215, 205), mix(240, 160), 255], 4 * k);
    });
    small.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, width, height);
  }
  if (!points) return;
  const [x0, x1, y0, y1] = box;
  points.X.forEach(([x, y], k) => {
    ctx.beginPath();
    ctx.arc((x - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = COLORS[points.y[k]]; ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.stroke();
  });
}

function trainingMessage(message) {
  const data = message.data;
  if (data.type === "loading") $("train-status").textContent = "Loading Python in the worker…";
  else if (data.type === "points") { state.points = data; state.losses = []; plotBoundary(); plotLoss(); }
  else if (data.type === "progress") {
    state.losses.push(...data.losses);
    $("train-status").textContent =
      `step ${data.step}, loss ${data.losses.at(-1).toFixed(4)}, accuracy ${(100 * data.accuracy).toFixed(0)}%`;
    plotLoss();
  } else if (data.type === "boundary") plotBoundary(data);
  else if (data.type === "stopped") {
    state.training = false;
    $("train-start").disabled = false; $("train-reset").disabled = false;
    $("train-stop").disabled = true;
    $("train-start").textContent = "Go on training";
    $("train-status").textContent += " (stopped)";
  } else if (data.type === "error") {
    $("train-status").textContent = data.message;
  }
}

function startTraining(restart) {
  if (!state.worker) {
    state.worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
    state.worker.onmessage = trainingMessage;
    state.worker.onerror = (event) => {
      $("train-status").textContent = `The training worker failed: ${event.message || "it did not start"}`;
      trainingMessage({ data: { type: "stopped" } });
    };
  }
  state.training = true;
  $("train-start").disabled = true; $("train-reset").disabled = true;
  $("train-stop").disabled = false;
  state.worker.postMessage({ command: "start", restart });
}

function stopTraining() {
  if (state.worker) state.worker.postMessage({ command: "stop" });
  $("train-stop").disabled = true;
}

// --- start --------------------------------------------------------------------------------
$("train-start").addEventListener("click", () => startTraining(false));
$("train-reset").addEventListener("click", () => startTraining(true));
$("train-stop").addEventListener("click", stopTraining);
plotLoss();
plotBoundary();

async function start() {
  const base = new URL(".", import.meta.url);
  const mark = (name) => { state.timings[name] = Math.round(performance.now()); };
  const [viz, pyodide] = await Promise.all([
    vizInstance().then((v) => { mark("viz"); return v; }),
    loadPython(base, mark).then((p) => { mark("python"); return p; })]);
  state.page = pyodide.pyimport("microgrid.playground.page");
  mark("imported");
  state.page.use_layout((source) => viz.renderString(source, { format: "svg" }));
  $("draw-form").addEventListener("submit", drawFromForm);
  $("style").addEventListener("change", () => redraw());
  $("steps-button").addEventListener("click", showSteps);
  $("explain-button").addEventListener("click", explain);
  $("quiz-form").addEventListener("submit", newQuiz);
  $("demo-button").addEventListener("click", runDemo);
  $("demo-steps-button").addEventListener("click", demoSteps);
  $("demo").addEventListener("change", () => { $("demo-steps-button").disabled = true; });
  for (const [name, doc] of call("demo_menu").demos) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = `${name}: ${doc}`;
    $("demo").append(option);
  }
  for (const id of ["draw", "steps-button", "explain-button", "quiz-button", "demo-button"]) {
    $(id).disabled = false;
  }
  drawFromForm();
  mark("drawn");
  $("status").textContent = "Ready.";
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  $("status").textContent = `Could not start Python: ${error.message}`;
  console.error(error);
});
