/**
 * What a report page does in the browser: its one inline script (the hover values, the crosshair
 * on the loss, the temperature slider), the hash by which the page's Content-Security-Policy
 * admits that script and nothing else, and {@linkcode softmaxAt}, the script's temperature math in
 * TypeScript, with which the page is first drawn.
 *
 * The script finds the drawings of tools/report_svg.ts by their ids and classes (`#loss-hover`,
 * `#loss-cross`, `.cells`, `rect.bar`, `[data-tip]`) and reads the page's JSON data block. It
 * never writes HTML, only attributes and text, so no data can become markup.
 *
 * @example The bars at the run's temperature, and flatter ones
 * ```ts
 * import { softmaxAt } from "./report_script.ts";
 * console.log(softmaxAt([2, 1, 0], 0.5), softmaxAt([2, 1, 0], 2));
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Probabilities of `logits` at temperature `t` (0: all on the largest, the first on ties).
 * A logit of null stands for −∞ (a probability of exactly 0 at temperature 1). The page's script
 * computes the same. */
export function softmaxAt(logits: (number | null)[], t: number): number[] {
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i];
    if (l !== null && (best < 0 || l > logits[best]!)) best = i;
  }
  if (t === 0 || best < 0) return logits.map((_, i) => (i === best ? 1 : 0));
  const max = logits[best]!;
  const exps = logits.map((l) => (l === null ? 0 : Math.exp((l - max) / t)));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** The page's script (see the module's description). */
export const SCRIPT = `"use strict";
(function () {
var D = JSON.parse(document.getElementById("report-data").textContent);
var tip = document.getElementById("tip");
function show(text, e) {
  tip.textContent = text; tip.hidden = false;
  tip.style.left = (e.pageX + 14) + "px"; tip.style.top = (e.pageY + 14) + "px";
}
function heatTip(rect) {
  var svg = rect.ownerSVGElement, labels = JSON.parse(svg.getAttribute("data-labels"));
  var t = +rect.getAttribute("y"), s = +rect.getAttribute("x");
  return "layer " + svg.getAttribute("data-layer") + ", head " + svg.getAttribute("data-head") +
    "\\nposition " + t + " (" + labels[t] + ") attends to " + s + " (" + labels[s] + ")" +
    "\\nweight " + (+rect.getAttribute("fill-opacity")).toFixed(3);
}
document.addEventListener("mousemove", function (e) {
  var el = e.target;
  if (el.closest && el.closest(".cells")) return show(heatTip(el), e);
  var t = el.closest && el.closest("[data-tip]");
  if (t) return show(t.getAttribute("data-tip"), e);
  if (el.id !== "loss-hover") tip.hidden = true;
});
var L = D.loss, hover = document.getElementById("loss-hover");
var cross = document.getElementById("loss-cross");
function f4(x) { return x.toFixed(4); }
hover.addEventListener("mousemove", function (e) {
  var box = hover.getBoundingClientRect();
  var step = Math.round(1 + (e.clientX - box.left) / box.width * (L.n - 1));
  var g = Math.floor((step - 1) / L.size), k = g - Math.floor(L.first / L.size);
  if (k < 0 || k >= L.b.length) {
    tip.hidden = true; cross.setAttribute("visibility", "hidden"); return;
  }
  var from = Math.max(L.first, g * L.size) + 1, to = Math.min(L.first + L.len, (g + 1) * L.size);
  var q = typeof L.b[k] === "number" ? [L.b[k], L.b[k], L.b[k]] : L.b[k], text = (from === to ? "step " + from : "steps " + from + "-" + to) + "\\nloss ";
  text += (from === to ? "" : "mean ") + f4(q[1]) + " nats = " + f4(q[1] / Math.LN2) + " bits";
  if (from !== to) text += "\\n  min " + f4(q[0]) + ", max " + f4(q[2]);
  text += "\\nmoving average (" + L.window + " steps) " + f4(L.avg[k]);
  text += "\\nlearning rate " + (L.lr * (1 - (to - 1) / L.n)).toPrecision(4);
  for (var i = 0; i < L.ho.length; i++) {
    if (Math.abs(L.ho[i][0] - step) <= Math.max(L.size, L.n / 200)) {
      text += "\\nheld-out loss after step " + L.ho[i][0] + ": " + L.ho[i][1];
    }
  }
  var x = +hover.getAttribute("x") + (step - 1) / Math.max(1, L.n - 1) * +hover.getAttribute("width");
  cross.setAttribute("x1", x); cross.setAttribute("x2", x); cross.setAttribute("visibility", "visible");
  show(text, e);
});
hover.addEventListener("mouseleave", function () { cross.setAttribute("visibility", "hidden"); tip.hidden = true; });
var T = D.temp;
if (!T) return;
var slider = document.getElementById("temp-slider"), out = document.getElementById("temp-value");
function probs(l, t) {
  var best = -1, i;
  for (i = 0; i < l.length; i++) if (l[i] !== null && (best < 0 || l[i] > l[best])) best = i;
  if (t === 0 || best < 0) return l.map(function (_, i) { return i === best ? 1 : 0; });
  var e = l.map(function (x) { return x === null ? 0 : Math.exp((x - l[best]) / t); });
  var sum = e.reduce(function (a, b) { return a + b; }, 0);
  return e.map(function (x) { return x / sum; });
}
function redraw() {
  var t = +slider.value;
  out.textContent = t.toFixed(2);
  document.getElementById("temp-note").textContent = t === T.t ? "(the run's)" : t === 0 ? "(always the likeliest)" : "";
  var charts = document.querySelectorAll("svg.bars");
  for (var k = 0; k < charts.length; k++) {
    var d = T.draws[k], p = probs(d.l, t), p1 = probs(d.l, 1);
    var bars = charts[k].querySelectorAll("rect.bar");
    for (var i = 0; i < bars.length; i++) {
      var id = d.ids[i], h = Math.round(p[id] * T.h * 100) / 100;
      bars[i].setAttribute("height", h); bars[i].setAttribute("y", T.base - h);
      bars[i].setAttribute("data-tip", T.labels[id] + (id === d.d ? " (drawn)" : "") + "\\nT = " +
        t.toFixed(2) + ": " + p[id].toFixed(4) + "\\nT = 1: " + p1[id].toFixed(4));
    }
  }
}
slider.addEventListener("input", redraw);
redraw();
})();
`;

/** The Content-Security-Policy hash that admits the page's one script and nothing else. */
export const SCRIPT_HASH: string = createHash("sha256").update(SCRIPT).digest("base64");
