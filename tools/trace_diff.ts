/**
 * trace_diff.ts — compares two traces and names the first quantity where they part.
 *
 * Two runs of the same algorithm on the same settings and data make the same numbers, up to the
 * last bits that different math libraries round differently. The differ walks two traces in the
 * order the computation makes their numbers — the header, the initial weights, then per step the
 * forward pass (position by position, stage by stage), the loss, the gradients in the order
 * backward() reaches them, the learning rate and the weights after the update, and at the end the
 * samples — and stops at the first one that differs by more than the tolerance. It names it, shows
 * both values and names what lies between the last quantity that agrees and this one: where to
 * look for the bug.
 *
 * @example Compare a port's trace with microgpt.py's
 * ```sh
 * python3 tools/trace_microgpt.py microgpt.py --trace py.jsonl --steps 20
 * deno run --allow-read tools/trace_diff.ts port.jsonl py.jsonl
 * ```
 *
 * Exit codes: 0 identical or within the tolerance, 1 diverged (or set up differently), 2 an
 * unreadable input.
 *
 * @module
 */

import { LAYER_STAGES, TRACE_FORMAT, TRACE_VERSION } from "./trace.ts";

/** The default tolerance on the relative difference of two numbers. Chosen by measurement: over
 * microgpt.py's whole default run (1000 steps, forward passes traced at steps 1, 2, 100, 500 and
 * 1000), Part I of microgpt.ts and microgpt.py differ by at most 1.9e-14 (a q at step 1000; losses
 * 7.2e-16, gradient sums 1.7e-14, samples 2.9e-15) — V8's exp, log, cos, sin and `**` round a last
 * bit differently from glibc's now and then, and the run carries it on — while the classic porting
 * bugs differ by 2e-4 or more where they first show (RMSNorm's eps, the smallest). 1e-9 stands
 * about 5·10^4 above the one and 2·10^5 below the other: ports that only sum in another order
 * agree, wrong algorithms do not. */
export const DEFAULT_TOLERANCE = 1e-9;

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

// ---------------------------------------------------------------------------------------------
// Reading a trace

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

// ---------------------------------------------------------------------------------------------
// The walk

/** One quantity of a trace: where it is, and what it is. */
export interface Quantity {
  /** The record it comes from. */
  record: "header" | "init" | "step" | "forward" | "sample";
  /** What it is, in words ("the loss", "the gradient of lm_head (sum of squares)"). */
  what: string;
  /** Its name in the hint table: `grad:<matrix>`, `forward:<stage>`, `loss`, … */
  key: string;
  /** For the statistics: init, forward, loss, grad, lr, weights, samples, data. */
  kind: string;
  /** The step, 0-based. */
  step?: number;
  /** The matrix. */
  matrix?: string;
  /** The position. */
  pos?: number;
  /** The layer. */
  layer?: number;
  /** The attention head. */
  head?: number;
  /** The sample, 0-based. */
  sample?: number;
  /** The element within a list, in words ("index 3", "row 2, col 5"). */
  index?: string;
}

/** Where a quantity is, in words: "step 3, position 2, layer 0, head 1". Steps and samples are
 * counted from 1, as microgpt.py prints them; positions, layers and heads from 0, as its code
 * indexes them. */
export function where(q: Quantity): string {
  const parts: string[] = [];
  if (q.sample !== undefined) parts.push(`sample ${q.sample + 1}`);
  if (q.step !== undefined) parts.push(`step ${q.step + 1}`);
  if (q.record === "init") parts.push("initial weights");
  if (q.pos !== undefined) parts.push(`position ${q.pos}`);
  if (q.layer !== undefined && q.layer >= 0) parts.push(`layer ${q.layer}`);
  if (q.head !== undefined && q.head >= 0) parts.push(`head ${q.head}`);
  return parts.join(", ");
}

/** A quantity in full: where, what, and which element. */
export function describe(q: Quantity): string {
  const at = where(q);
  const what = q.index === undefined ? q.what : `${q.what}, ${q.index}`;
  return at === "" ? what : `${at}: ${what}`;
}

/** The relative difference of two numbers: |a − b| / max(|a|, |b|, scale). An element of a list
 * is measured against the list's largest magnitude (`scale`), so that a value near zero made by
 * cancellation is not judged by its own tiny size. Non-finite values differ infinitely unless
 * they are the same. */
