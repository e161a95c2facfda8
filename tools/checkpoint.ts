/**
 * The saved-model format. A saved model is JSON: a format tag and version, the shape, the
 * vocabulary (token ids only mean something together with the characters they stand for) and
 * every matrix by its microgpt.py name. JSON writes a float64 in the shortest form that reads back
 * to the same bits, so saved weights round-trip exactly. Version 2 adds what it takes to continue
 * a run as if it had never stopped: the step reached, every setting, Adam's moments (as base64 of
 * their little-endian bytes: exact, and half the size of decimal), the random generator's whole
 * state and a fingerprint of the training text. Version 1 files are still read, for their weights.
 *
 * A checkpoint proves itself: its last field, "checksum", is the SHA-256 of its JSON without it.
 * Every field is checked for what it can be, and then, for `--resume`, the checksum: an edit that
 * leaves every field plausible (two characters of the vocabulary swapped, one base64 character of
 * a moment changed) is refused instead of resumed into other numbers. The checksum is a field of
 * version 2, which earlier releases (which ignore fields they do not know) still read; a version 2
 * file without one, saved before it existed, still resumes, with a warning. `--load` does not ask
 * for it: a model's weights are its user's to edit (zero a head, say) before starting anew.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Config, type RandomState, Tokenizer } from "../microgpt.ts";
import { matrixShapes, numParams } from "./engine.ts";
import { readText } from "./files.ts";
import { JsonShape, MAX_MODEL_BYTES, MAX_PARAMS, MAX_SEED_DIGITS } from "./limits.ts";
import { CliError, describe, escapeControls, isControl, isRecord, shown } from "./messages.ts";
import type { Kind } from "./safe_save.ts";

const MODEL_FORMAT = "microgpt.ts model";

/** A saved model, as --save knows one before it replaces it: JSON whose first field is the
 * format tag (as modelToJSON writes it, pretty-printed or not). */
export const CHECKPOINT_KIND: Kind = {
  what: "a saved microgpt.ts model",
  is: (head) => /^\s*\{\s*"format"\s*:\s*"microgpt\.ts model"/.test(head),
};
const MODEL_VERSION = 2;

/** Where a run stands: everything besides the weights that continuing it exactly needs. */
export interface Checkpoint {
  /** Training steps done. */
  step: number;
  /** Adam's first moments, flat in state_dict order. */
  m: Float64Array;
  /** Adam's second moments. */
  v: Float64Array;
  /** The random generator's state (training draws nothing, so it is the state after the init). */
  random: RandomState;
  /** SHA-256 (hex) of the training documents, joined by "\n" in the file's order. */
  textSha256: string;
  /** Number of documents in the training text. */
  numDocs: number;
  /** Documents held out of training (the last ones after the shuffle). */
  holdout: number;
  /** The prefix the run's samples start with. */
  prefix: string;
  /** The losses of the last steps whose lines stdout's reader had not taken when a signal
   * stopped the run, oldest first (a resumed run prints them first); usually none. */
  unprinted?: number[];
  /** Whether the run trains on the text as one stream (--stream); absent means no. */
  stream?: boolean;
  /** The share of the text held out at its end (--holdout P%); absent means none. */
  holdoutPercent?: number;
}

/** A saved model: its settings, vocabulary and weights, and where its run stood (version 2). */
export interface SavedModel {
  /** The shape from the file; with a checkpoint, every other setting too. */
  config: Config;
  /** The vocabulary from the file. */
  tok: Tokenizer;
  /** Every weight, flat in state_dict order. */
  weights: Float64Array;
  /** How to continue the run (absent in a version 1 file). */
  checkpoint?: Checkpoint;
  /** Whether the file's checksum was found to match ("ok") or was not there ("none"); undefined
   * when it was not asked for. */
  checksum?: "ok" | "none";
}

/** A model as JSON text, with `checkpoint` if given. `weights` are flat, in state_dict order. */
export function modelToJSON(
  cfg: Config,
  tok: Tokenizer,
  weights: Float64Array,
  checkpoint?: Checkpoint,
): string {
  const stateDict: Record<string, number[][]> = {};
  let next = 0;
  for (const [name, nout, nin] of matrixShapes(cfg, tok.vocabSize)) {
    const mat: number[][] = [];
    for (let r = 0; r < nout; r++) {
      mat.push(Array.from(weights.subarray(next, next + nin)));
      next += nin;
    }
    stateDict[name] = mat;
  }
  const saved: Record<string, unknown> = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    n_embd: cfg.nEmbd,
    n_head: cfg.nHead,
    n_layer: cfg.nLayer,
    block_size: cfg.blockSize,
    vocab: tok.chars,
    state_dict: stateDict,
  };
  if (checkpoint !== undefined) {
    const c = checkpoint;
    saved.training = {
      step: c.step,
      num_steps: cfg.numSteps,
      learning_rate: cfg.learningRate,
      beta1: cfg.beta1,
      beta2: cfg.beta2,
      eps_adam: cfg.epsAdam,
      init_std: cfg.initStd,
      seed: String(cfg.seed), // any size, as Python's seeds: a string keeps every digit
      holdout: c.holdout,
    };
    if (c.unprinted !== undefined && c.unprinted.length > 0) {
      (saved.training as Record<string, unknown>).unprinted_losses = c.unprinted;
    }
    // Written only when set, so that a file without them reads as it always has.
    if (c.stream === true) (saved.training as Record<string, unknown>).stream = true;
    if (c.holdoutPercent !== undefined) {
      (saved.training as Record<string, unknown>).holdout_percent = c.holdoutPercent;
    }
    saved.sampling = {
      temperature: cfg.temperature,
      num_samples: cfg.numSamples,
      prefix: c.prefix,
    };
    saved.adam = { m: floatsToBase64(c.m), v: floatsToBase64(c.v) };
    saved.random = { mt: c.random.mt, index: c.random.index, gauss_next: c.random.gaussNext };
    saved.data = { sha256: c.textSha256, docs: c.numDocs };
  }
  // The checksum goes last, over the JSON before it: what a reader re-serializes to check it.
  const body = JSON.stringify(saved);
  return `${body.slice(0, -1)},"checksum":"sha256:${sha256(body)}"}\n`;
}

