/**
 * Engines. The command line, saving and the instruments work with any way of computing the model
 * that can train, sample and hand over its weights: the graph of microgpt.ts's Part I, or
 * microgpt_fast.ts's typed arrays. Weights travel as one flat list in state_dict order (matrix by
 * matrix, row by row), which is also the order of Adam's moments.
 *
 * @module
 */

import {
  buildModel,
  type Config,
  forwardLoss,
  generate,
  Random,
  type SampleWatch,
  Tokenizer,
  train,
} from "../microgpt.ts";
import type { TrainWatch } from "./trace.ts";
import { trainWatched, WatchedAdam } from "./trace_graph.ts";

/** Hears each training step's 0-based index and loss; returning false stops the training there.
 * (microgpt.ts's main() and tools/cli.ts's script() print microgpt.py's step line through it.) */
export type StepHook = (step: number, loss: number) => boolean | void;

/** Hears each sample as it is drawn (0-based); returning false stops the sampling there. */
export type SampleHook = (i: number, doc: string) => boolean | void;

/** A model and its optimizer, as the tools see them. */
export interface Trainer {
  /** The settings it was made with. */
  readonly config: Config;
  /** Number of distinct tokens, BOS included. */
  readonly vocabSize: number;
  /** Adam's first moments, one per weight in state_dict order; a resume restores them. */
  readonly m: Float64Array;
  /** Adam's second moments, alike. */
  readonly v: Float64Array;
  /** The training loop from step `from`; returns the steps done (see {@linkcode train}).
   * `watch`, if given, sees inside each step. */
  train(
    docs: string[],
    tok: Tokenizer,
    onStep: StepHook,
    from: number,
    watch?: TrainWatch,
  ): number;
  /** The sampling loop (see {@linkcode generate}). */
  generate(
    tok: Tokenizer,
    rng: Random,
    prefix: string,
    onSample: SampleHook,
    watchFor?: (i: number) => SampleWatch,
  ): void;
  /** The mean loss on a document's tokens, learning nothing from it. */
  loss(tokens: number[]): number;
  /** The same loss and its gradient by backward(), flat in state_dict order, learning nothing
   * (the gradients are zero again after). */
  gradient(tokens: number[]): { loss: number; grad: Float64Array };
  /** A copy of every weight, flat in state_dict order. */
  weights(): Float64Array;
}

/** A way to compute the model. */
export interface Engine {
  /** The script's file name, for messages. */
  readonly name: string;
  /** Where to go for a shape too large for this engine's memory, if anywhere. */
  readonly largerShapes?: string;
  /** A model of this shape holding `weights` (flat, in state_dict order), Adam's moments zero. */
  create(config: Config, vocabSize: number, weights: Float64Array): Trainer;
  /** About how many bytes of memory one training step (or one sample) holds at its peak, for
   * documents of `tokens` positions: what decides whether a shape fits. */
  stepBytes(config: Config, vocabSize: number, tokens: number): number;
}

/** Bytes per graph node: a Value with its boxed numbers, measured with Deno.memoryUsage(). */
export const BYTES_PER_NODE = 130;

/** About how many graph nodes a training step builds for a document of `tokens` positions:
 * per position and layer 24·E² for the six matrices and 4·t·E for attention over the t positions
 * so far (2·T·E on average), plus 2·V·E per position for lm_head. */
export function nodesPerStep(cfg: Config, vocabSize: number, tokens: number): number {
  const { nEmbd: e, nLayer: l } = cfg;
  return tokens * l * (24 * e * e + 2 * tokens * e) + 2 * tokens * vocabSize * e;
}

/** Part I as an engine: every scalar a Value. */
export const graphEngine: Engine = {
  name: "microgpt.ts",
  largerShapes: "run microgpt_fast.ts (the same numbers in flat memory)",
  create(config, vocabSize, weights) {
    let i = 0;
    const model = buildModel(config, vocabSize, () => weights[i++]);
    const adam = new WatchedAdam(model.params.length, config); // Part I's, unless watched
    return {
      config,
      vocabSize,
      m: adam.m,
      v: adam.v,
      train: (docs, tok, onStep, from, watch) =>
        watch === undefined
          ? train(model, adam, docs, tok, onStep, from)
          : trainWatched(model, adam, docs, tok, onStep, from, watch),
      generate: (tok, rng, prefix, onSample, watchFor) =>
        generate(model, tok, rng, prefix, onSample, watchFor),
      loss: (tokens) => forwardLoss(model, tokens).data,
      gradient: (tokens) => {
        const loss = forwardLoss(model, tokens);
        loss.backward();
        const grad = Float64Array.from(model.params, (p) => p.grad);
        for (const p of model.params) p.grad = 0;
        return { loss: loss.data, grad };
      },
      weights: () => Float64Array.from(model.params, (p) => p.data),
    };
  },
  // The weights, a step's graph and, until the collector gets to it, the previous step's.
  stepBytes: (config, vocabSize, tokens) =>
    (numParams(config, vocabSize) + 2 * nodesPerStep(config, vocabSize, tokens)) * BYTES_PER_NODE,
};

/** Names and shapes (rows × columns) of the weight matrices, in the order buildModel makes them:
 * how saved files and microgpt_fast.ts find each matrix in the flat list of weights. */
export function matrixShapes(cfg: Config, vocabSize: number): [string, number, number][] {
  const shapes: [string, number, number][] = [
    ["wte", vocabSize, cfg.nEmbd],
    ["wpe", cfg.blockSize, cfg.nEmbd],
    ["lm_head", vocabSize, cfg.nEmbd],
  ];
  for (let i = 0; i < cfg.nLayer; i++) {
    shapes.push([`layer${i}.attn_wq`, cfg.nEmbd, cfg.nEmbd]);
    shapes.push([`layer${i}.attn_wk`, cfg.nEmbd, cfg.nEmbd]);
    shapes.push([`layer${i}.attn_wv`, cfg.nEmbd, cfg.nEmbd]);
    shapes.push([`layer${i}.attn_wo`, cfg.nEmbd, cfg.nEmbd]);
    shapes.push([`layer${i}.mlp_fc1`, 4 * cfg.nEmbd, cfg.nEmbd]);
    shapes.push([`layer${i}.mlp_fc2`, cfg.nEmbd, 4 * cfg.nEmbd]);
  }
  return shapes;
}

/** Number of weights of a shape, by arithmetic (a shape may be too large to list). */
export function numParams(cfg: Config, vocabSize: number): number {
  const e = cfg.nEmbd;
  return 2 * vocabSize * e + cfg.blockSize * e + cfg.nLayer * 12 * e * e;
}

/** {@linkcode initModel}'s draws as plain numbers: the same Gaussians in the same order. */
export function initWeights(cfg: Config, vocabSize: number, rng: Random): Float64Array {
  const w = new Float64Array(numParams(cfg, vocabSize));
  for (let i = 0; i < w.length; i++) w[i] = rng.gauss(0, cfg.initStd);
  return w;
}