export function relativeDifference(a: number, b: number, scale = 0): number {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), scale);
}

/** Where two traces part: the quantity, both values, and the last quantity that agreed. */
export class Divergence {
  /** Both values, as text. */
  constructor(
    readonly q: Quantity,
    readonly a: string,
    readonly b: string,
    readonly rel: number | undefined,
    readonly previous: Quantity | undefined,
    readonly note = "",
  ) {}
}

/** The largest relative difference seen, per kind of quantity. */
export type Stats = Map<string, { rel: number; q: Quantity }>;

/** Compares quantity by quantity; throws a {@linkcode Divergence} at the first that differs. */
class Walker {
  previous: Quantity | undefined;
  identical = true;
  largest: { rel: number; q: Quantity } | undefined;
  stats: Stats = new Map();
  kinds = new Set<string>();

  constructor(readonly tolerance: number, readonly exact: boolean) {}

  #same(a: number, b: number): boolean {
    return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  }

  /** Compares two numbers of quantity q (an element of a list when `scale` is given). */
  number(q: Quantity, a: number, b: number, scale = 0): void {
    this.kinds.add(q.kind);
    if (this.#same(a, b)) return;
    this.identical = false;
    const rel = relativeDifference(a, b, scale);
    if (this.exact || !(rel <= this.tolerance)) {
      throw new Divergence(q, String(a), String(b), rel, this.previous);
    }
    const stat = this.stats.get(q.kind);
    if (stat === undefined || rel > stat.rel) this.stats.set(q.kind, { rel, q });
    if (this.largest === undefined || rel > this.largest.rel) this.largest = { rel, q };
  }

  /** A quantity that is one number. */
  scalar(q: Quantity, a: number, b: number): void {
    this.number(q, a, b);
    this.previous = q;
  }

  /** A list of numbers: element by element, each measured against the list's largest magnitude
   * (`scaled`), or on its own. `index` names element i. */
  list(q: Quantity, a: number[], b: number[], scaled = true, index = (i: number) => `index ${i}`) {
    if (a.length !== b.length) {
      throw new Divergence(
        { ...q, what: `${q.what}: the number of values` },
        String(a.length),
        String(b.length),
        undefined,
        this.previous,
      );
    }
    let scale = 0;
    if (scaled) {
      for (const x of [...a, ...b]) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    }
    for (let i = 0; i < a.length; i++) this.number({ ...q, index: index(i) }, a[i], b[i], scale);
    this.previous = q;
  }

  /** Values that must be equal: integers, token lists, text (shown as they are). */
  equal(q: Quantity, a: unknown, b: unknown): void {
    const ta = typeof a === "string" ? a : JSON.stringify(a);
    const tb = typeof b === "string" ? b : JSON.stringify(b);
    if (ta !== tb) throw new Divergence(q, ta, tb, undefined, this.previous);
    this.previous = q;
  }
}

/** The matrices in the order backward() finishes their gradients: lm_head, then each layer from
 * the last down (mlp_fc2, mlp_fc1, attn_wo, attn_wv, attn_wk, attn_wq), then wpe and wte. Names
 * the pattern does not know come last, in reverse state_dict order. */
export function backwardOrder(names: string[]): string[] {
  const order: string[] = [];
  const has = new Set(names);
  const take = (name: string) => {
    if (has.delete(name)) order.push(name);
  };
  take("lm_head");
  const layers = names.map((n) => /^layer(\d+)\./.exec(n)).filter((m) => m !== null).map((m) =>
    Number(m![1])
  );
  for (let li = Math.max(-1, ...layers); li >= 0; li--) {
    for (const m of ["mlp_fc2", "mlp_fc1", "attn_wo", "attn_wv", "attn_wk", "attn_wq"]) {
      take(`layer${li}.${m}`);
    }
  }
  take("wpe");
  take("wte");
  for (const name of names.slice().reverse()) if (has.has(name)) order.push(name);
  return order;
}

