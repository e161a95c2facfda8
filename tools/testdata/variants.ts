/**
 * Test support: the graph engine with one piece of a port's classic bugs planted — a wrong ReLU
 * gradient, no attention scale, Adam's bias correction at `step`, integer division in the
 * learning-rate decay, another RMSNorm eps, the KV cache kept from one sample to the next, the
 * initial draws taken column by column — so that the differ's and --gradcheck's tests meet the
 * divergences real ports make, written by the same run and trace as the real engines.
 *
 * A variant is an {@linkcode Engine}: Part I's model, Adam and random draws, and the forward pass
 * of tools/trace_graph.ts (Part I's `gpt` with its pieces named) with one piece swapped. With no
 * bug planted it is the graph engine, and its trace is the graph engine's, bit for bit
 * (trace_diff_test.ts holds that too).
 *
 * @example A run's trace with a wrong ReLU gradient
 * ```ts
 * import { parseCommandLine } from "../flags.ts";
 * import { run } from "../run.ts";
 * import { variantEngine } from "./variants.ts";
 * await run(parseCommandLine(["--steps", "5", "--trace", "relu.jsonl"]), variantEngine({ reluGrad: true }));
 * ```
 *
 * @module
 */

import {
  Adam,
  buildModel,
  type Config,
  emptyCache,
  type KVCache,
  type Model,
  type Random,
  type SampleWatch,
  softmax,
  type Tokenizer,
  Value,
} from "../../microgpt.ts";
import {
  type Engine,
  graphEngine,
  matrixShapes,
  type SampleHook,
  type StepHook,
  type Trainer,
} from "../engine.ts";
import type { TrainWatch } from "../trace.ts";
import { forwardStages, gptStages, type GraphOps, PART_I_OPS } from "../trace_graph.ts";

/** The classic bugs of a port, to plant one at a time. */
export interface Bugs {
  /** ReLU's backward passes the gradient through everywhere (local gradient 1, not x > 0). */
  reluGrad?: boolean;
  /** Attention logits are not divided by sqrt(head_dim). */
  noAttentionScale?: boolean;
  /** Adam's bias correction uses 1 − β^step instead of 1 − β^(step + 1). */
  adamBiasAtStep?: boolean;
  /** The learning-rate decay uses integer division: lr·(1 − ⌊step / num_steps⌋). */
  lrIntegerDivision?: boolean;
  /** RMSNorm adds this eps instead of 1e-5. */
  rmsnormEps?: number;
  /** The initial weights are drawn column by column instead of row by row. */
  initColumnMajor?: boolean;
  /** Sampling keeps the KV cache from one sample to the next. */
  kvCacheKept?: boolean;
  /** Not a bug: every matrix-vector product sums right to left. The same algorithm, rounded in
   * another order, as a port may well compute it. */
  reversedSums?: boolean;
}

/** The forward pass's pieces with the bugs planted. */
function opsFor(bugs: Bugs): GraphOps {
  const ops = { ...PART_I_OPS };
  if (bugs.reluGrad) ops.relu = (x) => new Value(x.data > 0 ? x.data : 0, x, 1);
  if (bugs.noAttentionScale) ops.attentionLogit = (dot) => dot;
  const eps = bugs.rmsnormEps;
  if (eps !== undefined) {
    ops.rmsnorm = (x) => {
      let s = x[0].mul(x[0]);
      for (let i = 1; i < x.length; i++) s = s.add(x[i].mul(x[i]));
      const scale = s.div(x.length).add(eps).pow(-0.5);
      return x.map((xi) => xi.mul(scale));
    };
  }
  if (bugs.reversedSums) {
    ops.linear = (x, w) =>
      w.map((row) => {
        let s = row[x.length - 1].mul(x[x.length - 1]);
        for (let i = x.length - 2; i >= 0; i--) s = s.add(row[i].mul(x[i]));
        return s;
      });
  }
  return ops;
}

/** Adam's update as Part I makes it, with the optimizer bugs planted. Returns lr_t. */
function update(model: Model, adam: Adam, step: number, bugs: Bugs): number {
  const { learningRate, beta1, beta2, epsAdam, numSteps } = model.config;
  const decay = bugs.lrIntegerDivision ? Math.floor(step / numSteps) : step / numSteps;
  const lr = learningRate * (1 - decay);
  if (!bugs.adamBiasAtStep && !bugs.lrIntegerDivision) {
    adam.update(model.params, step);
    return lr;
  }
  const t = bugs.adamBiasAtStep ? step : step + 1;
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  const { m, v } = adam;
  model.params.forEach((p, i) => {
    m[i] = beta1 * m[i] + (1 - beta1) * p.grad;
    v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2;
    p.data -= lr * (m[i] / c1) / ((v[i] / c2) ** 0.5 + epsAdam);
    p.grad = 0;
  });
  return lr;
}