/** SHA-256 of a text's UTF-8 bytes, in hex (synchronous: a save happens between two steps). */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Reads a saved model, version 1 or 2. Everything is checked before anything is built, sizes
 * first, then every field, then (with `verify`) the checksum; a file that does not fit throws an
 * Error naming what is wrong. Settings the file does not hold come from `cfg`. */
export function modelFromJSON(text: string, cfg: Config, verify = false): SavedModel {
  const saved = parseSaved(text);
  const config = readShape(saved, cfg);
  const tok = readVocab(saved, config);
  const weights = readWeights(saved, config, tok);
  const model: SavedModel = { config, tok, weights };
  if (saved.version !== 1 && "training" in saved) {
    model.checkpoint = readRunState(saved, config, tok, weights.length);
  }
  if (verify && saved.version === 2) model.checksum = checkChecksum(saved);
  return model;
}

/** The file's JSON, if it is a saved model of a version this reads. */
function parseSaved(text: string): Record<string, unknown> {
  if (text.startsWith("\ufeff")) {
    throw new Error("it starts with a byte order mark (U+FEFF), which JSON does not allow");
  }
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message}); is the file truncated?`);
  }
  if (!isRecord(saved) || saved.format !== MODEL_FORMAT) {
    throw new Error(`not a saved microgpt.ts model (no "format": "${MODEL_FORMAT}")`);
  }
  const version = saved.version;
  if (typeof version !== "number") {
    throw new Error(`"version" must be a number, not ${describe(version)}`);
  }
  if (version !== 1 && version !== 2) {
    throw new Error(`format version ${version} is not supported (only 1 and ${MODEL_VERSION})`);
  }
  return saved;
}

/** The file's "checksum", which must be the SHA-256 of its JSON without it, as it was written;
 * "none" if the file has none. */
function checkChecksum(saved: Record<string, unknown>): "ok" | "none" {
  if (!("checksum" in saved)) return "none";
  const { checksum, ...rest } = saved;
  if (typeof checksum !== "string" || !/^sha256:[0-9a-f]{64}$/.test(checksum)) {
    throw new Error(
      `"checksum" must be "sha256:" and 64 hexadecimal digits, not ${describe(checksum)}`,
    );
  }
  if (sha256(JSON.stringify(rest)) !== checksum.slice(7)) {
    throw new Error(
      `"checksum" does not match the content: the file was changed or damaged after it was saved`,
    );
  }
  return "ok";
}

// Validators for the fields of a saved file. `where` prefixes the key in messages ("training.").

/** The value at `key`, which must be there. */
function field(obj: Record<string, unknown>, key: string, where: string): unknown {
  if (!(key in obj)) throw new Error(`${where}"${key}" is missing`);
  return obj[key];
}

/** A whole number >= `min` at `key`. */
function whole(obj: Record<string, unknown>, key: string, min: number, where = ""): number {
  const n = field(obj, key, where);
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${where}"${key}" must be a whole number >= ${min}, not ${describe(n)}`);
  }
  return n;
}

