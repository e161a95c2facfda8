/**
 * microgpt_fast.ts — "everything else is just efficiency": the model of microgpt.ts, computed on
 * typed arrays with a backward pass derived by hand, bit for bit equal to the graph's.
 *
 * microgpt.ts makes every scalar a node of a graph and lets `backward()` find the gradients.
 * Here the weights, their gradients, Adam's moments and the activations are flat
 * `Float64Array`s, and the backward pass is written out, each step beside its forward step. No
 * graph is built and nothing is sorted, so a training step costs about a hundred microseconds at
 * microgpt.py's settings and its memory stays flat at bigger ones.
 *
 * Read it for the math first. Each backward function opens with "The math": its gradient
 * derived as a textbook derives it, with the chain rule on vectors and matrices. The output's is
 * the famous one: softmax followed by cross-entropy gives d(loss)/d(logits) = p − onehot(target),
 * divided by n, the number of positions averaged. Then come RMSNorm's Jacobian, attention's
 * softmax backward, the ReLU's gate, the transposed matrices of each `linear`, and Adam's
 * update. Those formulas are what the code computes, but not how: a second, shorter part, "How
 * the code keeps the graph's order", says why. Evaluated as written, the formulas agree with the
 * graph's gradients to about 1e-15 of their size but differ in the last bits of most of them,
 * and the contract is every bit. So the code computes p − onehot the long way, as the graph
 * does: product by product through the log, the division by the total, the total's sum, each
 * exp and the max shift, adding the products in the graph's order, because floating-point
 * addition is not associative.
 *
 * It prints exactly what microgpt.ts prints (and so what microgpt.py prints), because every
 * number is computed with the same floating-point operations in the same order:
 *
 * 1. The forward pass uses the graph's own operations: division is `x · c^−1`, a softmax
 *    subtracts its maximum as `x + (−max)` and divides as `e · total^−1`, sums run left to
 *    right from the first term, the loss is `log(p) · (−1)` summed and then `· (1/n)`.
 * 2. Every gradient term is the graph's own `local · g` product: for instance each attention
 *    weight has its own `total^−1` node, so `total` receives one term per attended position.
 * 3. Where a value has several users, their terms are added in the order in which the graph's
 *    `backward()` adds them: the reverse of the order in which the depth-first walk from the loss
 *    finishes the users. That order is derived below, at each place it matters.
 *
 * The dataset, tokenizer and random numbers are microgpt.ts's own, and the command line,
 * saving and instruments are the tools' (tools/): this file only supplies an
 * {@linkcode Engine}. microgpt_fast_test.ts holds the two engines to each other with `===`.
 *
 * @example Train and sample exactly as microgpt.ts does, faster
 * ```sh
 * deno run microgpt_fast.ts
 * deno run --allow-read microgpt_fast.ts --input shakespeare.txt --n-layer 4 --n-embd 64 --block-size 64
 * ```
 *
 * @module
 */

import {
  argmax,
  type Config,
  type Draw,
  type Random,
  type SampleWatch,
  type Tokenizer,
} from "./microgpt.ts";
import { main } from "./tools/cli.ts";
import {
  type Engine,
  matrixShapes,
  numParams,
  type SampleHook,
  type StepHook,
  type Trainer,
} from "./tools/engine.ts";
import type { ForwardObserver, TrainWatch } from "./tools/trace.ts";

/** A model on typed arrays: weights, gradients and Adam's moments (all flat, in state_dict
 * order, as microgpt.ts's `params`), and room for the activations of one document. */
export class FastModel {
  /** The settings it was made with. */
  readonly config: Config;
  /** Number of distinct tokens, BOS included. */
  readonly vocabSize: number;
  /** Every weight. */
  readonly w: Float64Array;
  /** d(loss)/d(weight), filled in by {@linkcode lossAndGrad}. */
  readonly g: Float64Array;
  /** Adam's first moments. */
  readonly m: Float64Array;
  /** Adam's second moments. */
  readonly v: Float64Array;
  /** Where each matrix starts in `w` (and `g`), by its microgpt.py name. */
  readonly at: Record<string, number> = {};

  // Activations, per position t (and per layer): what the backward pass needs again.
  // x0[t] is the normed embedding, the input of layer 0; x2[li][t] is the output of layer li.
  /** @internal */ readonly emb: Float64Array;
  /** @internal */ readonly x0: Float64Array;
  /** @internal */ readonly norm0: Float64Array; // per t: [ms + 1e-5, scale]
  /** @internal */ readonly layers: LayerActs[] = [];
  /** @internal */ readonly logits: Float64Array;
  /** @internal */ readonly lmExp: Float64Array; // per t: exp(logit − max) for every token
  /** @internal */ readonly lmTotal: Float64Array;
  /** @internal */ readonly lmProb: Float64Array; // per t: the probability of the target
  // Gradients of activations; the keys and values collect terms from every later position.
  /** @internal */ readonly gK: Float64Array[] = [];
  /** @internal */ readonly gV: Float64Array[] = [];
  /** @internal */ readonly scratch: Scratch;

  /** A model of this shape holding `weights`, with zero gradients and moments. */
  constructor(config: Config, vocabSize: number, weights: Float64Array) {
    const { nEmbd: e, nHead, nLayer, blockSize: T } = config;
    this.config = config;
    this.vocabSize = vocabSize;
    const n = numParams(config, vocabSize);
    if (weights.length !== n) throw new Error(`expected ${n} weights, not ${weights.length}`);
    this.w = Float64Array.from(weights);
    this.g = new Float64Array(n);
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
    let offset = 0;
    for (const [name, nout, nin] of matrixShapes(config, vocabSize)) {
      this.at[name] = offset;
      offset += nout * nin;
    }
    this.emb = new Float64Array(T * e);
    this.x0 = new Float64Array(T * e);
    this.norm0 = new Float64Array(T * 2);
    for (let li = 0; li < nLayer; li++) {
      this.layers.push(new LayerActs(this.at, li, e, nHead, T));
      this.gK.push(new Float64Array(T * e));
      this.gV.push(new Float64Array(T * e));
    }
    this.logits = new Float64Array(T * vocabSize);
    this.lmExp = new Float64Array(T * vocabSize);
    this.lmTotal = new Float64Array(T);
    this.lmProb = new Float64Array(T);
    this.scratch = new Scratch(e, vocabSize, T);
  }
}

