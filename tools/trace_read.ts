/**
 * Reading a trace: the records of tools/trace.ts's format, version 1, parsed and checked, with one
 * clear message for anything that is not such a trace (a missing file, text that is not JSON Lines,
 * a JSON file that is no trace, another version).
 *
 * A trace is read one step at a time ({@linkcode TraceReader}), a line at a time from the file, so
 * that a trace of any length can be compared: a long run's is larger than the longest string
 * JavaScript holds. That needs the records in the order every writer writes them (PORTING.md,
 * "Order of the records"): the header, the initial weights, the steps in order (a step's forward
 * records beside its step record), then the samples. A last line cut short (its writer killed
 * mid-line, or its disk full) is left out, and said so; a bad line anywhere else is refused.
 *
 * @example Read a trace step by step
 * ```ts
 * import { openTrace } from "./trace_read.ts";
 * const trace = openTrace("run.jsonl");
 * let steps = 0;
 * while (trace.nextStep() !== undefined) steps++;
 * console.log(trace.header.engine, steps, "steps,", trace.samples().length, "samples");
 * trace.close();
 * ```
 *
 * @module
 */

import { shown } from "./messages.ts";
import { LAYER_STAGES, TRACE_FORMAT, TRACE_VERSION } from "./trace.ts";
import { type ByteSource, bytesSource, type Line, LineReader, LineTooLong } from "./trace_lines.ts";

/** A trace that cannot be read: missing, not JSON Lines, not a trace, another version. */
export class TraceError extends Error {}

/** A trace's `header` record, as read. */
export interface Header {
  /** The program that wrote it. */
  engine: string;
  /** The settings, under microgpt.py's names (the seed as its digits). */
  settings: Record<string, number | string | null>;
  /** The vocabulary's characters. */
  vocab: string[];
  /** The BOS token id. */
  bos: number;
  /** Every other field that must agree between two runs of the same setup. */
  data: Record<string, number | string>;
  /** The documents held out of training: "none", a number of documents ("10"), or a share of
   * the text ("10%"). A trace without the field holds none out (microgpt.py's setup). */
  holdout: string;
  /** Whether the text was read as one stream of characters (--stream), not as lines. */
  stream: boolean;
}

/** One matrix's initial weights. */
export interface InitRecord {
  /** The matrix's name. */
  matrix: string;
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** Sum of squares. */
  sumsq: number;
  /** Every weight, row-major. */
  values: number[];
}

/** One training step. */
export interface StepRecord {
  /** 0-based. */
  step: number;
  /** Index of the document in the shuffled list. */
  doc: number;
  /** The tokens read. */
  tokens: number[];
  /** lr_t. */
  lr: number;
  /** The loss. */
  loss: number;
  /** Per matrix, the sum of squares of its gradient. */
  grad: Map<string, number>;
  /** Per matrix, the sum of squares of its weights after the update. */
  weights: Map<string, number>;
}

/** One layer of a forward record. */
export type LayerRecord = Record<string, number[] | number[][]>;

/** One position of a traced forward pass. */
export interface ForwardRecord {
  /** 0-based step. */
  step: number;
  /** Position. */
  pos: number;
  /** The token read. */
  token: number;
  /** The token to predict. */
  target: number;
  /** The stages outside the layers: embedding, norm, logits. */
  outer: Record<string, number[]>;
  /** Per layer, its stages (`attn`: per head). */
  layers: LayerRecord[];
  /** The target's probability. */
  prob: number;
}

/** One sample. */
export interface SampleRecord {
  /** 0-based. */
  sample: number;
  /** The tokens drawn. */
  tokens: number[];
  /** Their probabilities. */
  probs: number[];
  /** The text printed. */
  text: string;
}

/** A trace, read whole and checked. */
export interface Trace {
  /** Where it was read from. */
  path: string;
  /** The header. */
  header: Header;
  /** The initial weights, in state_dict order. */
  init: InitRecord[];
  /** The steps by index. */
  steps: Map<number, StepRecord>;
  /** The traced forward passes: step → positions in order. */
  forward: Map<number, ForwardRecord[]>;
  /** The samples in order. */
  samples: SampleRecord[];
  /** The number of the last line, if it was cut short and left out. */
  cut?: number;
}

