// microgrid.interact's front end (an anywidget module): a slider and a number box per input,
// the output's value, an error line, the nudge control, and the drawing.
//
// A move sends {kind: "set", name, text, seq} to the kernel, which answers by setting `svg`,
// `output`, `error` and, last, `frame` = seq. One request is in flight at a time: while the user
// drags, moves made before the answer are dropped but the newest, which is sent next (no
// stale frames queue up). The root element's data-* attributes count what happened, for the
// tests and benchmarks/widget.py: sent, rendered (set in the animation frame that paints the
// new picture), dropped, and frame (the seq of the picture shown).

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "microgrid-interact";
  root.dataset.sent = "0";
  root.dataset.rendered = "0";
  root.dataset.dropped = "0";
  el.appendChild(root);

  const controls = document.createElement("div");
  controls.className = "mg-controls";
  const output = document.createElement("div");
  output.className = "mg-output";
  const error = document.createElement("div");
  error.className = "mg-error";
  error.setAttribute("role", "alert");
  const nudgeRow = document.createElement("label");
  nudgeRow.className = "mg-nudge";
  const nudgeBox = document.createElement("input");
  nudgeBox.type = "checkbox";
  nudgeBox.className = "mg-nudge-on";
  const hBox = document.createElement("input");
  hBox.type = "text";
  hBox.className = "mg-h";
  hBox.size = 6;
  nudgeRow.append(nudgeBox, " show the nudge of the input moved last, by h = ", hBox);
  const picture = document.createElement("div");
  picture.className = "mg-picture";
  root.append(controls, output, error, nudgeRow, picture);

  let seq = Math.floor(Math.random() * 1e9) * 1000; // unlike any other view's of this model
  let inflight = null; // the request the kernel is working on
  let pending = null; // the newest move made meanwhile
  const boxes = {};

  // Enter commits a text box (the browser's change event), and the arrow keys, Home, End,
  // PageUp and PageDown move a slider, unless a handler up the page takes the key first, as
  // JupyterLab's notebook does in command mode (Enter, and ArrowRight for "move the cursor to
  // the heading below"): these keys in our boxes and sliders go no further.
  const BOX_KEYS = ["Enter"];
  const SLIDER_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End",
                       "PageUp", "PageDown"];
  function ownKeys(element, keys) {
    element.addEventListener("keydown", (event) => {
      if (keys.includes(event.key)) event.stopPropagation();
    });
  }
  ownKeys(hBox, BOX_KEYS);

  function request(content) {
    content.seq = ++seq;
    if (!inflight) {
      transmit(content);
    } else {
      if (pending) root.dataset.dropped = String(+root.dataset.dropped + 1);
      pending = content;
    }
  }

  function transmit(content) {
    inflight = content;
    root.dataset.sent = String(+root.dataset.sent + 1);
    model.send({ kind: content.kind, name: content.name, text: content.text,
                 on: content.on, seq: content.seq });
  }

  for (const c of model.get("controls")) {
    const row = document.createElement("div");
    row.className = "mg-control";
    const name = document.createElement("span");
    name.className = "mg-name";
    name.textContent = c.name;
    const slider = document.createElement("input");
    slider.type = "range";
    slider.className = "mg-slider";
    slider.dataset.name = c.name;
    slider.min = c.min;
    slider.max = c.max;
    slider.step = c.step;
    slider.value = c.value;
    const box = document.createElement("input");
    box.type = "text";
    box.inputMode = "decimal";
    box.className = "mg-box";
    box.dataset.name = c.name;
    box.size = 8;
    box.value = String(c.value);
    ownKeys(box, BOX_KEYS);
    ownKeys(slider, SLIDER_KEYS);
    slider.addEventListener("input", () => {
      box.value = slider.value;
      request({ kind: "set", name: c.name, text: slider.value });
    });
    box.addEventListener("change", () => {
      const x = Number(box.value);
      if (box.value.trim() !== "" && Number.isFinite(x)) slider.value = String(x);
      request({ kind: "set", name: c.name, text: box.value });
    });
    boxes[c.name] = { slider, box };
    row.append(name, slider, box);
    controls.appendChild(row);
  }
  nudgeBox.checked = model.get("nudge");
  hBox.value = String(model.get("h"));
  nudgeBox.addEventListener("change", () =>
    request({ kind: "nudge", on: nudgeBox.checked, text: hBox.value }));
  hBox.addEventListener("change", () =>
    request({ kind: "nudge", on: nudgeBox.checked, text: hBox.value }));

  function show() {
    picture.innerHTML = model.get("svg");
    // fit the cell, but never smaller than 60% of the drawing's size (its text stays readable;
    // the picture scrolls sideways instead): widget.css reads --natural
    const svg = picture.querySelector("svg");
    const width = svg && svg.getAttribute("width");
    if (width) {
      const natural = parseFloat(width) * (width.endsWith("pt") ? 4 / 3 : 1);
      svg.style.setProperty("--natural", `${natural}px`);
    }
    output.textContent = model.get("output");
    const message = model.get("error");
    error.textContent = message;
    error.style.display = message ? "block" : "none";
  }

  model.on("change:frame", () => {
    show();
    inflight = null;
    requestAnimationFrame(() => {
      root.dataset.rendered = String(+root.dataset.rendered + 1);
      root.dataset.frame = String(model.get("frame"));
    });
    if (pending) {
      const next = pending;
      pending = null;
      transmit(next);
    }
  });
  show();
}

export default { render };
