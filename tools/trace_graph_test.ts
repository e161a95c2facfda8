// Tests for tools/trace_graph.ts: the graph engine's traced forward pass is Part I's, and its
// watch changes nothing the run computes.

import assert from "node:assert/strict";
import {
  Adam,
  type Config,
  DEFAULTS,
  emptyCache,
  forwardLoss,
  gpt,
  initModel,
  parseDocs,
  Random,
  Tokenizer,
  train,
} from "../microgpt.ts";
import type { ForwardObserver } from "./trace.ts";
import { forwardStages, gptStages, trainWatched, WatchedAdam } from "./trace_graph.ts";

const text = "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\nevelyn\nabigail\n" +
  "alexandrina-josephine\nbo\n";
const docs = parseDocs(text);
const tok = new Tokenizer(docs);

const shapes: [string, Config][] = [
  ["the defaults", { ...DEFAULTS, numSteps: 6 }],
  ["two layers, two heads", { ...DEFAULTS, nLayer: 2, nEmbd: 8, nHead: 2, numSteps: 6 }],
  ["one head, a block shorter than a name", {
    ...DEFAULTS,
    nEmbd: 12,
    nHead: 1,
    blockSize: 5,
    numSteps: 6,
  }],
  ["three layers, eight heads of width 1", {
    ...DEFAULTS,
    nLayer: 3,
    nEmbd: 8,
    nHead: 8,
    numSteps: 6,
  }],
];

Deno.test("the traced forward pass is Part I's: the same logits, loss and gradients, bit for bit", () => {
  for (const [what, cfg] of shapes) {
    const a = initModel(cfg, tok.vocabSize, new Random(7));
    const b = initModel(cfg, tok.vocabSize, new Random(7));
    const adamA = new Adam(a.params.length, cfg);
    const adamB = new Adam(b.params.length, cfg);
    for (let step = 0; step < cfg.numSteps; step++) {
      const tokens = tok.encode(docs[(5 * step) % docs.length], cfg.blockSize);
      // gpt's logits, position by position, against gptStages'.
      const [ka, va, kb, vb] = [0, 0, 0, 0].map(() => emptyCache(cfg.nLayer));
      for (let pos = 0; pos < Math.min(cfg.blockSize, tokens.length - 1); pos++) {
        const la = gpt(a, tokens[pos], pos, ka, va).map((x) => x.data);
        const lb = gptStages(b, tokens[pos], pos, kb, vb, () => {}).map((x) => x.data);
        la.forEach((x, i) => assert(Object.is(x, lb[i]), `${what}: logit ${i} at ${pos}`));
      }
      const lossA = forwardLoss(a, tokens);
      let seen = 0;
      const observer: ForwardObserver = { stage: () => seen++, target: () => seen++ };
      const lossB = forwardStages(b, tokens, observer);
      assert(Object.is(lossB.data, lossA.data), `${what}: the loss at step ${step + 1}`);
      assert(seen > 0);
      lossA.backward();
      lossB.backward();
      a.params.forEach((p, i) => assert(Object.is(b.params[i].grad, p.grad), `${what}: grad ${i}`));
      adamA.update(a.params, step);
      adamB.update(b.params, step);
    }
  }
});

Deno.test("a watched graph run trains as Part I's train; the watch sees gradients, then weights", () => {
  const cfg = { ...DEFAULTS, nLayer: 2, nEmbd: 8, nHead: 2, numSteps: 5 };
  const a = initModel(cfg, tok.vocabSize, new Random(3));
  const b = initModel(cfg, tok.vocabSize, new Random(3));
  const lossesA: number[] = [];
  train(a, new Adam(a.params.length, cfg), docs, tok, (_, l) => void lossesA.push(l));
  const seen: string[] = [];
  const lossesB: number[] = [];
  let before: Float64Array = new Float64Array();
  const done = trainWatched(
    b,
    new WatchedAdam(b.params.length, cfg),
    docs,
    tok,
    (s, l) => {
      seen.push(`step ${s}`);
      lossesB.push(l);
    },
    0,
    {
      forwardOf: (s) => (s === 2 ? { stage: () => {}, target: () => {} } : undefined),
      afterBackward: (s, grads) => {
        seen.push(`grads ${s}`);
        before = Float64Array.from(b.params, (p) => p.data);
        // The gradient before the update: the update has not moved the weights, nor zeroed it.
        assert(Array.from(grads).some((g) => g !== 0));
        assert.deepEqual(Float64Array.from(grads), Float64Array.from(b.params, (p) => p.grad));
      },
      afterUpdate: (s, lr, weights) => {
        seen.push(`weights ${s}`);
        assert.equal(lr, cfg.learningRate * (1 - s / cfg.numSteps));
        assert.deepEqual(Float64Array.from(weights), Float64Array.from(b.params, (p) => p.data));
        assert.notDeepEqual(Float64Array.from(weights), before);
      },
    },
  );
  assert.equal(done, cfg.numSteps);
  assert.deepEqual(lossesB, lossesA);
  a.params.forEach((p, i) => assert(Object.is(b.params[i].data, p.data)));
  assert.deepEqual(seen.slice(0, 6), [
    "grads 0",
    "weights 0",
    "step 0",
    "grads 1",
    "weights 1",
    "step 1",
  ]);
});

Deno.test("a traced forward pass that computes another loss than the graph's stops the run", () => {
  const cfg = { ...DEFAULTS, numSteps: 3 };
  const model = initModel(cfg, tok.vocabSize, new Random(1));
  // An observer that moves a weight mid-way: the forward pass it sees is not the one trained.
  const meddling: ForwardObserver = {
    stage: () => {},
    target: (pos) => {
      if (pos === 0) model.stateDict.lm_head[0][0].data += 1;
    },
  };
  assert.throws(
    () =>
      trainWatched(model, new WatchedAdam(model.params.length, cfg), docs, tok, () => {}, 0, {
        forwardOf: () => meddling,
      }),
    /the traced forward pass of step 1 computed the loss .*, the graph /,
  );
});
