/**
 * Comparing two traces quantity by quantity, in the order the computation makes them: the initial
 * weights, then per step the document, its tokens, the forward pass (position by position, stage
 * by stage), the loss, the gradients in the order backward() reaches them, the learning rate and
 * the weights after the update; then the samples. The first quantity that differs by more than
 * the tolerance stops the walk as a {@linkcode Divergence}, which remembers the last quantity that
 * agreed. tools/trace_diff.ts turns that into a verdict.
 *
 * @example Compare the first step of two traces
 * ```ts
 * import { compareStep, Divergence, Walker } from "./trace_compare.ts";
 * import { openTrace } from "./trace_read.ts";
 * const [a, b] = [openTrace("a.jsonl"), openTrace("b.jsonl")];
 * const [sa, sb] = [a.nextStep(), b.nextStep()];
 * const walker = new Walker(1e-9, false);
 * try {
 *   if (sa && sb) compareStep(walker, a.init.map((r) => r.matrix), sa, sb);
 * } catch (err) {
 *   if (err instanceof Divergence) console.log(err.q.what, err.a, err.b);
 * }
 * ```
 *
 * @module
 */

import { LAYER_STAGES } from "./trace.ts";
import type {
  ForwardRecord,
  Header,
  InitRecord,
  LayerRecord,
  SampleRecord,
  StepGroup,
} from "./trace_read.ts";

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
export class Walker {
  /** The last quantity that agreed: where a divergence says to start looking. */
  previous: Quantity | undefined;
  /** Whether every number so far was bit-equal. */
  identical = true;
  /** The largest relative difference among the numbers that agreed, and where. */
  largest: { rel: number; q: Quantity } | undefined;
  /** The same, per kind of quantity. */
  stats: Stats = new Map();
  /** The kinds of quantity compared so far. */
  kinds: Set<string> = new Set();

  /** A walker that lets numbers agree within `tolerance` (relative), or only bit-equal ones. */
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
export function structure(w: Walker, q: Quantity, a: unknown, b: unknown): void {
  const ta = JSON.stringify(a);
  const tb = JSON.stringify(b);
  if (ta !== tb) throw new Divergence(q, ta, tb, undefined, w.previous);
}

/** The initial weights: the matrices and their shapes, then each matrix's weights and sum. */
export function compareInit(w: Walker, a: { init: InitRecord[] }, b: { init: InitRecord[] }): void {
  const shapes = (t: { init: InitRecord[] }) =>
    t.init.map((r) => `${r.matrix} ${r.rows}x${r.cols}`);
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

/** One layer of one position's forward pass, stage by stage. */
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

/** A step's forward pass, position by position. */
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

/** One step both traces hold: document, tokens, forward pass (when both traced it), loss,
 * gradients in backward order, learning rate, weights after the update. `names` are the
 * matrices, in state_dict order. */
export function compareStep(w: Walker, names: string[], a: StepGroup, b: StepGroup): void {
  const sa = a.step;
  const sb = b.step;
  const s = sa.step;
  const q0: Quantity = { record: "step", step: s, what: "", key: "", kind: "data" };
  w.equal(
    { ...q0, key: "doc", what: "the document (its index in the shuffled list)" },
    sa.doc,
    sb.doc,
  );
  w.equal({ ...q0, key: "tokens", what: "the tokens" }, sa.tokens, sb.tokens);
  const fa = a.forward;
  const fb = b.forward;
  if (fa !== undefined && fb !== undefined) compareForward(w, s, fa, fb);
  const detailed = fa !== undefined && fb !== undefined;
  w.scalar(
    { ...q0, kind: "loss", key: detailed ? "loss" : "loss:undetailed", what: "the loss" },
    sa.loss,
    sb.loss,
  );
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

/** What the samples are compared with: the vocabulary, to name the tokens drawn. */
export interface Samples {
  /** The trace's header. */
  header: Header;
  /** Its samples, in order. */
  samples: SampleRecord[];
}

/** The samples, draw by draw: all of them, or the first `upTo` (when a trace was cut short). */
export function compareSamples(w: Walker, a: Samples, b: Samples, upTo?: number): void {
  const q0: Quantity = { record: "sample", what: "", key: "", kind: "samples" };
  if (upTo === undefined) {
    structure(w, { ...q0, what: "the number of samples" }, a.samples.length, b.samples.length);
  }
  const count = upTo ?? a.samples.length;
  for (let i = 0; i < count; i++) {
    const ra = a.samples[i];
    const rb = b.samples[i];
    const base = { ...q0, sample: i };
    for (let p = 0; p < Math.max(ra.tokens.length, rb.tokens.length); p++) {
      const token = (r: SampleRecord, t: Samples) => {
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