/** One layer: where its weights start in `w`, and its activations for every position. */
class LayerActs {
  readonly wq: number;
  readonly wk: number;
  readonly wv: number;
  readonly wo: number;
  readonly fc1: number;
  readonly fc2: number;
  readonly norm1: Float64Array; // per t: [ms + 1e-5, scale] of the attention's rmsnorm
  readonly xn: Float64Array; // the normed input that q, k, v read
  readonly q: Float64Array;
  readonly k: Float64Array; // the KV cache: keys and values of every position so far
  readonly v: Float64Array;
  readonly attExp: Float64Array; // per t, head, s ≤ t: exp(attention logit − max)
  readonly attTotal: Float64Array; // per t, head: the sum of those
  readonly xAttn: Float64Array; // the heads' outputs, side by side
  readonly x1: Float64Array; // after the attention's residual
  readonly norm2: Float64Array; // per t: [ms + 1e-5, scale] of the MLP's rmsnorm
  readonly xn2: Float64Array;
  readonly h1: Float64Array; // mlp_fc1's output, before the ReLU
  readonly h1r: Float64Array; // and after it
  readonly x2: Float64Array; // after the MLP's residual: the layer's output

  constructor(at: Record<string, number>, li: number, e: number, nHead: number, T: number) {
    this.wq = at[`layer${li}.attn_wq`];
    this.wk = at[`layer${li}.attn_wk`];
    this.wv = at[`layer${li}.attn_wv`];
    this.wo = at[`layer${li}.attn_wo`];
    this.fc1 = at[`layer${li}.mlp_fc1`];
    this.fc2 = at[`layer${li}.mlp_fc2`];
    this.norm1 = new Float64Array(T * 2);
    this.xn = new Float64Array(T * e);
    this.q = new Float64Array(T * e);
    this.k = new Float64Array(T * e);
    this.v = new Float64Array(T * e);
    this.attExp = new Float64Array(nHead * T * T);
    this.attTotal = new Float64Array(nHead * T);
    this.xAttn = new Float64Array(T * e);
    this.x1 = new Float64Array(T * e);
    this.norm2 = new Float64Array(T * 2);
    this.xn2 = new Float64Array(T * e);
    this.h1 = new Float64Array(T * 4 * e);
    this.h1r = new Float64Array(T * 4 * e);
    this.x2 = new Float64Array(T * e);
  }
}

/** Gradients that live for one position only. */
class Scratch {
  readonly gx: Float64Array; // the residual stream's gradient, passed from layer to layer
  readonly gx1: Float64Array;
  readonly gEmb: Float64Array;
  readonly gxn: Float64Array;
  readonly gq: Float64Array;
  readonly gh1: Float64Array;
  readonly gxAttn: Float64Array;
  readonly gLogit: Float64Array;
  readonly gW: Float64Array; // d/d(attention weight s), s ≤ t
  readonly probs: Float64Array;

  constructor(e: number, vocabSize: number, T: number) {
    this.gx = new Float64Array(e);
    this.gx1 = new Float64Array(e);
    this.gEmb = new Float64Array(e);
    this.gxn = new Float64Array(e);
    this.gq = new Float64Array(e);
    this.gh1 = new Float64Array(4 * e);
    this.gxAttn = new Float64Array(e);
    this.gLogit = new Float64Array(vocabSize);
    this.gW = new Float64Array(T);
    this.probs = new Float64Array(vocabSize);
  }
}

// ---------------------------------------------------------------------------------------------
// The backward pass: the math, then the order.
//
// The math. Writing dX for d(loss)/dX, the gradient flows from the loss down by the chain rule:
// if y = f(x), then dx = J_fᵀ·dy, J_f being f's Jacobian, and a value used in several places
// sums the dx each use gives it. Each backward function below opens with its own f worked out,
// in the notation of a textbook (· a product or a matrix-vector product, ᵀ a transpose, ⊙ an
// elementwise product, 1[…] is 1 where […] holds, else 0).
//
// The order. The code computes those formulas, but term by term as the graph does, since only
// the graph's order gives the graph's bits. microgpt.ts's backward() walks the graph depth-first
// from the loss, and a value's gradient collects its users' terms in the reverse of the order in
// which that walk finishes the users. Floating-point addition is not associative, so that order
// is part of the result. Three facts, F1–F3, settle it everywhere below:
//
// - F1. The loss is ((l_0 + l_1) + …)·(1/n), and the walk enters l_0 first: everything position 0
//   computes is finished first, then what position 1 adds, and so on. A value used by several
//   positions (a weight, a key, a value) gets their terms from the last position to the first,
//   so the backward pass runs over the positions from last to first.
// - F2. Inside a position, the walk enters the target's probability, whose first child leads through
//   the target's logit, lm_head's row, the last layer's output x[0], down the first input of
//   each sum — the MLP, its norm, the attention output, head 0, its first weight, its first dot
//   product, q's first row… So rows of a matrix are finished in order, and their shared input
//   sums their terms from the last row to the first.
// - F3. A node finishes after everything it reads, directly or not: so the residual add (which
//   reads the block's output) finishes after the block's norm, and a norm's y_i (which read
//   scale) after its squares.
//
// The backward functions below derive the rest of their order from these, where it matters.
// To read the math in the order the gradient flows, start at headBackward, then mlpBackward,
// attentionBackward and qkvBackward, embedBackward, and adamUpdate.

// Building blocks, forward and backward.

/** out[r] = Σ_c w[r][c]·x[c] for `rows` rows of `cols`, summed left to right from c = 0, as
 * microgpt.ts's `linear` sums. Each sum is a chain (every add waits for the one before), so four
 * rows are summed side by side: four chains the processor can overlap, each in its own order. */
function linear(
  w: Float64Array,
  wAt: number,
  x: Float64Array,
  xAt: number,
  out: Float64Array,
  outAt: number,
  rows: number,
  cols: number,
): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const r0 = wAt + r * cols;
    const r1 = r0 + cols;
    const r2 = r1 + cols;
    const r3 = r2 + cols;
    const x0 = x[xAt];
    let s0 = w[r0] * x0;
    let s1 = w[r1] * x0;
    let s2 = w[r2] * x0;
    let s3 = w[r3] * x0;
    for (let c = 1; c < cols; c++) {
      const xc = x[xAt + c];
      s0 = s0 + w[r0 + c] * xc;
      s1 = s1 + w[r1 + c] * xc;
      s2 = s2 + w[r2 + c] * xc;
      s3 = s3 + w[r3 + c] * xc;
    }
    out[outAt + r] = s0;
    out[outAt + r + 1] = s1;
    out[outAt + r + 2] = s2;
    out[outAt + r + 3] = s3;
  }
  for (; r < rows; r++) {
    const row = wAt + r * cols;
    let s = w[row] * x[xAt];
    for (let c = 1; c < cols; c++) s = s + w[row + c] * x[xAt + c];
    out[outAt + r] = s;
  }
}

