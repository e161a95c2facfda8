/**
 * The drawings of the report page (tools/report.ts), as SVG text from plain numbers and labels:
 * the loss chart (with the bucketing that keeps a long run's page small), an attention heat map,
 * a labelled scatter, a distribution as bars. Also the escaping every piece of data goes through
 * on its way into the page.
 *
 * The page's script finds these drawings by their ids and classes (`#loss-hover`,
 * `#loss-cross`, `.cells`, `rect.bar`, `[data-tip]`); report.ts's SCRIPT is their other half.
 *
 * @example A heat map of one head that looks at the previous character
 * ```ts
 * import { heatMap } from "./report_svg.ts";
 * const svg = heatMap(["BOS", "a", "b"], [[1], [0.9, 0.1], [0.1, 0.8, 0.1]], 0, 0);
 * console.log(svg.startsWith("<figure"));
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Escaping. Data goes into the page as HTML text and attributes (esc) and as labels, where a
// space or an invisible character must still show as something (visible).

/** Text safe inside HTML elements and quoted attributes. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A character as a label: a space as ␣, controls and invisible formatting as their code. */
export function visible(ch: string): string {
  if (ch === " ") return "␣";
  if (/^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]$/u.test(ch) || /^\s$/.test(ch)) {
    return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return ch;
}

/** A number with `d` decimals, without trailing zeros (for SVG and JSON: smaller pages). */
export function num(x: number, d = 1): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Colours the drawings share with the page's legend: the drawn token (and held-out points),
 * BOS, the default ink of marks, and the vowels of the embedding map. */
export const COLORS = {
  drawn: "#d9480f",
  bos: "#7048e8",
  ink: "#1c4f8f",
  vowel: "#0c8599",
} as const;

// ---------------------------------------------------------------------------------------------
// The loss, made small: a run of any length is drawn from at most MAX_BUCKETS buckets of equal
// numbers of steps, each keeping its min, mean and max (a single step keeps its value). The
// moving average is taken over the real steps, then read at each bucket's last step.

/** The most loss buckets a page keeps. */
export const MAX_BUCKETS = 1000;

/** The loss of a run prepared for drawing. */
export interface LossBuckets {
  /** Steps per bucket: 1 up to MAX_BUCKETS steps in the run. */
  size: number;
  /** Each bucket's [min, mean, max] (4 decimals); a bucket of one step has min = mean = max. */
  buckets: [number, number, number][];
  /** The moving average at each bucket's last step. */
  average: number[];
  /** The moving average's window, in steps: a twentieth of the run. */
  window: number;
}

/** Buckets the losses of a run of `numSteps` steps whose first loss is at step `firstStep`. */
export function lossBuckets(losses: number[], firstStep: number, numSteps: number): LossBuckets {
  const size = Math.max(1, Math.ceil(numSteps / MAX_BUCKETS));
  const window = Math.max(1, Math.round(numSteps / 20));
  const buckets: [number, number, number][] = [];
  const average: number[] = [];
  let windowSum = 0;
  // Buckets are aligned to steps 0, size, 2·size… of the whole run, so a resumed run's page
  // lines up with the first one's; the first bucket may then be partial.
  let lo = Infinity, hi = -Infinity, sum = 0, count = 0;
  for (let i = 0; i < losses.length; i++) {
    const x = losses[i];
    windowSum += x;
    if (i >= window) windowSum -= losses[i - window];
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
    sum += x;
    count++;
    const step = firstStep + i;
    if ((step + 1) % size === 0 || i === losses.length - 1) {
      buckets.push([num(lo, 4), num(sum / count, 4), num(hi, 4)]);
      average.push(num(windowSum / Math.min(i + 1, window), 4));
      lo = Infinity, hi = -Infinity, sum = 0, count = 0;
    }
  }
  return { size, buckets, average, window };
}

/** The learning rate at 0-based `step`: microgpt.py's linear decay from the peak to 0. */
export function learningRateAt(peak: number, numSteps: number, step: number): number {
  return peak * (1 - step / numSteps);
}

/** What the loss chart draws. */
export interface LossChartInput {
  /** Steps the run is set to take: the width of the chart, even before they are done. */
  numSteps: number;
  /** The 0-based step of `losses[0]`. */
  firstStep: number;
  /** Every step's training loss so far. */
  losses: number[];
  /** Held-out scores: after `step` steps, `nats` per scored unit (and `bits` per character when
   * the scoring counts characters). */
  heldOut: readonly { step: number; nats: number; bits?: number }[];
  /** The peak learning rate. */
  learningRate: number;
  /** Tokens in the vocabulary, for the ln V baseline. */
  vocabSize: number;
}

