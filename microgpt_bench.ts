// Benchmarks for microgpt.ts at microgpt.py's default settings on the bundled input.txt.
// Run with `deno task bench` (`deno bench`). CPython 3.11 runs microgpt.py at about 259 ms per
// training step on the 2-core machine these figures were first taken on; see the README.

import bundledInput from "./input.txt" with { type: "text" };
import {
  Adam,
  DEFAULTS,
  forwardLoss,
  initModel,
  type Model,
  parseDocs,
  Random,
  sample,
  tapeLength,
  Tokenizer,
  trainStep,
} from "./microgpt.ts";

const cfg = { ...DEFAULTS };

/** The default run's state after the shuffle and the init, as microgpt.py sets it up. */
function setup(): { model: Model; tok: Tokenizer; docs: string[]; rng: Random } {
  const rng = new Random(cfg.seed);
  const docs = parseDocs(bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel(cfg, tok.vocabSize, rng);
  return { model, tok, docs, rng };
}

// Graph size: nodes built per training step over the default run's 1000 documents.
{
  const { model, tok, docs } = setup();
  let total = 0;
  let most = 0;
  for (let step = 0; step < cfg.numSteps; step++) {
    forwardLoss(model, tok.encode(docs[step % docs.length]));
    const nodes = tapeLength() - model.tapeMark;
    total += nodes;
    most = Math.max(most, nodes);
  }
  console.log(
    `graph: ${Math.round(total / cfg.numSteps)} nodes per training step on average ` +
      `(largest ${most}), ${model.params.length} parameters`,
  );
}

// The tape holds one model at a time, so each benchmark builds its own model when it starts
// (Deno runs one benchmark to the end before the next), outside the timed part.

Deno.bench({
  name: "the default training run: 1000 steps (divide by 1000 for ms/step)",
  group: "train",
  baseline: true,
  n: 5,
  warmup: 1,
  fn(b) {
    const { model, tok, docs } = setup();
    const adam = new Adam(model.params.length);
    b.start();
    for (let step = 0; step < cfg.numSteps; step++) {
      trainStep(model, adam, tok.encode(docs[step % docs.length]), step);
    }
    b.end();
  },
});

let stepState: { model: Model; tok: Tokenizer; docs: string[]; adam: Adam; step: number } | null =
  null;
Deno.bench({
  name: "one training step (forward, backward, Adam), cycling through the documents",
  group: "train",
  fn(b) {
    if (stepState === null) {
      const { model, tok, docs } = setup();
      stepState = { model, tok, docs, adam: new Adam(model.params.length), step: 0 };
    }
    const s = stepState;
    const tokens = s.tok.encode(s.docs[s.step % s.docs.length]);
    b.start();
    trainStep(s.model, s.adam, tokens, s.step % cfg.numSteps);
    b.end();
    s.step++;
  },
});

let sampleState: { model: Model; tok: Tokenizer; rng: Random } | null = null;
Deno.bench({
  name: "sampling one name from the trained default model (temperature 0.5)",
  group: "sample",
  fn(b) {
    if (sampleState === null) {
      const { model, tok, docs, rng } = setup();
      const adam = new Adam(model.params.length);
      for (let step = 0; step < cfg.numSteps; step++) {
        trainStep(model, adam, tok.encode(docs[step % docs.length]), step);
      }
      sampleState = { model, tok, rng };
    }
    const s = sampleState;
    b.start();
    sample(s.model, s.tok, s.rng, cfg.temperature);
    b.end();
  },
});
