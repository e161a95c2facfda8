// Tests for tools/trace_compare.ts: how two numbers, lists and traces are compared.

import assert from "node:assert/strict";
import {
  backwardOrder,
  compareInit,
  describe,
  Divergence,
  type Quantity,
  relativeDifference,
  Walker,
} from "./trace_compare.ts";
import type { Trace } from "./trace_read.ts";

const q: Quantity = { record: "step", step: 2, what: "the loss", key: "loss", kind: "loss" };

Deno.test("the relative difference: to the larger value, or to the list's largest", () => {
  assert.equal(relativeDifference(1, 1), 0);
  assert.equal(relativeDifference(NaN, NaN), 0);
  assert.equal(relativeDifference(1, NaN), Infinity);
  assert.equal(relativeDifference(Infinity, 1e308), Infinity);
  assert.equal(relativeDifference(2, 1), 0.5);
  assert.equal(relativeDifference(-2, 2), 2);
  assert.equal(relativeDifference(1e-12, 2e-12, 1), 1e-12);
});

Deno.test("a walker lets numbers agree within the tolerance and stops at the first beyond", () => {
  const w = new Walker(1e-9, false);
  w.scalar(q, 1, 1 + 1e-12);
  assert.equal(w.identical, false);
  assert.equal(w.previous, q);
  // A list: 1e-12 against 1e-12 + 1e-15 is 1e-3 on its own, 1e-15 against the list's largest.
  w.list({ ...q, what: "q" }, [1, 1e-12], [1, 1e-12 + 1e-15]);
  assert.throws(() => w.scalar({ ...q, what: "next" }, 1, 1.001), (d: Divergence) => {
    assert.equal(d.q.what, "next");
    assert.equal(d.previous?.what, "q");
    assert.equal(d.a, "1");
    assert.equal(d.b, "1.001");
    return true;
  });
  const exact = new Walker(1e-9, true);
  exact.scalar(q, 0.5, 0.5);
  assert.throws(() => exact.scalar(q, 0, -0), Divergence); // --exact tells the zeros apart
  assert.throws(() => exact.list(q, [1, 2], [1]), /./);
  assert.throws(() => new Walker(1, false).equal(q, [1, 2], [1, 3]), Divergence);
});

Deno.test("where and describe count steps and samples from 1, positions from 0", () => {
  assert.equal(
    describe({ ...q, pos: 0, layer: 1, head: 2, index: "index 3" }),
    "step 3, position 0, layer 1, head 2: the loss, index 3",
  );
  assert.equal(
    describe({ record: "sample", sample: 0, pos: 4, what: "t", key: "", kind: "" }),
    "sample 1, position 4: t",
  );
});

Deno.test("backward order: lm_head, the layers from the last down, wpe, wte", () => {
  const names = ["wte", "wpe", "lm_head"];
  for (const i of [0, 1]) {
    for (const m of ["attn_wq", "attn_wk", "attn_wv", "attn_wo", "mlp_fc1", "mlp_fc2"]) {
      names.push(`layer${i}.${m}`);
    }
  }
  const expected = ["lm_head"];
  for (const i of [1, 0]) {
    for (const m of ["mlp_fc2", "mlp_fc1", "attn_wo", "attn_wv", "attn_wk", "attn_wq"]) {
      expected.push(`layer${i}.${m}`);
    }
  }
  assert.deepEqual(backwardOrder(names), [...expected, "wpe", "wte"]);
  assert.deepEqual(backwardOrder(["a", "wte", "b"]), ["wte", "b", "a"]);
});

Deno.test("initial weights in another order: the first one out of place, and where it came from", () => {
  const trace = (values: number[]) =>
    ({ init: [{ matrix: "wte", rows: 2, cols: 2, sumsq: 0, values }] }) as unknown as Trace;
  const w = new Walker(1e-9, false);
  assert.throws(() => compareInit(w, trace([1, 2, 3, 4]), trace([1, 3, 2, 4])), (d: Divergence) => {
    assert.equal(describe(d.q), "initial weights: wte's weights, row 0, col 1");
    assert.equal(d.note, "B's value there is A's at row 1, col 0: the same draws in another order");
    return true;
  });
});