/** One training step: its record, and its forward pass when it was traced. */
export interface StepGroup {
  /** The step record. */
  step: StepRecord;
  /** The forward pass, position by position, if the step was traced in detail. */
  forward?: ForwardRecord[];
}

/** A trace as the differ walks it: the header and the initial weights, then one step at a time
 * in order, then the samples. */
export interface TraceSource {
  /** Where it is read from. */
  readonly path: string;
  /** The header. */
  readonly header: Header;
  /** The initial weights, in state_dict order. */
  readonly init: InitRecord[];
  /** The next step, or undefined after the last. */
  nextStep(): StepGroup | undefined;
  /** The samples, in order (the steps not yet taken are passed over). */
  samples(): SampleRecord[];
  /** The number of the last line, if it was cut short and left out (known at the end). */
  readonly cut: number | undefined;
}

type Json = Record<string, unknown>;

/** A field, checked: `kind` says what to expect. */
function field(r: Json, key: string, kind: "string" | "int" | "num" | "object" | "array"): unknown {
  const v = r[key];
  const ok = kind === "string"
    ? typeof v === "string"
    : kind === "int"
    ? Number.isInteger(v)
    : kind === "num"
    ? typeof v === "number" || v === "NaN" || v === "Infinity" || v === "-Infinity"
    : kind === "array"
    ? Array.isArray(v)
    : v !== null && typeof v === "object" && !Array.isArray(v);
  if (!ok) {
    throw new TypeError(
      `"${key}" is missing or not ${
        kind === "int" ? "an integer" : kind === "num" ? "a number" : `a ${kind}`
      }`,
    );
  }
  return kind === "num" ? num(v) : v;
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  throw new TypeError(`${JSON.stringify(v)} is not a number`);
}

function nums(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new TypeError(`"${what}" is not a list of numbers`);
  return v.map(num);
}

function ints(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(Number.isInteger)) {
    throw new TypeError(`"${what}" is not a list of integers`);
  }
  return v as number[];
}

function sums(v: unknown, what: string): Map<string, number> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new TypeError(`"${what}" is not an object of numbers`);
  }
  return new Map(Object.entries(v).map(([k, x]) => [k, num(x)]));
}

function readHeader(r: Json, seedSource: string | undefined): Header {
  const settings: Record<string, number | string | null> = {};
  for (const [k, v] of Object.entries(field(r, "settings", "object") as Json)) {
    if (k === "seed" && seedSource !== undefined) settings[k] = seedSource;
    else settings[k] = v === null ? null : num(v);
  }
  const vocab = field(r, "vocab", "array") as unknown[];
  if (!vocab.every((c) => typeof c === "string")) throw new TypeError(`"vocab" is not characters`);
  const data: Record<string, number | string> = {};
  for (const key of ["vocab_size", "num_docs"]) data[key] = field(r, key, "int") as number;
  for (const key of ["docs_sha256", "shuffled_sha256"]) {
    data[key] = field(r, key, "string") as string;
  }
  return {
    engine: field(r, "engine", "string") as string,
    settings,
    vocab: vocab as string[],
    bos: field(r, "bos", "int") as number,
    data,
    holdout: readHoldout(r.holdout),
    stream: readStream(r.stream),
  };
}

/** The header's `holdout`: absent (none), a number of documents, or a share of the text. */
function readHoldout(v: unknown): string {
  if (v === undefined || v === 0) return "none";
  if (Number.isInteger(v) && (v as number) > 0) return String(v);
  if (typeof v === "string" && /^([0-9]+\.?[0-9]*|\.[0-9]+)%$/.test(v)) return v;
  throw new TypeError(`"holdout" is not a number of documents or a share of the text ("10%")`);
}

/** The header's `stream`: absent (lines), or a boolean. */
function readStream(v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new TypeError(`"stream" is not true or false`);
  return v;
}

