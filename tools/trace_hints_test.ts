// Tests for tools/trace_hints.ts: every quantity the walk names has its own hint.

import assert from "node:assert/strict";
import type { Quantity } from "./trace_compare.ts";
import { hint, nameBeside } from "./trace_hints.ts";
import { LAYER_STAGES } from "./trace.ts";

const fallback = "the computation between them";

function at(key: string, more: Partial<Quantity> = {}): Quantity {
  return { record: "step", key, kind: "", what: key, step: 0, ...more };
}

Deno.test("every quantity the walk compares has a hint of its own", () => {
  const keys = [
    "shuffle",
    "init:shapes",
    "init",
    "init:sumsq",
    "doc",
    "tokens",
    "loss",
    "loss:undetailed",
    "lr",
    "weights",
  ];
  for (const stage of ["tokens", "embedding", "norm", ...LAYER_STAGES, "logits", "prob"]) {
    keys.push(`forward:${stage}`);
  }
  for (const m of ["lm_head", "wpe", "wte"]) keys.push(`grad:${m}`);
  for (const m of ["mlp_fc2", "mlp_fc1", "attn_wo", "attn_wv", "attn_wk", "attn_wq"]) {
    keys.push(`grad:layer3.${m}`);
  }
  for (const key of ["sample:token", "sample:prob", "sample:text"]) keys.push(key);
  for (const key of keys) {
    const text = hint(at(key), undefined);
    assert(text !== undefined && text !== fallback && text.length > 20, key);
  }
  assert.match(hint(at("grad:layer0.mlp_fc1"), undefined), /^the ReLU's backward/);
  assert.match(hint(at("grad:lm_head"), undefined), /softmax\/cross-entropy backward/);
  assert.match(
    hint(at("weights"), undefined),
    /^Adam's update: .*bias correction.*learning-rate decay.*eps/,
  );
  assert.match(hint(at("init"), undefined), /order of the init draws.*gauss/);
  assert.equal(
    hint(at("grad:extra_bias"), undefined),
    "the backward pass between these two matrices",
  );
});

Deno.test("hints that depend on the neighbour: the KV cache, a deeper layer's norm", () => {
  const s = (sample: number, pos: number): Quantity => ({
    record: "sample",
    key: "sample:prob",
    kind: "",
    what: "",
    sample,
    pos,
  });
  assert.match(hint(s(1, 0), s(0, 5)), /KV cache must start empty/);
  assert.doesNotMatch(hint(s(0, 0), undefined), /KV cache must start empty/);
  assert.match(hint(at("forward:norm_attn", { layer: 1 }), undefined), /previous layer's output/);
});

Deno.test("a quantity beside its neighbour is named with only the location they do not share", () => {
  const v = at("forward:v", { what: "v", pos: 1, layer: 0 });
  const attn = at("forward:attn", { what: "the attention weights", pos: 1, layer: 0, head: 1 });
  assert.equal(nameBeside(v, attn), "v");
  assert.equal(nameBeside(attn, v), "the attention weights (head 1)");
  assert.equal(nameBeside(at("grad:lm_head", { matrix: "lm_head" }), v), "lm_head's gradient");
});
