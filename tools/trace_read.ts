/**
 * Reading a trace: the records of tools/trace.ts's format, version 1, parsed and checked, with one
 * clear message for anything that is not such a trace (a missing file, text that is not JSON Lines,
 * a JSON file that is no trace, another version).
 *
 * @example Read a trace and look at its steps
 * ```ts
 * import { readTrace } from "./trace_read.ts";
 * const trace = await readTrace("run.jsonl");
 * console.log(trace.header.engine, trace.steps.size, "steps");
 * ```
 *
 * @module
 */

import { LAYER_STAGES, TRACE_FORMAT, TRACE_VERSION } from "./trace.ts";

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

/** A trace, read and checked. */
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
  };
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

/** Adds one record (not the header) to the trace being read. */
function addRecord(trace: Trace, r: Json): void {
  const kind = r.kind;
  if (kind === "init") {
    trace.init.push({
      matrix: field(r, "matrix", "string") as string,
      rows: field(r, "rows", "int") as number,
      cols: field(r, "cols", "int") as number,
      sumsq: field(r, "sumsq", "num") as number,
      values: nums(r.values, "values"),
    });
  } else if (kind === "step") {
    const step = field(r, "step", "int") as number;
    if (trace.steps.has(step)) throw new TypeError(`step ${step} appears twice`);
    trace.steps.set(step, {
      step,
      doc: field(r, "doc", "int") as number,
      tokens: ints(r.tokens, "tokens"),
      lr: field(r, "lr", "num") as number,
      loss: field(r, "loss", "num") as number,
      grad: sums(r.grad_sumsq, "grad_sumsq"),
      weights: sums(r.weight_sumsq, "weight_sumsq"),
    });
  } else if (kind === "forward") {
    const f = readForward(r);
    const list = trace.forward.get(f.step) ?? [];
    list.push(f);
    trace.forward.set(f.step, list);
  } else if (kind === "sample") {
    trace.samples.push({
      sample: field(r, "sample", "int") as number,
      tokens: ints(r.tokens, "tokens"),
      probs: nums(r.probs, "probs"),
      text: field(r, "text", "string") as string,
    });
  } else if (kind === "header") throw new TypeError("a second header");
  else throw new TypeError(`unknown record kind ${JSON.stringify(kind)}`);
}

/** Reads a trace from its text; `path` names it in messages. Throws {@linkcode TraceError}. */
export function parseTrace(text: string, path: string): Trace {
  const lines = text.split("\n");
  let seedSource: string | undefined;
  const parse = (line: string, n: number, keepSeed: boolean): Json => {
    let r: unknown;
    try {
      // The seed may be any integer: its digits are kept, not a float64 near them.
      r = keepSeed
        ? JSON.parse(line, (key: string, value: unknown, context?: { source?: string }) => {
          if (key === "seed" && context?.source !== undefined) seedSource = context.source;
          return value;
        })
        : JSON.parse(line);
    } catch {
      throw new TraceError(`${path}: line ${n} is not JSON: not a trace (JSON Lines)`);
    }
    if (r === null || typeof r !== "object" || Array.isArray(r)) {
      throw new TraceError(`${path}: line ${n} is not a JSON object: not a trace`);
    }
    return r as Json;
  };
  if (lines[0].trim() === "") throw new TraceError(`${path} is empty, not a trace`);
  const first = parse(lines[0], 1, true);
  if (first.kind !== "header" || first.format !== TRACE_FORMAT) {
    throw new TraceError(
      `${path} is not a trace: its first line is not a "${TRACE_FORMAT}" header`,
    );
  }
  if (first.version !== TRACE_VERSION) {
    throw new TraceError(
      `${path} is trace format version ${JSON.stringify(first.version)}; this differ reads ` +
        `version ${TRACE_VERSION}`,
    );
  }
  let n = 1;
  try {
    const trace: Trace = {
      path,
      header: readHeader(first, seedSource),
      init: [],
      steps: new Map(),
      forward: new Map(),
      samples: [],
    };
    for (n = 2; n <= lines.length; n++) {
      const line = lines[n - 1];
      if (line.trim() !== "") addRecord(trace, parse(line, n, false));
    }
    return trace;
  } catch (err) {
    if (err instanceof TraceError) throw err;
    throw new TraceError(`${path}: line ${n}: ${(err as Error).message}: not a trace of version 1`);
  }
}

/** Reads and parses a trace file. Throws {@linkcode TraceError} for anything unreadable. */
export async function readTrace(path: string): Promise<Trace> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new TraceError(`${path}: no such file`);
    if (err instanceof Deno.errors.IsADirectory) {
      throw new TraceError(`${path} is a directory, not a trace`);
    }
    throw new TraceError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TraceError(`${path} is not UTF-8 text, not a trace`);
  }
  return parseTrace(text, path);
}