/** One row of `linear`, backward, given d(out_r) = `gr`: adds row r's terms to d(x) in `gx` and
 * to d(w) in `g`.
 *
 * The math. out = W·x, that is out_r = Σ_c W_rc·x_c, so ∂out_r/∂x_c = W_rc and
 * ∂out_r/∂W_rc = x_c. Summed over the rows:
 *
 *     dx = Wᵀ·dout        (dx_c = Σ_r W_rc·dout_r: each input collects from every row)
 *     dW = dout·xᵀ        (dW_rc = dout_r·x_c: an outer product, once per position)
 *
 * This function is one row's share of both: dx_c += W_rc·dout_r, dW_rc += x_c·dout_r.
 *
 * How the code keeps the graph's order. out_r is a chain of adds, which pass `gr` on unchanged
 * to each product node w[r][c]·x[c]; a product's local gradients are the other factor, so the
 * graph's terms are the textbook's, w[r][c]·gr and x[c]·gr. What remains is the order of the
 * rows in Σ_r, which the caller sets. */
function linearRowBackward(
  w: Float64Array,
  g: Float64Array,
  wAt: number,
  r: number,
  gr: number,
  x: Float64Array,
  xAt: number,
  gx: Float64Array,
  cols: number,
): void {
  const row = wAt + r * cols;
  for (let c = 0; c < cols; c++) {
    gx[c] += w[row + c] * gr;
    g[row + c] += x[xAt + c] * gr;
  }
}

/** Rows lo … hi−1 of `linear`, backward, with d(out_r) = gOut[gOutAt + r].
 *
 * The math. As in linearRowBackward, for those rows: dx += Wᵀ·dout, dW += dout·xᵀ.
 *
 * How the code keeps the graph's order. The rows go from hi−1 down to lo, the order in which a
 * shared input sums its rows' terms (F2): the same terms as linearRowBackward row
 * after row, and in each gx[c] the same order, but four rows per pass over gx. */
function linearBackward(
  w: Float64Array,
  g: Float64Array,
  wAt: number,
  lo: number,
  hi: number,
  gOut: Float64Array,
  gOutAt: number,
  x: Float64Array,
  xAt: number,
  gx: Float64Array,
  cols: number,
): void {
  let r = hi - 1;
  for (; r - 3 >= lo; r -= 4) {
    const ra = wAt + r * cols;
    const rb = ra - cols;
    const rc = rb - cols;
    const rd = rc - cols;
    const ga = gOut[gOutAt + r];
    const gb = gOut[gOutAt + r - 1];
    const gc = gOut[gOutAt + r - 2];
    const gd = gOut[gOutAt + r - 3];
    for (let c = 0; c < cols; c++) {
      gx[c] = gx[c] + w[ra + c] * ga + w[rb + c] * gb + w[rc + c] * gc + w[rd + c] * gd;
      const xc = x[xAt + c];
      g[ra + c] += xc * ga;
      g[rb + c] += xc * gb;
      g[rc + c] += xc * gc;
      g[rd + c] += xc * gd;
    }
  }
  for (; r >= lo; r--) linearRowBackward(w, g, wAt, r, gOut[gOutAt + r], x, xAt, gx, cols);
}

/** rmsnorm as microgpt.ts computes it: Σx² left to right, ·n^−1, +1e-5, ^−0.5, then x·scale.
 * Keeps [ms + 1e-5, scale] in `norm` at `normAt` for the backward pass. */
function rmsnorm(
  x: Float64Array,
  xAt: number,
  out: Float64Array,
  n: number,
  norm: Float64Array,
  normAt: number,
): void {
  let ss = x[xAt] * x[xAt];
  for (let i = 1; i < n; i++) ss = ss + x[xAt + i] * x[xAt + i];
  const u = ss * n ** -1 + 1e-5;
  const scale = u ** -0.5;
  norm[normAt] = u;
  norm[normAt + 1] = scale;
  for (let i = 0; i < n; i++) out[xAt + i] = x[xAt + i] * scale;
}

/** rmsnorm, backward: given dy in `gy`, adds dx to `gx`.
 *
 * The math. y_i = x_i·s with s = u^−½ and u = (1/n)·Σ_j x_j² + ε (ε = 1e-5). Every y_i depends
 * on every x_j through s:
 *
 *     ∂s/∂x_j = −½·u^−3/2 · (2·x_j/n) = −(s³/n)·x_j
 *     ∂y_i/∂x_j = s·1[i = j] + x_i·∂s/∂x_j
 *     dx_j = Σ_i dy_i·∂y_i/∂x_j = s·dy_j − (s³/n)·x_j·Σ_i x_i·dy_i
 *
 * or, with y = x·s: dx = s·(dy − y·(y·dy)/n). As y·y ≈ n, the bracket nearly removes from dy
 * its component along y: making x longer does not change y, so that direction gets no gradient.
 *
 * How the code keeps the graph's order. It follows the graph's nodes, not the formula (the
 * steps are below): the textbook's 2·x_j, for one, arrives as two equal terms, one per child of
 * the square x_j·x_j. `gx` may already hold a residual's term, finished after both users
 * (F3); the terms through y_i come next, then those through the squares, which the walk
 * finished before y_i (inside scale, reached from y_0). */
function rmsnormBackward(
  x: Float64Array,
  xAt: number,
  gy: Float64Array,
  gx: Float64Array,
  n: number,
  norm: Float64Array,
  normAt: number,
): void {
  const u = norm[normAt];
  const scale = norm[normAt + 1];
  // scale is used by y_0 … y_n−1, finished in order: its gradient sums i from last to first.
  let gScale = 0;
  for (let i = n - 1; i >= 0; i--) gScale += x[xAt + i] * gy[i];
  for (let i = 0; i < n; i++) gx[i] += scale * gy[i];
  // scale = u^−0.5: du = −0.5·u^−1.5·dscale; u = ms + 1e-5 passes it on (·1); ms = ss·n^−1
  // gives ss n^−1 times that; the sum passes it to every square, and a square x·x has x as both
  // of its children: two equal terms, added one after the other. Together they make the
  // textbook's −(s³/n)·x_i·Σ_j x_j·dy_j, since u^−1.5 = s³.
  const gSq = n ** -1 * (1 * ((-0.5 * u ** -1.5) * gScale));
  for (let i = 0; i < n; i++) {
    gx[i] += x[xAt + i] * gSq;
    gx[i] += x[xAt + i] * gSq;
  }
}