/** A list's name, as the walk names forward stages. */
const STAGE_WORDS: Record<string, string> = {
  embedding: "the embedding wte[token] + wpe[pos]",
  norm: "the RMSNorm of the embedding",
  norm_attn: "the RMSNorm before attention",
  q: "q",
  k: "k",
  v: "v",
  attn: "the attention weights",
  heads_out: "the heads' outputs (before attn_wo)",
  attn_out: "the attention block's output (after the residual)",
  norm_mlp: "the RMSNorm before the MLP",
  mlp_hidden: "the MLP's hidden layer (after the ReLU)",
  mlp_out: "the MLP block's output (the layer's output)",
  logits: "the logits",
};

/** Lengths, counts and names that must match for the walk to go on; they name no stage. */
function structure(w: Walker, q: Quantity, a: unknown, b: unknown): void {
  const ta = JSON.stringify(a);
  const tb = JSON.stringify(b);
  if (ta !== tb) throw new Divergence(q, ta, tb, undefined, w.previous);
}

function compareInit(w: Walker, a: Trace, b: Trace): void {
  const shapes = (t: Trace) => t.init.map((r) => `${r.matrix} ${r.rows}x${r.cols}`);
  const q0: Quantity = { record: "init", what: "", key: "init:shapes", kind: "init" };
  structure(
    w,
    { ...q0, what: "the matrices (name rows x cols, in state_dict order)" },
    shapes(a),
    shapes(b),
  );
  for (let i = 0; i < a.init.length; i++) {
    const ra = a.init[i];
    const rb = b.init[i];
    const q = { ...q0, key: "init", matrix: ra.matrix, what: `${ra.matrix}'s weights` };
    const at = (k: number) => `row ${Math.floor(k / ra.cols)}, col ${k % ra.cols}`;
    try {
      w.list(q, ra.values, rb.values, true, at);
    } catch (err) {
      if (!(err instanceof Divergence) || err.q.index === undefined) throw err;
      // The same number elsewhere in A: the draws are right and their order is not.
      const k = ra.values.findIndex((x) => Object.is(x, Number(err.b)));
      const note = k < 0
        ? ""
        : `B's value there is A's at ${at(k)}: the same draws in another order`;
      throw new Divergence(err.q, err.a, err.b, err.rel, err.previous, note);
    }
    w.scalar(
      { ...q, key: "init:sumsq", what: `${ra.matrix}'s sum of squares` },
      ra.sumsq,
      rb.sumsq,
    );
  }
}

function compareLayer(w: Walker, base: Quantity, li: number, la: LayerRecord, lb: LayerRecord) {
  for (const stage of LAYER_STAGES) {
    const q: Quantity = { ...base, layer: li, key: `forward:${stage}`, what: STAGE_WORDS[stage] };
    if (stage !== "attn") {
      w.list(q, la[stage] as number[], lb[stage] as number[]);
      continue;
    }
    const ha = la.attn as number[][];
    const hb = lb.attn as number[][];
    structure(w, { ...q, what: "the number of attention heads" }, ha.length, hb.length);
    for (let h = 0; h < ha.length; h++) {
      w.list({ ...q, head: h }, ha[h], hb[h], true, (t) => `over position ${t}`);
    }
  }
}

function compareForward(w: Walker, step: number, fa: ForwardRecord[], fb: ForwardRecord[]) {
  const q0: Quantity = { record: "forward", step, what: "", key: "", kind: "forward" };
  structure(w, { ...q0, what: "the number of positions traced" }, fa.length, fb.length);
  for (let p = 0; p < fa.length; p++) {
    const ra = fa[p];
    const rb = fb[p];
    const base = { ...q0, pos: ra.pos };
    structure(w, { ...base, what: "the position" }, ra.pos, rb.pos);
    w.equal(
      { ...base, key: "forward:tokens", kind: "data", what: "the token read and its target" },
      [
        ra.token,
        ra.target,
      ],
      [rb.token, rb.target],
    );
    for (const stage of ["embedding", "norm"]) {
      w.list(
        { ...base, key: `forward:${stage}`, what: STAGE_WORDS[stage] },
        ra.outer[stage],
        rb.outer[stage],
      );
    }
    structure(w, { ...base, what: "the number of layers" }, ra.layers.length, rb.layers.length);
    for (let li = 0; li < ra.layers.length; li++) {
      compareLayer(w, base, li, ra.layers[li], rb.layers[li]);
    }
    w.list(
      { ...base, key: "forward:logits", what: STAGE_WORDS.logits },
      ra.outer.logits,
      rb.outer.logits,
    );
    w.scalar(
      { ...base, key: "forward:prob", what: "the probability of the target" },
      ra.prob,
      rb.prob,
    );
  }
}