function readForward(r: Json): ForwardRecord {
  const outer: Record<string, number[]> = {};
  for (const key of ["embedding", "norm", "logits"]) outer[key] = nums(r[key], key);
  const layers = (field(r, "layers", "array") as unknown[]).map((l) => {
    if (l === null || typeof l !== "object") throw new TypeError(`a layer is not an object`);
    const layer: LayerRecord = {};
    for (const stage of LAYER_STAGES) {
      const v = (l as Json)[stage];
      if (stage === "attn") {
        if (!Array.isArray(v)) throw new TypeError(`"attn" is not a list of heads`);
        layer.attn = v.map((h) => nums(h, "attn"));
      } else layer[stage] = nums(v, stage);
    }
    return layer;
  });
  return {
    step: field(r, "step", "int") as number,
    pos: field(r, "pos", "int") as number,
    token: field(r, "token", "int") as number,
    target: field(r, "target", "int") as number,
    outer,
    layers,
    prob: field(r, "prob", "num") as number,
  };
}

/** A step record's fields. */
function readStep(r: Json): StepRecord {
  return {
    step: field(r, "step", "int") as number,
    doc: field(r, "doc", "int") as number,
    tokens: ints(r.tokens, "tokens"),
    lr: field(r, "lr", "num") as number,
    loss: field(r, "loss", "num") as number,
    grad: sums(r.grad_sumsq, "grad_sumsq"),
    weights: sums(r.weight_sumsq, "weight_sumsq"),
  };
}

/** A sample record's fields. */
function readSample(r: Json): SampleRecord {
  return {
    sample: field(r, "sample", "int") as number,
    tokens: ints(r.tokens, "tokens"),
    probs: nums(r.probs, "probs"),
    text: field(r, "text", "string") as string,
  };
}

/** An init record's fields. */
function readInit(r: Json): InitRecord {
  return {
    matrix: field(r, "matrix", "string") as string,
    rows: field(r, "rows", "int") as number,
    cols: field(r, "cols", "int") as number,
    sumsq: field(r, "sumsq", "num") as number,
    values: nums(r.values, "values"),
  };
}

/** A record as read: its fields and its line's number. */
interface Read {
  r: Json;
  n: number;
}

/** Reads a trace one record at a time from a source of bytes: the header and the initial weights
 * when it is made, then {@linkcode TraceReader.nextStep} step by step, then the samples. Every
 * problem is a {@linkcode TraceError} naming the line. */
export class TraceReader implements TraceSource {
  /** The header. */
  readonly header: Header;
  /** The initial weights. */
  readonly init: InitRecord[] = [];
  /** The number of the last line, if it was cut short and left out. */
  cut: number | undefined;
  #lines: LineReader;
  #text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #peeked: Read | undefined;
  #atEnd = false;
  /** Forward records of steps whose step record has not come yet. */
  #pending = new Map<number, ForwardRecord[]>();
  #last = -1; // the last step record's step
  #stepsDone = false;
  #onClose: () => void;

  /** A reader of `source`, named `path` in messages; `onClose` releases the source. */
  constructor(
    source: ByteSource,
    readonly path: string,
    options: { chunk?: number; maxLine?: number; onClose?: () => void } = {},
  ) {
    this.#lines = new LineReader(source, options);
    this.#onClose = options.onClose ?? (() => {});
    this.header = this.#readHeader();
    for (let next = this.#peek(); next?.r.kind === "init"; next = this.#peek()) {
      this.#guard(next.n, () => this.init.push(readInit(next!.r)));
      this.#peeked = undefined;
    }
  }