/** A finite number at `key` for which `ok` holds. */
function real(
  obj: Record<string, unknown>,
  key: string,
  where: string,
  ok: (x: number) => boolean,
): number {
  const x = field(obj, key, where);
  if (typeof x !== "number" || !Number.isFinite(x) || !ok(x)) {
    throw new Error(`${where}"${key}" is ${describe(x)}, which is out of range`);
  }
  return x;
}

/** The object at `key` of the file, one of version 2's parts. */
function part(saved: Record<string, unknown>, key: string): Record<string, unknown> {
  const x = saved[key];
  if (!isRecord(x)) throw new Error(`"${key}" must be an object, not ${describe(x)}`);
  return x;
}

/** The shape from the file, the other settings from `cfg`. */
function readShape(saved: Record<string, unknown>, cfg: Config): Config {
  const config: Config = {
    ...cfg,
    nEmbd: whole(saved, "n_embd", 1),
    nHead: whole(saved, "n_head", 1),
    nLayer: whole(saved, "n_layer", 1),
    blockSize: whole(saved, "block_size", 1),
  };
  if (config.nEmbd % config.nHead !== 0) {
    throw new Error(`n_embd ${config.nEmbd} is not divisible by n_head ${config.nHead}`);
  }
  return config;
}

/** The vocabulary: single printable characters, none twice. The size of the model it implies is
 * checked first, by arithmetic, before any matrix is looked at or any memory is taken. */
function readVocab(saved: Record<string, unknown>, config: Config): Tokenizer {
  const vocab = field(saved, "vocab", "");
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new Error(`"vocab" must be a non-empty list of characters, not ${describe(vocab)}`);
  }
  const streamed = isRecord(saved.training) && saved.training.stream === true;
  const n = numParams(config, vocab.length + 1);
  if (n > MAX_PARAMS) {
    throw new Error(`its shape has ${n} parameters, too large: the limit is ${MAX_PARAMS}`);
  }
  for (const ch of vocab) {
    if (typeof ch !== "string" || [...ch].length !== 1) {
      throw new Error(`"vocab" entry ${describe(ch)} is not a single character`);
    }
    // A line break is a character of a --stream run's text (and shown as such in its samples
    // and pictures); no other control character is, and no other file may hold one.
    if (isControl(ch) && !(ch === "\n" && streamed)) {
      throw new Error(`"vocab" holds the control character ${describe(ch)}`);
    }
  }
  if (new Set(vocab).size !== vocab.length) throw new Error(`"vocab" repeats a character`);
  return new Tokenizer([], vocab as string[]);
}

/** Every weight, flat in state_dict order, from the matrices by name. */
function readWeights(
  saved: Record<string, unknown>,
  config: Config,
  tok: Tokenizer,
): Float64Array {
  const sd = field(saved, "state_dict", "");
  if (!isRecord(sd)) {
    throw new Error(`"state_dict" must be an object of matrices by name, not ${describe(sd)}`);
  }
  const shapes = matrixShapes(config, tok.vocabSize);
  const expected = new Set(shapes.map(([name]) => name));
  for (const name of Object.keys(sd)) {
    if (!expected.has(name)) {
      throw new Error(`state_dict has an unexpected matrix ${describe(name)}`);
    }
  }
  const weights = new Float64Array(numParams(config, tok.vocabSize));
  let next = 0;
  for (const [name, nout, nin] of shapes) {
    const mat = sd[name];
    if (!Array.isArray(mat)) throw new Error(`state_dict lacks the matrix "${name}"`);
    if (mat.length !== nout) throw new Error(`${name} has ${mat.length} rows, expected ${nout}`);
    for (let r = 0; r < nout; r++) {
      const row: unknown = mat[r];
      if (!Array.isArray(row) || row.length !== nin) {
        throw new Error(`${name} row ${r} does not have ${nin} numbers`);
      }
      for (let c = 0; c < nin; c++) {
        const w: unknown = row[c];
        if (typeof w !== "number" || !Number.isFinite(w)) {
          throw new Error(`${name}[${r}][${c}] is ${describe(w)}, not a finite number`);
        }
        weights[next++] = w;
      }
    }
  }
  return weights;
}

