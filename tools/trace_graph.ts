/**
 * The graph engine, watched: what microgpt.ts's Part I shows of a training step to a trace, without
 * a line of Part I changed. Part I's `train` calls `adam.update(params, step)` between `backward()`
 * and the next step: a subclass of its `Adam` hears the gradients there, before the update zeroes
 * them, and the weights right after. Part I's `gpt` shows only the attention weights, so the
 * forward pass of a step traced in detail is computed again here, from Part I's own `linear`,
 * `rmsnorm` and `softmax` on the model's Values, in `gpt`'s exact order (trace_graph_test.ts holds
 * its logits, loss and gradients to Part I's with `===`), at the weights the step's gradient was
 * computed at, and each stage is shown on the way. A loss that differs from the one Part I computed
 * stops the run: the trace never shows a forward pass the engine did not make.
 *
 * The pieces the forward pass is made of ({@linkcode GraphOps}) can be swapped one at a time, which
 * is how the tests plant the classic bugs of a port in this very forward pass.
 *
 * @example The forward pass of one document, every stage shown
 * ```ts
 * import { DEFAULTS, initModel, parseDocs, Random, Tokenizer } from "../microgpt.ts";
 * import { forwardStages } from "./trace_graph.ts";
 * const tok = new Tokenizer(parseDocs("emma\nava\n"));
 * const model = initModel(DEFAULTS, tok.vocabSize, new Random(42));
 * const loss = forwardStages(model, tok.encode("emma"), {
 *   stage: (pos, stage, values) => console.log(pos, stage, values.length),
 *   target: (pos, token, target, prob) => console.log(pos, token, target, prob),
 * });
 * console.log(loss.data);
 * ```
 *
 * @module
 */

import {
  Adam,
  emptyCache,
  type KVCache,
  linear,
  type Model,
  rmsnorm,
  softmax,
  type Tokenizer,
  train,
  type Value,
} from "../microgpt.ts";
import type { ForwardObserver, ForwardStage, TrainWatch } from "./trace.ts";

/** The pieces of the forward pass: Part I's ({@linkcode PART_I_OPS}), or a port's. */
export interface GraphOps {
  /** Matrix × vector. */
  linear: (x: Value[], w: Value[][]) => Value[];
  /** RMSNorm. */
  rmsnorm: (x: Value[]) => Value[];
  /** The MLP's nonlinearity. */
  relu: (x: Value) => Value;
  /** An attention logit from a query·key dot product over a head of `headDim` entries. */
  attentionLogit: (dot: Value, headDim: number) => Value;
}

/** Part I's pieces, as `gpt` uses them. */
export const PART_I_OPS: Readonly<GraphOps> = Object.freeze({
  linear,
  rmsnorm,
  relu: (x: Value) => x.relu(),
  attentionLogit: (dot: Value, headDim: number) => dot.div(headDim ** 0.5),
});

/** Sees one stage's values (`layer` for a stage inside a layer, `head` for `attn`). */
export type SeeStage = (
  stage: ForwardStage,
  values: number[],
  layer?: number,
  head?: number,
) => void;

const data = (xs: Value[]) => xs.map((x) => x.data);

/** One layer's attention heads, as Part I's gpt computes them. */
function heads(
  q: Value[],
  ks: Value[][],
  vs: Value[][],
  nHead: number,
  ops: GraphOps,
  seeHead?: (h: number, weights: Value[]) => void,
): Value[] {
  const headDim = q.length / nHead;
  const xAttn: Value[] = [];
  for (let h = 0; h < nHead; h++) {
    const hs = h * headDim;
    const attnLogits: Value[] = [];
    for (let t = 0; t < ks.length; t++) {
      let s = q[hs].mul(ks[t][hs]);
      for (let j = 1; j < headDim; j++) s = s.add(q[hs + j].mul(ks[t][hs + j]));
      attnLogits.push(ops.attentionLogit(s, headDim));
    }
    const attnWeights = softmax(attnLogits);
    seeHead?.(h, attnWeights);
    for (let j = 0; j < headDim; j++) {
      let s = attnWeights[0].mul(vs[0][hs + j]);
      for (let t = 1; t < vs.length; t++) s = s.add(attnWeights[t].mul(vs[t][hs + j]));
      xAttn.push(s);
    }
  }
  return xAttn;
}