/** The same draws, each matrix's taken column by column: weight (r, c) gets draw c·rows + r. */
function columnMajor(cfg: Config, vocabSize: number, drawn: Float64Array): Float64Array {
  const out = new Float64Array(drawn.length);
  let at = 0;
  for (const [, rows, cols] of matrixShapes(cfg, vocabSize)) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[at + r * cols + c] = drawn[at + c * rows + r];
    }
    at += rows * cols;
  }
  return out;
}

/** Part I's training loop on the variant's forward pass and update, watched as an engine is. */
function trainVariant(
  model: Model,
  adam: Adam,
  docs: string[],
  tok: Tokenizer,
  onStep: StepHook,
  from: number,
  watch: TrainWatch | undefined,
  bugs: Bugs,
): number {
  const { numSteps, blockSize } = model.config;
  const ops = opsFor(bugs);
  for (let step = from; step < numSteps; step++) {
    const tokens = tok.encode(docs[step % docs.length], blockSize);
    const loss = forwardStages(model, tokens, watch?.forwardOf?.(step), ops);
    loss.backward();
    watch?.afterBackward?.(step, Float64Array.from(model.params, (p) => p.grad));
    const lr = update(model, adam, step, bugs);
    watch?.afterUpdate?.(step, lr, Float64Array.from(model.params, (p) => p.data));
    if (onStep(step, loss.data) === false) return step + 1;
  }
  return numSteps;
}

/** Part I's sampling loop on the variant's forward pass (no prefix, temperature > 0). */
function generateVariant(
  model: Model,
  tok: Tokenizer,
  rng: Random,
  onSample: SampleHook,
  watchFor: (i: number) => SampleWatch,
  bugs: Bugs,
): void {
  const { nLayer, blockSize, numSamples, temperature } = model.config;
  const ops = opsFor(bugs);
  let keys: KVCache = [];
  let values: KVCache = [];
  for (let i = 0; i < numSamples; i++) {
    if (i === 0 || !bugs.kvCacheKept) {
      keys = emptyCache(nLayer);
      values = emptyCache(nLayer);
    }
    const watch = watchFor(i);
    let tokenId = tok.bos;
    let out = "";
    for (let pos = 0; pos < blockSize; pos++) {
      const logits = gptStages(model, tokenId, pos, keys, values, undefined, ops);
      const probs = softmax(logits.map((l) => l.div(temperature))).map((p) => p.data);
      tokenId = rng.choices(probs);
      const probs1 = softmax(logits).map((p) => p.data);
      watch.onDraw?.({ soFar: out, probs, probs1, drawn: tokenId });
      if (tokenId === tok.bos) break;
      out += tok.chars[tokenId];
    }
    if (onSample(i, out) === false) return;
  }
}

/** Each bug in a few words, for the engine's name. */
const WORDS: Record<keyof Bugs, string> = {
  reluGrad: "a wrong ReLU gradient",
  noAttentionScale: "no attention scale",
  adamBiasAtStep: "Adam's bias correction at step",
  lrIntegerDivision: "an integer lr decay",
  rmsnormEps: "another RMSNorm eps",
  initColumnMajor: "the init drawn by columns",
  kvCacheKept: "the KV cache kept",
  reversedSums: "sums right to left",
};

/** The engine's name: "microgpt.ts with …" the bugs planted. */
function named(bugs: Bugs): string {
  const planted = (Object.keys(WORDS) as (keyof Bugs)[]).filter((k) =>
    bugs[k] !== undefined && bugs[k] !== false
  );
  return planted.length === 0 ? "" : ` with ${planted.map((k) => WORDS[k]).join(", ")}`;
}

/** The graph engine with `bugs` planted. */
export function variantEngine(bugs: Bugs): Engine {
  return {
    name: `microgpt.ts${named(bugs)}`,
    create(config: Config, vocabSize: number, weights: Float64Array): Trainer {
      const drawn = bugs.initColumnMajor ? columnMajor(config, vocabSize, weights) : weights;
      let i = 0;
      const model = buildModel(config, vocabSize, () => drawn[i++]);
      const adam = new Adam(model.params.length, config);
      const ops = opsFor(bugs);
      return {
        config,
        vocabSize,
        m: adam.m,
        v: adam.v,
        train: (docs, tok, onStep, from, watch) =>
          trainVariant(model, adam, docs, tok, onStep, from, watch, bugs),
        generate: (tok, rng, prefix, onSample, watchFor = () => ({})) => {
          if (prefix !== "" || config.temperature === 0) {
            throw new Error("the variants sample without a prefix, at a temperature > 0");
          }
          generateVariant(model, tok, rng, onSample, watchFor, bugs);
        },
        loss: (tokens) => forwardStages(model, tokens, undefined, ops).data,
        gradient: (tokens) => {
          const loss = forwardStages(model, tokens, undefined, ops);
          loss.backward();
          const grad = Float64Array.from(model.params, (p) => p.grad);
          for (const p of model.params) p.grad = 0;
          return { loss: loss.data, grad };
        },
        weights: () => Float64Array.from(model.params, (p) => p.data),
      };
    },
    stepBytes: graphEngine.stepBytes,
  };
}
