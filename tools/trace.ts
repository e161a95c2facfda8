/**
 * The trace: a run's every quantity worth comparing, at full precision, one JSON object a line.
 *
 * A port of microgpt.py is the same algorithm when it computes the same numbers. The trace writes
 * them down in the order the computation makes them: the settings and data (header), the initial
 * weights, per step the forward pass (for the steps asked for), the loss, every matrix's gradient
 * and weights, and the samples. `tools/trace_microgpt.py` writes the same trace from microgpt.py
 * itself, and `tools/trace_diff.ts` names the first quantity where two traces part. PORTING.md,
 * "The trace format", documents every field.
 *
 * This module is engine-agnostic: an engine hands over plain numbers (flat weights and gradients
 * in state_dict order, each forward stage as a list) and the writer does the rest. Writing changes
 * nothing the run computes or draws.
 *
 * @example Write a trace line by line
 * ```ts
 * import { TraceWriter } from "./trace.ts";
 * const lines: string[] = [];
 * const trace = new TraceWriter((line) => lines.push(line));
 * trace.header({
 *   engine: "my_port",
 *   settings: {
 *     nLayer: 1, nEmbd: 4, blockSize: 4, nHead: 2, initStd: 0.08, learningRate: 0.01,
 *     beta1: 0.85, beta2: 0.99, epsAdam: 1e-8, numSteps: 1, temperature: 0.5, numSamples: 1,
 *     seed: 42,
 *   },
 *   chars: ["a", "b"],
 *   docs: ["ab", "ba"],
 *   shuffledDocs: ["ba", "ab"],
 * });
 * console.log(lines[0].slice(0, 60));
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Config } from "../microgpt.ts";

/** The `format` field of every trace's header. */
export const TRACE_FORMAT = "microgpt trace";

/** The version of the format this module writes (and trace_diff.ts reads). */
export const TRACE_VERSION = 1;

/** The settings a trace's header records: microgpt.py's constants (microgpt.ts's `Config`). */
export type TraceSettings = Config;

/** What the header says about a run besides its settings. */
export interface TraceHeader {
  /** The program that wrote the trace: "microgpt.ts", "microgpt_fast.ts", "microgpt.py", … */
  engine: string;
  /** The run's settings. */
  settings: TraceSettings;
  /** The vocabulary: token id i is `chars[i]`; BOS is `chars.length`. */
  chars: string[];
  /** The documents as read, in file order (hashed, and counted). */
  docs: string[];
  /** The documents after the shuffle, in training order (hashed). */
  shuffledDocs: string[];
  /** Documents held out of training, the last ones after the shuffle (`--holdout N`); 0 or
   * undefined for none. */
  holdout?: number;
  /** The share of the text held out, its last lines before the shuffle (`--holdout P%`); 0 or
   * undefined for none. */
  holdoutPercent?: number;
  /** Whether the text is read as one stream of characters (`--stream`), not as lines. */
  stream?: boolean;
}

/** A weight matrix's name and shape, as microgpt.py's state_dict has them. */
export type MatrixShape = [name: string, rows: number, cols: number];

/** One training step, as an engine hands it over. */
export interface StepTrace {
  /** The step's 0-based index (microgpt.py's `step`; it prints step + 1). */
  step: number;
  /** The document's index in the shuffled list: step % number of documents. */
  doc: number;
  /** The tokens the step reads: BOS, the document's, BOS, cut to block_size + 1. */
  tokens: readonly number[];
  /** The learning rate of this step's update, after the decay. */
  lr: number;
  /** The mean loss over the document's positions. */
  loss: number;
  /** Every gradient after backward(), before the update: flat, in state_dict order. */
  grads: ArrayLike<number>;
  /** Every weight after the update: flat, in state_dict order. */
  weights: ArrayLike<number>;
}

/** One sample, as an engine hands it over. */
export interface SampleTrace {
  /** The sample's 0-based index (microgpt.py prints it + 1). */
  sample: number;
  /** The tokens drawn, in order, the final BOS included when one was drawn. */
  tokens: readonly number[];
  /** Each drawn token's probability at the sampling temperature. */
  probs: readonly number[];
  /** The sample as printed. */
  text: string;
}

