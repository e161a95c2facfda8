/**
 * The run as one web page: `renderReport` turns a {@linkcode RunReport} — plain data any engine
 * can gather while it trains and samples — into a single self-contained HTML file. It shows the
 * run (settings, the parameter table, the data, the engine, the time, the command), one document
 * as token ids, the loss curve, the attention of the first samples, the embeddings on their
 * principal components, the next-character distributions under a temperature slider, the samples
 * and the terminal's loss summary.
 *
 * The page needs nothing but itself: no network, no external script, style or font. Its drawings
 * are plain SVG (report_svg.ts draws them); a small inline script adds the hover values and
 * recomputes the temperature bars from the stored logits. A Content-Security-Policy in the page forbids every
 * fetch and admits only that one script (by its hash), so the page stays offline even if a
 * browser tried otherwise. Everything that comes from data — vocabulary characters, samples,
 * the command line — is escaped: a training text may hold `<`, `&` or quotes.
 *
 * Size: the page of microgpt.py's default run (1000 steps, vocabulary 28, 20 samples, attention
 * of the first 3 samples) weighs 106,935 bytes (measured on 2026-11-30 with the page that
 * `deno task report-png` writes): the loss chart 26.6 kB of SVG plus 15.7 kB of data for its
 * hover, the 12 heat maps 25.8 kB, the 5 bar charts 18.6 kB, the embeddings 8.9 kB, the script
 * 4.2 kB, the rest 7 kB. It grows with the shape, not with the run: the loss is kept in at most
 * 1000 buckets (min, mean and max of each), so a run of 300,000 steps weighs little more than one
 * of 3000 (153 kB measured for 3000 steps on makemore's names with --holdout 2000).
 *
 * @example Write the page of a run (the data here is tiny and made up)
 * ```ts
 * import { renderReport, type RunReport } from "./report.ts";
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

import { createHash } from "node:crypto";
import { cosine, principalComponents } from "./embeddings.ts";
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
// The data of a page. Everything is plain numbers, strings and arrays, so either engine can fill
// it (tools/report_recorder.ts does it from the training and sampling hooks), and it survives
// JSON (the seed aside, which may be a bigint).

/** The run's settings: microgpt.py's constants. microgpt.ts's `Config` fits as it is. */
export interface ReportSettings {
  /** n_layer. */
  nLayer: number;
  /** n_embd. */
  nEmbd: number;
  /** block_size. */
  blockSize: number;
  /** n_head. */
  nHead: number;
  /** The deviation of the initial weights (microgpt.py's `std=0.08`). */
  initStd: number;
  /** learning_rate (the peak; it decays linearly to 0). */
  learningRate: number;
  /** beta1. */
  beta1: number;
  /** beta2. */
  beta2: number;
  /** eps_adam. */
  epsAdam: number;
  /** num_steps. */
  numSteps: number;
  /** temperature. */
  temperature: number;
  /** How many samples are drawn. */
  numSamples: number;
  /** The seed of `random.seed`. */
  seed: bigint | number | string;
}

/** One weight matrix: its name, rows and columns (microgpt.ts's `matrixShapes` lists them). */
export type MatrixShape = readonly [name: string, rows: number, cols: number];

/** What the model was trained on. */
export interface ReportData {
  /** Where the documents came from, as the user named it (a path, `-`, or the bundled text). */
  source: string;
  /** Documents read: microgpt.py's "num docs". */
  numDocs: number;
  /** Of them, how many were held out of training (`--holdout`). */
  heldOut: number;
  /** The vocabulary: the characters in id order; BOS is the id after the last. */
  chars: string[];
}

/** One document as the model sees it: token ids, BOS at both ends (the end cut by the block). */
export interface ReportTokens {
  /** The document. */
  doc: string;
  /** Its ids, as the tokenizer's `encode(doc, blockSize)` gives them. */
  ids: number[];
}

/** One measure of the held-out loss. */
export interface HeldOutPoint {
  /** Steps done when it was measured (1-based, as the terminal prints it). */
  step: number;
  /** Mean loss on the held-out documents, in nats. */
  loss: number;
  /** How many documents it was measured on. */
  docs: number;
}

/** The loss over the run. */
export interface ReportLoss {
  /** The 0-based step of `losses[0]`: 0, or the step a resumed run continued from. */
  firstStep: number;
  /** Every step's training loss, in order (nats). */
  losses: number[];
  /** The held-out measures, when the run holds documents out. */
  heldOut: HeldOutPoint[];
}

/** One sample's attention. */
export interface SampleAttention {
  /** The sample's index (0-based). */
  sample: number;
  /** The sample's text, prefix included (what it printed). */
  text: string;
  /** `weights[layer][head][pos]`: the weights of position `pos` over positions 0…pos. Position 0
   * reads BOS, position i the i-th character of `text`. */
  weights: number[][][][];
}