/** softmax(logits · temperature^−1) as microgpt.ts computes it (at temperature 1 there is
 * nothing to divide) into `out`; keeps exp(x − max) in `exps` if given. Returns the total. */
function softmax(
  logits: Float64Array,
  at: number,
  n: number,
  out: Float64Array,
  temperature = 1,
  exps?: Float64Array,
  expsAt = 0,
): number {
  const inv = temperature === 1 ? 1 : temperature ** -1;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = temperature === 1 ? logits[at + i] : logits[at + i] * inv;
    if (x > max) max = x;
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    const x = temperature === 1 ? logits[at + i] : logits[at + i] * inv;
    const ex = Math.exp(x + -max);
    out[i] = ex;
    if (exps !== undefined) exps[expsAt + i] = ex;
    total = i === 0 ? ex : total + ex;
  }
  const pw = total ** -1;
  for (let i = 0; i < n; i++) out[i] = out[i] * pw;
  return total;
}

// ---------------------------------------------------------------------------------------------
// The model, one position t at a time, each step of the forward pass beside its backward pass.
// The KV cache is `k` and `v` of the positions before t.

/** Embedding: emb = wte[token] + wpe[t], then x0 = rmsnorm(emb), the input of layer 0. */
function embed(model: FastModel, tokenId: number, t: number): void {
  const e = model.config.nEmbd;
  const { w, at } = model;
  const xt = t * e;
  const wte = at.wte + tokenId * e;
  const wpe = at.wpe + t * e;
  for (let i = 0; i < e; i++) model.emb[xt + i] = w[wte + i] + w[wpe + i];
  rmsnorm(model.emb, xt, model.x0, e, model.norm0, 2 * t);
}

/** Embedding, backward, from d(x0) in `gx`: adds to the token's row of wte and the position's
 * row of wpe.
 *
 * The math. emb = wte[token] + wpe[t] and x0 = rmsnorm(emb), so
 *
 *     demb = rmsnorm's Jacobian applied to dx0        (see rmsnormBackward)
 *     dwte[token] += demb,   dwpe[t] += demb          (an add passes its gradient unchanged)
 *
 * A lookup is a one-hot vector times the matrix, onehot(token)ᵀ·wte, so its gradient is the
 * outer product onehot(token)·dembᵀ: only the looked-up row gets anything. A token that occurs
 * several times in the document collects a term per occurrence; every wpe row used gets one.
 *
 * How the code keeps the graph's order. emb's only users are the norm's squares and its
 * scaling (no residual reads emb), so demb starts from 0. */
function embedBackward(model: FastModel, tokenId: number, t: number, gx: Float64Array): void {
  const e = model.config.nEmbd;
  const { g, at } = model;
  const xt = t * e;
  const gEmb = model.scratch.gEmb;
  gEmb.fill(0);
  rmsnormBackward(model.emb, xt, gx, gEmb, e, model.norm0, 2 * t);
  const wte = at.wte + tokenId * e;
  const wpe = at.wpe + t * e;
  for (let i = 0; i < e; i++) {
    g[wte + i] += gEmb[i];
    g[wpe + i] += gEmb[i];
  }
}

/** Attention block of layer li: xn = rmsnorm(x); q, k, v = attn_wq/wk/wv·xn; each head mixes
 * the values of positions 0…t by softmax(q·k_s·headDim^−0.5); x1 = attn_wo·heads + x. */
function attention(
  model: FastModel,
  li: number,
  t: number,
  x: Float64Array,
  observe?: (layer: number, head: number, weights: number[]) => void,
): void {
  const { nEmbd: e, nHead, blockSize: T } = model.config;
  const { w } = model;
  const L = model.layers[li];
  const hd = e / nHead;
  const c = (hd ** 0.5) ** -1; // dividing by sqrt(headDim) is multiplying by its inverse
  const xt = t * e;
  rmsnorm(x, xt, L.xn, e, L.norm1, 2 * t);
  linear(w, L.wq, L.xn, xt, L.q, xt, e, e);
  linear(w, L.wk, L.xn, xt, L.k, xt, e, e);
  linear(w, L.wv, L.xn, xt, L.v, xt, e, e);
  for (let h = 0; h < nHead; h++) {
    const hs = h * hd;
    const ex = (h * T + t) * T; // this position's row of exp(logit − max)
    let max = -Infinity;
    for (let s = 0; s <= t; s++) {
      let dot = L.q[xt + hs] * L.k[s * e + hs];
      for (let j = 1; j < hd; j++) dot = dot + L.q[xt + hs + j] * L.k[s * e + hs + j];
      const logit = dot * c;
      L.attExp[ex + s] = logit; // kept here until the max is known
      if (logit > max) max = logit;
    }
    let total = 0;
    for (let s = 0; s <= t; s++) {
      const eS = Math.exp(L.attExp[ex + s] + -max);
      L.attExp[ex + s] = eS;
      total = s === 0 ? eS : total + eS;
    }
    L.attTotal[h * T + t] = total;
    const pw = total ** -1;
    if (observe !== undefined) {
      const weights = [];
      for (let s = 0; s <= t; s++) weights.push(L.attExp[ex + s] * pw);
      observe(li, h, weights);
    }
    for (let j = 0; j < hd; j++) {
      let o = (L.attExp[ex] * pw) * L.v[hs + j];
      for (let s = 1; s <= t; s++) o = o + (L.attExp[ex + s] * pw) * L.v[s * e + hs + j];
      L.xAttn[xt + hs + j] = o;
    }
  }
  linear(w, L.wo, L.xAttn, xt, L.x1, xt, e, e);
  for (let i = 0; i < e; i++) L.x1[xt + i] = L.x1[xt + i] + x[xt + i];
}

