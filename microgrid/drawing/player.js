// The backward pass, step by step, on the one drawing of the page (see microgrid/animate.py).
//
// The SVG shows the finished pass. The JSON block "steps" holds, for each step k:
//   caption  what happens, in words and numbers
//   node     the ids of the step's node (its box, its operation's circle)
//   fill     whether to fill the node's shapes too
//   edges    the ids of the edges that carried its gradient
//   reveals  the ids of the node and edges whose gradient becomes known at step k
// A gradient is the last <text> of its element; before its step it shows "?" in grey.
(function () {
  "use strict";
  var steps = JSON.parse(document.getElementById("steps").textContent);
  var n = steps.length;
  var slider = document.getElementById("slider");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var counter = document.getElementById("counter");
  var number = document.getElementById("step-number");
  var caption = document.getElementById("caption");
  var drawing = document.getElementById("drawing");

  var grads = [];  // each gradient's text, the step that computes it, and what it shows
  steps.forEach(function (step, k) {
    step.reveals.forEach(function (id) {
      var element = document.getElementById(id);
      var texts = element ? element.getElementsByTagName("text") : [];
      if (texts.length === 0) return;
      var text = texts[texts.length - 1], known = text.textContent;
      var unknown = known.indexOf("grad ") === 0 ? "grad ?" : "?";
      grads.push({text: text, step: k, known: known, unknown: unknown, shown: null});
    });
  });

  var marked = [];  // the elements the current step highlights
  function mark(ids, classes) {
    ids.forEach(function (id) {
      var element = document.getElementById(id);
      if (element === null) return;
      classes.forEach(function (c) { element.classList.add(c); });
      marked.push(element);
    });
  }

  function follow(element) {  // scroll the drawing, if it must, to show `element`
    var box = element.getBoundingClientRect(), view = drawing.getBoundingClientRect();
    if (box.left < view.left || box.right > view.right) {
      drawing.scrollLeft += (box.left + box.right - view.left - view.right) / 2;
    }
    if (box.top < view.top || box.bottom > view.bottom) {
      drawing.scrollTop += (box.top + box.bottom - view.top - view.bottom) / 2;
    }
  }

  var current = 0;
  function show(k) {
    current = Math.max(0, Math.min(n - 1, k));
    grads.forEach(function (g) {
      var known = g.step <= current;
      if (g.shown === known) return;
      g.text.textContent = known ? g.known : g.unknown;
      g.text.classList.toggle("mg-unknown", !known);
      g.shown = known;
    });
    marked.forEach(function (element) {
      element.classList.remove("mg-node", "mg-fill", "mg-edge");
    });
    marked = [];
    var step = steps[current];
    mark(step.node, step.fill ? ["mg-node", "mg-fill"] : ["mg-node"]);
    mark(step.edges, ["mg-edge"]);
    if (marked.length > 0) follow(marked[0]);
    number.textContent = "Step " + (current + 1) + " of " + n + ".";
    caption.textContent = step.caption;
    slider.value = current;
    counter.textContent = (current + 1) + " / " + n;
    prev.disabled = current === 0;
    next.disabled = current === n - 1;
  }

  prev.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  document.addEventListener("keydown", function (e) {
    if (e.target === slider) return;  // the slider handles its own arrow keys
    if (e.key === "ArrowLeft") show(current - 1);
    else if (e.key === "ArrowRight") show(current + 1);
    else if (e.key === "Home") show(0);
    else if (e.key === "End") show(n - 1);
    else return;
    e.preventDefault();
  });
  show(0);
})();