/** The stages of the forward pass a trace records, in the order gpt() makes them. `embedding`,
 * `norm` and `logits` belong to no layer; `attn` is per head; the others are per layer. */
export type ForwardStage =
  | "embedding"
  | "norm"
  | "norm_attn"
  | "q"
  | "k"
  | "v"
  | "attn"
  | "heads_out"
  | "attn_out"
  | "norm_mlp"
  | "mlp_hidden"
  | "mlp_out"
  | "logits";

/** The stages inside one layer, in order (`attn` stands for every head's weights in turn). */
export const LAYER_STAGES: readonly ForwardStage[] = [
  "norm_attn",
  "q",
  "k",
  "v",
  "attn",
  "heads_out",
  "attn_out",
  "norm_mlp",
  "mlp_hidden",
  "mlp_out",
];

/** What an engine calls while it computes a traced step's forward pass, position by position.
 * For each position: every stage once (`attn` once per layer and head), then `target`. */
export interface ForwardObserver {
  /** One stage's values at position `pos`. `layer` is given for the stages inside a layer, `head`
   * for `attn` (the head's weights over positions 0…pos). */
  stage(
    pos: number,
    stage: ForwardStage,
    values: ArrayLike<number>,
    layer?: number,
    head?: number,
  ): void;
  /** Ends position `pos`: the token read, the target (the next token) and the probability the
   * model gives the target (softmax of the logits, at temperature 1). Writes the record. */
  target(pos: number, token: number, target: number, prob: number): void;
}

/** Optional eyes on training (a trace's): what an engine shows of each step.
 * Watching changes nothing the step computes. */
export interface TrainWatch {
  /** Asked once per step (0-based), before its update: an observer for the step's forward pass,
   * position by position, or undefined for a step not traced in detail. */
  forwardOf?: (step: number) => ForwardObserver | undefined;
  /** Sees every gradient after backward(), before the update, flat in state_dict order. */
  afterBackward?: (step: number, grads: ArrayLike<number>) => void;
  /** Sees the learning rate the update used (lr_t) and every weight after it. */
  afterUpdate?: (step: number, lr: number, weights: ArrayLike<number>) => void;
}

/** Sum of squares of values[start…end), summed left to right as `s = s + x*x` from 0: the order
 * every trace writer uses, so that equal weights give bit-equal sums. */
export function sumOfSquares(values: ArrayLike<number>, start = 0, end = values.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s = s + values[i] * values[i];
  return s;
}

/** SHA-256, in hex, of the documents joined by "\n" and encoded as UTF-8: what a trace's header
 * hashes (microgpt.py's `"\n".join(docs).encode("utf-8")`). */
export function docsSha256(docs: readonly string[]): string {
  return createHash("sha256").update(docs.join("\n"), "utf8").digest("hex");
}

/** One JSON value as trace text: numbers as the shortest decimal that reads back to the same
 * float64 (JavaScript's own), -0 kept, NaN and ±Infinity (which JSON lacks) as the strings
 * "NaN", "Infinity", "-Infinity", bigints as their digits. */