/** Attention block, backward: from d(x1) in `gx1`, writes d(x) into `gx`, adds this position's
 * terms to the keys and values of positions 0…t, its own included (gK, gV), and to the weights.
 *
 * The math. At position t, with d = headDim, each head computes from its slices of q, k, v:
 *
 *     z_s = q·k_s / √d   for s = 0 … t        a = softmax(z)        o = Σ_s a_s·v_s
 *
 * and x1 = Wo·o + x, where q, k_t, v_t = Wq·xn, Wk·xn, Wv·xn and xn = rmsnorm(x). Backward,
 * from the top:
 *
 *     dx   = dx1 (the residual)                     do = Woᵀ·dx1,   dWo += dx1·oᵀ
 *     da_s = do·v_s                                 dv_s += a_s·do
 *     dz_s = a_s·(da_s − Σ_r a_r·da_r)              (the softmax Jacobian, below)
 *     dq   = Σ_s dz_s·k_s / √d                      dk_s += dz_s·q / √d
 *     dxn  = Wqᵀ·dq + Wkᵀ·dk_t + Wvᵀ·dv_t           dWq += dq·xnᵀ, and so for k and v
 *     dx  += rmsnorm's Jacobian applied to dxn
 *
 * The softmax Jacobian: a_r = e^(z_r) / Σ_u e^(z_u) gives ∂a_r/∂z_s = a_r·(1[r = s] − a_s), so
 * dz_s = Σ_r da_r·a_r·(1[r = s] − a_s) = a_s·(da_s − a·da), or dz = a ⊙ (da − a·da). As
 * Σ_r a_r·v_r = o, that is dz_s = a_s·(v_s − o)·do: raising z_s pulls o towards v_s, and the
 * loss feels that pull through do.
 *
 * Through the KV cache, k_s and v_s of an earlier position get a term from every later one.
 * The backward pass runs the positions from last to first, so when it reaches t, dk_t and dv_t
 * are complete.
 *
 * How the code keeps the graph's order. The graph never forms a·da: each a_s is e_s·total^−1
 * with a division node of its own, so total collects −total^−2·e_s·da_s once per s, and e_s
 * gets total^−1·da_s plus total's gradient; then exp multiplies by e_s, the max shift passes the
 * gradient on unchanged, and the division by √d is a multiplication by c = (√d)^−1. The code
 * replays those products in the graph's order, noted at each step. */
function attentionBackward(
  model: FastModel,
  li: number,
  t: number,
  x: Float64Array,
  gx1: Float64Array,
  gx: Float64Array,
): void {
  const { nEmbd: e, nHead, blockSize: T } = model.config;
  const { w, g, scratch: S } = model;
  const L = model.layers[li];
  const hd = e / nHead;
  const c = (hd ** 0.5) ** -1;
  const xt = t * e;
  // x1 = attn_wo·xAttn + x: x gets d(x1) unchanged, its first term (the residual add is
  // finished after x's other users, the norm's squares and scaling).
  for (let i = 0; i < e; i++) gx[i] = gx1[i];
  const gxAttn = S.gxAttn;
  gxAttn.fill(0);
  linearBackward(w, g, L.wo, 0, e, gx1, 0, L.xAttn, xt, gxAttn, e);

  const gq = S.gq;
  gq.fill(0);
  const gK = model.gK[li];
  const gV = model.gV[li];
  for (let h = 0; h < nHead; h++) {
    const hs = h * hd;
    const ex = (h * T + t) * T;
    const total = L.attTotal[h * T + t];
    const pw = total ** -1;
    // out_j = Σ_s a_s·v_s[j] with a_s = e_s·pw_s. a_s is used by out_0 … out_hd−1, finished in
    // that order: its gradient sums j from last to first. v_s[j] gets a_s·d(out_j), one term
    // per position.
    for (let s = 0; s <= t; s++) {
      const a = L.attExp[ex + s] * pw;
      let ga = 0;
      for (let j = hd - 1; j >= 0; j--) {
        ga += L.v[s * e + hs + j] * gxAttn[hs + j];
        gV[s * e + hs + j] += a * gxAttn[hs + j];
      }
      S.gW[s] = ga;
    }
    // a_s = e_s·pw_s, where each pw_s = total^−1 is a node of its own (a division each):
    // e_s gets pw·da_s, pw_s gets e_s·da_s and passes −1·total^−2 times that to total. The
    // pw_s are finished in order of s, so total sums s from last to first.
    const local = -1 * total ** -2;
    let gTotal = 0;
    for (let s = t; s >= 0; s--) gTotal += local * (L.attExp[ex + s] * S.gW[s]);
    for (let s = t; s >= 0; s--) {
      // e_s's users are the sum (finished first, inside a_0's pw) and a_s: a_s's term first.
      const gExp = pw * S.gW[s] + gTotal;
      // exp → (logit − max) → dot·c: d(dot_s) = c·(e_s·de_s), which is the textbook's
      // a_s·(da_s − a·da)/√d.
      const gDot = c * (L.attExp[ex + s] * gExp);
      // dot_s = Σ_j q[j]·k_s[j]. q[j] is used by dot_0 … dot_t, finished in order of s: this
      // loop runs s from last to first. k_s[j] gets one term per position.
      for (let j = 0; j < hd; j++) {
        gq[hs + j] += L.k[s * e + hs + j] * gDot;
        gK[s * e + hs + j] += L.q[xt + hs + j] * gDot;
      }
    }
  }
  qkvBackward(model, li, t, gq);
  rmsnormBackward(x, xt, S.gxn, gx, e, L.norm1, 2 * t);
}

/** q, k, v = attn_wq/wk/wv·xn, backward: from d(q) in `gq` and this position's d(k), d(v) in
 * gK, gV (complete by now), writes d(xn) into the scratch `gxn` and adds to the three matrices'
 * gradients. The math is `linear`'s: dxn = Wqᵀ·dq + Wkᵀ·dk + Wvᵀ·dv. */
function qkvBackward(model: FastModel, li: number, t: number, gq: Float64Array): void {
  const { nEmbd: e, nHead } = model.config;
  const { w, g, scratch: S } = model;
  const L = model.layers[li];
  const hd = e / nHead;
  const xt = t * e;
  const gK = model.gK[li];
  const gV = model.gV[li];
  // q, k, v = attn_wq/wk/wv·xn. xn[i] is used by every row of the three, finished head by
  // head as attention reaches them: in head h, q's rows (through the first dot product), then
  // k's (through the last, with this position's own key), then v's (through the outputs). At
  // position 0 the one dot product is with the own key, and it reaches q[j] and k[j] in turn.
  // xn[i] sums the rows in the reverse of all that.
  const gxn = S.gxn;
  gxn.fill(0);
  const { wq, wk, wv } = L;
  for (let h = nHead - 1; h >= 0; h--) {
    const hs = h * hd;
    linearBackward(w, g, wv, hs, hs + hd, gV, xt, L.xn, xt, gxn, e);
    if (t > 0) {
      linearBackward(w, g, wk, hs, hs + hd, gK, xt, L.xn, xt, gxn, e);
      linearBackward(w, g, wq, hs, hs + hd, gq, 0, L.xn, xt, gxn, e);
    } else {
      for (let j = hd - 1; j >= 0; j--) {
        linearRowBackward(w, g, wk, hs + j, gK[xt + hs + j], L.xn, xt, gxn, e);
        linearRowBackward(w, g, wq, hs + j, gq[hs + j], L.xn, xt, gxn, e);
      }
    }
  }
}

