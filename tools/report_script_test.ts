// Tests for report_script.ts: the temperature math the page is drawn with (the browser test
// checks that the page's script computes the same, by moving the slider).

import assert from "node:assert/strict";
import { softmaxAt } from "./report_script.ts";

Deno.test("softmaxAt: temperature 1, sharper below, flatter above, argmax at 0", () => {
  const l = [1, 3, 2, 3];
  const p1 = softmaxAt(l, 1);
  assert.deepEqual(p1.reduce((a, b) => a + b, 0).toFixed(12), "1.000000000000");
  assert(Math.abs(p1[0] - Math.exp(1) / (Math.exp(1) + 2 * Math.exp(3) + Math.exp(2))) < 1e-15);
  assert(softmaxAt(l, 0.5)[1] > p1[1] && softmaxAt(l, 2)[1] < p1[1]);
  assert.deepEqual(softmaxAt(l, 0), [0, 1, 0, 0], "the first of equal logits");
  const shifted = softmaxAt(l.map((x) => x - 7.5), 0.7);
  softmaxAt(l, 0.7).forEach((p, i) => assert(Math.abs(p - shifted[i]) < 1e-15));
  assert.deepEqual(softmaxAt([null, 0, null], 1), [0, 1, 0], "null is a logit of −∞");
});