export function traceJSON(value: unknown): string {
  if (typeof value === "number") {
    if (Number.isNaN(value)) return '"NaN"';
    if (value === Infinity) return '"Infinity"';
    if (value === -Infinity) return '"-Infinity"';
    return Object.is(value, -0) ? "-0" : String(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const items = value as ArrayLike<unknown>;
    const parts: string[] = [];
    for (let i = 0; i < items.length; i++) parts.push(traceJSON(items[i]));
    return `[${parts.join(",")}]`;
  }
  if (value !== null && typeof value === "object") {
    const parts: string[] = [];
    for (const [key, v] of Object.entries(value)) {
      parts.push(`${JSON.stringify(key)}:${traceJSON(v)}`);
    }
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The `settings` object of a header, under microgpt.py's names. */
function settingsRecord(s: TraceSettings): Record<string, unknown> {
  return {
    n_layer: s.nLayer,
    n_embd: s.nEmbd,
    block_size: s.blockSize,
    n_head: s.nHead,
    init_std: s.initStd,
    learning_rate: s.learningRate,
    beta1: s.beta1,
    beta2: s.beta2,
    eps_adam: s.epsAdam,
    num_steps: s.numSteps,
    temperature: s.temperature,
    num_samples: s.numSamples,
    seed: s.seed,
  };
}

/** The header's line: format, version, engine, settings, vocabulary, documents, and the data
 * setup when it is not microgpt.py's (a held-out part, a stream): `holdout` (N documents, or
 * the string "P%") and `stream` are written only when there is one, so that a trace without
 * them is one of microgpt.py's setup. */
export function headerLine(h: TraceHeader): string {
  const vocabSize = h.chars.length + 1;
  const { nLayer, nEmbd, blockSize } = h.settings;
  const record: Record<string, unknown> = {
    kind: "header",
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    engine: h.engine,
    settings: settingsRecord(h.settings),
    vocab: h.chars,
    bos: h.chars.length,
    vocab_size: vocabSize,
    num_docs: h.docs.length,
    docs_sha256: docsSha256(h.docs),
    shuffled_sha256: docsSha256(h.shuffledDocs),
    num_params: 2 * vocabSize * nEmbd + blockSize * nEmbd + nLayer * 12 * nEmbd * nEmbd,
  };
  if ((h.holdoutPercent ?? 0) > 0) record.holdout = `${h.holdoutPercent}%`;
  else if ((h.holdout ?? 0) > 0) record.holdout = h.holdout;
  if (h.stream === true) record.stream = true;
  return traceJSON(record);
}

/** Writes a trace, one line per record, through `writeLine` (which gets the line without its
 * newline). Call `header`, then `init`, then per step `forward` (for a detailed step; its
 * records come while the step computes) and `step`, then `sample` per sample. */
export class TraceWriter {
  #writeLine: (line: string) => void;
  #detail: Set<number>;
  #settings: TraceSettings | undefined;
  #vocabSize = 0;
  #shapes: MatrixShape[] | undefined;

  /** A writer that hands each line to `writeLine`. `detail` names the steps whose forward pass is
   * traced, counted from 1 as microgpt.py prints them (as `--trace-detail` takes them); the first
   * step always is. */
  constructor(writeLine: (line: string) => void, detail: Iterable<number> = []) {
    this.#writeLine = writeLine;
    this.#detail = new Set([1, ...detail]);
  }

  /** The observer for step `step` (0-based) when its forward pass is traced, else undefined:
   * what a training loop asks before each step. */
  observerFor(step: number): ForwardObserver | undefined {
    return this.#detail.has(step + 1) ? this.forward(step) : undefined;
  }

  #write(record: Record<string, unknown>): void {
    this.#writeLine(traceJSON(record));
  }

  /** The first record: format, version, engine, settings, vocabulary, documents, data setup
   * ({@linkcode headerLine}). */
  header(h: TraceHeader): void {
    if (this.#settings !== undefined) throw new Error("trace: the header is written twice");
    this.#settings = h.settings;
    this.#vocabSize = h.chars.length + 1;
    this.#writeLine(headerLine(h));
  }

  /** The initial weights, one record per matrix: `weights` flat in state_dict order, `shapes`
   * the matrices' names and shapes in that order (they also cut the later steps' sums). */
  init(shapes: readonly MatrixShape[], weights: ArrayLike<number>): void {
    if (this.#settings === undefined) throw new Error("trace: init before the header");
    let at = 0;
    for (const [name, rows, cols] of shapes) {
      const end = at + rows * cols;
      this.#write({
        kind: "init",
        matrix: name,
        rows,
        cols,
        sumsq: sumOfSquares(weights, at, end),
        values: Array.prototype.slice.call(weights, at, end),
      });
      at = end;
    }
    if (at !== weights.length) {
      throw new Error(`trace: the shapes hold ${at} weights, the model ${weights.length}`);
    }
    this.#shapes = shapes.map(([n, r, c]) => [n, r, c]);
  }

  /** Per matrix, the sum of squares of its slice of a flat list. */
  #sums(flat: ArrayLike<number>): Record<string, number> {
    const sums: Record<string, number> = {};
    let at = 0;
    for (const [name, rows, cols] of this.#shapes!) {
      sums[name] = sumOfSquares(flat, at, at + rows * cols);
      at += rows * cols;
    }
    return sums;
  }

  /** A training step, after its update. */
  step(s: StepTrace): void {
    if (this.#shapes === undefined) throw new Error("trace: a step before init");
    this.#write({
      kind: "step",
      step: s.step,
      doc: s.doc,
      tokens: s.tokens,
      lr: s.lr,
      loss: s.loss,
      grad_sumsq: this.#sums(s.grads),
      weight_sumsq: this.#sums(s.weights),
    });
  }

  /** The observer for step `step`'s forward pass (0-based); it writes one record per position. */
  forward(step: number): ForwardObserver {
    const settings = this.#settings;
    if (settings === undefined) throw new Error("trace: a forward pass before the header");
    return new ForwardRecorder(step, settings, this.#vocabSize, (r) => this.#write(r));
  }

  /** One sample. */
  sample(s: SampleTrace): void {
    if (this.#settings === undefined) throw new Error("trace: a sample before the header");
    this.#write({
      kind: "sample",
      sample: s.sample,
      tokens: s.tokens,
      probs: s.probs,
      text: s.text,
    });
  }
}

