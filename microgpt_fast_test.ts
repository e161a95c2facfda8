// Tests for microgpt_fast.ts: it must compute what microgpt.ts's graph computes, bit for bit.
// Gradients are compared with ===, never with a tolerance; the graph is the oracle. Only the
// finite-difference test uses a tolerance, because there the oracle is calculus.
//
// `deno test` runs the engine tests with no permissions; the command-line comparison spawns both
// scripts and runs under `deno test -P`.

import assert from "node:assert/strict";
import bundledInput from "./input.txt" with { type: "text" };
import {
  Adam,
  buildModel,
  type Config,
  DEFAULTS,
  forwardLoss,
  generate,
  initModel,
  type Model,
  parseDocs,
  Random,
  sample,
  Tokenizer,
  train,
} from "./microgpt.ts";
import { initWeights } from "./tools/engine.ts";
import * as fast from "./microgpt_fast.ts";
import { CLI, FAST, runScript, SCRIPT } from "./tools/testing.ts";

const cfg: Config = { ...DEFAULTS };

/** Both engines on the same weights: the graph and the typed arrays. */
function pair(settings: Config, docs: string[], seed = settings.seed) {
  const rng = new Random(seed);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const w = initWeights(settings, tok.vocabSize, rng);
  let i = 0;
  const graph = buildModel(settings, tok.vocabSize, () => w[i++]);
  const adam = new Adam(graph.params.length, settings);
  const model = new fast.FastModel(settings, tok.vocabSize, w);
  return { graph, adam, model, tok, docs, rng };
}

/** Index of the first weight whose number differs between the engines, or -1. */
function firstDifference(graph: Model, xs: Float64Array, of: "data" | "grad"): number {
  return graph.params.findIndex((p, i) => p[of] !== xs[i]);
}

/** Trains both engines in lockstep for `steps` steps, comparing the loss, every gradient and
 * every weight after every step with ===. Returns how many gradients were compared. */
function lockstep(settings: Config, docs: string[], steps: number): number {
  const { graph, adam, model, tok } = pair(settings, docs);
  let compared = 0;
  for (let step = 0; step < steps; step++) {
    const tokens = tok.encode(docs[step % docs.length], settings.blockSize);
    const loss = forwardLoss(graph, tokens);
    loss.backward();
    const fastLoss = fast.lossAndGrad(model, tokens);
    assert.equal(fastLoss, loss.data, `loss at step ${step}`);
    const g = firstDifference(graph, model.g, "grad");
    assert.equal(g, -1, `step ${step}: gradient ${g} is ${graph.params[g]?.grad} vs ${model.g[g]}`);
    compared += model.g.length;
    adam.update(graph.params, step);
    fast.adamUpdate(model, step);
    assert.equal(firstDifference(graph, model.w, "data"), -1, `weights after step ${step}`);
    assert.deepEqual(model.m, adam.m);
    assert.deepEqual(model.v, adam.v);
  }
  return compared;
}

const names = () => parseDocs(bundledInput);

/** Documents longer than any block: the bundled names joined twelve at a time. */
function longDocs(count: number): string[] {
  const all = names();
  const out: string[] = [];
  for (let k = 0; out.length < count; k += 12) out.push(all.slice(k, k + 12).join(" "));
  return out;
}

Deno.test("gradients, losses and weights equal the graph's with === at the defaults", () => {
  assert(lockstep(cfg, names(), 40) > 150_000);
});

Deno.test("gradients equal the graph's in several layers, heads and widths", () => {
  lockstep({ ...cfg, nLayer: 3, numSteps: 20 }, names(), 20);
  lockstep({ ...cfg, nEmbd: 8, nHead: 2, nLayer: 2, blockSize: 5, numSteps: 30 }, names(), 30);
  lockstep({ ...cfg, nEmbd: 8, nHead: 1, numSteps: 10 }, names(), 10);
  lockstep({ ...cfg, nEmbd: 4, nHead: 4, blockSize: 3, numSteps: 10 }, names(), 10); // width 1
});

Deno.test("gradients equal the graph's on documents longer than the block", () => {
  const settings = { ...cfg, nEmbd: 12, nHead: 3, nLayer: 2, blockSize: 24, numSteps: 12 };
  lockstep(settings, longDocs(40), 12);
});