function compareStep(w: Walker, a: Trace, b: Trace, s: number): void {
  const sa = a.steps.get(s)!;
  const sb = b.steps.get(s)!;
  const q0: Quantity = { record: "step", step: s, what: "", key: "", kind: "data" };
  w.equal(
    { ...q0, key: "doc", what: "the document (its index in the shuffled list)" },
    sa.doc,
    sb.doc,
  );
  w.equal({ ...q0, key: "tokens", what: "the tokens" }, sa.tokens, sb.tokens);
  const fa = a.forward.get(s);
  const fb = b.forward.get(s);
  if (fa !== undefined && fb !== undefined) compareForward(w, s, fa, fb);
  const detailed = fa !== undefined && fb !== undefined;
  w.scalar(
    { ...q0, kind: "loss", key: detailed ? "loss" : "loss:undetailed", what: "the loss" },
    sa.loss,
    sb.loss,
  );
  const names = a.init.map((r) => r.matrix);
  for (
    const [what, ma, mb] of [["grad_sumsq", sa.grad, sb.grad], [
      "weight_sumsq",
      sa.weights,
      sb.weights,
    ]] as const
  ) {
    structure(w, { ...q0, what: `the matrices of ${what}` }, [...ma.keys()], names);
    structure(w, { ...q0, what: `the matrices of ${what}` }, names, [...mb.keys()]);
  }
  for (const m of backwardOrder(names)) {
    const q = {
      ...q0,
      kind: "grad",
      key: `grad:${m}`,
      matrix: m,
      what: `the gradient of ${m} (sum of squares)`,
    };
    w.scalar(q, sa.grad.get(m)!, sb.grad.get(m)!);
  }
  w.scalar({ ...q0, kind: "lr", key: "lr", what: "the learning rate lr_t" }, sa.lr, sb.lr);
  for (const m of names) {
    const what = `${m}'s weights after the update (sum of squares)`;
    w.scalar(
      { ...q0, kind: "weights", key: "weights", matrix: m, what },
      sa.weights.get(m)!,
      sb.weights.get(m)!,
    );
  }
}