/** Geometry of the loss chart. */
const LOSS = { w: 900, h: 330, left: 52, right: 62, top: 12, bottom: 40 };

/** Where the loss chart puts steps, losses and learning rates. */
interface LossScale {
  lo: number;
  hi: number;
  /** Whether some losses lie above `hi` (drawn at the top edge). */
  cut: boolean;
  xAt: (step: number) => number;
  yAt: (loss: number) => number;
  lrAt: (lr: number) => number;
}

/** The loss chart's scales: steps 1…numSteps across, losses from a round number below the
 * lowest to one above the highest (the ln V baseline, the moving average and the held-out points
 * always in view; the rarest spikes, the top half percent of the buckets, may be cut at the top
 * so that one bad step does not flatten the curve), the learning rate from 0 to its peak on the
 * right. */
function lossScale(c: LossChartInput, b: LossBuckets, baseline: number): LossScale {
  const n = Math.max(1, c.numSteps);
  let lo = baseline, hi = baseline;
  for (const [min] of b.buckets) lo = Math.min(lo, min);
  for (const a of b.average) hi = Math.max(hi, a);
  for (const p of c.heldOut) lo = Math.min(lo, p.nats), hi = Math.max(hi, p.nats);
  const tops = b.buckets.map((q) => q[2]).sort((x, y) => x - y);
  if (tops.length > 0) hi = Math.max(hi, tops[Math.floor(0.995 * (tops.length - 1))]);
  lo = Math.max(0, Math.floor(lo * 2) / 2);
  hi = Math.ceil(hi * 2) / 2;
  if (hi <= lo) hi = lo + 0.5;
  const top = hi;
  const x0 = LOSS.left, x1 = LOSS.w - LOSS.right, y0 = LOSS.h - LOSS.bottom, y1 = LOSS.top;
  return {
    lo,
    hi,
    cut: tops.length > 0 && tops[tops.length - 1] > hi,
    xAt: (step) => num(x0 + (n > 1 ? (step - 1) / (n - 1) : 0.5) * (x1 - x0)),
    yAt: (loss) => num(y0 - ((Math.min(loss, top) - lo) / (hi - lo)) * (y0 - y1)),
    lrAt: (lr) => num(y0 - (lr / c.learningRate) * (y0 - y1)),
  };
}

/** The 1-based steps that stored bucket k covers (buckets are aligned to the whole run). */
function bucketSteps(c: LossChartInput, size: number, k: number): [number, number] {
  const g = Math.floor(c.firstStep / size) + k;
  return [
    Math.max(c.firstStep, g * size) + 1,
    Math.min(c.firstStep + c.losses.length, (g + 1) * size),
  ];
}

/** The loss chart: the loss (a band from each bucket's min to max when buckets hold several
 * steps), its moving average, the held-out points, the ln V baseline and the learning rate on a
 * second axis; an invisible rectangle (`#loss-hover`) for the script's hover, under the held-out
 * points (which have hovers of their own). Returns the SVG, the buckets, and the data the script
 * reads. */