/** MLP block of layer li: xn2 = rmsnorm(x1); h1 = mlp_fc1·xn2; x2 = mlp_fc2·relu(h1) + x1. */
function mlp(model: FastModel, li: number, t: number): void {
  const e = model.config.nEmbd;
  const { w } = model;
  const L = model.layers[li];
  const xt = t * e;
  rmsnorm(L.x1, xt, L.xn2, e, L.norm2, 2 * t);
  linear(w, L.fc1, L.xn2, xt, L.h1, 4 * xt, 4 * e, e);
  for (let k = 4 * xt; k < 4 * xt + 4 * e; k++) L.h1r[k] = L.h1[k] > 0 ? L.h1[k] : 0;
  linear(w, L.fc2, L.h1r, 4 * xt, L.x2, xt, e, 4 * e);
  for (let i = 0; i < e; i++) L.x2[xt + i] = L.x2[xt + i] + L.x1[xt + i];
}

/** MLP block, backward: from d(x2) in `gx2`, writes d(x1) into `gx1`.
 *
 * The math. xn2 = rmsnorm(x1), h = W1·xn2, r = relu(h), x2 = W2·r + x1. Backward:
 *
 *     dx1  = dx2 (the residual)
 *     dr   = W2ᵀ·dx2,     dW2 += dx2·rᵀ
 *     dh   = dr ⊙ 1[h > 0]
 *     dxn2 = W1ᵀ·dh,      dW1 += dh·xn2ᵀ
 *     dx1 += rmsnorm's Jacobian applied to dxn2
 *
 * relu(h) = max(0, h) has slope 1 where h > 0 and 0 elsewhere, so the ReLU is a gate: a unit
 * that was off for this position passes no gradient to W1 or below.
 *
 * How the code keeps the graph's order. The terms are the textbook's, and the gate is applied
 * as the graph's relu node applies it, as a product of 1 or 0 with the gradient; the order of
 * each sum is noted at its step. */
function mlpBackward(
  model: FastModel,
  li: number,
  t: number,
  gx2: Float64Array,
  gx1: Float64Array,
) {
  const e = model.config.nEmbd;
  const { w, g, scratch: S } = model;
  const L = model.layers[li];
  const xt = t * e;
  // x2 = fc2·relu(h1) + x1: both get d(x2) unchanged; for x1 it is the first term (the
  // residual add is finished after x1's other users, the norm's squares and scaling).
  for (let i = 0; i < e; i++) gx1[i] = gx2[i];
  // relu(h1)[k] is used by every row of fc2, rows finished in order: it sums them last to
  // first. The ReLU passes the gradient where h1 > 0 (its local gradient is 1 there, else 0).
  const gh1 = S.gh1;
  gh1.fill(0);
  linearBackward(w, g, L.fc2, 0, e, gx2, 0, L.h1r, 4 * xt, gh1, 4 * e);
  for (let k = 0; k < 4 * e; k++) gh1[k] = (L.h1[4 * xt + k] > 0 ? 1 : 0) * gh1[k];
  // xn2 is used by every row of fc1: rows last to first again.
  const gxn = S.gxn;
  gxn.fill(0);
  linearBackward(w, g, L.fc1, 0, 4 * e, gh1, 0, L.xn2, xt, gxn, e);
  rmsnormBackward(L.x1, xt, gxn, gx1, e, L.norm2, 2 * t);
}

/** The output: logits = lm_head·x, x being the last layer's output. Returns where the logits
 * of position t start in `model.logits`. */
function head(model: FastModel, t: number): number {
  const e = model.config.nEmbd;
  const lt = t * model.vocabSize;
  const x = model.layers[model.config.nLayer - 1].x2;
  linear(model.w, model.at.lm_head, x, t * e, model.logits, lt, model.vocabSize, e);
  return lt;
}

/** The loss at position t and the output, backward: l_t = log(p)·(−1) with p = softmax's
 * probability of `target`, given d(l_t) = `gl` (which is 1/n). Writes d(x) of the last layer's
 * output into `gx`.
 *
 * The math. With logits z = lm_head·x and p = softmax(z), the loss at t is cross-entropy:
 *
 *     l_t = −log p_target = −z_target + log Σ_j e^(z_j)
 *     ∂l_t/∂z_i = −1[i = target] + e^(z_i) / Σ_j e^(z_j) = p_i − 1[i = target]
 *
 * So dz = p − onehot(target): every logit is pushed down by its probability, and the target's
 * up by 1 − p_target; when the model is sure and right, p = onehot(target) and nothing moves.
 * The loss is the mean of n positions, L = (1/n)·Σ_t l_t, so at each position
 *
 *     dz = (p − onehot(target)) / n,     dx = lm_headᵀ·dz,     dlm_head += dz·xᵀ
 *
 * How the code keeps the graph's order. The graph holds no node for p − onehot. It holds
 * l = log(p)·(−1), p = e_target·total^−1, total = e_0 + … + e_(V−1), e_i = exp(z_i + (−max)), and
 * backward() passes through each in turn; the code replays those products:
 *
 *     dp     = (1/p)·(−1·gl)                       = −gl/p
 *     dtotal = (−1·total^−2)·(e_target·dp)         = gl/total
 *     dz_i   = e_i·dtotal                          = gl·p_i               (i ≠ target)
 *     dz_i   = e_i·(total^−1·dp + dtotal)          = gl·(p_i − 1)         (i = target)
 *
 * The right-hand column is (p − onehot)/n, but each product rounds on its own, so most entries
 * differ from the direct formula in the last bit or two (a few parts in 10^16). The graph's
 * numbers, and so microgpt.py's, are the left-hand column's, in this order. */
