// Tests of the report's drawings and escaping: exact buckets for a run of any length, labels
// that show every character, SVG that matches its numbers.

import assert from "node:assert/strict";
import {
  barChart,
  BARS,
  esc,
  heatMap,
  learningRateAt,
  lossBuckets,
  lossChart,
  MAX_BUCKETS,
  visible,
} from "./report_svg.ts";

Deno.test("esc and visible make any character safe and seen", () => {
  assert.deepEqual(esc(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
  assert.deepEqual(visible(" "), "␣");
  assert.deepEqual(visible("\t"), "U+0009");
  assert.deepEqual(visible("\u202e"), "U+202E");
  assert.deepEqual(visible("é"), "é");
  assert.deepEqual(visible("😀"), "😀");
});

Deno.test("a loss bucket per step up to MAX_BUCKETS steps: the losses themselves", () => {
  const losses = Array.from({ length: 1000 }, (_, i) => 3 - i / 1000);
  const b = lossBuckets(losses, 0, 1000);
  assert.deepEqual(b.size, 1);
  assert.deepEqual(b.buckets.length, 1000);
  assert.deepEqual(b.buckets[0], [3, 3, 3]);
  assert.deepEqual(b.buckets[999], [2.001, 2.001, 2.001]);
  assert.deepEqual(b.window, 50);
  // The moving average at step 100 is the mean of steps 51…100.
  const mean = losses.slice(50, 100).reduce((a, x) => a + x, 0) / 50;
  assert.deepEqual(b.average[99], Math.round(mean * 1e4) / 1e4);
});

Deno.test("a long run is bucketed: min, mean and max of each bucket are exact", () => {
  const n = 300_000;
  const losses = Array.from({ length: n }, (_, i) => 2 + Math.sin(i) + (i % 7 === 0 ? 5 : 0));
  const b = lossBuckets(losses, 0, n);
  assert.deepEqual(b.size, 300);
  assert.deepEqual(b.buckets.length, MAX_BUCKETS);
  const slice = losses.slice(300 * 17, 300 * 18);
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  assert.deepEqual(b.buckets[17], [
    r4(Math.min(...slice)),
    r4(slice.reduce((a, x) => a + x, 0) / 300),
    r4(Math.max(...slice)),
  ]);
});

Deno.test("a resumed run's buckets line up with the whole run's", () => {
  const losses = Array.from({ length: 500 }, (_, i) => i);
  const b = lossBuckets(losses, 2500, 3000); // buckets of 3 steps, from step 2500 (0-based)
  assert.deepEqual(b.size, 3);
  // Buckets hold 0-based steps 0–2, 3–5, …: step 2500 sits in 2499–2501, so the first bucket
  // holds 2500 and 2501 only, and the next one 2502–2504.
  assert.deepEqual(b.buckets[0], [0, 0.5, 1]);
  assert.deepEqual(b.buckets[1], [2, 3, 4]);
});

Deno.test("the learning rate decays linearly to 0 as microgpt.py's", () => {
  assert.equal(learningRateAt(0.01, 6, 0), 0.01);
  assert.equal(learningRateAt(0.01, 6, 3), 0.005);
  const { svg } = lossChart({
    numSteps: 6,
    firstStep: 0,
    losses: [3, 2, 1],
    heldOut: [],
    learningRate: 0.01,
    vocabSize: 4,
  });
  // From the peak at step 1 to a sixth of it at step 6, on the right axis.
  const [[, y1], [, y6]] = svg.match(/id="lr-line" points="([^"]*)"/)![1].split(" ")
    .map((p) => p.split(",").map(Number));
  const [top, bottom] = [12, 330 - 40];
  assert.equal(y1, top);
  assert(Math.abs(y6 - (bottom - (bottom - top) / 6)) < 0.06, `${y6}`);
});

Deno.test("a heat map: a cell per position attended, shaded by its weight", () => {
  const svg = heatMap(["BOS", "a", "b"], [[1], [0.25, 0.75], [0.5, 0.125, 0.375]], 1, 2);
  const cells = [
    ...svg.matchAll(/<rect x="(\d)" y="(\d)" width="1" height="1" fill-opacity="([.\d]+)"/g),
  ];
  assert.deepEqual(cells.map((m) => [+m[1], +m[2], +m[3]]), [
    [0, 0, 1],
    [0, 1, 0.25],
    [1, 1, 0.75],
    [0, 2, 0.5],
    [1, 2, 0.125],
    [2, 2, 0.375],
  ]);
  assert(svg.includes(`data-layer="1" data-head="2"`));
});

Deno.test("bars: heights are probabilities of the full height, the drawn one marked", () => {
  const svg = barChart([0, 1, 2], [0.5, 0.25, 0.25], ["a", "<"], 1, 2);
  const heights = [...svg.matchAll(/class="bar"[^>]* height="([\d.]+)"/g)].map((m) => +m[1]);
  assert.deepEqual(heights, [0.5 * BARS.h, 0.25 * BARS.h, 0.25 * BARS.h]);
  assert.equal(svg.split(`fill="#d9480f"/>`).length - 1, 1, "one bar in the drawn colour");
  assert(svg.includes(">&#60;</text>") && svg.includes(">$</text>"), "escaped label, BOS as $");
});