function compareSamples(w: Walker, a: Trace, b: Trace): void {
  const q0: Quantity = { record: "sample", what: "", key: "", kind: "samples" };
  structure(w, { ...q0, what: "the number of samples" }, a.samples.length, b.samples.length);
  for (let i = 0; i < a.samples.length; i++) {
    const ra = a.samples[i];
    const rb = b.samples[i];
    const base = { ...q0, sample: i };
    for (let p = 0; p < Math.max(ra.tokens.length, rb.tokens.length); p++) {
      const token = (r: SampleRecord, t: Trace) => {
        const id = r.tokens[p];
        if (id === undefined) return "none: the sample has ended";
        return `${id} (${id === t.header.bos ? "BOS" : JSON.stringify(t.header.vocab[id])})`;
      };
      w.equal(
        { ...base, pos: p, key: "sample:token", kind: "data", what: "the token drawn" },
        token(ra, a),
        token(rb, b),
      );
      w.scalar(
        { ...base, pos: p, key: "sample:prob", what: "the drawn token's probability" },
        ra.probs[p],
        rb.probs[p],
      );
    }
    w.equal(
      { ...base, key: "sample:text", kind: "data", what: "the text" },
      JSON.stringify(ra.text),
      JSON.stringify(rb.text),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Where to look: what the computation does between two neighbouring quantities.

const RMSNORM = "RMSNorm: ms = Σ x²/n, scale = (ms + 1e-5)^−0.5, each x times scale (no gain, " +
  "no mean subtracted)";

/** What the computation does to make a quantity from the one before it, by the quantity's key. */
const HINTS: Record<string, string> = {
  "shuffle": "the shuffle: random.seed(seed), then random.shuffle (Fisher–Yates from the last " +
    "element, each index drawn by _randbelow's rejection sampling of getrandbits)",
  "init:shapes": "the model's shape: wte (vocab × n_embd), wpe (block_size × n_embd), lm_head, " +
    "then per layer attn_wq, attn_wk, attn_wv, attn_wo, mlp_fc1 (4·n_embd × n_embd), mlp_fc2",
  "init": "the initial weights: the order of the init draws (matrix by matrix in state_dict " +
    "order, each row left to right, after the shuffle's draws), or random.gauss (Box–Muller: " +
    "two deviates from two random() calls, the second kept for the next call), or init std",
  "init:sumsq": "the sum of squares itself: row-major, left to right, s = s + w·w from 0.0",
  "doc": "the document order: docs[step % len(docs)] after the shuffle",
  "tokens": "the tokenizer: ids of the sorted unique characters, BOS = len(chars) at both ends, " +
    "cut to block_size + 1 tokens",
  "forward:tokens": "the position's token and target: tokens[pos] and tokens[pos + 1]",
  "forward:embedding": "the embedding: wte[token] + wpe[pos], element by element (and the " +
    "weights it reads: the previous step's update)",
  "forward:norm": RMSNORM,
  "forward:norm_attn": `${RMSNORM}; each block norms its input again`,
  "forward:q": "the query projection with attn_wq: out[i] = Σ_j W[i][j]·x[j], W stored as " +
    "rows × cols = out × in",
  "forward:k": "the key projection with attn_wk (q agrees)",
  "forward:v": "the value projection with attn_wv (k agrees)",
  "forward:attn": "the attention weights: per head, q·k over the head's slice divided by " +
    "√head_dim, then softmax over positions 0…pos; the KV cache holds every earlier key",
  "forward:heads_out": "the heads' outputs: Σ_t weight_t·v_t[j] over the head's slice, heads " +
    "concatenated in order",
  "forward:attn_out": "attn_wo's projection of the heads' outputs, plus the residual (the " +
    "block's input, before its RMSNorm)",
  "forward:norm_mlp": RMSNORM,
  "forward:mlp_hidden": "mlp_fc1's projection, then the ReLU max(0, x)",
  "forward:mlp_out": "mlp_fc2's projection, plus the residual (the attention block's output)",
  "forward:logits": "lm_head's projection of the last layer's output (microgpt.py has no final " +
    "norm)",
  "forward:prob": "the softmax of the logits: subtract the largest, exp, divide by the total",
  "loss": "the loss: −log p(target) at each position, averaged as (1/n)·Σ with n = " +
    "min(block_size, len(tokens) − 1)",
  "loss:undetailed": "this step's forward pass or its loss; trace this step's forward pass " +
    "(--trace-detail) in both runs to see which stage",
  "grad:lm_head": "the softmax/cross-entropy backward (∂loss/∂logit = (p − onehot(target))/n " +
    "at each position) and lm_head's linear backward (∂W[i][j] += ∂out[i]·x[j])",
  "grad:mlp_fc2": "the gradient reaching the layer's output (from lm_head, or from the layer " +
    "above through its RMSNorm and the residual), then mlp_fc2's linear backward",
  "grad:mlp_fc1": "the ReLU's backward (the gradient passes where the input was > 0, else 0), " +
    "then mlp_fc1's linear backward",
  "grad:attn_wo": "the backward of the RMSNorm before the MLP (its scale depends on every x), " +
    "plus the residual's gradient, into the attention block's output, then attn_wo's backward",
  "grad:attn_wv": "the backward of the weighted sum of values: ∂v_t[j] += weight_t·∂out[j], for " +
    "every position t the KV cache held",
  "grad:attn_wk": "the attention softmax's backward and the 1/√head_dim scale: the gradient " +
    "reaching the attention logits, then the keys (∂k_t += ∂logit_t·q/√head_dim)",
  "grad:attn_wq": "the attention logits' backward towards the query: ∂q += Σ_t ∂logit_t·k_t / " +
    "√head_dim",
  "grad:wpe": "the backward through the RMSNorm before the first block, the residual stream, and " +
    "the RMSNorm right after the embedding (not redundant: its backward mixes the gradient " +
    "across x); wpe's row pos gets position pos's gradient",
  "grad:wte": "the embedding's backward: wte's row for a token gets the gradient of every " +
    "position that read it (a repeated token, the sum), rows not read get 0",
  "lr": "the learning-rate decay: learning_rate·(1 − step/num_steps), step from 0, float " +
    "division",
  "weights": "Adam's update: m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g², bias correction " +
    "m/(1 − β1^(step+1)) and v/(1 − β2^(step+1)), the learning-rate decay, eps added to √v̂ " +
    "(outside the root); and every gradient reset to 0 after the update",
  "sample:token": "the draw: random.choices over the probabilities (cumulative weights, " +
    "bisect on random()·total), or the random stream's position (every draw since the seed " +
    "counts: shuffle, init, earlier samples), or the distribution it draws from",
  "sample:prob": "the sampling forward pass: logits / temperature, softmax; the KV cache starts " +
    "empty for each sample",
  "sample:text": "turning tokens into text: uchars[token]; BOS ends a sample and is not printed",
};

/** The hint for a divergent quantity, given the last one that agreed. */
export function hint(q: Quantity, previous: Quantity | undefined): string {
  if (q.key.startsWith("grad:layer")) return HINTS[`grad:${q.key.replace(/^grad:layer\d+\./, "")}`];
  if (q.key.startsWith("grad:") && HINTS[q.key] === undefined) {
    return "the backward pass between these two matrices";
  }
  if (q.key === "forward:norm_attn" && q.layer !== undefined && q.layer > 0) {
    return `${RMSNORM}, of the previous layer's output`;
  }
  if (q.record === "sample" && q.pos === 0 && q.sample! > 0 && previous?.record === "sample") {
    return "every earlier sample agrees and this one's first draw does not: the KV cache must " +
      "start empty for each sample (keys and values reset), and pos_id from 0";
  }
  if (q.key === "forward:embedding" && q.step! > 0 && previous?.kind === "weights") {
    return "the weights after the previous step agree (as sums of squares) but the embedding " +
      "does not: the lookup wte[token] + wpe[pos], or a difference the sums hide";
  }
  return HINTS[q.key] ?? "the computation between them";
}

/** Where a quantity is, as a list of parts ("step 3", "position 2", …). */
function whereParts(q: Quantity): string[] {
  const at = where(q);
  return at === "" ? [] : at.split(", ");
}

/** How the divergence names a quantity beside its neighbour: with the parts of its location that
 * the neighbour does not share ("the attention weights (head 1)"). */
function nameBeside(q: Quantity, other: Quantity): string {
  const what = q.key.startsWith("grad:")
    ? `${q.matrix}'s gradient`
    : q.key === "weights"
    ? `${q.matrix}'s weights after the update`
    : q.what;
  const shared = new Set(whereParts(other));
  const own = whereParts(q).filter((part) => !shared.has(part));
  return own.length === 0 ? what : `${what} (${own.join(", ")})`;
}

// ---------------------------------------------------------------------------------------------
// The verdict

/** What a comparison found, and the lines that say it. */
export interface DiffReport {
  /** 0: identical or within the tolerance; 1: diverged or set up differently. */
  exitCode: 0 | 1;
  /** "identical", "within", "diverged" or "setup". */
  verdict: "identical" | "within" | "diverged" | "setup";
  /** The report, line by line. */
  lines: string[];
  /** The largest relative difference per kind of quantity, among those that agreed. */
  stats: Stats;
  /** The kinds of quantity compared. */
  kinds: Set<string>;
  /** Where the traces part, if they do. */
  divergence?: Divergence;
}

/** Header differences that make two traces incomparable: settings, vocabulary, documents. */
export function setupDifferences(a: Header, b: Header): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a.settings), ...Object.keys(b.settings)]);
  for (const k of keys) {
    const va = a.settings[k];
    const vb = b.settings[k];
    if (!Object.is(va, vb) && String(va) !== String(vb)) {
      out.push(`settings.${k}: A ${va ?? "(none)"}, B ${vb ?? "(none)"}`);
    }
  }
  if (JSON.stringify(a.vocab) !== JSON.stringify(b.vocab) || a.bos !== b.bos) {
    out.push(
      `vocab: A ${JSON.stringify(a.vocab.join(""))} (BOS ${a.bos}), B ` +
        `${JSON.stringify(b.vocab.join(""))} (BOS ${b.bos})`,
    );
  }
  for (const k of ["vocab_size", "num_docs", "docs_sha256"]) {
    if (a.data[k] !== b.data[k]) out.push(`${k}: A ${a.data[k]}, B ${b.data[k]}`);
  }
  return out;
}