/** Version 2's run state: the training and sampling settings (written into `config`), Adam's
 * moments for `n` weights, the generator's state and the text's fingerprint. */
function readRunState(
  saved: Record<string, unknown>,
  config: Config,
  tok: Tokenizer,
  n: number,
): Checkpoint {
  const t = part(saved, "training");
  const s = part(saved, "sampling");
  const a = part(saved, "adam");
  const r = part(saved, "random");
  const d = part(saved, "data");
  const step = readTraining(t, config);
  const prefix = readSampling(s, config, tok);
  const moments = (key: string) => {
    const x = field(a, key, "adam.");
    const xs = typeof x === "string" ? base64ToFloats(x) : undefined;
    if (xs === undefined || xs.length !== n || !xs.every(Number.isFinite)) {
      throw new Error(`adam."${key}" must be base64 of ${n} finite float64 numbers`);
    }
    return xs;
  };
  const v = moments("v");
  const negative = v.findIndex((x) => x < 0);
  if (negative >= 0) {
    throw new Error(
      `adam."v" holds ${v[negative]} at ${negative}: a second moment is a mean of squares, ` +
        `never negative`,
    );
  }
  const random = readRandom(r);
  const sha = field(d, "sha256", "data.");
  if (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha)) {
    throw new Error(`data."sha256" must be 64 hexadecimal digits, not ${describe(sha)}`);
  }
  const numDocs = whole(d, "docs", 1, "data.");
  const holdout = whole(t, "holdout", 0, "training.");
  if (holdout >= numDocs) throw new Error(`training."holdout" ${holdout} leaves no document`);
  const m = moments("m");
  const checkpoint: Checkpoint = { step, m, v, random, textSha256: sha, numDocs, holdout, prefix };
  if ("unprinted_losses" in t) checkpoint.unprinted = readUnprinted(t.unprinted_losses, step);
  readStreamAndShare(t, checkpoint);
  return checkpoint;
}

/** --stream and --holdout P%, written only by runs that use them. */
function readStreamAndShare(t: Record<string, unknown>, checkpoint: Checkpoint): void {
  if ("stream" in t) {
    if (typeof t.stream !== "boolean") {
      throw new Error(`training."stream" must be true or false, not ${describe(t.stream)}`);
    }
    if (t.stream) checkpoint.stream = true;
  }
  if ("holdout_percent" in t) {
    checkpoint.holdoutPercent = real(t, "holdout_percent", "training.", (x) => x > 0 && x < 100);
    if (checkpoint.holdout > 0) {
      throw new Error(`training."holdout" and "holdout_percent" cannot both be set`);
    }
  }
}

/** The losses of the step lines a stopped run could not write, if any: finite numbers, no more
 * than the steps done. */
function readUnprinted(xs: unknown, step: number): number[] {
  if (
    !Array.isArray(xs) || xs.length > step ||
    !xs.every((x) => typeof x === "number" && Number.isFinite(x))
  ) {
    throw new Error(
      `training."unprinted_losses" must be a list of at most ${step} finite numbers ` +
        `(the losses of the last steps)`,
    );
  }
  return xs;
}