Deno.test("gradients equal the graph's on weights that training has moved", () => {
  // 300 steps in the graph, then both engines start from the trained weights.
  const rng = new Random(3);
  const docs = names();
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const settings = { ...cfg, nLayer: 2, numSteps: 300 };
  const graph = initModel(settings, tok.vocabSize, rng);
  train(graph, new Adam(graph.params.length, settings), docs, tok, () => {});
  const model = new fast.FastModel(
    settings,
    tok.vocabSize,
    Float64Array.from(graph.params, (p) => p.data),
  );
  for (const doc of docs.slice(0, 20)) {
    const tokens = tok.encode(doc);
    const loss = forwardLoss(graph, tokens);
    loss.backward();
    assert.equal(fast.lossAndGrad(model, tokens), loss.data);
    assert.equal(firstDifference(graph, model.g, "grad"), -1, doc);
    for (const p of graph.params) p.grad = 0;
  }
});

Deno.test("the default run: all 1000 losses, the last bit of every weight, all 20 names", async () => {
  const g = pair(cfg, names());
  const f = pair(cfg, names());
  const graphLosses: number[] = [];
  train(g.graph, g.adam, g.docs, g.tok, (_, loss) => {
    graphLosses.push(loss);
  });
  const fastLosses: number[] = [];
  fast.train(f.model, f.docs, f.tok, (_, loss) => {
    fastLosses.push(loss);
  });
  assert.deepEqual(fastLosses, graphLosses);
  assert.deepEqual(f.model.w, Float64Array.from(g.graph.params, (p) => p.data));
  // The hash microgpt_test.ts pins for the graph.
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", f.model.w.slice().buffer));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, "732ffa49619846bf7e5e66bea9f509ff291a2ac98cd7f53f491008905a665d24");
  const graphNames: string[] = [];
  const fastNames: string[] = [];
  generate(g.graph, g.tok, g.rng, "", (i, name) => {
    graphNames[i] = name;
  });
  fast.generate(f.model, f.tok, f.rng, "", (i, name) => {
    fastNames[i] = name;
  });
  assert.deepEqual(fastNames, graphNames);
  assert.deepEqual([fastNames.length, fastNames[0], fastNames[19]], [20, "lore", "conna"]);
});

Deno.test("sampling draws the same names at every temperature, with and without a prefix", () => {
  const docs = names();
  const settings = { ...cfg, numSteps: 200 };
  const { graph, adam, model, tok } = pair(settings, docs);
  train(graph, adam, docs, tok, () => {});
  fast.train(model, docs, tok, () => {});
  for (const t of [0, 0.3, 1, 1.7]) {
    for (const prefix of ["", "ma"]) {
      const r1 = new Random(9);
      const r2 = new Random(9);
      const draws1: unknown[] = [];
      const draws2: unknown[] = [];
      for (let i = 0; i < 10; i++) {
        const a = sample(graph, tok, r1, t, prefix, { onDraw: (d) => draws1.push(d) });
        const b = fast.sample(model, tok, r2, t, prefix, { onDraw: (d) => draws2.push(d) });
        assert.equal(b, a, `temperature ${t}, prefix "${prefix}"`);
      }
      assert.deepEqual(draws2, draws1); // probabilities at t and at 1, bit for bit
    }
  }
});

Deno.test("a model trained in one engine continues identically in the other", () => {
  const docs = names();
  const settings = { ...cfg, numSteps: 120 };
  // Reference: 120 steps in the graph.
  const ref = pair(settings, docs.slice());
  const refLosses: number[] = [];
  train(ref.graph, ref.adam, ref.docs, ref.tok, (_, l) => {
    refLosses.push(l);
  });
  // 60 steps in the fast engine, then the weights and moments move to the graph for 60 more…
  const a = pair(settings, docs.slice());
  const losses: number[] = [];
  fast.train(a.model, a.docs, a.tok, (step, l) => {
    losses.push(l);
    return step + 1 < 60;
  });
  for (let i = 0; i < a.graph.params.length; i++) a.graph.params[i].data = a.model.w[i];
  a.adam.m.set(a.model.m);
  a.adam.v.set(a.model.v);
  train(a.graph, a.adam, a.docs, a.tok, (_, l) => {
    losses.push(l);
  }, 60);
  assert.deepEqual(losses, refLosses);
  // …and the other way round: 60 in the graph, 60 in the fast engine.
  const b = pair(settings, docs.slice());
  const lossesB: number[] = [];
  train(b.graph, b.adam, b.docs, b.tok, (step, l) => {
    lossesB.push(l);
    return step + 1 < 60;
  });
  const moved = new fast.FastModel(
    settings,
    b.tok.vocabSize,
    Float64Array.from(b.graph.params, (p) => p.data),
  );
  moved.m.set(b.adam.m);
  moved.v.set(b.adam.v);
  fast.train(moved, b.docs, b.tok, (_, l) => {
    lossesB.push(l);
  }, 60);
  assert.deepEqual(lossesB, refLosses);
  assert.deepEqual(moved.w, Float64Array.from(ref.graph.params, (p) => p.data));
});

