// Tests for engine.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { buildModel, DEFAULTS, initModel, Random } from "../microgpt.ts";
import { initWeights, matrixShapes, numParams } from "./engine.ts";

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