/** Steps as ranges, counted from 1: "1-20, 500". */
function ranges(steps: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    let j = i;
    while (j + 1 < steps.length && steps[j + 1] === steps[j] + 1) j++;
    parts.push(j === i ? `${steps[i] + 1}` : `${steps[i] + 1}-${steps[j] + 1}`);
    i = j;
  }
  return parts.join(", ");
}

/** The steps both traces hold, in order. */
function commonSteps(a: Trace, b: Trace): number[] {
  return [...a.steps.keys()].filter((s) => b.steps.has(s)).sort((x, y) => x - y);
}

/** Whether the samples of two traces come after the same training. */
function samplesComparable(a: Trace, b: Trace): boolean {
  if (a.samples.length === 0 || b.samples.length === 0) return false;
  const sa = [...a.steps.keys()].sort((x, y) => x - y);
  const sb = [...b.steps.keys()].sort((x, y) => x - y);
  return JSON.stringify(sa) === JSON.stringify(sb);
}

/** What was compared, in one line. */
function scope(a: Trace, b: Trace, steps: number[]): string {
  const parts = ["header", "initial weights"];
  const counts = a.steps.size === b.steps.size ? "" : ` (A has ${a.steps.size}, B ${b.steps.size})`;
  parts.push(steps.length === 0 ? `no step in common${counts}` : `steps ${ranges(steps)}${counts}`);
  const detailed = steps.filter((s) => a.forward.has(s) && b.forward.has(s));
  if (detailed.length > 0) parts.push(`forward passes at steps ${ranges(detailed)}`);
  if (samplesComparable(a, b)) parts.push(`samples 1-${a.samples.length}`);
  else if (a.samples.length > 0 || b.samples.length > 0) {
    parts.push(
      a.steps.size !== b.steps.size
        ? "samples not compared (they follow different trainings)"
        : "samples not compared (only one trace has them)",
    );
  }
  return `compared: ${parts.join(", ")}`;
}