Deno.test("the whole model's gradient agrees with central finite differences", () => {
  // A small model with two layers, two heads and a document longer than its block, at trained
  // weights; every weight is nudged both ways and the loss recomputed.
  const docs = ["abcab", "bcaacb", "cabbac", "acbbca"];
  const settings = { ...cfg, nEmbd: 8, nHead: 2, nLayer: 2, blockSize: 6, numSteps: 30 };
  const { model, tok } = pair(settings, docs.slice(), 11n);
  fast.train(model, docs, tok, () => {});
  const tokens = tok.encode("abcabcab");
  fast.lossAndGrad(model, tokens);
  const g = model.g.slice();
  const h = 1e-5;
  let worst = 0;
  for (let i = 0; i < model.w.length; i++) {
    const w = model.w[i];
    model.w[i] = w + h;
    const up = fast.meanLoss(model, tokens);
    model.w[i] = w - h;
    const down = fast.meanLoss(model, tokens);
    model.w[i] = w;
    const numeric = (up - down) / (2 * h);
    const err = Math.abs(numeric - g[i]) / Math.max(Math.abs(numeric), Math.abs(g[i]), 1e-4);
    worst = Math.max(worst, err);
  }
  assert(worst < 1e-5, `worst relative error ${worst}`);
  assert(g.some((x) => x !== 0));
});

Deno.test("both engines see the same attention weights, every row summing to 1", () => {
  const docs = names();
  const settings = { ...cfg, nLayer: 2, numSteps: 150 };
  const { graph, adam, model, tok } = pair(settings, docs);
  train(graph, adam, docs, tok, () => {});
  fast.train(model, docs, tok, () => {});
  for (const prefix of ["", "el"]) {
    const seen: number[][][][][] = [[], []]; // engine → layer → head → position → weights
    const watch = (e: number) => ({
      onAttention: (pos: number, li: number, h: number, w: number[]) => {
        ((seen[e][li] ??= [])[h] ??= [])[pos] = w;
      },
    });
    const a = sample(graph, tok, new Random(3), 0.8, prefix, watch(0));
    const b = fast.sample(model, tok, new Random(3), 0.8, prefix, watch(1));
    assert.equal(b, a);
    assert.deepEqual(seen[1], seen[0]);
    for (const layer of seen[1]) {
      for (const head of layer) {
        for (const w of head) assert(Math.abs(w.reduce((s, x) => s + x, 0) - 1) < 1e-12);
      }
    }
  }
});

// --- Both engines on the command line (needs -P) ---------------------------------------

Deno.test({
  name: "cli: microgpt_fast.ts prints byte for byte what microgpt.ts prints",
  ignore: !CLI,
  fn: async () => {
    const cases = [
      [],
      ["--seed", "5", "--n-layer", "2", "--block-size", "12", "--steps", "60", "--lr", "0.005"],
      ["--steps", "80", "--temperature", "0", "--samples", "3"],
      ["--steps", "50", "--prefix", "ka", "--explain", "--temperature", "1.3"],
      ["--n-embd", "8", "--n-head", "2", "--steps", "40", "--samples", "30"],
      ["--steps", "60", "--attention", "--embeddings", "--holdout", "300"],
      ["--steps", "30", "--n-embd", "12"], // an error: the same one line, the same exit code
    ];
    for (const args of cases) {
      const [a, b] = await Promise.all([runScript(SCRIPT, args), runScript(FAST, args)]);
      assert.equal(b.code, a.code, args.join(" "));
      assert.equal(b.stdout, a.stdout, args.join(" "));
      assert.equal(b.stderr, a.stderr, args.join(" "));
    }
  },
});