export function lossChart(c: LossChartInput): { svg: string; buckets: LossBuckets; data: unknown } {
  const n = Math.max(1, c.numSteps);
  const b = lossBuckets(c.losses, c.firstStep, c.numSteps);
  const baseline = Math.log(c.vocabSize);
  const sc = lossScale(c, b, baseline);
  const { xAt, yAt, lrAt } = sc;
  const x0 = LOSS.left, x1 = LOSS.w - LOSS.right, y0 = LOSS.h - LOSS.bottom, y1 = LOSS.top;
  const at = b.buckets.map((_, k) => {
    const [from, to] = bucketSteps(c, b.size, k);
    return xAt((from + to) / 2);
  });
  const line = (ys: number[]) => ys.map((y, k) => `${at[k]},${yAt(y)}`).join(" ");
  const band = b.size > 1 && at.length > 0
    ? `<polygon points="${line(b.buckets.map((q) => q[2]))} ${
      line(b.buckets.map((q) => q[0])).split(" ").reverse().join(" ")
    }" fill="#c9d8ef"/>`
    : "";
  const lr = (step: number) => lrAt(learningRateAt(c.learningRate, n, step - 1));
  const held = c.heldOut.map((p) => {
    const tip = `held-out loss after step ${p.step}\n${heldOutValue(p)}`;
    return `<circle class="held" cx="${xAt(p.step)}" cy="${yAt(p.nats)}" r="4.5" ` +
      `fill="${COLORS.drawn}" data-tip="${esc(tip)}"/>`;
  }).join("");
  const svg = `<svg id="loss-chart" viewBox="0 0 ${LOSS.w} ${LOSS.h}" width="${LOSS.w}" ` +
    `height="${LOSS.h}" role="img" aria-label="training loss per step">` +
    `${lossAxes(sc, c)}${band}` +
    `<line x1="${x0}" x2="${x1}" y1="${yAt(baseline)}" y2="${yAt(baseline)}" stroke="#8a93a3" ` +
    `stroke-dasharray="6 4"/><text class="halo" x="${x1 - 4}" y="${yAt(baseline) - 5}" ` +
    `text-anchor="end">` +
    `uniform guess: ln ${c.vocabSize} = ${baseline.toFixed(2)}</text>` +
    `<polyline id="lr-line" points="${xAt(1)},${lr(1)} ${xAt(n)},${lr(n)}" fill="none" ` +
    `stroke="#2b8a3e" stroke-width="1.5" stroke-dasharray="2 3"/>` +
    `<polyline id="loss-line" points="${line(b.buckets.map((q) => q[1]))}" fill="none" ` +
    `stroke="#6f95cf" stroke-width="1"/><polyline id="loss-average" points="${line(b.average)}" ` +
    `fill="none" stroke="#12355b" stroke-width="2.2"/>` +
    `<line id="loss-cross" x1="0" x2="0" y1="${y1}" y2="${y0}" stroke="#1d2330" ` +
    `stroke-width="0.7" visibility="hidden"/><rect id="loss-hover" x="${x0}" y="${y1}" ` +
    `width="${x1 - x0}" height="${y0 - y1}" fill="transparent"/>${held}</svg>`;
  const data = {
    n,
    first: c.firstStep,
    len: c.losses.length,
    size: b.size,
    // A bucket of one step is one number: half the page's data for runs up to MAX_BUCKETS steps.
    b: b.size === 1 ? b.buckets.map((q) => q[1]) : b.buckets,
    avg: b.average,
    window: b.window,
    lr: c.learningRate,
    ho: c.heldOut.map((p) => [p.step, heldOutValue(p)]),
  };
  return { svg, buckets: b, data };
}

/** A held-out score in words: nats, and bits (per character when the scoring says so). */
export function heldOutValue(p: { nats: number; bits?: number }): string {
  return `${p.nats.toFixed(4)} nats = ` +
    (p.bits !== undefined
      ? `${p.bits.toFixed(4)} bits per character`
      : `${(p.nats / Math.LN2).toFixed(4)} bits`);
}

/** The loss chart's axes: loss on the left, learning rate on the right, steps below. */
function lossAxes(sc: LossScale, c: LossChartInput): string {
  const { lo, hi, xAt, yAt, lrAt } = sc;
  const x0 = LOSS.left, x1 = LOSS.w - LOSS.right, y0 = LOSS.h - LOSS.bottom;
  let out = "";
  const stepY = hi - lo > 3 ? 1 : 0.5;
  for (let v = lo; v <= hi + 1e-9; v += stepY) {
    out += `<line x1="${x0}" x2="${x1}" y1="${yAt(v)}" y2="${yAt(v)}" stroke="#edf0f4"/>` +
      `<text x="${x0 - 6}" y="${yAt(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`;
  }
  for (let k = 0; k <= 4; k++) {
    const lr = (c.learningRate * k) / 4;
    out += `<text x="${x1 + 6}" y="${lrAt(lr) + 4}" style="fill:#2b8a3e">${num(lr, 6)}</text>`;
  }
  for (const t of niceTicks(Math.max(1, c.numSteps))) {
    out += `<text x="${xAt(t)}" y="${y0 + 16}" text-anchor="middle">${t}</text>` +
      `<line x1="${xAt(t)}" x2="${xAt(t)}" y1="${y0}" y2="${y0 + 4}" stroke="#8a93a3"/>`;
  }
  out += `<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="#8a93a3"/>` +
    `<text x="${(x0 + x1) / 2}" y="${y0 + 33}" text-anchor="middle">step</text>` +
    (sc.cut
      ? `<text class="halo" x="${x0 + 6}" y="${LOSS.top + 11}">the rarest spikes, above ` +
        `${hi.toFixed(1)}, are cut at the top (hover shows them)</text>`
      : "") +
    `<text transform="translate(13 ${(y0 + LOSS.top) / 2}) rotate(-90)" text-anchor="middle">` +
    `loss (nats)</text><text transform="translate(${LOSS.w - 8} ${(y0 + LOSS.top) / 2}) ` +
    `rotate(90)" text-anchor="middle" style="fill:#2b8a3e">learning rate</text>`;
  return out;
}