/** Relative differences as people read them: 2 significant digits. */
function showRel(rel: number): string {
  return rel === 0 ? "0" : rel.toExponential(1);
}

/** The lines that report a divergence. */
function divergenceLines(d: Divergence, a: Trace, b: Trace, tolerance: number, exact: boolean) {
  const lines = [`diverged at ${describe(d.q)}`];
  lines.push(`  A: ${d.a}  (${a.path}, ${a.header.engine})`);
  lines.push(`  B: ${d.b}  (${b.path}, ${b.header.engine})`);
  if (d.rel !== undefined) {
    const bound = exact ? "--exact demands bit equality" : `tolerance ${tolerance}`;
    lines.push(`  relative difference ${showRel(d.rel)} (${bound})`);
  }
  const look = hint(d.q, d.previous);
  if (d.previous === undefined) {
    lines.push(`  the first quantity compared differs: look at ${look}`);
  } else {
    lines.push(
      `  everything agrees up to ${nameBeside(d.previous, d.q)} and parts at ` +
        `${nameBeside(d.q, d.previous)}: look between them — ${look}`,
    );
  }
  if (d.note !== "") lines.push(`  ${d.note}`);
  return lines;
}

/** Compares two traces. `tolerance` bounds the relative difference of two numbers that agree;
 * `exact` demands bit equality instead. */