function headBackward(model: FastModel, t: number, target: number, gl: number, gx: Float64Array) {
  const e = model.config.nEmbd;
  const V = model.vocabSize;
  const { w, g, at, scratch: S } = model;
  const lt = t * V;
  // d(log p) = −1·dl; log's local gradient is 1/p.
  const gp = (1 / model.lmProb[t]) * (-1 * gl);
  // p = e_target·pw with pw = total^−1: e_target gets pw·dp, pw gets e_target·dp, and total
  // gets −1·total^−2 times that. total = e_0 + e_1 + … passes its gradient to every e_i.
  // e_target's users are p and the sum; the walk reaches the sum inside p's second child and
  // finishes it first, so p's term comes first.
  const total = model.lmTotal[t];
  const pw = total ** -1;
  const gTotal = (-1 * total ** -2) * (model.lmExp[lt + target] * gp);
  for (let r = 0; r < V; r++) {
    const gExp = r === target ? pw * gp + gTotal : gTotal;
    // exp's local gradient is its own value; logit − max passes the gradient unchanged.
    S.gLogit[r] = model.lmExp[lt + r] * gExp;
  }
  // logit_r = Σ_c lm_head[r][c]·x[c]. The walk reaches the target's logit first (through p),
  // then the others through the sum, in order; so x[c] sums the rows in reverse: the last row
  // first, …, the first, and the target's row last.
  const x = model.layers[model.config.nLayer - 1].x2;
  gx.fill(0);
  for (let r = V - 1; r >= 0; r--) {
    if (r !== target) linearRowBackward(w, g, at.lm_head, r, S.gLogit[r], x, t * e, gx, e);
  }
  linearRowBackward(w, g, at.lm_head, target, S.gLogit[target], x, t * e, gx, e);
}

/** The forward pass for token `tokenId` at position `t`: fills the activations of position t
 * and returns where its logits start in `model.logits`. */
function forward(
  model: FastModel,
  tokenId: number,
  t: number,
  observe?: (layer: number, head: number, weights: number[]) => void,
): number {
  embed(model, tokenId, t);
  let x = model.x0;
  for (let li = 0; li < model.config.nLayer; li++) {
    attention(model, li, t, x, observe);
    mlp(model, li, t);
    x = model.layers[li].x2;
  }
  return head(model, t);
}

// ---------------------------------------------------------------------------------------------
// The loss and its gradient.

/** The mean loss over the document `tokens` (BOS, characters, BOS) and, in `model.g`, its
 * gradient with respect to every weight, bit for bit as microgpt.ts's `backward()` leaves it.
 * `observer`, if given, sees every stage of the forward pass (for a trace). */
export function lossAndGrad(
  model: FastModel,
  tokens: number[],
  observer?: ForwardObserver,
): number {
  const { nEmbd: e, nLayer, blockSize } = model.config;
  const V = model.vocabSize;
  const S = model.scratch;
  const n = Math.min(blockSize, tokens.length - 1);
  // Forward, keeping what the backward pass needs.
  let sum = 0;
  for (let t = 0; t < n; t++) {
    const see = observer &&
      ((li: number, h: number, a: number[]) => observer.stage(t, "attn", a, li, h));
    const lt = forward(model, tokens[t], t, see);
    model.lmTotal[t] = softmax(model.logits, lt, V, S.probs, 1, model.lmExp, lt);
    const p = S.probs[tokens[t + 1]];
    model.lmProb[t] = p;
    if (observer !== undefined) showStages(model, t, tokens[t], tokens[t + 1], p, observer);
    const loss = Math.log(p) * -1;
    sum = t === 0 ? loss : sum + loss;
  }
  const loss = sum * (1 / n);

  // Backward, positions last to first. Gradients accumulate from zero, as the graph's do.
  model.g.fill(0);
  for (let li = 0; li < nLayer; li++) {
    model.gK[li].fill(0, 0, n * e);
    model.gV[li].fill(0, 0, n * e);
  }
  // loss = S·(1/n): dS = (1/n)·1, and S, a chain of adds, passes it unchanged to every l_t.
  // This is the 1/n of the textbook's (p − onehot(target))/n (see headBackward).
  const gl = (1 / n) * 1;
  for (let t = n - 1; t >= 0; t--) {
    headBackward(model, t, tokens[t + 1], gl, S.gx);
    for (let li = nLayer - 1; li >= 0; li--) {
      mlpBackward(model, li, t, S.gx, S.gx1);
      attentionBackward(model, li, t, li === 0 ? model.x0 : model.layers[li - 1].x2, S.gx1, S.gx);
    }
    embedBackward(model, tokens[t], t, S.gx);
  }
  return loss;
}

/** Shows a trace's observer position t's stages: the activations the forward pass just left in
 * the model's arrays (the attention weights it shows as it makes them). */
function showStages(
  model: FastModel,
  t: number,
  token: number,
  target: number,
  prob: number,
  obs: ForwardObserver,
): void {
  const e = model.config.nEmbd;
  const V = model.vocabSize;
  const xt = t * e;
  const at = (a: Float64Array, from: number, n = e) => a.subarray(from, from + n);
  obs.stage(t, "embedding", at(model.emb, xt));
  obs.stage(t, "norm", at(model.x0, xt));
  model.layers.forEach((L, li) => {
    obs.stage(t, "norm_attn", at(L.xn, xt), li);
    obs.stage(t, "q", at(L.q, xt), li);
    obs.stage(t, "k", at(L.k, xt), li);
    obs.stage(t, "v", at(L.v, xt), li);
    obs.stage(t, "heads_out", at(L.xAttn, xt), li);
    obs.stage(t, "attn_out", at(L.x1, xt), li);
    obs.stage(t, "norm_mlp", at(L.xn2, xt), li);
    obs.stage(t, "mlp_hidden", at(L.h1r, 4 * xt, 4 * e), li);
    obs.stage(t, "mlp_out", at(L.x2, xt), li);
  });
  obs.stage(t, "logits", at(model.logits, t * V, V));
  obs.target(t, token, target, prob);
}

// ---------------------------------------------------------------------------------------------
// Adam, the training loop and the sampling loop: microgpt.ts's, on the flat arrays.