/** Part I's `gpt`, showing every stage to `see`: the logits of the token after `tokenId`. */
export function gptStages(
  model: Model,
  tokenId: number,
  posId: number,
  keys: KVCache,
  values: KVCache,
  see?: SeeStage,
  ops: GraphOps = PART_I_OPS,
): Value[] {
  const sd = model.stateDict;
  const show = (stage: ForwardStage, xs: Value[], li?: number) => see?.(stage, data(xs), li);
  const posEmb = sd.wpe[posId];
  let x = sd.wte[tokenId].map((t, i) => t.add(posEmb[i]));
  show("embedding", x);
  x = ops.rmsnorm(x);
  show("norm", x);
  for (let li = 0; li < model.config.nLayer; li++) {
    let xResidual = x;
    x = ops.rmsnorm(x);
    show("norm_attn", x, li);
    const q = ops.linear(x, sd[`layer${li}.attn_wq`]);
    const k = ops.linear(x, sd[`layer${li}.attn_wk`]);
    const v = ops.linear(x, sd[`layer${li}.attn_wv`]);
    show("q", q, li);
    show("k", k, li);
    show("v", v, li);
    keys[li].push(k);
    values[li].push(v);
    const seeHead = see && ((h: number, w: Value[]) => see("attn", data(w), li, h));
    const xAttn = heads(q, keys[li], values[li], model.config.nHead, ops, seeHead);
    show("heads_out", xAttn, li);
    x = ops.linear(xAttn, sd[`layer${li}.attn_wo`]);
    x = x.map((a, i) => a.add(xResidual[i]));
    show("attn_out", x, li);
    xResidual = x;
    x = ops.rmsnorm(x);
    show("norm_mlp", x, li);
    x = ops.linear(x, sd[`layer${li}.mlp_fc1`]);
    x = x.map(ops.relu);
    show("mlp_hidden", x, li);
    x = ops.linear(x, sd[`layer${li}.mlp_fc2`]);
    x = x.map((a, i) => a.add(xResidual[i]));
    show("mlp_out", x, li);
  }
  const logits = ops.linear(x, sd.lm_head);
  show("logits", logits);
  return logits;
}

/** Part I's `forwardLoss` through {@linkcode gptStages}, telling `observer` every stage of every
 * position and each target's probability. Returns the loss, a graph to call backward() on. */
export function forwardStages(
  model: Model,
  tokens: number[],
  observer?: ForwardObserver,
  ops: GraphOps = PART_I_OPS,
): Value {
  const { nLayer, blockSize } = model.config;
  const n = Math.min(blockSize, tokens.length - 1);
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const losses: Value[] = [];
  for (let pos = 0; pos < n; pos++) {
    const see: SeeStage | undefined = observer &&
      ((stage, xs, li, h) => observer.stage(pos, stage, xs, li, h));
    const logits = gptStages(model, tokens[pos], pos, keys, values, see, ops);
    const probs = softmax(logits);
    observer?.target(pos, tokens[pos], tokens[pos + 1], probs[tokens[pos + 1]].data);
    losses.push(probs[tokens[pos + 1]].log().neg());
  }
  let s = losses[0];
  for (let i = 1; i < losses.length; i++) s = s.add(losses[i]);
  return s.mul(1 / n);
}

/** Part I's Adam, with ears between `backward()` and the update and right after it. Unwatched,
 * its update is Part I's, and nothing else. */
export class WatchedAdam extends Adam {
  /** What hears the next updates, if anything. */
  watching?: { before(step: number): void; after(step: number): void };

  /** Part I's update, with `watching` told before and after. */
  override update(params: Value[], step: number): void {
    this.watching?.before(step);
    super.update(params, step);
    this.watching?.after(step);
  }
}

/** Part I's `train`, watched by `watch`: each step's gradients and weights, and for the steps
 * `watch.forwardOf` asks for, the forward pass computed again, stage by stage. */
export function trainWatched(
  model: Model,
  adam: WatchedAdam,
  docs: string[],
  tok: Tokenizer,
  onStep: (step: number, loss: number) => boolean | void,
  from: number,
  watch: TrainWatch,
): number {
  const { params, config } = model;
  let traced: number | undefined; // the loss of this step's forward pass, computed again
  adam.watching = {
    before(step) {
      const observer = watch.forwardOf?.(step);
      if (observer !== undefined) {
        // The document Part I's train reads at this step; the loss check below confirms it.
        const tokens = tok.encode(docs[step % docs.length], config.blockSize);
        traced = forwardStages(model, tokens, observer).data;
      }
      watch.afterBackward?.(step, Float64Array.from(params, (p) => p.grad));
    },
    after(step) {
      // Part I's Adam.update computes lr_t as this, and keeps it to itself.
      const lr = config.learningRate * (1 - step / config.numSteps);
      watch.afterUpdate?.(step, lr, Float64Array.from(params, (p) => p.data));
    },
  };
  try {
    return train(model, adam, docs, tok, (step, loss) => {
      if (traced !== undefined && !Object.is(traced, loss)) {
        throw new Error(
          `the traced forward pass of step ${step + 1} computed the loss ${traced}, ` +
            `the graph ${loss}`,
        );
      }
      traced = undefined;
      return onStep(step, loss);
    }, from);
  } finally {
    adam.watching = undefined;
  }
}