export function diffTraces(
  a: Trace,
  b: Trace,
  options: { tolerance?: number; exact?: boolean } = {},
): DiffReport {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const exact = options.exact ?? false;
  const w = new Walker(tolerance, exact);
  const setup = setupDifferences(a.header, b.header);
  if (setup.length > 0) {
    const lines = [
      "setup differs: the traces are not of the same settings and data, so their " +
      "numbers cannot be compared (not a divergence of the algorithm)",
    ];
    for (const line of setup) lines.push(`  ${line}`);
    return { exitCode: 1, verdict: "setup", lines, stats: w.stats, kinds: w.kinds };
  }
  const steps = commonSteps(a, b);
  try {
    const q: Quantity = { record: "header", key: "shuffle", kind: "data", what: "" };
    w.equal(
      { ...q, what: "the documents' order after the shuffle (SHA-256)" },
      a.header.data.shuffled_sha256,
      b.header.data.shuffled_sha256,
    );
    compareInit(w, a, b);
    for (const s of steps) compareStep(w, a, b, s);
    if (samplesComparable(a, b)) compareSamples(w, a, b);
  } catch (err) {
    if (!(err instanceof Divergence)) throw err;
    const lines = divergenceLines(err, a, b, tolerance, exact);
    return {
      exitCode: 1,
      verdict: "diverged",
      lines,
      stats: w.stats,
      kinds: w.kinds,
      divergence: err,
    };
  }
  const compared = scope(a, b, steps);
  if (w.identical) {
    return {
      exitCode: 0,
      verdict: "identical",
      lines: ["identical", compared],
      stats: w.stats,
      kinds: w.kinds,
    };
  }
  const { rel, q } = w.largest!;
  const lines = [
    `agree within ${tolerance} (largest relative difference ${showRel(rel)}, at ${describe(q)})`,
    compared,
  ];
  return { exitCode: 0, verdict: "within", lines, stats: w.stats, kinds: w.kinds };
}

/** The --stats table: the largest relative difference per kind of quantity. */
export function statsLines(report: DiffReport): string[] {
  const lines = ["largest relative difference by kind of quantity:"];
  for (const kind of ["init", "forward", "loss", "grad", "lr", "weights", "samples"]) {
    if (!report.kinds.has(kind)) continue;
    const s = report.stats.get(kind);
    lines.push(
      `  ${kind.padEnd(8)} ${
        s === undefined ? "0 (bit-equal)" : `${showRel(s.rel)}  at ${describe(s.q)}`
      }`,
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The command line

const USAGE = "usage: deno run --allow-read tools/trace_diff.ts A B [--tolerance T] [--exact] " +
  "[--stats]";

/** Parses the arguments: the two paths and the options. Throws TraceError on bad arguments. */
function parseArgs(args: string[]) {
  const paths: string[] = [];
  let tolerance: number | undefined;
  let exact = false;
  let stats = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (flag === "--help" || flag === "-h") return undefined;
    if (flag === "--exact") exact = true;
    else if (flag === "--stats") stats = true;
    else if (flag === "--tolerance") {
      const text = inline ?? args[++i];
      if (text === undefined) throw new TraceError(`--tolerance needs a value (${USAGE})`);
      tolerance = Number(text);
      if (text.trim() === "" || !Number.isFinite(tolerance) || tolerance < 0) {
        throw new TraceError(`--tolerance takes a number >= 0, not ${JSON.stringify(text)}`);
      }
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new TraceError(`unknown option ${arg} (${USAGE})`);
    } else paths.push(arg);
  }
  if (paths.length !== 2) throw new TraceError(`name two traces to compare (${USAGE})`);
  if (exact && tolerance !== undefined) {
    throw new TraceError("--exact and --tolerance exclude each other: choose one");
  }
  return { paths, tolerance, exact, stats };
}

/** The command: compares the traces `args` name and prints the verdict. Returns the exit code:
 * 0 identical or within the tolerance, 1 diverged, 2 unreadable input. */
export async function main(args: string[]): Promise<number> {
  try {
    const opts = parseArgs(args);
    if (opts === undefined) {
      console.log(
        `${USAGE}\n\nCompares two traces (tools/trace.ts, tools/trace_microgpt.py) and ` +
          `names the first quantity where they part.\n  --tolerance T  largest relative ` +
          `difference that agrees (default ${DEFAULT_TOLERANCE})\n  --exact        demand bit ` +
          `equality\n  --stats        also print the largest difference per kind of quantity`,
      );
      return 0;
    }
    const [a, b] = [await readTrace(opts.paths[0]), await readTrace(opts.paths[1])];
    const report = diffTraces(a, b, { tolerance: opts.tolerance, exact: opts.exact });
    const lines = opts.stats ? [...report.lines, ...statsLines(report)] : report.lines;
    console.log(lines.join("\n"));
    return report.exitCode;
  } catch (err) {
    if (!(err instanceof TraceError)) throw err;
    console.error(`error: ${err.message}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
