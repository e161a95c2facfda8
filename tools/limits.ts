/**
 * Limits: sizes judged by arithmetic before anything is allocated, so that a shape or a file too
 * large for this machine is refused in one line instead of running out of memory.
 *
 * @module
 */

import { getHeapStatistics } from "node:v8";
import { type Config } from "../microgpt.ts";
import { type Engine, numParams } from "./engine.ts";
import { usageError } from "./messages.ts";

/** The most parameters a model may have: a scalar engine in one process, and a checkpoint
 * (about 46 bytes per parameter) well inside the largest file --load reads. */
export const MAX_PARAMS = 5_000_000;
/** The most digits a seed may have: CPython 3.11's own limit for turning a string into an int
 * (so microgpt.py could not have been given more). */
export const MAX_SEED_DIGITS = 4300;
/** The largest training text read, in bytes. */
export const MAX_INPUT_BYTES = 100_000_000;
/** The most documents a text may hold (each costs a string in memory). */
export const MAX_DOCS = 10_000_000;
/** The largest --load or --resume file read, in bytes. */
export const MAX_MODEL_BYTES = 300_000_000;

/** The largest heap a step may fill: most of V8's limit (the rest is for everything else). */
function heapBudget(): number {
  return 0.7 * getHeapStatistics().heap_size_limit;
}

/** Refuses a shape too large for this engine and this machine, by arithmetic, before anything
 * is allocated: too many parameters, or a training step or a sample that would not fit. */
export function checkSize(engine: Engine, cfg: Config, vocabSize: number, docs: string[]): void {
  const params = numParams(cfg, vocabSize);
  const smaller = `choose a smaller --n-embd, --n-layer or --block-size`;
  if (params > MAX_PARAMS) {
    throw usageError(
      `this shape (with a vocabulary of ${vocabSize} tokens) has ${params} parameters, too ` +
        `large: the limit is ${MAX_PARAMS}; ${smaller}`,
    );
  }
  let longest = 0;
  for (const doc of docs) longest = Math.max(longest, doc.length);
  const check = (what: string, tokens: number) => {
    const bytes = engine.stepBytes(cfg, vocabSize, tokens);
    if (bytes <= heapBudget()) return;
    throw usageError(
      `${what} of ${engine.name} would need about ${(bytes / 1e9).toFixed(1)} GB, more than its ` +
        `${(heapBudget() / 1e9).toFixed(1)} GB: ${smaller}` +
        (engine.largerShapes === undefined ? "" : `, or ${engine.largerShapes}`),
    );
  };
  check("the model", 0);
  if (cfg.numSteps > 0) check("a training step", Math.min(cfg.blockSize, longest + 1));
  if (cfg.numSamples > 0) check("a sample", cfg.blockSize); // no end token: the whole block
}