  #name(): string {
    return shown(this.path);
  }

  /** The next line, or a TraceError for what cannot be read. */
  #line(): Line | undefined {
    try {
      return this.#lines.next();
    } catch (err) {
      if (err instanceof LineTooLong) {
        throw new TraceError(
          `${this.#name()}: line ${err.number} is longer than ${err.limit} bytes, more than ` +
            `this reader can hold as one line`,
        );
      }
      throw new TraceError(`cannot read ${this.#name()}: ${(err as Error).message}`);
    }
  }

  #readHeader(): Header {
    const line = this.#line();
    let text: string;
    try {
      // The first line may start with a byte-order mark, which the decoder drops.
      text = line === undefined ? "" : new TextDecoder("utf-8", { fatal: true }).decode(line.bytes);
    } catch {
      throw new TraceError(`${this.#name()} is not UTF-8 text, not a trace`);
    }
    if (text.trim() === "") throw new TraceError(`${this.#name()} is empty, not a trace`);
    let seedSource: string | undefined;
    let r: unknown;
    try {
      // The seed may be any integer: its digits are kept, not a float64 near them.
      r = JSON.parse(text, (key: string, value: unknown, context?: { source?: string }) => {
        if (key === "seed" && context?.source !== undefined) seedSource = context.source;
        return value;
      });
    } catch {
      throw new TraceError(`${this.#name()}: line 1 is not JSON: not a trace (JSON Lines)`);
    }
    if (r === null || typeof r !== "object" || Array.isArray(r)) {
      throw new TraceError(`${this.#name()}: line 1 is not a JSON object: not a trace`);
    }
    const first = r as Json;
    if (first.kind !== "header" || first.format !== TRACE_FORMAT) {
      throw new TraceError(
        `${this.#name()} is not a trace: its first line is not a "${TRACE_FORMAT}" header`,
      );
    }
    if (first.version !== TRACE_VERSION) {
      throw new TraceError(
        `${this.#name()} is trace format version ${JSON.stringify(first.version)}; this differ ` +
          `reads version ${TRACE_VERSION}`,
      );
    }
    return this.#guard(1, () => readHeader(first, seedSource));
  }

  /** Runs `read` on line `n`'s record, turning a missing or mistyped field into a TraceError. */
  #guard<T>(n: number, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof TraceError) throw err;
      throw new TraceError(
        `${this.#name()}: line ${n}: ${(err as Error).message}: not a trace of version 1`,
      );
    }
  }

  /** The next record, without taking it; undefined at the end (or at a last line cut short). */
  #peek(): Read | undefined {
    while (this.#peeked === undefined && !this.#atEnd) {
      const line = this.#line();
      if (line === undefined) {
        this.#atEnd = true;
        break;
      }
      // Only a last line without its newline may be cut short: the end of what was written.
      const cut = () => {
        this.cut = line.number;
        this.#atEnd = true;
      };
      let text: string;
      try {
        text = this.#text.decode(line.bytes);
      } catch {
        if (!line.ended) {
          cut();
          break;
        }
        throw new TraceError(
          `${this.#name()}: line ${line.number} is not UTF-8 text: not a trace`,
        );
      }
      if (text.trim() === "") continue;
      let r: unknown;
      try {
        r = JSON.parse(text);
      } catch {
        if (!line.ended) {
          cut();
          break;
        }
        throw new TraceError(
          `${this.#name()}: line ${line.number} is not JSON: not a trace (JSON Lines)`,
        );
      }
      if (r === null || typeof r !== "object" || Array.isArray(r)) {
        throw new TraceError(
          `${this.#name()}: line ${line.number} is not a JSON object: not a trace`,
        );
      }
      this.#peeked = { r: r as Json, n: line.number };
    }
    return this.#peeked;
  }

  /** A record out of the order the reader walks, or of a kind it does not know. */
  #misplaced(read: Read): TraceError {
    const kind = read.r.kind;
    const why = kind === "header"
      ? "a second header"
      : kind === "init"
      ? "an init record after the steps began: the records are out of order"
      : kind === "step" || kind === "forward"
      ? `a ${kind} record after the samples: the records are out of order`
      : `unknown record kind ${JSON.stringify(kind)}`;
    return new TraceError(`${this.#name()}: line ${read.n}: ${why}: not a trace of version 1`);
  }

  /** The next step, with its forward pass; undefined once the steps are over. */
  nextStep(): StepGroup | undefined {
    while (!this.#stepsDone) {
      const read = this.#peek();
      if (read === undefined || read.r.kind === "sample") break;
      this.#peeked = undefined;
      if (read.r.kind === "forward") {
        const f = this.#guard(read.n, () => readForward(read.r));
        this.#guard(read.n, () => this.#pend(f));
        continue;
      }
      if (read.r.kind !== "step") throw this.#misplaced(read);
      const step = this.#guard(read.n, () => readStep(read.r));
      this.#guard(read.n, () => this.#order(step.step));
      this.#last = step.step;
      let forward = this.#pending.get(step.step);
      // Forward records of a step that never ended (a run killed mid-step) are dropped.
      for (const s of this.#pending.keys()) if (s <= step.step) this.#pending.delete(s);
      // A writer may write a step's forward records after its step record, too.
      for (let next = this.#peek(); next?.r.kind === "forward"; next = this.#peek()) {
        const f = this.#guard(next.n, () => readForward(next!.r));
        if (f.step !== step.step) break;
        this.#peeked = undefined;
        (forward ??= []).push(f);
      }
      return { step, forward };
    }
    this.#stepsDone = true;
    this.#pending.clear();
    return undefined;
  }

  #pend(f: ForwardRecord): void {
    if (f.step <= this.#last) {
      throw new TypeError(
        `the forward pass of step ${f.step} comes after step ${this.#last}'s record: the ` +
          `records are out of order`,
      );
    }
    const list = this.#pending.get(f.step);
    if (list === undefined) this.#pending.set(f.step, [f]);
    else list.push(f);
  }

  #order(step: number): void {
    if (step === this.#last) throw new TypeError(`step ${step} appears twice`);
    if (step < this.#last) {
      throw new TypeError(
        `step ${step} comes after step ${this.#last}: the steps are out of order`,
      );
    }
  }

  /** The samples, in order; the steps not yet taken are passed over. */
  samples(): SampleRecord[] {
    while (this.nextStep() !== undefined) {
      // passed over
    }
    const samples: SampleRecord[] = [];
    for (let read = this.#peek(); read !== undefined; read = this.#peek()) {
      if (read.r.kind !== "sample") throw this.#misplaced(read);
      samples.push(this.#guard(read.n, () => readSample(read.r)));
      this.#peeked = undefined;
    }
    return samples;
  }

  /** Releases the source (a file). */
  close(): void {
    this.#onClose();
  }
}