/** One drawn position of a sample, for the temperature bars. */
export interface ReportDraw {
  /** The text before this position, prefix included. */
  soFar: string;
  /** The logits of every token here (any shift of them will do, such as ln of the probabilities
   * at temperature 1: the softmax does not see a shift). */
  logits: number[];
  /** The token drawn. */
  drawn: number;
}

/** The draws of one sample, position by position. */
export interface ReportTemperature {
  /** The sample's index (0-based). */
  sample: number;
  /** The sample's text, prefix included. */
  text: string;
  /** Its draws, first to last (forced prefix positions are not draws). */
  draws: ReportDraw[];
}

/** The two embedding tables, a row per token and per position. */
export interface ReportEmbeddings {
  /** wte: one row per token id (BOS last). */
  wte: number[][];
  /** wpe: one row per position. */
  wpe: number[][];
}

/** Everything a report page shows. A page can be written mid-run (`status: "training"`): then
 * the samples, the attention and the temperature are still empty. */
export interface RunReport {
  /** The script that computed the run, e.g. `microgpt.ts` or `microgpt_fast.ts`. */
  engine: string;
  /** The exact command that ran, as one shell line. */
  command: string;
  /** Where the run is: still training, stopped by a signal, or finished (samples drawn). */
  status: "training" | "stopped" | "finished";
  /** Wall time of the run so far, in milliseconds. */
  elapsedMs: number;
  /** The settings. */
  settings: ReportSettings;
  /** The text every sample starts with (`--prefix`), or "". */
  prefix: string;
  /** The weight matrices, in state_dict order. */
  matrices: MatrixShape[];
  /** The data. */
  data: ReportData;
  /** One document as token ids (the run's first training document). */
  tokens: ReportTokens;
  /** The loss. */
  loss: ReportLoss;
  /** The embedding tables at the time of writing. */
  embeddings: ReportEmbeddings;
  /** The attention of the samples shown (the first ones; see report_recorder.ts). */
  attention: SampleAttention[];
  /** The first sample's draws, for the temperature bars. */
  temperature?: ReportTemperature;
  /** The samples drawn, in order. */
  samples: string[];
  /** The loss summary the terminal prints on stderr, or "". */
  lossSummary: string;
}

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
vertical-align:middle;margin-right:5px}
svg text{font:11px ui-monospace,"DejaVu Sans Mono",monospace;fill:#1d2330}
figure{margin:0}.heat text{font-size:10px}.maps{display:flex;flex-wrap:wrap;gap:4px 18px}
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
  if (r.data.heldOut > 0) rows.push(["held out", `${r.data.heldOut} documents`, "--holdout"]);
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
    : r.status === "stopped"
    ? `stopped after step ${done} of ${s.numSteps}`
    : `training: step ${done} of ${s.numSteps} (this page is rewritten as the run goes on)`;
  const vocab = r.data.chars.map((c) => esc(visible(c))).join(" ");
  return `<section id="run"><h2>1. The run</h2>
<p><b>${esc(status)}</b> · engine <code>${esc(r.engine)}</code> · ${esc(duration(r.elapsedMs))}${
    perStep > 0 ? ` (${esc(perStep.toPrecision(3))} ms per step, sampling included)` : ""
  }</p>
<pre id="command">${esc(r.command)}</pre>
<div class="cols"><div><h3>Settings</h3><table>${settings}</table></div>
<div><h3>Parameters</h3><table><tr><th>matrix</th><th>rows × cols</th><th>count</th></tr>${mats}
<tr class="total"><td>total</td><td></td><td class="n">${
    total.toLocaleString("en-US")
  }</td></tr></table>
<p class="note">microgpt.py prints it as "num params: ${total}".</p></div>
<div><h3>Data</h3><table><tr><td>source</td><td class="mono">${esc(r.data.source)}</td></tr>
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
  return `<section id="loss"><h2>3. The loss</h2>
<p>At each step the model reads one document and scores −ln of the probability it gave to each
true next token, averaged over the positions. A uniform guess over the ${V} tokens scores
ln ${V} = ${Math.log(V).toFixed(2)} nats; 1 nat is 1/ln 2 = 1.44 bits. The chart shows ${esc(each)},
its moving average over ${b.window} steps, and the learning rate, which falls linearly to 0 (right
axis). Hover to read the values.</p>
<div class="legend"><span><span class="sw" style="background:#6f95cf"></span>loss</span>
<span><span class="sw" style="background:#12355b"></span>moving average</span>${held}
<span><span class="sw" style="background:#8a93a3"></span>ln V baseline</span>
<span><span class="sw" style="background:#2b8a3e"></span>learning rate</span></div>
${svg}</section>`;
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
(labelled with its token), columns the positions it attends to; darker is more weight. Shown:
${r.attention.length > 0 ? `samples ${esc(shown)}` : "no sample yet"}. The first three samples
are kept: sample 1 is the one the terminal's --attention draws and the temperature section below
follows; two more show whether a head's pattern is a habit or a coincidence of one name.</p>
${body}</section>`;
}