/** Step ticks: 1, then round multiples up to n (about six of them). */
function niceTicks(n: number): number[] {
  const raw = n / 6;
  const pow = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  const unit = [1, 2, 5, 10].map((m) => m * pow).find((u) => u >= raw) ?? pow * 10;
  const ticks = [1];
  for (let t = unit; t <= n; t += unit) ticks.push(t);
  return ticks;
}

// ---------------------------------------------------------------------------------------------
// Attention, embeddings, distributions.

/** One head's attention as an SVG heat map: a row per position (labelled), a cell per position
 * attended, darker for more weight. The cells sit in a `.cells` group scaled to one unit per
 * cell, so each is a few bytes; the hover reads a cell's weight from its opacity. */
export function heatMap(labels: string[], rows: number[][], layer: number, head: number): string {
  const c = 18; // cell size: room for "BOS" over its column
  const n = rows.length;
  const pad = 30; // room for the row labels
  const size = pad + n * c + 4;
  let cells = "";
  for (let t = 0; t < n; t++) {
    for (let s = 0; s <= t && s < rows[t].length; s++) {
      // The weight to 3 decimals is both the shade and what the hover reads.
      const shade = String(num(rows[t][s], 3)).replace(/^0\./, ".");
      cells += `<rect x="${s}" y="${t}" width="1" height="1" fill-opacity="${shade}"/>`;
    }
  }
  let text = "";
  for (let t = 0; t < n; t++) {
    const label = esc(labels[t]);
    text += `<text x="${pad - 4}" y="${pad + t * c + 13}" text-anchor="end">${label}</text>` +
      `<text class="col" x="${pad + t * c + c / 2}" y="${pad - 6}" text-anchor="middle">` +
      `${label}</text>`;
  }
  return `<figure class="map"><svg class="heat" width="${size}" height="${size}" ` +
    `data-labels="${esc(JSON.stringify(labels))}" data-layer="${layer}" data-head="${head}">` +
    `${text}<rect x="${pad}" y="${pad}" width="${n * c}" height="${n * c}" fill="none" ` +
    `stroke="#d5dbe5"/><g class="cells" transform="translate(${pad} ${pad}) scale(${c})" ` +
    `fill="${COLORS.ink}">${cells}</g></svg><figcaption class="note">layer ${layer}, head ` +
    `${head}</figcaption></figure>`;
}

/** Where a scatter's labels go: beside their points, each at the first of eight spots (right,
 * left, above, below, the diagonals) where it overlaps no label already placed and no other point,
 * else where it overlaps least; labels are placed in order. Returns each label's anchor
 * [x, y, text-anchor]. Labels are about `charW` pixels a character wide and 12 high. */
export function placeLabels(
  labels: string[],
  at: [number, number][],
  charW = 7.5,
): [number, number, "start" | "end" | "middle"][] {
  const boxes: [number, number, number, number][] = []; // x0, y0, x1, y1 of labels placed
  const out: [number, number, "start" | "end" | "middle"][] = [];
  const overlap = (a: number[], b: number[]) =>
    Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) *
    Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  labels.forEach((label, i) => {
    const [x, y] = at[i];
    const w = [...label].length * charW, h = 12;
    // [anchor x, baseline y, anchor] for each spot, and the box it covers.
    const spots: [number, number, "start" | "end" | "middle"][] = [
      [x + 5, y + 4, "start"],
      [x - 5, y + 4, "end"],
      [x, y - 6, "middle"],
      [x, y + 15, "middle"],
      [x + 4, y - 4, "start"],
      [x - 4, y - 4, "end"],
      [x + 4, y + 13, "start"],
      [x - 4, y + 13, "end"],
    ];
    let best = 0, least = Infinity;
    spots.forEach(([sx, sy, anchor], k) => {
      const x0 = anchor === "start" ? sx : anchor === "end" ? sx - w : sx - w / 2;
      const box = [x0, sy - h + 2, x0 + w, sy + 2];
      let cost = 0;
      for (const b of boxes) cost += overlap(box, b);
      at.forEach(([px, py], j) => {
        if (j !== i) cost += overlap(box, [px - 3, py - 3, px + 3, py + 3]);
      });
      if (cost < least - 1e-9) least = cost, best = k;
    });
    const [sx, sy, anchor] = spots[best];
    const x0 = anchor === "start" ? sx : anchor === "end" ? sx - w : sx - w / 2;
    boxes.push([x0, sy - h + 2, x0 + w, sy + 2]);
    out.push([sx, sy, anchor]);
  });
  return out;
}

