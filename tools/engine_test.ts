// Tests for engine.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { buildModel, DEFAULTS, initModel, parseDocs, Random, Tokenizer } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import { type Engine, graphEngine, initWeights, matrixShapes, numParams } from "./engine.ts";

const cfg = { ...DEFAULTS };

Deno.test("matrixShapes lists the matrices buildModel makes, in its order and shapes", () => {
  const shape = { ...cfg, nLayer: 2, nEmbd: 8, blockSize: 5 };
  const model = initModel(shape, 11, new Random(1));
  const made = Object.entries(model.stateDict).map(([name, m]) => [name, m.length, m[0].length]);
  assert.deepEqual(made, matrixShapes(shape, 11));
  assert.equal(numParams(shape, 11), model.params.length);
});

Deno.test("initWeights draws what initModel draws, in the same order", () => {
  const model = initModel(cfg, 28, new Random(7));
  const w = initWeights(cfg, 28, new Random(7));
  assert.deepEqual(w, Float64Array.from(model.params, (p) => p.data));
  let i = 0;
  const built = buildModel(cfg, 28, () => w[i++]);
  assert.deepEqual(built.stateDict.wpe[3][5].data, model.stateDict.wpe[3][5].data);
});

Deno.test("both engines' watches see the same steps: forward stages, gradients, lr, weights", () => {
  const docs = parseDocs("emma\nolivia\nava\nisabella\nsophia\nmia\n");
  const tok = new Tokenizer(docs);
  const shape = { ...cfg, nLayer: 2, nEmbd: 8, nHead: 2, numSteps: 4 };
  const w = initWeights(shape, tok.vocabSize, new Random(5));
  const seen = (engine: Engine) => {
    const events: unknown[] = [];
    const trainer = engine.create(shape, tok.vocabSize, w);
    // gradient() learns nothing: asked first, it leaves the run below as it would be.
    const first = trainer.gradient(tok.encode(docs[0], shape.blockSize));
    trainer.train(docs, tok, (step, loss) => void events.push(["step", step, loss]), 0, {
      forwardOf: (step) =>
        step !== 1 ? undefined : {
          stage: (pos, stage, values, layer, head) =>
            events.push([pos, stage, Array.from(values), layer, head]),
          target: (...a) => events.push(a),
        },
      afterBackward: (step, grads) => events.push(["grads", step, Array.from(grads)]),
      afterUpdate: (step, lr, weights) => events.push(["weights", step, lr, Array.from(weights)]),
    });
    return { events, first, weights: trainer.weights() };
  };
  const graph = seen(graphEngine);
  const fast = seen(fastEngine);
  const order = (events: unknown[]) => events.map((e) => String((e as unknown[])[1]));
  // Stages come in each engine's own order; the trace sorts them. Compare them as sets.
  const sorted = (events: unknown[]) => events.map((e) => JSON.stringify(e)).sort();
  assert.deepEqual(sorted(fast.events), sorted(graph.events));
  assert.deepEqual(
    order(graph.events.filter((e) => ["grads", "weights", "step"].includes((e as string[])[0]))),
    ["0", "0", "0", "1", "1", "1", "2", "2", "2", "3", "3", "3"],
  );
  assert.deepEqual(fast.weights, graph.weights);
  assert.equal(fast.first.loss, graph.first.loss);
  assert.deepEqual(fast.first.grad, graph.first.grad);
  const grads0 = graph.events.find((e) => (e as unknown[])[0] === "grads") as unknown[];
  assert.deepEqual(Array.from(graph.first.grad), grads0[2]);
  // Watched or not, an engine trains the same.
  const plain = graphEngine.create(shape, tok.vocabSize, w);
  plain.train(docs, tok, () => {}, 0);
  assert.deepEqual(plain.weights(), graph.weights);
});