/** What a section says before the run has sampled. */
function pending(r: RunReport): string {
  return r.status === "training"
    ? "It comes after training: sampling has not started yet."
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
    near += `<tr><td class="mono"><b>${vowel}</b></td><td>${cells.join(", ")}</td></tr>`;
  }
  if (near === "") near = `<tr><td>The vocabulary has no vowel a, e, i, o or u.</td></tr>`;
  return `<section id="embeddings"><h2>5. Embeddings</h2>
<p>Each token is a row of <code>wte</code>, a point in ${r.settings.nEmbd} dimensions; each
position a row of <code>wpe</code>. Drawn on their two directions of greatest spread (principal
components), tokens that the model treats alike land close together. Nothing told the model what
a vowel is.</p>
<div class="cols"><div><h3>wte: tokens (PC1 keeps ${pct(t.share[0])} of the spread, PC2 ${
    pct(t.share[1])
  })</h3>${scatter("wte-scatter", tokLabels, t.points, "tok", false, (i) => i === chars.length)}
</div><div><h3>wpe: positions 0–${wpe.length - 1} (PC1 ${pct(p.share[0])}, PC2 ${
    pct(p.share[1])
  })</h3>${scatter("wpe-scatter", posLabels, p.points, "pos", true, () => false)}</div></div>
<h3>Nearest tokens by cosine similarity</h3><table id="nearest">${near}</table>
<p class="note">Positions a run never trains keep their random start: with names shorter than
the block, the last rows of wpe get no gradient.</p></section>`;
}

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

/** How many bars a distribution draws at most: all tokens up to this size, else the likeliest. */
const MAX_BARS = 64;

/** One position's distribution as bars, at the run's temperature, with what came before and
 * what was drawn; the script redraws the bars when the slider moves. */
function distribution(r: RunReport, k: number, ids: number[], logits: (number | null)[]): string {
  const draw = r.temperature!.draws[k];
  const chars = r.data.chars;
  const probs = softmaxAt(logits, r.settings.temperature);
  const labels = chars.map(visible);
  const after = draw.soFar === "" ? "the start" : JSON.stringify(draw.soFar);
  return `<figure class="dist">${barChart(ids, probs, labels, draw.drawn, chars.length)}` +
    `<figcaption class="note">after <b class="mono">${esc(after)}</b> drew <b class="mono">${
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
<p>Sample ${temp.sample + 1}, <b class="mono">${esc(temp.text)}</b>, position by position: the
probability of each next token (a purple $ is BOS, the end), the drawn one in orange. Sampling divides the
logits by the temperature T before the softmax: below 1 the likeliest tokens take even more,
above 1 the distribution flattens towards uniform, and T = 0 always takes the likeliest. The run
sampled at T = ${t}; move the slider to recompute the bars from the stored logits (the draws
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

// ---------------------------------------------------------------------------------------------
// The script: hover values and the temperature slider. It reads the JSON data block and never
// writes HTML, only attributes and text, so no data can become markup.

const SCRIPT = `"use strict";
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
      text += "\\nheld-out loss " + f4(L.ho[i][1]) + " nats = " + f4(L.ho[i][1] / Math.LN2) +
        " bits (after step " + L.ho[i][0] + ")";
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
const SCRIPT_HASH = createHash("sha256").update(SCRIPT).digest("base64");

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
<meta http-equiv="Content-Security-Policy" content="${csp}">
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

/** Refuses data whose parts disagree, naming the first disagreement (a bug of the caller). */
function checkReport(r: RunReport): void {
  const V = r.data.chars.length + 1;
  const s = r.settings;
  const problems: string[] = [];
  if (r.embeddings.wte.length !== V) problems.push(`wte has ${r.embeddings.wte.length} rows`);
  if (r.embeddings.wpe.length !== s.blockSize) {
    problems.push(`wpe has ${r.embeddings.wpe.length} rows for a block of ${s.blockSize}`);
  }
  if (r.tokens.ids.some((id) => !(id >= 0 && id < V))) problems.push("a token id is out of range");
  for (const a of r.attention) {
    if (a.weights.length !== s.nLayer || a.weights.some((l) => l.length !== s.nHead)) {
      problems.push(`sample ${a.sample + 1}'s attention is not ${s.nLayer} layers × ${s.nHead}`);
    }
  }
  for (const d of r.temperature?.draws ?? []) {
    if (d.logits.length !== V) problems.push(`a draw has ${d.logits.length} logits`);
  }
  if (problems.length > 0) {
    throw new Error(`renderReport: inconsistent report (vocabulary ${V}): ${problems[0]}`);
  }
}