/** Adam's update at step `step` (0-based), then zeroed gradients: microgpt.ts's `Adam.update`.
 * Returns lr_t, the learning rate it used.
 *
 * The math. For each weight w with gradient g, at t = step + 1:
 *
 *     m ← β1·m + (1 − β1)·g               a running mean of the gradient (momentum)
 *     v ← β2·v + (1 − β2)·g²              a running mean of its square (its typical size)
 *     m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)
 *     w ← w − lr_t·m̂ / (√v̂ + ε),         lr_t = lr·(1 − step/numSteps)
 *
 * m and v start at 0: after t steps of a constant g, m = (1 − β1^t)·g, so dividing by
 * (1 − β1^t) corrects that bias (and likewise for v). m̂/√v̂ is about ±1 while a gradient keeps
 * its sign and smaller while it wavers, so each weight's step is of the order of lr_t, whatever
 * the scale of its gradient. lr_t decays linearly to 0 over the run.
 *
 * How the code keeps the graph's order. Adam is plain arithmetic in microgpt.ts too, weight by
 * weight with no sum across weights, so the same expressions with the same parentheses give the
 * same bits. g² is g·g and v̂^0.5 is √v̂: V8 computes `x ** 2` and `x ** 0.5` exactly so, and the
 * test holds the weights of both engines equal bit for bit. */
export function adamUpdate(model: FastModel, step: number): number {
  const { learningRate, beta1, beta2, epsAdam, numSteps } = model.config;
  const lrT = learningRate * (1 - step / numSteps);
  const c1 = 1 - beta1 ** (step + 1);
  const c2 = 1 - beta2 ** (step + 1);
  const { w, g, m, v } = model;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    m[i] = beta1 * m[i] + (1 - beta1) * gi;
    v[i] = beta2 * v[i] + (1 - beta2) * (gi * gi);
    const mHat = m[i] / c1;
    const vHat = v[i] / c2;
    w[i] -= lrT * mHat / (Math.sqrt(vHat) + epsAdam);
    g[i] = 0;
  }
  return lrT;
}

/** The training loop, as microgpt.ts's `train`. Returns the steps done. `watch`, if given, sees
 * each step's forward pass (when it asks), gradients and weights. */
export function train(
  model: FastModel,
  docs: string[],
  tok: Tokenizer,
  onStep: StepHook,
  from = 0,
  watch?: TrainWatch,
): number {
  const { numSteps, blockSize } = model.config;
  for (let step = from; step < numSteps; step++) {
    const tokens = tok.encode(docs[step % docs.length], blockSize);
    const loss = lossAndGrad(model, tokens, watch?.forwardOf?.(step));
    watch?.afterBackward?.(step, model.g);
    const lr = adamUpdate(model, step);
    watch?.afterUpdate?.(step, lr, model.w);
    if (onStep(step, loss) === false) return step + 1;
  }
  return numSteps;
}

/** The mean loss on a document, learning nothing from it. */
export function meanLoss(model: FastModel, tokens: number[]): number {
  const n = Math.min(model.config.blockSize, tokens.length - 1);
  const V = model.vocabSize;
  let sum = 0;
  for (let t = 0; t < n; t++) {
    const lt = forward(model, tokens[t], t);
    softmax(model.logits, lt, V, model.scratch.probs);
    const loss = Math.log(model.scratch.probs[tokens[t + 1]]) * -1;
    sum = t === 0 ? loss : sum + loss;
  }
  return sum * (1 / n);
}

/** Invents one document, as microgpt.ts's `sample`. */
export function sample(
  model: FastModel,
  tok: Tokenizer,
  rng: Random,
  temperature: number,
  prefix = "",
  watch: SampleWatch = {},
): string {
  const { blockSize } = model.config;
  const V = model.vocabSize;
  const forced = tok.encode(prefix).slice(1, -1);
  const probs = new Float64Array(V);
  let tokenId = tok.bos;
  let out = "";
  for (let posId = 0; posId < blockSize; posId++) {
    const { onAttention } = watch;
    const observe = onAttention &&
      ((li: number, h: number, a: number[]) => onAttention(posId, li, h, a));
    const lt = forward(model, tokenId, posId, observe);
    if (posId < forced.length) {
      tokenId = forced[posId];
      out += tok.chars[tokenId];
      continue;
    }
    const logits = model.logits.subarray(lt, lt + V);
    if (temperature === 0) {
      tokenId = argmax(logits);
      probs.fill(0);
      probs[tokenId] = 1;
    } else {
      softmax(model.logits, lt, V, probs, temperature);
      tokenId = rng.choices(Array.from(probs));
    }
    if (watch.onDraw !== undefined) {
      const probs1 = new Float64Array(V);
      softmax(model.logits, lt, V, probs1);
      const draw: Draw = {
        soFar: out,
        probs: Array.from(probs),
        probs1: Array.from(probs1),
        drawn: tokenId,
      };
      watch.onDraw(draw);
    }
    if (tokenId === tok.bos) break;
    out += tok.chars[tokenId];
  }
  return out;
}

/** The sampling loop, as microgpt.ts's `generate`. */
export function generate(
  model: FastModel,
  tok: Tokenizer,
  rng: Random,
  prefix: string,
  onSample: SampleHook,
  watchFor: (i: number) => SampleWatch = () => ({}),
): void {
  const { numSamples, temperature } = model.config;
  for (let i = 0; i < numSamples; i++) {
    const doc = sample(model, tok, rng, temperature, prefix, watchFor(i));
    if (onSample(i, doc) === false) return;
  }
}

/** This file as an engine for microgpt.ts's tools. */
export const fastEngine: Engine = {
  name: "microgpt_fast.ts",
  create(config: Config, vocabSize: number, weights: Float64Array): Trainer {
    const model = new FastModel(config, vocabSize, weights);
    return {
      config,
      vocabSize,
      m: model.m,
      v: model.v,
      train: (docs, tok, onStep, from, watch) => train(model, docs, tok, onStep, from, watch),
      generate: (tok, rng, prefix, onSample, watchFor) =>
        generate(model, tok, rng, prefix, onSample, watchFor),
      loss: (tokens) => meanLoss(model, tokens),
      gradient: (tokens) => {
        const loss = lossAndGrad(model, tokens);
        const grad = Float64Array.from(model.g);
        model.g.fill(0);
        return { loss, grad };
      },
      weights: () => Float64Array.from(model.w),
    };
  },
  stepBytes(config: Config, vocabSize: number, _tokens: number): number {
    // Everything is allocated once, for the whole block: weights, gradients and moments, and per
    // layer and position the activations, the attention rows and the key and value gradients.
    const { nEmbd: e, nHead, nLayer, blockSize: T } = config;
    const perLayer = T * (18 * e + 4) + nHead * T * (T + 1);
    const outside = T * (2 * e + 2 * vocabSize + 4);
    return 8 * (4 * numParams(config, vocabSize) + nLayer * perLayer + outside);
  },
};

if (import.meta.main) Deno.exit(await main(Deno.args, fastEngine));
