/**
 * The run as one web page: `renderReport` turns a {@linkcode RunReport} — plain data any engine
 * can gather while it trains and samples — into a single self-contained HTML file. It shows the
 * run (settings, the parameter table, the data, the engine, the time, the command), one document
 * as token ids, the loss curve, the attention of the first samples, the embeddings on their
 * principal components, the next-character distributions under a temperature slider, the samples
 * and the terminal's loss summary.
 *
 * The page needs nothing but itself: no network, no external script, style or font. Its drawings
 * are plain SVG (report_svg.ts draws them); one small inline script (report_script.ts) adds the
 * hover values and recomputes the temperature bars from the stored logits. A
 * Content-Security-Policy in the page forbids every fetch and admits only that one script (by its
 * hash), so the page stays offline even if a browser tried otherwise. Everything that comes from
 * data — vocabulary characters, samples, the command line — is escaped: a training text may hold
 * `<`, `&` or quotes. A page written mid-run (`status: "training"`) reloads itself every
 * {@linkcode RELOAD_SECONDS} seconds, so that whoever watches it sees each rewrite.
 *
 * Size: the page of microgpt.py's default run (1000 steps, vocabulary 28, 20 samples, attention
 * of the first 3 samples), as `deno run --allow-read --allow-write microgpt.ts --report run.html`
 * writes it, weighs 109,082 bytes (measured 2026-11-30): most of it the loss chart's 1000 points
 * and their hover data, the 12 heat maps and the 5 bar charts. It grows with the shape, not with
 * the run: the loss is kept in at most 1000 buckets (min, mean and max of each), so a run of
 * 300,000 steps weighs little more than one of 3000 (155,954 bytes for 3000 steps on makemore's
 * names with --holdout 2000).
 *
 * @example Write the page of a run (the data here is tiny and made up)
 * ```ts
 * import { renderReport } from "./report.ts";
 * import type { RunReport } from "./report_data.ts";
 * const report: RunReport = {
 *   engine: "microgpt.ts",
 *   command: "deno run microgpt.ts --steps 2",
 *   status: "finished",
 *   elapsedMs: 12,
 *   settings: {
 *     nLayer: 1, nEmbd: 2, blockSize: 4, nHead: 1, initStd: 0.08, learningRate: 0.01,
 *     beta1: 0.85, beta2: 0.99, epsAdam: 1e-8, numSteps: 2, temperature: 0.5, numSamples: 1,
 *     seed: 42n,
 *   },
 *   prefix: "",
 *   matrices: [["wte", 3, 2], ["wpe", 4, 2], ["lm_head", 3, 2]],
 *   data: { source: "inline", numDocs: 2, heldOut: 0, chars: ["a", "b"] },
 *   tokens: { doc: "ab", ids: [2, 0, 1, 2] },
 *   loss: { firstStep: 0, losses: [1.1, 1.0], heldOut: [] },
 *   embeddings: { wte: [[0, 1], [1, 0], [1, 1]], wpe: [[0, 0], [1, 0], [0, 1], [1, 1]] },
 *   attention: [],
 *   samples: ["ab"],
 *   lossSummary: "",
 * };
 * const html = renderReport(report);
 * console.log(html.startsWith("<!DOCTYPE html>"));
 * ```
 *
 * @module
 */

import { cosine, principalComponents } from "./embeddings.ts";
import { checkReport, type RunReport } from "./report_data.ts";
import { SCRIPT, SCRIPT_HASH, softmaxAt } from "./report_script.ts";
import {
  barChart,
  BARS,
  COLORS,
  esc,
  heatMap,
  type LossBuckets,
  lossChart,
  num,
  scatter,
  visible,
} from "./report_svg.ts";

// ---------------------------------------------------------------------------------------------
// Helpers. Data goes into the page as HTML text and attributes (report_svg.ts's esc, and its
// visible for labels) and as the JSON that the script reads (json, which keeps "</script>" out).

