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
/** The most lists and objects a saved model holds: one per row of a matrix (at most one per
 * parameter), and per layer six matrices (at most half a list per parameter), and a few more. */
export const MAX_MODEL_CONTAINERS: number = Math.floor(1.5 * MAX_PARAMS) + 100;
/** The most commas (values after the first in a list or object) a saved model holds: its
 * parameters, its rows, its vocabulary (each at most one per parameter), and a few thousand
 * more (the generator's 624 words, a stopped run's unprinted losses). */
export const MAX_MODEL_COMMAS: number = 3 * MAX_PARAMS + 100_000;
/** How deep a saved model nests: the file, state_dict, a matrix, a row. */
export const MAX_MODEL_DEPTH = 4;

/** The bytes JSON allows around values. */
const JSON_SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A saved model's JSON judged by its structure as it is read, a chunk of bytes at a time, before
 * anything is parsed: parsing builds every list and value, so a file of 300 MB holding a hundred
 * million empty lists would take gigabytes and minutes before any field could be checked. The
 * counts are those of a model within {@linkcode MAX_PARAMS}; what passes costs no more to parse
 * than the largest model. Structural bytes are ASCII and never occur inside a UTF-8 sequence, so
 * the bytes can be read as they come.
 */
export class JsonShape {
  #depth = 0;
  #containers = 0;
  #commas = 0;
  #inString = false;
  #escaped = false;
  #begun = false;
  #seen = 0;

  /** Reads the next bytes of the file; throws an Error saying what a model cannot hold. */
  scan(bytes: Uint8Array): void {
    let i = 0;
    if (!this.#begun) i = this.#begin(bytes);
    for (; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (b === 0x5c) this.#escaped = true;
        else if (b === 0x22) this.#inString = false;
        continue;
      }
      switch (BYTE_KIND[b]) {
        case PLAIN:
          break;
        case QUOTE:
          this.#inString = true;
          break;
        case COMMA:
          if (++this.#commas > MAX_MODEL_COMMAS) {
            throw new Error(
              `it holds more than ${MAX_MODEL_COMMAS} values, more than a model of at most ` +
                `${MAX_PARAMS} parameters has (judged before parsing it)`,
            );
          }
          break;
        case OPEN:
          if (++this.#depth > MAX_MODEL_DEPTH) {
            throw new Error(
              `it nests lists and objects more than ${MAX_MODEL_DEPTH} deep, deeper than a ` +
                `saved model (judged before parsing it)`,
            );
          }
          if (++this.#containers > MAX_MODEL_CONTAINERS) {
            throw new Error(
              `it holds more than ${MAX_MODEL_CONTAINERS} lists and objects, more than a model ` +
                `of at most ${MAX_PARAMS} parameters has (judged before parsing it)`,
            );
          }
          break;
        case CLOSE:
          this.#depth--;
          break;
        default:
          throw notJson(b, this.#seen + i);
      }
    }
    this.#seen += bytes.length;
  }

  /** Skips the whitespace before the first value, which must open an object; returns where the
   * scan goes on. */
  #begin(bytes: Uint8Array): number {
    let i = 0;
    while (i < bytes.length && JSON_SPACE.has(bytes[i])) i++;
    if (i === bytes.length) return i;
    this.#begun = true;
    if (bytes[i] === 0xef) {
      throw new Error("it starts with a byte order mark (U+FEFF), which JSON does not allow");
    }
    if (!JSON_START.has(bytes[i])) throw notJson(bytes[i], this.#seen + i);
    if (bytes[i] !== 0x7b) {
      throw new Error(`not a saved microgpt.ts model (it does not begin with "{")`);
    }
    return i;
  }
}

/** The bytes a JSON value may start with. */
const JSON_START = new Set([...'{["-0123456789tfn'].map((c) => c.charCodeAt(0)));
// What each byte is to the scan outside strings: JSON's space, punctuation, numbers and the
// letters of true, false and null are plain; any other byte cannot be there.
const [PLAIN, QUOTE, COMMA, OPEN, CLOSE] = [1, 2, 3, 4, 5]; // 0: cannot be there
const BYTE_KIND = new Uint8Array(256);
for (const c of " \t\n\r:-+.0123456789eEtruefalsn") BYTE_KIND[c.charCodeAt(0)] = PLAIN;
BYTE_KIND[0x22] = QUOTE;
BYTE_KIND[0x2c] = COMMA;
BYTE_KIND[0x5b] = BYTE_KIND[0x7b] = OPEN;
BYTE_KIND[0x5d] = BYTE_KIND[0x7d] = CLOSE;

/** The refusal of a byte that JSON cannot hold there. */
function notJson(byte: number, at: number): Error {
  const shown = byte >= 0x21 && byte < 0x7f
    ? `"${String.fromCharCode(byte)}"`
    : `\\x${byte.toString(16).padStart(2, "0")}`;
  return new Error(`not valid JSON (${shown} at byte ${at + 1}, outside any string)`);
}

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