/** A labelled scatter of 2-D points (x to the right, y up), each label in class `cls` with its
 * coordinates on hover, placed where it hides no other (see {@linkcode placeLabels}); `path` joins
 * the points in order (for positions); `color(i)` gives a point's colour (default ink). */
export function scatter(
  id: string,
  labels: string[],
  points: number[][],
  cls: string,
  path: boolean,
  color: (i: number) => string = () => COLORS.ink,
): string {
  const w = 430, h = 400, m = 28;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const xlo = Math.min(...xs), xhi = Math.max(...xs), ylo = Math.min(...ys), yhi = Math.max(...ys);
  const sx = (x: number) => num(m + ((x - xlo) / (xhi - xlo || 1)) * (w - 2 * m));
  const sy = (y: number) => num(h - m - ((y - ylo) / (yhi - ylo || 1)) * (h - 2 * m));
  let marks = "";
  if (path && points.length > 1) {
    marks += `<polyline points="${points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ")}" ` +
      `fill="none" stroke="#c9d0db"/>`;
  }
  const at = points.map((p): [number, number] => [sx(p[0]), sy(p[1])]);
  const spots = placeLabels(labels, at);
  points.forEach((p, i) => {
    const tip = `${labels[i]}: (${p[0].toFixed(3)}, ${p[1].toFixed(3)})`;
    const [lx, ly, anchor] = spots[i];
    const fill = color(i);
    marks += `<g data-tip="${esc(tip)}"><circle cx="${at[i][0]}" cy="${at[i][1]}" r="3" ` +
      `fill="${fill}"/><text class="${cls}" x="${num(lx)}" y="${num(ly)}"` +
      `${anchor === "start" ? "" : ` text-anchor="${anchor}"`} style="fill:${fill}">` +
      `${esc(labels[i])}</text></g>`;
  });
  return `<svg id="${id}" class="scatter" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<rect width="${w}" height="${h}" fill="#fbfcfd" stroke="#e3e7ee"/>` +
    `<text x="${w - 6}" y="${h - 8}" text-anchor="end" class="note">PC1 →</text>` +
    `<text x="8" y="16">↑ PC2</text>${marks}</svg>`;
}

/** Geometry of a distribution's bars: width per bar, full height (probability 1), margins. The
 * page's script redraws the bars with the same height and baseline. */
export const BARS = { bar: 11, h: 110, top: 16, label: 16 } as const;

/** A distribution as bars, one per token of `ids` (`probs` and `labels` are indexed by token
 * id), the token `drawn` in the drawn colour and the token `bos` labelled `$` in BOS's. */
export function barChart(
  ids: number[],
  probs: number[],
  labels: string[],
  drawn: number,
  bos: number,
): string {
  const w = ids.length * BARS.bar + 4;
  const base = BARS.top + BARS.h;
  let bars = "";
  ids.forEach((id, i) => {
    const x = 2 + i * BARS.bar;
    const h = num(probs[id] * BARS.h, 2);
    const color = id === drawn ? COLORS.drawn : id === bos ? COLORS.bos : undefined;
    const style = color !== undefined ? ` style="fill:${color};font-weight:700"` : "";
    bars += `<rect class="bar" x="${x}" y="${num(base - h, 2)}" width="${BARS.bar - 2}" ` +
      `height="${h}"${id === drawn ? ` fill="${COLORS.drawn}"` : ""}/>` +
      `<text x="${x + (BARS.bar - 2) / 2}" y="${base + 12}" text-anchor="middle"${style}>${
        esc(id === bos ? "$" : labels[id])
      }</text>`;
  });
  return `<svg class="bars" width="${w}" height="${base + BARS.label + 2}" fill="${COLORS.ink}">` +
    `<line x1="0" x2="${w}" y1="${base}" y2="${base}" stroke="#8a93a3"/>` +
    `<line x1="0" x2="${w}" y1="${BARS.top}" y2="${BARS.top}" stroke="#c9d0db" ` +
    `stroke-dasharray="3 3"/>${bars}</svg>`;
}