/** Collects one position's stages and writes them as a `forward` record at `target`. It checks
 * that an engine handed over every stage, with the right lengths: a forgotten stage is a bug in
 * the engine, and a record without it would look like a divergence. */
class ForwardRecorder implements ForwardObserver {
  #pos = -1;
  #values = new Map<string, number[]>();

  constructor(
    readonly step: number,
    readonly settings: TraceSettings,
    readonly vocabSize: number,
    readonly write: (record: Record<string, unknown>) => void,
  ) {}

  stage(
    pos: number,
    stage: ForwardStage,
    values: ArrayLike<number>,
    layer = -1,
    head = -1,
  ): void {
    if (pos !== this.#pos) {
      if (this.#values.size > 0) {
        throw new Error(`trace: position ${this.#pos} ended without its target`);
      }
      this.#pos = pos;
    }
    const key = `${stage}/${layer}/${head}`;
    if (this.#values.has(key)) throw new Error(`trace: ${key} twice at position ${pos}`);
    this.#values.set(key, Array.from(values));
  }

  #take(stage: ForwardStage, length: number, layer = -1, head = -1): number[] {
    const key = `${stage}/${layer}/${head}`;
    const values = this.#values.get(key);
    if (values === undefined) throw new Error(`trace: position ${this.#pos} lacks ${key}`);
    if (values.length !== length) {
      throw new Error(
        `trace: ${key} at position ${this.#pos} has ${values.length} values, not ${length}`,
      );
    }
    return values;
  }

  target(pos: number, token: number, target: number, prob: number): void {
    if (pos !== this.#pos) throw new Error(`trace: target of position ${pos} without its stages`);
    const { nLayer, nHead, nEmbd } = this.settings;
    const e = nEmbd;
    const layers: Record<string, unknown>[] = [];
    for (let li = 0; li < nLayer; li++) {
      const attn: number[][] = [];
      for (let h = 0; h < nHead; h++) attn.push(this.#take("attn", pos + 1, li, h));
      layers.push({
        norm_attn: this.#take("norm_attn", e, li),
        q: this.#take("q", e, li),
        k: this.#take("k", e, li),
        v: this.#take("v", e, li),
        attn,
        heads_out: this.#take("heads_out", e, li),
        attn_out: this.#take("attn_out", e, li),
        norm_mlp: this.#take("norm_mlp", e, li),
        mlp_hidden: this.#take("mlp_hidden", 4 * e, li),
        mlp_out: this.#take("mlp_out", e, li),
      });
    }
    const record = {
      kind: "forward",
      step: this.step,
      pos,
      token,
      target,
      embedding: this.#take("embedding", e),
      norm: this.#take("norm", e),
      layers,
      logits: this.#take("logits", this.vocabSize),
      prob,
    };
    const expected = 2 + 1 + nLayer * (LAYER_STAGES.length - 1 + nHead);
    if (this.#values.size !== expected) {
      throw new Error(`trace: position ${pos} has stages the format does not know`);
    }
    this.#values.clear();
    this.write(record);
  }
}