/** Opens a trace file for reading step by step. Throws {@linkcode TraceError} for a missing
 * file, a directory, or a first line that is no trace's header. */
export function openTrace(path: string): TraceReader {
  const name = shown(path);
  let file: Deno.FsFile;
  try {
    if (Deno.statSync(path).isDirectory) {
      throw new TraceError(`${name} is a directory, not a trace`);
    }
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof TraceError) throw err;
    if (err instanceof Deno.errors.NotFound) throw new TraceError(`${name}: no such file`);
    throw new TraceError(`cannot read ${name}: ${(err as Error).message}`);
  }
  try {
    return new TraceReader(file, path, { onClose: () => file.close() });
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Reads a whole trace from a reader into memory. */
function collect(reader: TraceReader): Trace {
  const trace: Trace = {
    path: reader.path,
    header: reader.header,
    init: reader.init,
    steps: new Map(),
    forward: new Map(),
    samples: [],
  };
  for (let g = reader.nextStep(); g !== undefined; g = reader.nextStep()) {
    trace.steps.set(g.step.step, g.step);
    if (g.forward !== undefined) trace.forward.set(g.step.step, g.forward);
  }
  trace.samples = reader.samples();
  if (reader.cut !== undefined) trace.cut = reader.cut;
  return trace;
}

/** Reads a trace from its text; `path` names it in messages. Throws {@linkcode TraceError}. */
export function parseTrace(text: string, path: string): Trace {
  return collect(new TraceReader(bytesSource(new TextEncoder().encode(text)), path));
}

/** Reads a whole trace file into memory (the differ reads step by step: {@linkcode openTrace}).
 * Throws {@linkcode TraceError} for anything unreadable. */
export function readTrace(path: string): Trace {
  const reader = openTrace(path);
  try {
    return collect(reader);
  } finally {
    reader.close();
  }
}

/** An in-memory trace as the differ walks it: its steps in order. */
export function traceSource(trace: Trace): TraceSource {
  const steps = [...trace.steps.keys()].sort((x, y) => x - y);
  let i = 0;
  return {
    path: trace.path,
    header: trace.header,
    init: trace.init,
    cut: trace.cut,
    nextStep(): StepGroup | undefined {
      if (i >= steps.length) return undefined;
      const s = steps[i++];
      return { step: trace.steps.get(s)!, forward: trace.forward.get(s) };
    },
    samples(): SampleRecord[] {
      i = steps.length;
      return trace.samples;
    },
  };
}