/** The training settings into `config`; returns the step reached. */
function readTraining(t: Record<string, unknown>, config: Config): number {
  config.numSteps = whole(t, "num_steps", 0, "training.");
  config.learningRate = real(t, "learning_rate", "training.", (x) => x > 0);
  config.beta1 = real(t, "beta1", "training.", (x) => x >= 0 && x < 1);
  config.beta2 = real(t, "beta2", "training.", (x) => x >= 0 && x < 1);
  config.epsAdam = real(t, "eps_adam", "training.", (x) => x > 0);
  config.initStd = real(t, "init_std", "training.", (x) => x >= 0);
  const seed = field(t, "seed", "training.");
  if (typeof seed !== "string" || !/^[0-9]+$/.test(seed) || seed.length > MAX_SEED_DIGITS) {
    throw new Error(
      `training."seed" must be a string of at most ${MAX_SEED_DIGITS} digits, not ${
        describe(seed)
      }`,
    );
  }
  config.seed = BigInt(seed);
  const step = whole(t, "step", 0, "training.");
  if (step > config.numSteps) {
    throw new Error(`training."step" ${step} is past "num_steps" ${config.numSteps}`);
  }
  return step;
}

/** The sampling settings into `config`; returns the prefix. */
function readSampling(s: Record<string, unknown>, config: Config, tok: Tokenizer): string {
  config.temperature = real(s, "temperature", "sampling.", (x) => x >= 0);
  config.numSamples = whole(s, "num_samples", 0, "sampling.");
  if (config.temperature > 0 && !Number.isFinite(config.temperature ** -1)) {
    throw new Error(`sampling."temperature" ${config.temperature} is too small to divide by`);
  }
  const prefix = field(s, "prefix", "sampling.");
  if (typeof prefix !== "string") {
    throw new Error(`sampling."prefix" must be a string, not ${describe(prefix)}`);
  }
  for (const ch of prefix) {
    if (tok.id(ch) === undefined) {
      throw new Error(`sampling."prefix" holds ${describe(ch)}, which its vocabulary lacks`);
    }
  }
  if ([...prefix].length >= config.blockSize) {
    throw new Error(`sampling."prefix" fills the block size ${config.blockSize}`);
  }
  return prefix;
}

/** The generator's state: the Mersenne Twister's words and position, gauss's cached value. */
function readRandom(r: Record<string, unknown>): RandomState {
  const mt = field(r, "mt", "random.");
  if (
    !Array.isArray(mt) || mt.length !== 624 ||
    !mt.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)
  ) {
    throw new Error(`random."mt" must be 624 whole numbers below 2^32`);
  }
  const gaussNext = field(r, "gauss_next", "random.");
  if (gaussNext !== null && (typeof gaussNext !== "number" || !Number.isFinite(gaussNext))) {
    throw new Error(
      `random."gauss_next" must be null or a finite number, not ${describe(gaussNext)}`,
    );
  }
  const index = whole(r, "index", 0, "random.");
  if (index > 624) throw new Error(`random."index" must be at most 624`);
  return { mt: mt as number[], index, gaussNext };
}

/** Float64 numbers as base64 of their little-endian bytes. */
function floatsToBase64(xs: Float64Array): string {
  const view = new DataView(new ArrayBuffer(xs.length * 8));
  for (let i = 0; i < xs.length; i++) view.setFloat64(i * 8, xs[i], true);
  const bytes = new Uint8Array(view.buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The inverse of floatsToBase64, or undefined if `text` is not such base64. */
function base64ToFloats(text: string): Float64Array | undefined {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  if (binary.length % 8 !== 0) return undefined;
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const xs = new Float64Array(binary.length / 8);
  for (let i = 0; i < xs.length; i++) xs[i] = view.getFloat64(i * 8, true);
  return xs;
}

/** SHA-256 of the documents, joined by "\n" in the text's order: the training text's
 * fingerprint. Line endings and stripped whitespace do not count; they do not reach training. */
export async function fingerprint(docs: string[]): Promise<string> {
  const bytes = new TextEncoder().encode(docs.join("\n"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads a --load or --resume file. Its structure is judged as it is read, before any of it is
 * parsed: a file that holds more lists, values or nesting than a model within the limits can
 * have is refused without building it. */
export function readModel(path: string, flag: string, cfg: Config): SavedModel {
  const action = flag === "--resume" ? "resume" : "load";
  const shape = new JsonShape();
  try {
    const text = readText(path, flag, MAX_MODEL_BYTES, (bytes) => shape.scan(bytes));
    return modelFromJSON(text, cfg, flag === "--resume");
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `cannot ${action} ${shown(path)}: ${escapeControls((err as Error).message)}`,
      1,
    );
  }
}
