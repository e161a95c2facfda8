// Benchmarks: microgpt.ts (the graph) and microgpt_fast.ts (typed arrays) side by side, one
// training step (forward, backward, Adam) each, at microgpt.py's settings and at a bigger shape.
// Run with `deno task bench`, which gives V8 a heap big enough for the graph's ~28 million nodes
// per step at the bigger shape. Deno prints each group's ratio against its baseline, the graph.
// CPython's figure for microgpt.py is in the README (measured on the same machine).

import bundledInput from "./input.txt" with { type: "text" };
import {
  Adam,
  type Config,
  DEFAULTS,
  forwardLoss,
  initModel,
  type Model,
  parseDocs,
  Random,
  sample,
  Tokenizer,
  type Value,
} from "./microgpt.ts";
import { nodesPerStep } from "./tools/engine.ts";
import * as fast from "./microgpt_fast.ts";

/** The shapes: microgpt.py's, and the README's Shakespeare-sized one on long documents. */
const SHAPES: { name: string; cfg: Config; docs: () => string[] }[] = [
  { name: "defaults", cfg: { ...DEFAULTS }, docs: () => parseDocs(bundledInput) },
  {
    name: "4 layers, n_embd 64, block 64, documents of 64+ characters",
    cfg: { ...DEFAULTS, nLayer: 4, nEmbd: 64, blockSize: 64 },
    docs: () => {
      // The bundled names joined twelve at a time: every document fills the block.
      const names = parseDocs(bundledInput);
      const out: string[] = [];
      for (let k = 0; k + 12 <= names.length; k += 12) out.push(names.slice(k, k + 12).join(" "));
      return out;
    },
  },
];

/** A shape's run after the shuffle and the init, as microgpt.py sets it up. */
function setup(cfg: Config, docs: string[]) {
  const rng = new Random(cfg.seed);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel(cfg, tok.vocabSize, rng);
  return { model, tok, docs, rng };
}

/** Nodes that backward() reaches from a loss (the leaves, the weights, not counted). */
function reachable(loss: Value): number {
  const seen = new Set<Value>();
  const stack = [loss];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v.a === null || seen.has(v)) continue;
    seen.add(v);
    stack.push(v.a);
    if (v.b !== null) stack.push(v.b);
  }
  return seen.size;
}

// Graph size at the defaults, over the default run's 1000 documents.
{
  const { model, tok, docs } = setup({ ...DEFAULTS }, parseDocs(bundledInput));
  let total = 0;
  let most = 0;
  for (let step = 0; step < 1000; step++) {
    const nodes = reachable(forwardLoss(model, tok.encode(docs[step], model.config.blockSize)));
    total += nodes;
    most = Math.max(most, nodes);
  }
  const big = SHAPES[1].cfg;
  console.log(
    `graph: ${Math.round(total / 1000)} nodes per training step on average at the defaults ` +
      `(largest ${most}); about ${(nodesPerStep(big, 28, 64) / 1e6).toFixed(0)} million at ` +
      `the bigger shape`,
  );
}

for (const [i, shape] of SHAPES.entries()) {
  const big = i > 0;
  // The fast engine first in each group: the graph's garbage must not be collected on its time.
  let fastState: { model: fast.FastModel; tok: Tokenizer; docs: string[]; step: number };
  Deno.bench({
    name: `microgpt_fast.ts, one training step (${shape.name})`,
    group: shape.name,
    fn(b) {
      if (fastState === undefined) {
        const docs = shape.docs();
        const rng = new Random(shape.cfg.seed);
        rng.shuffle(docs);
        const tok = new Tokenizer(docs);
        const w = Float64Array.from(initModel(shape.cfg, tok.vocabSize, rng).params, (p) => p.data);
        fastState = { model: new fast.FastModel(shape.cfg, tok.vocabSize, w), tok, docs, step: 0 };
      }
      const s = fastState;
      const tokens = s.tok.encode(s.docs[s.step % s.docs.length], shape.cfg.blockSize);
      b.start();
      fast.lossAndGrad(s.model, tokens);
      fast.adamUpdate(s.model, s.step % shape.cfg.numSteps);
      b.end();
      s.step++;
    },
  });
  let graphState: { model: Model; adam: Adam; tok: Tokenizer; docs: string[]; step: number };
  Deno.bench({
    name: `microgpt.ts, one training step (${shape.name})`,
    group: shape.name,
    baseline: true,
    // At the bigger shape a graph step takes seconds: a few are enough.
    ...(big ? { n: 3, warmup: 1 } : {}),
    fn(b) {
      if (graphState === undefined) {
        const { model, tok, docs } = setup(shape.cfg, shape.docs());
        graphState = { model, adam: new Adam(model.params.length, shape.cfg), tok, docs, step: 0 };
      }
      const s = graphState;
      const tokens = s.tok.encode(s.docs[s.step % s.docs.length], shape.cfg.blockSize);
      b.start();
      const loss = forwardLoss(s.model, tokens);
      loss.backward();
      s.adam.update(s.model.params, s.step % shape.cfg.numSteps);
      b.end();
      s.step++;
    },
  });
}

// Sampling one name from a model trained for the default 1000 steps.
let trained: { graph: Model; model: fast.FastModel; tok: Tokenizer } | undefined;
function trainedModels() {
  if (trained === undefined) {
    const { model: graph, tok, docs } = setup({ ...DEFAULTS }, parseDocs(bundledInput));
    const model = new fast.FastModel(
      graph.config,
      tok.vocabSize,
      Float64Array.from(graph.params, (p) => p.data),
    );
    fast.train(model, docs, tok, () => {});
    for (let i = 0; i < graph.params.length; i++) graph.params[i].data = model.w[i];
    trained = { graph, model, tok };
  }
  return trained;
}
const samplingRng = new Random(1);
Deno.bench({
  name: "microgpt_fast.ts, sampling one name (temperature 0.5)",
  group: "sampling",
  fn(b) {
    const { model, tok } = trainedModels();
    b.start();
    fast.sample(model, tok, samplingRng, 0.5);
    b.end();
  },
});
Deno.bench({
  name: "microgpt.ts, sampling one name (temperature 0.5)",
  group: "sampling",
  baseline: true,
  fn(b) {
    const { graph, tok } = trainedModels();
    b.start();
    sample(graph, tok, samplingRng, 0.5);
    b.end();
  },
});