/** JSON safe inside a `<script type="application/json">`: no `<` can close the element. */
function json(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** Token id → label, BOS by name. */
function tokenLabel(chars: string[], id: number): string {
  return id === chars.length ? "BOS" : visible(chars[id] ?? "?");
}

/** Milliseconds as a short duration: 870 ms, 42.1 s, 3 min 05 s, 2 h 07 min. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

// ---------------------------------------------------------------------------------------------
// The page, section by section. Each section is a function of the report returning HTML.

/** The page's style; system fonts only. */
const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#fff;
margin:0 auto;max-width:1040px;padding:18px 24px 60px}
h1{font-size:26px;margin:8px 0 2px}h2{font-size:20px;margin:34px 0 6px;border-bottom:2px solid
#e3e7ee;padding-bottom:3px}h3{font-size:15px;margin:14px 0 4px}p{margin:6px 0}
.lead{color:#4a5467}.note{color:#5b6578;font-size:13px}code,pre,.mono{font-family:ui-monospace,
"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
pre{background:#f5f7fa;border:1px solid #e3e7ee;padding:8px 10px;overflow:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 10px 2px 0;text-align:left;
vertical-align:top}th{color:#4a5467;font-weight:600}td.n{text-align:right;font-variant-numeric:
tabular-nums}tr.total td{border-top:1px solid #c9d0db;font-weight:600}
.cols{display:flex;flex-wrap:wrap;gap:10px 36px;align-items:flex-start}
.toks{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0}.tok{border:1px solid #9fb3d1;
border-radius:4px;padding:2px 8px;text-align:center;min-width:22px;background:#f2f6fc}
.tok b{display:block;font:600 16px ui-monospace,monospace}.tok small{color:#5b6578}
.tok.bos{background:#f3f0ff;border-color:#9775fa}
.legend span{margin-right:16px;white-space:nowrap}.sw{display:inline-block;width:18px;height:4px;
vertical-align:middle;margin-right:5px}.sw.dash{height:0;background:none;border-top:2px dashed}
.sw.dot{height:0;background:none;border-top:2px dotted}
svg text{font:11px ui-monospace,"DejaVu Sans Mono",monospace;fill:#1d2330}
figure{margin:0}.heat text{font-size:10px}.heat text.col{font-size:9px}
.maps{display:flex;flex-wrap:wrap;gap:4px 18px}svg text.halo{paint-order:stroke;stroke:#fff;
stroke-width:4px;stroke-linejoin:round}.scale{display:inline-flex;gap:1px;vertical-align:middle;
margin:0 6px}.scale i{display:inline-block;width:14px;height:12px;background:#1c4f8f}
.scatter text.tok,.scatter text.pos{font-size:12px;font-weight:600}
.bars-grid{display:flex;flex-wrap:wrap;gap:10px 28px}
.slider{display:flex;gap:12px;align-items:center;margin:8px 0;position:sticky;top:0;
background:#fffffff0;padding:6px 0;z-index:1}.slider input{width:320px}
ol.samples{columns:4 140px;font:14px ui-monospace,monospace}
#tip{position:absolute;pointer-events:none;background:#1d2330;color:#fff;font:12px/1.35
ui-monospace,monospace;padding:4px 7px;border-radius:4px;white-space:pre;z-index:2}
`;

/** Section 1: settings, parameters, data, engine, time, command. */
function runSection(r: RunReport): string {
  const s = r.settings;
  const rows: [string, string, string][] = [
    ["n_layer", String(s.nLayer), "--n-layer"],
    ["n_embd", String(s.nEmbd), "--n-embd"],
    ["block_size", String(s.blockSize), "--block-size"],
    ["n_head", String(s.nHead), "--n-head"],
    ["head_dim", `${s.nEmbd / s.nHead}`, "n_embd / n_head"],
    ["std (initial weights)", String(s.initStd), ""],
    ["learning_rate", String(s.learningRate), "--lr"],
    ["beta1, beta2", `${s.beta1}, ${s.beta2}`, ""],
    ["eps_adam", String(s.epsAdam), ""],
    ["num_steps", String(s.numSteps), "--steps"],
    ["temperature", String(s.temperature), "--temperature"],
    ["samples", String(s.numSamples), "--samples"],
    ["seed", String(s.seed), "--seed"],
  ];
  if (r.prefix !== "") rows.push(["prefix", JSON.stringify(r.prefix), "--prefix"]);
  if (r.data.heldOutWhat !== undefined) rows.push(["held out", r.data.heldOutWhat, "--holdout"]);
  const settings = rows.map(([k, v, f]) =>
    `<tr><td class="mono">${esc(k)}</td><td class="n">${esc(v)}</td>` +
    `<td class="note">${esc(f)}</td></tr>`
  ).join("");
  let total = 0;
  const mats = r.matrices.map(([name, rows, cols]) => {
    total += rows * cols;
    return `<tr><td class="mono">${esc(name)}</td><td class="n">${rows} × ${cols}</td>` +
      `<td class="n">${(rows * cols).toLocaleString("en-US")}</td></tr>`;
  }).join("");
  const V = r.data.chars.length + 1;
  const done = r.loss.firstStep + r.loss.losses.length;
  const perStep = r.loss.losses.length > 0 ? r.elapsedMs / r.loss.losses.length : 0;
  const status = r.status === "finished"
    ? "finished"
    : r.status === "stopped" && done === s.numSteps
    ? `stopped while sampling (${r.samples.length} of ${s.numSamples} samples drawn)`
    : r.status === "stopped"
    ? `stopped after step ${done} of ${s.numSteps}`
    : r.status === "failed"
    ? `ended by an error after step ${done} of ${s.numSteps} (the terminal says which)`
    : `training: step ${done} of ${s.numSteps} (the page is rewritten at each tenth of the ` +
      `run and reloads itself)`;
  const resumed = r.loss.firstStep > 0
    ? ` · resumed at step ${r.loss.firstStep}: the steps before are in the run it continues`
    : "";
  const time = esc(duration(r.elapsedMs)) +
    (perStep > 0 ? ` (${esc(perStep.toPrecision(3))} ms per step, sampling included)` : "");
  const vocab = r.data.chars.map((c) => esc(visible(c))).join(" ");
  return `<section id="run"><h2>1. The run</h2>
<p><b>${esc(status)}</b> · engine <code class="engine">${esc(r.engine)}</code> · ` +
    `<span id="time">${time}</span>${esc(resumed)}</p>
<p class="note">The command, to run it again (the same numbers, whichever engine):</p>
<pre id="command">${esc(r.command)}</pre>
<div class="cols"><div><h3>Settings</h3><table>${settings}</table></div>
<div><h3>Parameters</h3><table><tr><th>matrix</th><th>rows × cols</th><th>count</th></tr>${mats}
<tr class="total"><td>total</td><td></td><td class="n">${
      total.toLocaleString("en-US")
    }</td></tr></table>
<p class="note">microgpt.py prints it as "num params: ${total}".</p>
<h3>Data</h3><table><tr><td>source</td><td class="mono">${esc(r.data.source)}</td></tr>
<tr><td>documents</td><td class="n">${r.data.numDocs.toLocaleString("en-US")}</td></tr>
<tr><td>trained on</td><td class="n">${
      (r.data.numDocs - r.data.heldOut).toLocaleString("en-US")
    }</td></tr>
<tr><td>vocabulary</td><td class="n">${V} tokens</td></tr></table>
<p class="mono" style="max-width:300px">${vocab} <b>BOS</b></p></div></div></section>`;
}

/** Section 2: one document as token ids. */
function tokenSection(r: RunReport): string {
  const { doc, ids } = r.tokens;
  const chars = r.data.chars;
  const boxes = ids.map((id) =>
    `<span class="tok${id === chars.length ? " bos" : ""}"><b>${
      esc(tokenLabel(chars, id))
    }</b><small>${id}</small></span>`
  ).join("");
  const cut = ids[ids.length - 1] !== chars.length
    ? ` It is longer than the block, so it is cut after ${r.settings.blockSize} positions.`
    : "";
  return `<section id="tokens"><h2>2. Tokenization</h2>
<p>The model never sees letters, only ids: one per character of the vocabulary, in code-point
order, and one more, BOS (id ${chars.length}), which starts every document and also ends it. The
run's first training document, <b class="mono">${esc(JSON.stringify(doc))}</b>, is read as:</p>
<div class="toks" id="token-boxes">${boxes}</div>
<p class="note">Position i reads token i and is trained to predict token i + 1: ${
    Math.max(0, ids.length - 1)
  } predictions from this document, each one a term of the step's loss.${esc(cut)}</p></section>`;
}

/** Section 3: the loss chart, the words around it, and its data for the hover. */
function lossSection(r: RunReport): { html: string; data: unknown } {
  const chart = lossChart({
    numSteps: r.settings.numSteps,
    firstStep: r.loss.firstStep,
    losses: r.loss.losses,
    heldOut: r.loss.heldOut,
    learningRate: r.settings.learningRate,
    vocabSize: r.data.chars.length + 1,
  });
  return { html: lossHtml(r, chart.buckets, chart.svg), data: chart.data };
}

/** The loss section's words around its chart. */
function lossHtml(r: RunReport, b: LossBuckets, svg: string): string {
  const V = r.data.chars.length + 1;
  const each = b.size === 1
    ? "every step's loss"
    : `the loss in buckets of ${b.size} steps (the band spans each bucket's min to max, the thin ` +
      `line is its mean)`;
  const held = r.loss.heldOut.length > 0
    ? `<span><span class="sw" style="background:${COLORS.drawn};height:9px;width:9px;` +
      `border-radius:50%"></span>held-out loss</span>`
    : "";
  const heldWords = r.data.heldOutWhat !== undefined
    ? ` The <b style="color:${COLORS.drawn}">orange dots</b> are the loss on what is held out, ` +
      `${esc(r.data.heldOutWhat)}, which the model never ` +
      `trains on, scored at each tenth of the run: while they fall with the training loss the ` +
      `model learns what names are like; if they rise while it still falls, it learns its ` +
      `training names by heart (overfitting).`
    : "";
  const resumed = r.loss.firstStep > 0
    ? ` This run resumed after step ${r.loss.firstStep}: the chart starts there.`
    : "";
  return `<section id="loss"><h2>3. The loss</h2>
<p>At each step the model reads one document and scores −ln of the probability it gave to each
true next token, averaged over the positions. A uniform guess over the ${V} tokens scores
ln ${V} = ${Math.log(V).toFixed(2)} nats; 1 nat is 1/ln 2 = 1.44 bits. The chart shows ${esc(each)},
its moving average over ${b.window} steps, and the learning rate, which falls linearly towards 0
(right axis; at the last step it is the peak divided by the number of steps).${heldWords}${resumed} Hover to read the values.</p>
<div class="legend"><span><span class="sw" style="background:#6f95cf"></span>loss</span>
<span><span class="sw" style="background:#12355b"></span>moving average</span>${held}
<span><span class="sw dash" style="color:#8a93a3"></span>ln V baseline</span>
<span><span class="sw dot" style="color:#2b8a3e"></span>learning rate</span></div>
${svg}${heldOutTable(r)}</section>`;
}

/** The held-out scores as a table under the chart: the numbers the terminal printed. */
function heldOutTable(r: RunReport): string {
  const points = r.loss.heldOut;
  if (points.length === 0) return "";
  const row = (head: string, cells: string[]) =>
    `<tr><th>${head}</th>${cells.map((c) => `<td class="n">${c}</td>`).join("")}</tr>`;
  const bits = points.every((p) => p.bits !== undefined)
    ? row("bits per character", points.map((p) => p.bits!.toFixed(4)))
    : "";
  return `<table id="held-out-table">${row("after step", points.map((p) => String(p.step)))}${
    row("held-out loss (nats)", points.map((p) => p.nats.toFixed(4)))
  }${bits}</table>`;
}

/** Section 4: for each sample shown, one heat map per layer and head. */
function attentionSection(r: RunReport): string {
  let body = "";
  for (const a of r.attention) {
    const n = a.weights[0]?.[0]?.length ?? 0;
    const labels = ["BOS", ...[...a.text].map(visible)].slice(0, n);
    let maps = "";
    for (let li = 0; li < a.weights.length; li++) {
      for (let h = 0; h < a.weights[li].length; h++) {
        maps += heatMap(labels, a.weights[li][h], li, h);
      }
    }
    body += `<div class="sample-att" data-sample="${a.sample}"><h3>sample ${a.sample + 1}: ` +
      `<span class="mono">${esc(a.text)}</span></h3><div class="maps">${maps}</div></div>`;
  }
  if (r.attention.length === 0) body = `<p class="note">${pending(r)}</p>`;
  const shown = r.attention.map((a) => a.sample + 1).join(", ");
  return `<section id="attention"><h2>4. Attention</h2>
<p>When it reads a position, each head mixes the values of the positions so far, weighted by how
well their keys match its query; the weights of a row sum to 1. Rows are the position being read
(labelled with its token), columns the positions it attends to; darker is more weight
(weight 0<span class="scale">${
    [0.1, 0.3, 0.5, 0.7, 0.9].map((o) => `<i style="opacity:${o}"></i>`).join("")
  }</span>1). Shown:
${r.attention.length > 0 ? `samples ${esc(shown)}` : "no sample yet"}. The first three samples
are kept: sample 1 is the one the terminal's --attention draws and the temperature section below
follows; two more show whether a head's pattern is a habit or a coincidence of one name.</p>
${body}</section>`;
}

/** What a section says before the run has sampled. */
function pending(r: RunReport): string {
  return r.status === "training"
    ? "It comes after training: sampling has not started yet."
    : r.status === "failed"
    ? "The run ended by an error before sampling."
    : "The run stopped before sampling.";
}

/** Rows on their first two principal components, with how much of the spread each keeps. */
function project(rows: number[][]): { points: number[][]; share: number[] } {
  if (rows.length === 0 || rows[0].length === 0) return { points: [], share: [0, 0] };
  const { coords } = principalComponents(rows, 2);
  const d = rows[0].length;
  const mean = new Array<number>(d).fill(0);
  for (const row of rows) for (let i = 0; i < d; i++) mean[i] += row[i] / rows.length;
  let total = 0;
  for (const row of rows) for (let i = 0; i < d; i++) total += (row[i] - mean[i]) ** 2;
  const points = coords.map((c) => [c[0] ?? 0, c[1] ?? 0]);
  const share = [0, 1].map((k) => {
    let s = 0;
    for (const p of points) s += p[k] ** 2;
    return total > 0 ? s / total : 0;
  });
  return { points, share };
}

/** The vowels the embedding map colours. */
const VOWELS = /^[aeiouAEIOU]$/;

/** Section 5: wte and wpe on their principal components, and each vowel's nearest tokens. */
function embeddingSection(r: RunReport): string {
  const chars = r.data.chars;
  const { wte, wpe } = r.embeddings;
  const tokLabels = wte.map((_, id) => tokenLabel(chars, id));
  const t = project(wte);
  const p = project(wpe);
  const posLabels = wpe.map((_, i) => String(i));
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  let near = "";
  for (const vowel of "aeiou") {
    const id = chars.indexOf(vowel);
    if (id < 0 || wte[id] === undefined) continue;
    const list = wte.map((row, j) => [j, cosine(wte[id], row)]).filter(([j]) => j !== id);
    list.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const cells = list.slice(0, 3).map(([j, c]) =>
      `<b class="mono">${esc(tokLabels[j])}</b> ${c.toFixed(2)}`
    );
    near += `<tr class="vowel"><td class="mono"><b>${vowel}</b></td><td>${
      cells.join(", ")
    }</td></tr>`;
  }
  near = near === ""
    ? `<tr><td>The vocabulary has no vowel a, e, i, o or u.</td></tr>`
    : `<tr><th>vowel</th><th>its three nearest tokens, and their cosine</th></tr>${near}`;
  const color = (i: number) =>
    i === chars.length ? COLORS.bos : VOWELS.test(chars[i]) ? COLORS.vowel : COLORS.ink;
  return `<section id="embeddings"><h2>5. Embeddings</h2>
<p>Each token is a row of <code>wte</code>, a point in ${r.settings.nEmbd} dimensions; each
position a row of <code>wpe</code>. Drawn on their two directions of greatest spread (principal
components), tokens that the model treats alike land close together. The vowels are drawn in
<b style="color:${COLORS.vowel}">teal</b>, BOS in <b style="color:${COLORS.bos}">purple</b>:
nothing told the model what a vowel is.</p>
<div class="cols"><div><h3>wte: tokens (PC1 keeps ${pct(t.share[0])} of the spread, PC2 ${
    pct(t.share[1])
  })</h3>${scatter("wte-scatter", tokLabels, t.points, "tok", false, color)}
</div><div><h3>wpe: positions 0–${wpe.length - 1} (PC1 ${pct(p.share[0])}, PC2 ${
    pct(p.share[1])
  })</h3>${scatter("wpe-scatter", posLabels, p.points, "pos", true)}</div></div>
<h3>Nearest tokens by cosine similarity</h3><table id="nearest">${near}</table>
<p class="note">A position's row of wpe only learns from the documents long enough to reach it:
the last positions of the block, which few names reach, stay near their random start.</p>
</section>`;
}

/** How many bars a distribution draws at most: all tokens up to this size, else the likeliest. */
const MAX_BARS = 64;

/** One position's distribution as bars, at the run's temperature, with what came before and
 * what was drawn; the script redraws the bars when the slider moves. */
function distribution(r: RunReport, k: number, ids: number[], logits: (number | null)[]): string {
  const draw = r.temperature!.draws[k];
  const chars = r.data.chars;
  const probs = softmaxAt(logits, r.settings.temperature);
  const labels = chars.map(visible);
  const after = draw.soFar === ""
    ? "at the start"
    : `after <b class="mono">${esc(JSON.stringify(draw.soFar))}</b>`;
  return `<figure class="dist">${barChart(ids, probs, labels, draw.drawn, chars.length)}` +
    `<figcaption class="note">${after}, drew <b class="mono">${
      esc(tokenLabel(chars, draw.drawn))
    }</b></figcaption></figure>`;
}

/** Section 6: the first sample's next-token distributions, and the slider that re-tempers
 * them. Returns the HTML and the data the script needs. */
function temperatureSection(r: RunReport): { html: string; data: unknown } {
  const temp = r.temperature;
  if (temp === undefined || temp.draws.length === 0) {
    return {
      html: `<section id="temperature"><h2>6. Temperature</h2><p class="note">${
        pending(r)
      }</p></section>`,
      data: null,
    };
  }
  const V = r.data.chars.length + 1;
  const draws = temp.draws.map((d) => {
    const logits = d.logits.map((l) => (Number.isFinite(l) ? num(l, 4) : null));
    // Up to MAX_BARS tokens, all of them in id order; beyond, the likeliest at temperature 1.
    let ids = logits.map((_, i) => i);
    if (V > MAX_BARS) {
      const p1 = softmaxAt(logits, 1);
      ids.sort((a, b) => p1[b] - p1[a] || a - b);
      ids = ids.slice(0, MAX_BARS - 1);
      if (!ids.includes(d.drawn)) ids.push(d.drawn);
      ids.sort((a, b) => a - b);
    }
    return { logits, ids };
  });
  const charts = draws.map((d, k) => distribution(r, k, d.ids, d.logits)).join("");
  const t = r.settings.temperature;
  const html = `<section id="temperature"><h2>6. Temperature</h2>
<p>Sample ${temp.sample + 1}, <b class="mono">${esc(temp.text)}</b>, position by position. Each
chart is one position: a bar per possible next token, as high as its probability (the grey line
on top is probability 1); the token drawn is <b style="color:${COLORS.drawn}">orange</b>, and
<b style="color:${COLORS.bos}">$</b> is BOS, which ends the name. Sampling divides the logits by
the temperature T before the softmax: below 1 the likeliest tokens take even more, above 1 the
distribution flattens towards uniform, and T = 0 always takes the likeliest. The run sampled at
T = ${t}; move the slider to recompute the bars from the logits stored in this page (the draws
stay the run's).</p>
<div class="slider"><label for="temp-slider">T</label><input id="temp-slider" type="range"
min="0" max="${Math.max(2, t)}" step="any" value="${t}"><output id="temp-value">${
    t.toFixed(2)
  }</output>
<span class="note" id="temp-note"></span></div>
<div class="bars-grid">${charts}</div></section>`;
  const data = {
    t,
    h: BARS.h,
    base: BARS.top + BARS.h,
    labels: [...r.data.chars.map(visible), "BOS"],
    draws: draws.map((d, k) => ({ l: d.logits, ids: d.ids, d: temp.draws[k].drawn })),
  };
  return { html, data };
}

/** Section 7: the samples and the terminal's loss summary. */
function samplesSection(r: RunReport): string {
  const items = r.samples.map((s) =>
    `<li>${s === "" ? `<i class="note">(empty)</i>` : esc(s)}</li>`
  ).join("");
  const list = r.samples.length > 0
    ? `<ol class="samples" id="samples">${items}</ol>`
    : `<p class="note">${pending(r)}</p>`;
  const summary = r.lossSummary !== ""
    ? `<h3>Loss summary (the terminal's)</h3><pre id="loss-summary">${esc(r.lossSummary)}</pre>`
    : "";
  return `<section id="samples-section"><h2>7. Samples</h2>
<p>New documents, drawn one token at a time at temperature ${r.settings.temperature}${
    r.prefix !== ""
      ? `, each starting with <b class="mono">${esc(JSON.stringify(r.prefix))}</b>`
      : ""
  }.</p>${list}${summary}</section>`;
}

/** How often a page written mid-run reloads itself, in seconds. */
export const RELOAD_SECONDS = 10;

/** The page of a run: one self-contained HTML document (see the module's description). */
export function renderReport(r: RunReport): string {
  checkReport(r);
  const loss = lossSection(r);
  const temp = temperatureSection(r);
  const data = json({ loss: loss.data, temp: temp.data });
  const s = r.settings;
  const last = r.loss.losses.at(-1);
  const title = `microgpt run: ${r.engine}, ${s.numSteps} steps` +
    (last !== undefined ? `, loss ${last.toFixed(4)}` : "");
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${SCRIPT_HASH}'`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">${
    // While the run trains, the page reloads itself, so whoever watches it sees each rewrite.
    r.status === "training" ? `\n<meta http-equiv="refresh" content="${RELOAD_SECONDS}">` : ""}
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head><body>
<h1>A run of microgpt</h1>
<p class="lead">A GPT of ${
    r.matrices.reduce((a, [, rows, cols]) => a + rows * cols, 0).toLocaleString("en-US")
  } parameters, trained one document per step and sampled, with this run's own numbers. Written
by <code>${esc(r.engine)}</code>; the page needs no network.</p>
${runSection(r)}
${tokenSection(r)}
${loss.html}
${attentionSection(r)}
${embeddingSection(r)}
${temp.html}
${samplesSection(r)}
<div id="tip" hidden></div>
<script type="application/json" id="report-data">${data}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
