/**
 * microgpt.ts — the most atomic way to train and sample a GPT, in one dependency-free Deno file.
 *
 * A port of Andrej Karpathy's microgpt.py: a character-level GPT (token and position
 * embeddings, RMSNorm, multi-head causal attention, a ReLU MLP, residual connections) whose every
 * scalar is a node of an autograd graph, trained with Adam on a list of names and then sampled.
 * For the same data, seed and settings it prints exactly what microgpt.py prints, so every number
 * can be checked against the Python original.
 *
 * How to read it. **Part I is the complete algorithm**, in microgpt.py's order: dataset,
 * tokenizer, autograd, parameters, the model, training, inference. A line says where it ends.
 * **Part II is the tools** around it: the command line, saving and loading, instruments, the run.
 * An **appendix** reproduces the bits of Python that the numbers depend on (its random number
 * generator, `str.strip`, `%.4f`). Everything else is just efficiency: microgpt_fast.ts computes
 * the same model, bit for bit, on typed arrays.
 *
 * @example Train on the bundled names and invent new ones (no permission flags needed)
 * ```sh
 * deno run microgpt.ts
 * ```
 *
 * @example Use the pieces from another script
 * ```ts
 * import { DEFAULTS, initModel, parseDocs, Random, sample, Tokenizer } from "./microgpt.ts";
 * const rng = new Random(42);
 * const docs = parseDocs("emma\nolivia\nava\n");
 * const tok = new Tokenizer(docs);
 * const model = initModel(DEFAULTS, tok.vocabSize, rng);
 * console.log(sample(model, tok, rng, 1.0)); // an untrained model babbles
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fstatSync } from "node:fs";
import { getHeapStatistics } from "node:v8";
import bundledInput from "./input.txt" with { type: "text" };

// =============================================================================================
// PART I — THE ALGORITHM
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// Dataset: a list of documents, here one name per line. The model learns what a name looks like
// from thousands of them, and each one is a separate little sequence: it never sees two at once.
// The run shuffles them once (with the seeded generator of the appendix) and then takes them in
// that order, one per training step.

/** Splits a text into documents as microgpt.py reads its input file: one per line (Python's
 * text mode ends a line at "\n", "\r\n" or a lone "\r"), stripped, empty lines dropped. */
export function parseDocs(text: string): string[] {
  const docs: string[] = [];
  const lineEnd = /\r\n|\r|\n/g;
  let start = 0;
  while (true) {
    const found = lineEnd.exec(text);
    const doc = pyStrip(text.slice(start, found === null ? text.length : found.index));
    if (doc !== "") docs.push(doc);
    if (found === null) return docs;
    start = lineEnd.lastIndex;
  }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: a network computes with numbers, not letters, so every distinct character gets an
// integer id, in code-point order (as Python's `sorted` orders characters). One more id, BOS,
// marks the edge of a document, at both ends: reading BOS is the cue to start a name, and
// predicting BOS is how the model says a name is over — which is also how sampling knows when
// to stop. One token serves as "beginning" and "end of sequence".

/** Maps characters (Unicode code points) to token ids and back; id `bos` is the extra token. */
export class Tokenizer {
  /** The distinct characters of the dataset; a character's id is its index here. */
  readonly chars: string[];
  /** The Beginning-of-Sequence token, which also ends every sequence. */
  readonly bos: number;
  /** Number of distinct tokens: the characters plus BOS. */
  readonly vocabSize: number;
  #ids = new Map<string, number>();

  /** Builds the vocabulary from the documents, or from a saved list of characters. */
  constructor(docs: string[], chars?: string[]) {
    if (chars === undefined) {
      const seen = new Set<string>();
      for (const doc of docs) for (const ch of doc) seen.add(ch); // for..of walks code points
      chars = [...seen].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    }
    this.chars = chars;
    this.chars.forEach((ch, id) => this.#ids.set(ch, id));
    this.bos = chars.length;
    this.vocabSize = chars.length + 1;
  }

  /** The id of one character, or undefined if the vocabulary does not have it. */
  id(ch: string): number | undefined {
    return this.#ids.get(ch);
  }

  /** A document's tokens with BOS on both sides. With `limit`, only the first `limit` characters
   * are read: a block of `limit` positions could not use more (and a 10 MB line stays cheap). */
  encode(doc: string, limit = Infinity): number[] {
    const tokens = [this.bos];
    for (const ch of doc) {
      if (tokens.length > limit) return tokens; // cut: this document does not end in the block
      const id = this.#ids.get(ch);
      if (id === undefined) {
        throw new Error(`character ${JSON.stringify(ch)} is not in the vocabulary`);
      }
      tokens.push(id);
    }
    tokens.push(this.bos);
    return tokens;
  }
}

// ---------------------------------------------------------------------------------------------
// Autograd. Every scalar the model computes is a Value: a node that remembers its number (data),
// the nodes it was computed from (its children) and how much it changes when each child changes
// (its local gradients). After the forward pass, backward() walks the graph from the loss down and
// applies the chain rule: each child's grad += local gradient × this node's grad. Then grad holds
// d(loss)/d(node) for every node, the parameters included.
//
// microgpt.py keeps children and local gradients in tuples; no op needs more than two, so here
// they are four fields. microgpt.py also wraps a plain number operand (the 2 in x·2) in a Value
// of its own; here it is no child at all: nobody reads its gradient, and leaving it out changes
// no bit of any other. TypeScript has no operator overloading, so a + b is a.add(b), and
// Python's reflected forms (2 * x, 1 / x) are written with the Value first: x.mul(2).

/** A scalar in the computation graph: its value, its gradient, its children. */
export class Value {
  /** The scalar computed in the forward pass. */
  data: number;
  /** d(loss)/d(this node), filled in by backward(). */
  grad = 0;
  /** The first child, or null for a leaf (a parameter). Only ops have children. */
  readonly a: Value | null;
  /** The second child, or null. */
  readonly b: Value | null;
  /** d(this)/d(a), the local gradient towards the first child. */
  readonly da: number;
  /** d(this)/d(b), the local gradient towards the second child. */
  readonly db: number;
  /** Whether backward()'s walk has been here: it holds that walk's own mark. */
  seen: object | null = null;

  /** A node with value `data` and up to two children with their local gradients. */
  constructor(data: number, a: Value | null = null, da = 0, b: Value | null = null, db = 0) {
    this.data = data;
    this.a = a;
    this.da = da;
    this.b = b;
    this.db = db;
  }

  // Each op states its forward value and its local gradients; backward() does the chaining.

  /** this + other; d/dthis = 1, d/dother = 1. */
  add(other: Value | number): Value {
    if (typeof other === "number") return new Value(this.data + other, this, 1);
    return new Value(this.data + other.data, this, 1, other, 1);
  }

  /** this × other; d/dthis = other, d/dother = this. */
  mul(other: Value | number): Value {
    if (typeof other === "number") return new Value(this.data * other, this, other);
    return new Value(this.data * other.data, this, other.data, other, this.data);
  }

  /** this^k for a constant k; d/dthis = k·this^(k−1). */
  pow(k: number): Value {
    return new Value(this.data ** k, this, k * this.data ** (k - 1));
  }

  /** ln(this); d/dthis = 1/this. */
  log(): Value {
    return new Value(Math.log(this.data), this, 1 / this.data);
  }

  /** e^this; d/dthis = e^this. */
  exp(): Value {
    const e = Math.exp(this.data);
    return new Value(e, this, e);
  }

  /** max(0, this); d/dthis = 1 where this > 0, else 0. */
  relu(): Value {
    return new Value(this.data > 0 ? this.data : 0, this, this.data > 0 ? 1 : 0);
  }

  // The rest are built from the ops above exactly as microgpt.py builds them: the shape of the
  // graph decides the order in which gradients are summed, and so their last bits.

  /** −this, as this × (−1). */
  neg(): Value {
    return this.mul(-1);
  }

  /** this − other, as this + (−other). */
  sub(other: Value | number): Value {
    return this.add(typeof other === "number" ? -other : other.neg());
  }

  /** this / other, as this × other^−1. */
  div(other: Value | number): Value {
    return this.mul(typeof other === "number" ? other ** -1 : other.pow(-1));
  }

  /** Fills in `grad` of every node this one depends on, with this node as the loss. */
  backward(): void {
    // microgpt.py's build_topo, without recursion: a depth-first walk that enters a node's
    // children in order and lists the node after them. That order decides the order in which
    // each grad is summed, so it is kept exactly. The command line allows graphs deeper than a
    // call stack goes (microgpt.py dies of RecursionError at 4 layers of width 64), so an
    // explicit stack stands in for the recursion: the node on top enters its first child not
    // yet visited, and when none is left it is done. Only ops go on the stack (a leaf has no
    // children to pass a gradient to). The mark is a fresh object per walk, so walks over
    // different graphs never see each other's marks; a Set would do the same, 50% slower.
    const visited = {};
    const topo: Value[] = [];
    const stack: Value[] = [];
    if (this.a !== null) {
      this.seen = visited;
      stack.push(this);
    }
    while (stack.length > 0) {
      const { a, b } = stack[stack.length - 1];
      if (a!.seen !== visited && a!.a !== null) {
        a!.seen = visited;
        stack.push(a!);
      } else if (b !== null && b.seen !== visited && b.a !== null) {
        b.seen = visited;
        stack.push(b);
      } else {
        topo.push(stack.pop()!);
      }
    }
    this.grad = 1;
    // From the loss down: when a node is reached, every node that uses it (all later in topo)
    // has already added its share, so its grad is complete and can be passed on.
    for (let i = topo.length - 1; i >= 0; i--) {
      const v = topo[i];
      v.a!.grad += v.da * v.grad;
      if (v.b !== null) v.b.grad += v.db * v.grad;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hyperparameters and parameters. microgpt.py keeps the settings as constants; here they travel
// in one object, so that the command line (and the tests) can change them. The parameters are
// the knowledge of the model, random at first. Each matrix is a list of rows of Values, named
// as microgpt.py names them: wte and wpe (token and position embeddings, GPT-2's names), per
// layer the attention projections attn_wq/wk/wv/wo and the MLP's mlp_fc1/fc2, and lm_head,
// which turns the final vector back into one score (logit) per token.

/** Every setting of a run. */
export interface Config {
  /** Depth: transformer blocks stacked one after the other. */
  nLayer: number;
  /** Width of the network: the size of the vector that stands for a token at a position. */
  nEmbd: number;
  /** Context length: the most tokens the model sees at once. The longest bundled name has 15
   * characters, so every name fits with BOS at both ends. */
  blockSize: number;
  /** Attention heads; each looks at nEmbd / nHead of the width. */
  nHead: number;
  /** Standard deviation of the Gaussian that draws every initial weight. */
  initStd: number;
  /** Adam's peak learning rate; it decays linearly to 0 over the steps. */
  learningRate: number;
  /** Adam's decay rate of the first moment (the running mean of the gradient). */
  beta1: number;
  /** Adam's decay rate of the second moment (the running mean of the squared gradient). */
  beta2: number;
  /** Keeps Adam's denominator above zero. */
  epsAdam: number;
  /** Training steps, one document each. */
  numSteps: number;
  /** Sampling temperature: below 1 sharpens the distribution, above 1 flattens it. */
  temperature: number;
  /** How many documents to invent after training. */
  numSamples: number;
  /** Seed of the random number generator, as Python's `random.seed(seed)`. */
  seed: bigint;
}

/** microgpt.py's settings. */
export const DEFAULTS: Readonly<Config> = Object.freeze({
  nLayer: 1,
  nEmbd: 16,
  blockSize: 16,
  nHead: 4,
  initStd: 0.08,
  learningRate: 0.01,
  beta1: 0.85,
  beta2: 0.99,
  epsAdam: 1e-8,
  numSteps: 1000,
  temperature: 0.5,
  numSamples: 20,
  seed: 42n, // let there be order among chaos
});

/** A model: its settings, its named weight matrices, and all weights as one flat list. */
export interface Model {
  /** The settings the model was built with (shape and training). */
  config: Config;
  /** Number of distinct tokens, BOS included. */
  vocabSize: number;
  /** The weight matrices by their microgpt.py names, in microgpt.py's order. */
  stateDict: Record<string, Value[][]>;
  /** Every weight, flattened in the order of `stateDict`; Adam walks this list. */
  params: Value[];
}

/** Makes a model whose weights are `next()`, called in microgpt.py's order: matrix by matrix,
 * row by row. */
export function buildModel(cfg: Config, vocabSize: number, next: () => number): Model {
  const { nEmbd, nLayer, blockSize } = cfg;
  const matrix = (nout: number, nin: number) => {
    const rows: Value[][] = [];
    for (let r = 0; r < nout; r++) {
      const row: Value[] = [];
      for (let c = 0; c < nin; c++) row.push(new Value(next()));
      rows.push(row);
    }
    return rows;
  };
  const stateDict: Record<string, Value[][]> = {
    wte: matrix(vocabSize, nEmbd),
    wpe: matrix(blockSize, nEmbd),
    lm_head: matrix(vocabSize, nEmbd),
  };
  for (let i = 0; i < nLayer; i++) {
    stateDict[`layer${i}.attn_wq`] = matrix(nEmbd, nEmbd);
    stateDict[`layer${i}.attn_wk`] = matrix(nEmbd, nEmbd);
    stateDict[`layer${i}.attn_wv`] = matrix(nEmbd, nEmbd);
    stateDict[`layer${i}.attn_wo`] = matrix(nEmbd, nEmbd);
    stateDict[`layer${i}.mlp_fc1`] = matrix(4 * nEmbd, nEmbd);
    stateDict[`layer${i}.mlp_fc2`] = matrix(nEmbd, 4 * nEmbd);
  }
  const params: Value[] = []; // every weight in one flat list, in the order above
  for (const mat of Object.values(stateDict)) for (const row of mat) params.push(...row);
  return { config: cfg, vocabSize, stateDict, params };
}

/** A fresh model: every weight drawn from a Gaussian with mean 0 and deviation `initStd`.
 * Small weights keep the first logits near zero, so the first loss is near ln(vocabSize). */
export function initModel(cfg: Config, vocabSize: number, rng: Random): Model {
  return buildModel(cfg, vocabSize, () => rng.gauss(0, cfg.initStd));
}

// ---------------------------------------------------------------------------------------------
// The model: a function from (token, position, what came before) to one logit per next token.
// It follows GPT-2 with microgpt.py's simplifications: RMSNorm instead of LayerNorm, no biases,
// ReLU instead of GeLU.

/** Python's `sum()` of Values, left to right. Python starts from the number 0; 0 + x is x, so we
 * start from the first term and spare a node that would change no bit. */
function sum(xs: Value[]): Value {
  let s = xs[0];
  for (let i = 1; i < xs.length; i++) s = s.add(xs[i]);
  return s;
}

/** Matrix × vector: output i is the dot product of row i of `w` with `x` (summed as sum()
 * sums, written out to spare a list per row). */
export function linear(x: Value[], w: Value[][]): Value[] {
  const out: Value[] = [];
  for (const row of w) {
    let s = row[0].mul(x[0]);
    for (let i = 1; i < x.length; i++) s = s.add(row[i].mul(x[i]));
    out.push(s);
  }
  return out;
}

/** Turns scores into probabilities: exponentiate, then divide by the total. Subtracting the
 * largest score first changes nothing mathematically and keeps exp() from overflowing. */
export function softmax(logits: Value[]): Value[] {
  let maxVal = -Infinity;
  for (const v of logits) if (v.data > maxVal) maxVal = v.data;
  const exps = logits.map((v) => v.sub(maxVal).exp());
  const total = sum(exps);
  return exps.map((e) => e.div(total));
}

/** Rescales x to root-mean-square 1. Unlike LayerNorm it does not subtract the mean; like
 * microgpt.py it has no learned gain, for simplicity (inside a block the matrix that follows
 * could absorb one anyway). */
export function rmsnorm(x: Value[]): Value[] {
  const squares = x.map((xi) => xi.mul(xi));
  const ms = sum(squares).div(x.length);
  const scale = ms.add(1e-5).pow(-0.5);
  return x.map((xi) => xi.mul(scale));
}

/** A KV cache: per layer, the key (or value) vector of every position seen so far. */
export type KVCache = Value[][][];

/** An empty cache, one list per layer. */
export function emptyCache(nLayer: number): KVCache {
  const cache: KVCache = [];
  for (let i = 0; i < nLayer; i++) cache.push([]);
  return cache;
}

/** The forward pass for one token at position `posId`: returns the logits of the next token.
 *
 * Tokens are fed one at a time. Each call appends this position's key and value to the caches,
 * and attention looks only at what the caches hold: the current position and those before it.
 * That is what makes attention causal — the future has not been computed yet, so no mask is
 * needed — and it is why sampling does not recompute earlier positions. `observe`, if given,
 * sees each head's attention weights (for the pictures of Part II). */
export function gpt(
  model: Model,
  tokenId: number,
  posId: number,
  keys: KVCache,
  values: KVCache,
  observe?: (layer: number, head: number, weights: number[]) => void,
): Value[] {
  const { nEmbd, nHead, nLayer } = model.config;
  const sd = model.stateDict;
  const headDim = nEmbd / nHead;
  const tokEmb = sd.wte[tokenId]; // what the token is
  const posEmb = sd.wpe[posId]; // where it is
  let x = tokEmb.map((t, i) => t.add(posEmb[i]));
  // Not redundant with the norm inside the block: the residual stream below starts from here.
  x = rmsnorm(x);

  for (let li = 0; li < nLayer; li++) {
    // 1) Multi-head attention: each position asks (query) and offers (key, value); a head mixes
    // the values of the positions so far, weighted by how well their keys match its query.
    // Pre-norm: the block reads a normalized copy, and its output is added to the unnormalized x.
    let xResidual = x;
    x = rmsnorm(x);
    const q = linear(x, sd[`layer${li}.attn_wq`]);
    const k = linear(x, sd[`layer${li}.attn_wk`]);
    const v = linear(x, sd[`layer${li}.attn_wv`]);
    keys[li].push(k);
    values[li].push(v);
    const ks = keys[li];
    const vs = values[li];
    const xAttn: Value[] = [];
    for (let h = 0; h < nHead; h++) {
      const hs = h * headDim; // head h owns entries hs … hs + headDim − 1 of q, k and v
      // Dot products grow with the width; dividing by sqrt(headDim) keeps softmax from saturating.
      const attnLogits: Value[] = [];
      for (let t = 0; t < ks.length; t++) {
        let s = q[hs].mul(ks[t][hs]);
        for (let j = 1; j < headDim; j++) s = s.add(q[hs + j].mul(ks[t][hs + j]));
        attnLogits.push(s.div(headDim ** 0.5));
      }
      const attnWeights = softmax(attnLogits);
      if (observe !== undefined) observe(li, h, attnWeights.map((w) => w.data));
      for (let j = 0; j < headDim; j++) {
        let s = attnWeights[0].mul(vs[0][hs + j]);
        for (let t = 1; t < vs.length; t++) s = s.add(attnWeights[t].mul(vs[t][hs + j]));
        xAttn.push(s);
      }
    }
    x = linear(xAttn, sd[`layer${li}.attn_wo`]);
    // Residual: the block adds to x instead of replacing it, so every earlier layer (and the
    // embedding) has a path to the loss through additions alone, which pass gradients unchanged.
    x = x.map((a, i) => a.add(xResidual[i]));
    // 2) MLP: widen to 4×nEmbd, keep the positive part, project back; this is per-position work.
    xResidual = x;
    x = rmsnorm(x);
    x = linear(x, sd[`layer${li}.mlp_fc1`]);
    x = x.map((xi) => xi.relu());
    x = linear(x, sd[`layer${li}.mlp_fc2`]);
    x = x.map((a, i) => a.add(xResidual[i]));
  }

  return linear(x, sd.lm_head);
}

// ---------------------------------------------------------------------------------------------
// Training. The loss at each position is −log(probability the model gave to the true next
// token): 0 when it was certain and right, ln(vocabSize) ≈ 3.3 when it guesses uniformly.
// Adam then moves every weight against its gradient, scaled per weight by running averages.

/** Adam, the optimizer, and its two buffers: one pair of running averages per parameter. */
export class Adam {
  /** First moment: a running mean of each parameter's gradient (momentum). */
  readonly m: Float64Array;
  /** Second moment: a running mean of each squared gradient (its typical size). */
  readonly v: Float64Array;
  /** Where the learning rate, its decay, the betas and eps come from. */
  readonly config: Config;

  /** Zeroed moments for `n` parameters. */
  constructor(n: number, config: Config) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
    this.config = config;
  }

  /** Moves every parameter against its gradient at training step `step` (0-based). */
  update(params: Value[], step: number): void {
    const { learningRate, beta1, beta2, epsAdam, numSteps } = this.config;
    const lrT = learningRate * (1 - step / numSteps); // linear decay to 0
    // The moments start at 0, which biases them low early on; dividing by 1 − β^t undoes that.
    const c1 = 1 - beta1 ** (step + 1);
    const c2 = 1 - beta2 ** (step + 1);
    const { m, v } = this;
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      m[i] = beta1 * m[i] + (1 - beta1) * p.grad;
      v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2;
      const mHat = m[i] / c1;
      const vHat = v[i] / c2;
      p.data -= lrT * mHat / (vHat ** 0.5 + epsAdam);
      p.grad = 0; // backward() adds to grad: the next step must start from 0
    }
  }
}

/** The mean loss over one document's positions, as the root of a fresh graph. Position i is
 * trained to predict token i+1 from tokens 0..i; documents longer than blockSize are cut. */
export function forwardLoss(model: Model, tokens: number[]): Value {
  const { nLayer, blockSize } = model.config;
  const n = Math.min(blockSize, tokens.length - 1);
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const losses: Value[] = [];
  for (let posId = 0; posId < n; posId++) {
    const logits = gpt(model, tokens[posId], posId, keys, values);
    const probs = softmax(logits);
    losses.push(probs[tokens[posId + 1]].log().neg());
  }
  return sum(losses).mul(1 / n); // may yours be low
}

/** The training loop: steps `from` … numSteps−1, one document each; `onStep` hears each loss
 * (Part II prints microgpt.py's step line through it) and may stop the loop by returning false.
 * Returns the steps done. */
export function train(
  model: Model,
  adam: Adam,
  docs: string[],
  tok: Tokenizer,
  onStep: (step: number, loss: number) => boolean | void,
  from = 0,
): number {
  const { numSteps, blockSize } = model.config;
  for (let step = from; step < numSteps; step++) {
    // One document, in the shuffled order (starting over after the last), tokenized, with BOS
    // on both sides.
    const tokens = tok.encode(docs[step % docs.length], blockSize);
    // Forward the tokens through the model, building the graph all the way to the loss.
    const loss = forwardLoss(model, tokens);
    // Backward the loss: the gradient of every parameter.
    loss.backward();
    adam.update(model.params, step);
    if (onStep(step, loss.data) === false) return step + 1;
  }
  return numSteps;
}

// ---------------------------------------------------------------------------------------------
// Inference: start from BOS, and at each position draw the next token from the model's
// distribution until it draws BOS (the end) or the context is full. The temperature divides the
// logits first: below 1 it sharpens the distribution towards the likeliest tokens (safer, more
// repetitive names), above 1 it flattens it (more inventive, more misspelled). Two additions to
// microgpt.py, which samples at a temperature in (0, 1]: temperature 0, the limit of sharpening
// (always the likeliest token, no random draw at all), and a prefix every sample starts with.

/** Invents one document with the model. It starts with `prefix`, whose tokens are fed after BOS
 * without sampling (they only fill the KV cache); `watch` may see every draw and attention. */
export function sample(
  model: Model,
  tok: Tokenizer,
  rng: Random,
  temperature: number,
  prefix = "",
  watch: SampleWatch = {},
): string {
  const { nLayer, blockSize } = model.config;
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const forced = tok.encode(prefix).slice(1, -1); // the prefix's tokens, without the BOS ends
  let tokenId = tok.bos;
  let out = "";
  for (let posId = 0; posId < blockSize; posId++) {
    const see = watch.onAttention;
    const observe = see && ((li: number, h: number, w: number[]) => see(posId, li, h, w));
    const logits = gpt(model, tokenId, posId, keys, values, observe);
    if (posId < forced.length) {
      tokenId = forced[posId];
      out += tok.chars[tokenId];
      continue;
    }
    let probs: number[];
    if (temperature === 0) {
      tokenId = argmax(logits.map((l) => l.data));
      probs = logits.map((_, i) => (i === tokenId ? 1 : 0));
    } else {
      probs = softmax(logits.map((l) => l.div(temperature))).map((p) => p.data);
      tokenId = rng.choices(probs);
    }
    if (watch.onDraw !== undefined) {
      const probs1 = softmax(logits).map((p) => p.data);
      watch.onDraw({ soFar: out, probs, probs1, drawn: tokenId });
    }
    if (tokenId === tok.bos) break;
    out += tok.chars[tokenId];
  }
  return out;
}

/** The index of the largest number, the first one on ties. */
export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** The sampling loop: invents `numSamples` documents one after the other, from the same random
 * stream; `onSample` hears each (Part II prints microgpt.py's sample line through it) and may stop
 * the loop by returning false; `watchFor(i)` may put eyes on sample i. */
export function generate(
  model: Model,
  tok: Tokenizer,
  rng: Random,
  prefix: string,
  onSample: (i: number, doc: string) => boolean | void,
  watchFor: (i: number) => SampleWatch = () => ({}),
): void {
  const { numSamples, temperature } = model.config;
  for (let i = 0; i < numSamples; i++) {
    const doc = sample(model, tok, rng, temperature, prefix, watchFor(i));
    if (onSample(i, doc) === false) return;
  }
}

// =============================================================================================
// The algorithm ends here. A run strings it together in microgpt.py's order — seed the
// generator, parseDocs, shuffle, Tokenizer, initModel, train (printing a step line per step),
// generate (printing a line per sample) — and Part II's run() does exactly that, with the tools
// around it: the command line, saving and loading, the instruments, and engines (initWeights
// makes initModel's draws as plain numbers, for either engine). An appendix of Python
// compatibility (the random generator, str.strip, %.4f) makes every printed number microgpt.py's.
// =============================================================================================

// =============================================================================================
// PART II — THE TOOLS
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// Hooks: how the tools hear the training and sampling loops of Part I, and look inside them.
// Listening changes no number and draws nothing from the random stream.

/** Hears each training step's 0-based index and loss; returning false stops the training there.
 * (Part II prints microgpt.py's step line through it.) */
export type StepHook = (step: number, loss: number) => boolean | void;

/** Hears each sample as it is drawn (0-based); returning false stops the sampling there. */
export type SampleHook = (i: number, doc: string) => boolean | void;

/** What the model saw and did at one sampling position; see {@linkcode SampleWatch}. */
export interface Draw {
  /** The text so far, prefix included. */
  soFar: string;
  /** The next-token distribution at the sampling temperature. */
  probs: number[];
  /** The same distribution at temperature 1, the model's own. */
  probs1: number[];
  /** The token drawn. */
  drawn: number;
}

/** Optional eyes on one sample (for the instruments of Part II); watching changes no draw. */
export interface SampleWatch {
  /** Sees every draw. */
  onDraw?: (draw: Draw) => void;
  /** Sees the attention weights at every position, layer and head. */
  onAttention?: (pos: number, layer: number, head: number, weights: number[]) => void;
}

// ---------------------------------------------------------------------------------------------
// Engines. The command line, saving and the instruments work with any way of computing the model
// that can train, sample and hand over its weights: the graph of Part I, or microgpt_fast.ts's
// typed arrays. Weights travel as one flat list in state_dict order (matrix by matrix, row by
// row), which is also the order of Adam's moments.

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
  /** The training loop from step `from`; returns the steps done (see {@linkcode train}). */
  train(docs: string[], tok: Tokenizer, onStep: StepHook, from: number): number;
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
  /** A copy of every weight, flat in state_dict order. */
  weights(): Float64Array;
}

/** A way to compute the model. */
export interface Engine {
  /** The script's file name, for messages. */
  readonly name: string;
  /** A model of this shape holding `weights` (flat, in state_dict order), Adam's moments zero. */
  create(config: Config, vocabSize: number, weights: Float64Array): Trainer;
  /** About how many bytes of memory one training step (or one sample) holds at its peak, for
   * documents of `tokens` positions: what decides whether a shape fits. */
  stepBytes(config: Config, vocabSize: number, tokens: number): number;
}

/** Bytes per graph node: a Value with its boxed numbers, measured with Deno.memoryUsage(). */
const BYTES_PER_NODE = 130;

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
  create(config, vocabSize, weights) {
    let i = 0;
    const model = buildModel(config, vocabSize, () => weights[i++]);
    const adam = new Adam(model.params.length, config);
    return {
      config,
      vocabSize,
      m: adam.m,
      v: adam.v,
      train: (docs, tok, onStep, from) => train(model, adam, docs, tok, onStep, from),
      generate: (tok, rng, prefix, onSample, watchFor) =>
        generate(model, tok, rng, prefix, onSample, watchFor),
      loss: (tokens) => forwardLoss(model, tokens).data,
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

// ---------------------------------------------------------------------------------------------
// Saving and loading. A saved model is JSON: a format tag and version, the shape, the vocabulary
// (token ids only mean something together with the characters they stand for) and every matrix
// by its microgpt.py name. JSON writes a float64 in the shortest form that reads back to the same
// bits, so saved weights round-trip exactly. Version 2 adds what it takes to continue a run as
// if it had never stopped: the step reached, every setting, Adam's moments (as base64 of their
// little-endian bytes: exact, and half the size of decimal), the random generator's whole state
// and a fingerprint of the training text. Version 1 files are still read, for their weights.

const MODEL_FORMAT = "microgpt.ts model";
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
    saved.sampling = {
      temperature: cfg.temperature,
      num_samples: cfg.numSamples,
      prefix: c.prefix,
    };
    saved.adam = { m: floatsToBase64(c.m), v: floatsToBase64(c.v) };
    saved.random = { mt: c.random.mt, index: c.random.index, gauss_next: c.random.gaussNext };
    saved.data = { sha256: c.textSha256, docs: c.numDocs };
  }
  return JSON.stringify(saved) + "\n";
}

/** Reads a saved model, version 1 or 2. Everything is checked before anything is built, sizes
 * first; a file that does not fit throws an Error naming what is wrong. Settings the file does
 * not hold come from `cfg`. */
export function modelFromJSON(text: string, cfg: Config): SavedModel {
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
  const field = (obj: Record<string, unknown>, key: string, where: string): unknown => {
    if (!(key in obj)) throw new Error(`${where}"${key}" is missing`);
    return obj[key];
  };
  const whole = (obj: Record<string, unknown>, key: string, min: number, where = ""): number => {
    const n = field(obj, key, where);
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) {
      throw new Error(`${where}"${key}" must be a whole number >= ${min}, not ${describe(n)}`);
    }
    return n;
  };
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
  const vocab = field(saved, "vocab", "");
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new Error(`"vocab" must be a non-empty list of characters, not ${describe(vocab)}`);
  }
  // The size, by arithmetic, before any matrix is looked at or any memory is taken.
  const n = numParams(config, vocab.length + 1);
  if (n > MAX_PARAMS) {
    throw new Error(`its shape has ${n} parameters, too large: the limit is ${MAX_PARAMS}`);
  }
  for (const ch of vocab) {
    if (typeof ch !== "string" || [...ch].length !== 1) {
      throw new Error(`"vocab" entry ${describe(ch)} is not a single character`);
    }
    if (isControl(ch)) {
      throw new Error(`"vocab" holds the control character ${describe(ch)}`);
    }
  }
  if (new Set(vocab).size !== vocab.length) throw new Error(`"vocab" repeats a character`);
  const tok = new Tokenizer([], vocab as string[]);

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
  const weights = new Float64Array(n);
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
  if (version === 1 || !("training" in saved)) return { config, tok, weights };

  // Version 2: the run's settings and state.
  const tr = saved.training;
  const sa = saved.sampling;
  const ad = saved.adam;
  const rs = saved.random;
  const da = saved.data;
  for (
    const [key, part] of [["training", tr], ["sampling", sa], ["adam", ad], ["random", rs], [
      "data",
      da,
    ]]
  ) {
    if (!isRecord(part)) throw new Error(`"${key}" must be an object, not ${describe(part)}`);
  }
  const t = tr as Record<string, unknown>;
  const s = sa as Record<string, unknown>;
  const real = (
    obj: Record<string, unknown>,
    key: string,
    where: string,
    ok: (x: number) => boolean,
  ) => {
    const x = field(obj, key, where);
    if (typeof x !== "number" || !Number.isFinite(x) || !ok(x)) {
      throw new Error(`${where}"${key}" is ${describe(x)}, which is out of range`);
    }
    return x;
  };
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
  const a = ad as Record<string, unknown>;
  const moments = (key: string) => {
    const x = field(a, key, "adam.");
    const xs = typeof x === "string" ? base64ToFloats(x) : undefined;
    if (xs === undefined || xs.length !== n || !xs.every(Number.isFinite)) {
      throw new Error(`adam."${key}" must be base64 of ${n} finite float64 numbers`);
    }
    return xs;
  };
  const r = rs as Record<string, unknown>;
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
  const d = da as Record<string, unknown>;
  const sha = field(d, "sha256", "data.");
  if (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha)) {
    throw new Error(`data."sha256" must be 64 hexadecimal digits, not ${describe(sha)}`);
  }
  const numDocs = whole(d, "docs", 1, "data.");
  const holdout = whole(t, "holdout", 0, "training.");
  if (holdout >= numDocs) throw new Error(`training."holdout" ${holdout} leaves no document`);
  const checkpoint: Checkpoint = {
    step,
    m: moments("m"),
    v: moments("v"),
    random: { mt: mt as number[], index: whole(r, "index", 0, "random."), gaussNext },
    textSha256: sha,
    numDocs,
    holdout,
    prefix,
  };
  if (checkpoint.random.index > 624) throw new Error(`random."index" must be at most 624`);
  return { config, tok, weights, checkpoint };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short, one-line, escaped description of a JSON value, for messages. */
function describe(x: unknown): string {
  if (Array.isArray(x)) return "a list";
  if (isRecord(x)) return "an object";
  if (typeof x === "string") {
    return escapeControls(JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x));
  }
  return String(x);
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

// ---------------------------------------------------------------------------------------------
// Files, as a careful Unix tool treats them: sizes checked before reading, standard input for
// "-", and a save that never leaves half a file, never follows a planted link, never replaces
// what it should not, and keeps the mode (and, where it may, the owner) of the file it replaces.

/** A mistake to report in one line, with the exit code it deserves. */
export class CliError extends Error {
  /** 2 for a wrong command line, 1 for anything else. */
  readonly exitCode: number;
  /** An error with the one-line message to print after "error: ". */
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

const usageError = (message: string) => new CliError(message, 2);

/** The most parameters a model may have: a scalar engine in one process, and a checkpoint
 * (about 46 bytes per parameter) well inside the largest file --load reads. */
const MAX_PARAMS = 5_000_000;
/** The most digits a seed may have: CPython 3.11's own limit for turning a string into an int
 * (so microgpt.py could not have been given more). */
const MAX_SEED_DIGITS = 4300;
/** The largest training text read, in bytes. */
const MAX_INPUT_BYTES = 100_000_000;
/** The most documents a text may hold (each costs a string in memory). */
const MAX_DOCS = 10_000_000;
/** The largest --load or --resume file read, in bytes. */
const MAX_MODEL_BYTES = 300_000_000;

/** Whether a character is a control character other than tab: C0, DEL or C1. Such characters
 * in data could move the cursor, retitle the window or fake lines of output. */
export function isControl(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f);
}

/** Characters that reorder or break a line of text without showing: bidirectional controls
 * (which can make a message read backwards) and the Unicode line and paragraph separators. */
const INVISIBLE = new Set([
  0x061c,
  0x200e,
  0x200f,
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
]);

/** `text` with every control character (tab included) written as an escape: \n, \x1b, \u0085.
 * Whatever comes from data passes through this before it reaches stderr. */
export function escapeControls(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if ((c >= 0x80 && c <= 0x9f) || INVISIBLE.has(c)) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else out += ch;
  }
  return out;
}

/** A path as messages show it: escaped, so that a newline in a name cannot break the line. */
const shown = (path: string) => escapeControls(path);

/** Paths that name standard input. Deno treats /dev/stdin as a device needing --allow-all, so
 * these are read as "-" is: from the process's own standard input, which needs no permission. */
const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);

/** A file's bytes (or standard input's, for "-"), refused if larger than `limit`. */
function readBytes(path: string, flag: string, limit: number): Uint8Array {
  if (STDIN_PATHS.has(path)) return readAll(Deno.stdin, `standard input (${flag})`, limit);
  checkPathArgument(path, flag);
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new CliError(
      `reading ${shown(path)} (${flag}) needs read permission: add --allow-read`,
      1,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    throw fileError("read", path, err);
  }
  if (info.isDirectory) throw new CliError(`cannot read ${shown(path)}: it is a directory`, 1);
  if (info.isFile && info.size > limit) {
    throw new CliError(
      `${shown(path)} (${flag}) is too large: ${megabytes(info.size)}; the limit is ${
        megabytes(limit)
      }`,
      1,
    );
  }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw fileError("read", path, err);
  }
  try {
    return readAll(file, `${shown(path)} (${flag})`, limit);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw fileError("read", path, err);
  } finally {
    file.close();
  }
}

/** Everything a reader gives, up to `limit` bytes; more is refused as too large. */
function readAll(reader: { readSync(p: Uint8Array): number | null }, what: string, limit: number) {
  let buf = new Uint8Array(Math.min(limit + 1, 1 << 20));
  let size = 0;
  while (true) {
    if (size === buf.length) {
      if (size > limit) break;
      const bigger = new Uint8Array(Math.min(limit + 1, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    const n = reader.readSync(buf.subarray(size));
    if (n === null) break;
    size += n;
  }
  if (size > limit) throw new CliError(`${what} is too large: the limit is ${megabytes(limit)}`, 1);
  return buf.subarray(0, size);
}

/** A file's text, decoded as strict UTF-8 (as Python's open() reads it). */
function readText(path: string, flag: string, limit: number): string {
  const bytes = readBytes(path, flag, limit);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const name = STDIN_PATHS.has(path) ? "standard input" : shown(path);
    throw new CliError(`${name} (${flag}) is not UTF-8 text`, 1);
  }
}

const megabytes = (bytes: number) => `${Math.round(bytes / 1e5) / 10} MB`;

/** One line for a failed file operation; never advice to grant everything. */
function fileError(action: string, path: string, err: unknown): CliError {
  const where = `cannot ${action} ${shown(path)}`;
  if (err instanceof Deno.errors.NotFound) {
    return new CliError(`${where}: no such file or directory`, 1);
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new CliError(`${where}: it is a directory`, 1);
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new CliError(`${where}: permission denied`, 1);
  }
  if (err instanceof Deno.errors.NotCapable) {
    // Deno treats devices such as /dev/fd/N as special files that only a script granted
    // everything may open; granting everything is never the advice.
    return new CliError(
      !/all access/.test((err as Error).message)
        ? `${where}: Deno denies it: add --allow-read${action === "read" ? "" : " --allow-write"}`
        : action === "read"
        ? `${where}: Deno opens this device only for scripts granted everything; ` +
          `pipe the data in with --input - instead`
        : `${where}: Deno treats it as a special device; choose a regular file`,
      1,
    );
  }
  const message = (err as Error)?.message ?? String(err);
  return new CliError(
    `${where}: ${escapeControls(message.replace(/ \(os error \d+\).*$/s, ""))}`,
    1,
  );
}

/** The training documents: the bundled names, or --input's text. Refuses a text too large, not
 * UTF-8, with no documents, too many, or with control characters inside a document. */
function readDocs(input: string | undefined): string[] {
  const text = input === undefined ? bundledInput : readText(input, "--input", MAX_INPUT_BYTES);
  const name = input === undefined || STDIN_PATHS.has(input) ? "standard input" : shown(input);
  const docs = parseDocs(text);
  if (docs.length > MAX_DOCS) {
    throw new CliError(
      `${name} has ${docs.length} documents, too many: the limit is ${MAX_DOCS}`,
      1,
    );
  }
  if (docs.length === 0) {
    throw new CliError(`${name} has no documents: every line is empty or whitespace`, 1);
  }
  for (let i = 0; i < docs.length; i++) {
    for (const ch of docs[i]) {
      if (!isControl(ch)) continue;
      throw new CliError(
        `${name}: document ${i + 1} holds the control character ${escapeControls(ch)}; ` +
          `microgpt trains on printable text`,
        1,
      );
    }
  }
  return docs;
}

/** SHA-256 of the documents, joined by "\n" in the text's order: the training text's
 * fingerprint. Line endings and stripped whitespace do not count; they do not reach training. */
async function fingerprint(docs: string[]): Promise<string> {
  const bytes = new TextEncoder().encode(docs.join("\n"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Refuses a path argument that cannot name what the user meant: "-" (a file to write cannot
 * be standard output), or one whose bytes were not UTF-8 (Deno hands them over as U+FFFD, so
 * the name would silently change). */
function checkPathArgument(path: string, flag: string): void {
  if (path === "-" && (flag === "--save" || flag === "--log")) {
    throw usageError(`${flag} writes a file: name one (./- for a file called "-")`);
  }
  if (path.includes("\ufffd")) {
    throw usageError(
      `${flag} ${shown(path)}: the path has bytes that are not UTF-8, which Deno ` +
        `cannot pass on; rename the file`,
    );
  }
}

/** Where a save really writes: a symlink is followed to its target (which the save replaces,
 * keeping the link), however many links deep. */
function saveTarget(path: string): string {
  let target = path;
  for (let hops = 0; hops < 40; hops++) {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(target);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return target;
      throw fileError("save to", path, err);
    }
    if (!info.isSymlink) return target;
    const link = Deno.readLinkSync(target);
    target = link.startsWith("/") ? link : `${dirname(target)}/${link}`;
  }
  throw new CliError(`cannot save to ${shown(path)}: too many levels of symbolic links`, 1);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** A file that a save or a log must never replace: known by its path, or by its device and
 * inode (what standard input reads from, which has no path to compare). */
interface Guarded {
  /** How messages name it. */
  what: string;
  /** Its path, if it has one. */
  path?: string;
  /** Its device and inode, if known. */
  id?: { dev: number; ino: number };
}

/** A file's device and inode, or undefined if it does not exist (or may not be looked at). */
function identity(path: string): { dev: number; ino: number } | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  try {
    const info = Deno.statSync(path);
    return info.ino === null ? undefined : { dev: info.dev, ino: info.ino };
  } catch {
    return undefined;
  }
}

/** The file standard input reads, when it is one (`< file`); a pipe or terminal has none. */
function stdinIdentity(): { dev: number; ino: number } | undefined {
  try {
    const info = fstatSync(0);
    return info.isFile() ? { dev: info.dev, ino: info.ino } : undefined;
  } catch {
    return undefined;
  }
}

/** A path made absolute, with the links of its directory resolved: two spellings of one place,
 * even of a file that does not exist yet, come out equal. */
function resolvedPath(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  let dir = dirname(path);
  try {
    if (Deno.permissions.querySync({ name: "read", path: dir }).state === "granted") {
      dir = Deno.realPathSync(dir);
    }
  } catch {
    // a directory that does not exist: the save will say so
  }
  if (!dir.startsWith("/")) dir = `${Deno.cwd()}/${dir}`;
  return `${dir}/${name}`;
}

/** Whether writing `target` would replace the guarded file. */
function replaces(target: string, guarded: Guarded): boolean {
  if (guarded.path !== undefined && resolvedPath(target) === resolvedPath(guarded.path)) {
    return true;
  }
  const a = identity(target);
  const b = guarded.id ?? (guarded.path === undefined ? undefined : identity(guarded.path));
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** The training text as a guarded file: --input's file, the file behind standard input, or the
 * bundled input.txt beside the script. */
function trainingText(input: string | undefined): Guarded {
  if (input === undefined) {
    const bundled = new URL("./input.txt", import.meta.url);
    if (bundled.protocol !== "file:") return { what: "the training text" };
    return { what: "the bundled training text", path: decodeURIComponent(bundled.pathname) };
  }
  if (STDIN_PATHS.has(input)) return { what: "the training text", id: stdinIdentity() };
  return { what: "the training text", path: input };
}

/** Checks, before any training, that `path` can be saved, and returns where the save writes.
 * `keep` lists files the save must never replace (the training text, the log). */
function checkSavePath(path: string, flag: string, keep: Guarded[]): string {
  checkPathArgument(path, flag);
  // Writing the temporary file and renaming it into place needs write permission on the
  // directory's files, and read permission (Deno asks it for the rename's source).
  const permitted = (p: string) =>
    Deno.permissions.querySync({ name: "read", path: p }).state === "granted" &&
    Deno.permissions.querySync({ name: "write", path: p }).state === "granted";
  const needs = () =>
    new CliError(
      `saving ${shown(path)} (${flag}) needs read and write permission: ` +
        `add --allow-read --allow-write`,
      1,
    );
  if (!permitted(path)) throw needs();
  const target = saveTarget(path);
  const dir = dirname(target);
  if (!permitted(target) || !permitted(`${dir}/.microgpt-probe.tmp`)) throw needs();
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(target);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fileError("save to", path, err);
  }
  if (info !== undefined) {
    if (info.isDirectory) throw new CliError(`cannot save to ${shown(path)}: it is a directory`, 1);
    if (!info.isFile) {
      const kind = info.isFifo ? "a FIFO" : info.isSocket ? "a socket" : "a device";
      throw new CliError(`cannot save to ${shown(path)}: it is ${kind}, not a regular file`, 1);
    }
  }
  for (const other of keep) {
    if (replaces(target, other)) {
      throw new CliError(
        `${flag} ${shown(path)} would replace ${other.what}; choose another path`,
        1,
      );
    }
  }
  // Probe the directory the way the save will use it.
  const probe = createTemp(dir, path);
  probe.file.close();
  Deno.removeSync(probe.path);
  return target;
}

/** A new, empty temporary file beside `dir`'s files: an unpredictable name, created only if
 * nothing (not even a dangling link) has that name, so it can never be someone else's file. */
function createTemp(dir: string, forPath: string): { path: string; file: Deno.FsFile } {
  for (let attempt = 0;; attempt++) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    const name = `.microgpt-${
      Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
    }.tmp`;
    const path = `${dir}/${name}`;
    try {
      return { path, file: Deno.openSync(path, { write: true, createNew: true, mode: 0o666 }) };
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists && attempt < 10) continue;
      throw fileError("save to", forPath, err);
    }
  }
}

/** Writes `text` to `target` through a temporary file in the same directory, renamed into place
 * once complete and on disk, so that an interrupted save leaves the old file whole. The new file
 * takes the old one's mode and, where allowed, its owner. `watch` hears the temporary file's name
 * while it exists, so that a second Ctrl-C can remove it. */
function saveText(target: string, shownPath: string, text: string, watch?: SignalWatch): void {
  const { path: tmp, file } = createTemp(dirname(target), shownPath);
  watch?.saving(tmp);
  try {
    try {
      const bytes = new TextEncoder().encode(text);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      file.syncSync();
    } finally {
      file.close();
    }
    let old: Deno.FileInfo | undefined;
    try {
      old = Deno.statSync(target);
    } catch {
      // a new file: the umask decides its mode
    }
    if (old !== undefined) {
      // The owner first: changing it clears the set-user-id and set-group-id bits.
      try {
        if (old.uid !== null && old.gid !== null) Deno.chownSync(tmp, old.uid, old.gid);
      } catch {
        // only the superuser may give a file away; the mode is kept all the same
      }
      if (old.mode !== null) Deno.chmodSync(tmp, old.mode & 0o7777);
    }
    Deno.renameSync(tmp, target);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // already gone
    }
    throw fileError("save to", shownPath, err);
  } finally {
    watch?.saving(null);
  }
}

// ---------------------------------------------------------------------------------------------
// The command line. Each of microgpt.py's constants is a flag. Every mistake gets one line on
// stderr and an exit code — 2 for a wrong command line, 1 for anything else — never a stack trace.

/** The text of `--help`, for the script `name`. */
export function usage(name: string): string {
  return `Usage: deno run [--allow-read] [--allow-write] ${name} [options]

Trains a tiny GPT on a list of documents (one per line) and invents new ones. For the same data,
seed and settings it prints exactly what Karpathy's microgpt.py prints.

Options (default in brackets):
  --input PATH        training text, one document per line; needs --allow-read; "-" reads
                      standard input [the bundled input.txt: 8,422 names]
  --seed N            random seed, integer >= 0, as Python's random.seed(N) [42]
  --steps N           training steps, integer >= 0; also sets the learning-rate decay [1000]
  --n-embd N          embedding width, integer >= 1, divisible by --n-head [16]
  --n-head N          attention heads, integer >= 1 [4]
  --n-layer N         transformer blocks, integer >= 1 [1]
  --block-size N      context length in tokens, integer >= 1; longer documents are cut [16]
  --lr X              peak learning rate, > 0; decays linearly to 0 over the steps [0.01]
  --temperature X     sampling temperature, >= 0; 0 always takes the likeliest token [0.5]
  --samples N         names to invent after training, integer >= 0 [20]
  --prefix TEXT       start every sample with TEXT (its characters must be in the vocabulary)

Saving and long runs (both need --allow-read --allow-write):
  --save PATH         after training, write a checkpoint: the model, Adam's moments, the step,
                      the random state and every setting (JSON)
  --save-every N      with --save, also write it every N steps, so a crash loses at most N
  --resume PATH       continue a checkpoint exactly where it stopped: the same step lines and
                      samples as a run that never stopped. Settings come from the file; give
                      --input again if the run had one. Sampling flags may be given anew.
  --load PATH         start from a saved model's weights (fresh Adam moments, step 1); shape
                      and vocabulary come from the file; --steps 0 only samples.
  Ctrl-C (or SIGTERM, SIGHUP) stops after the current step, saves with --save, and prints the
  command that resumes; a second Ctrl-C quits at once.

Looking inside:
  --explain           before each character of the first sample, show the 5 likeliest
                      candidates at the temperature and at temperature 1, marking the one drawn
  --attention         after the first sample, draw each head's attention weights
  --embeddings        after the samples, draw the token embeddings on their two principal
                      components, and each vowel's nearest characters
  --holdout N         hold the last N documents (after the shuffle) out of training and report
                      their loss beside the training loss, on stderr, 10 times in the run
  --log PATH          write step, loss, learning rate (and held-out loss) as tab-separated
                      lines while training; needs --allow-read --allow-write
  -h, --help          show this help and exit

${COST_NOTE}`;
}

const COST_NOTE =
  `Cost per training step, from microgpt_bench.ts (2-core AMD EPYC, Deno 2.9.6; CPython runs
microgpt.py at ~260 ms): at the defaults, microgpt.ts ~4 ms and microgpt_fast.ts ~0.09 ms; at
--n-layer 4 --n-embd 64 --block-size 64 on long documents, microgpt_fast.ts ~25 ms in flat memory,
while microgpt.ts builds ~27 million graph nodes a step (~${BYTES_PER_NODE} bytes each), more than
its heap holds, and refuses. A graph step grows as T*L*(24*E^2 + 2*T*E) + 2*T*V*E nodes (T tokens,
L layers, E = n_embd, V = vocab size).
`;

/** What the command line asks for. */
export interface Options {
  /** The run's settings: the defaults, overridden by the flags. */
  cfg: Config;
  /** The flags given, by name (without "--"), for checks against a checkpoint. */
  given: Set<string>;
  /** Training text to read ("-" for standard input), or undefined for the bundled input.txt. */
  input?: string;
  /** Where to save the checkpoint. */
  save?: string;
  /** Save every this many steps as well. */
  saveEvery?: number;
  /** A saved model whose weights to start from. */
  load?: string;
  /** A checkpoint to continue. */
  resume?: string;
  /** Documents to hold out of training. */
  holdout: number;
  /** Where to write the loss log. */
  log?: string;
  /** Text every sample starts with. */
  prefix: string;
  /** Show the first sample's candidates at every draw. */
  explain: boolean;
  /** Draw the first sample's attention maps. */
  attention: boolean;
  /** Draw the token embeddings. */
  embeddings: boolean;
  /** Print the usage and exit. */
  help: boolean;
}

const VALUE_FLAGS = [
  "input",
  "seed",
  "steps",
  "n-embd",
  "n-head",
  "n-layer",
  "block-size",
  "lr",
  "temperature",
  "samples",
  "prefix",
  "save",
  "save-every",
  "resume",
  "load",
  "holdout",
  "log",
] as const;
const SWITCHES = ["explain", "attention", "embeddings", "help"] as const;

/** Spellings people bring from microgpt.py and elsewhere, and the flag they mean. */
const ALIASES: Record<string, string> = {
  num_steps: "steps",
  "num-steps": "steps",
  step: "steps",
  learning_rate: "lr",
  "learning-rate": "lr",
  temp: "temperature",
  num_samples: "samples",
  "num-samples": "samples",
  sample: "samples",
  n_samples: "samples",
  file: "input",
  data: "input",
  checkpoint: "resume",
  continue: "resume",
};

/** " (did you mean --x?)" for an unknown flag name, or "". */
function suggestion(name: string): string {
  const known: string[] = [...VALUE_FLAGS, ...SWITCHES];
  const lower = name.toLowerCase();
  let meant = (Object.hasOwn(ALIASES, lower) ? ALIASES[lower] : undefined) ??
    (known.includes(lower.replaceAll("_", "-")) ? lower.replaceAll("_", "-") : undefined);
  if (meant === undefined) {
    const close = known.filter((k) =>
      editDistance(k, lower) <= 2 || (lower.length >= 3 && k.startsWith(lower))
    );
    if (close.length === 1) meant = close[0];
  }
  if (meant === undefined && /^(allow-|deny-|v8-flags|unstable|no-prompt|import-map)/.test(lower)) {
    return ` (a flag of Deno's: it goes before the script, as in deno run --${lower} microgpt.ts)`;
  }
  return meant === undefined ? "" : `; did you mean --${meant}?`;
}

/** Levenshtein distance, for suggestions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(
        Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    prev = row;
  }
  return prev[b.length];
}

/** Parses the arguments (after the script name); throws a CliError with exit code 2. */
export function parseCommandLine(args: string[]): Options {
  const blank: Options = {
    cfg: { ...DEFAULTS },
    given: new Set(),
    holdout: 0,
    prefix: "",
    explain: false,
    attention: false,
    embeddings: false,
    help: false,
  };
  // --help wins: asking how to use the tool is never an error.
  const asksHelp = (a: string) => a === "-h" || a === "--help" || a.startsWith("--help=");
  if (args.some(asksHelp)) return { ...blank, help: true };
  // Look at the line first, to say what was meant where the parser would only say "unknown".
  const line = [...args];
  for (let i = 0; i < line.length; i++) {
    const arg = line[i];
    if (arg === "--") break;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0];
      if (
        !(VALUE_FLAGS as readonly string[]).includes(name) &&
        !(SWITCHES as readonly string[]).includes(name)
      ) {
        throw usageError(`unknown option --${escapeControls(name)}${suggestion(name)}`);
      }
      const next = line[i + 1];
      const takesValue = (VALUE_FLAGS as readonly string[]).includes(name) && !arg.includes("=");
      if (takesValue && next !== undefined && /^-(\d|\.\d)/.test(next)) {
        // "--temperature -0.5": a negative number is a value, to be refused as such.
        line.splice(i, 2, `${arg}=${next}`);
      } else if (takesValue && next !== undefined && next.startsWith("-") && next !== "-") {
        throw usageError(
          `--${name} needs a value; write --${name}=${escapeControls(next)} for one that ` +
            `starts with "-"`,
        );
      }
    } else if (/^-[A-Za-z][A-Za-z_-]+/.test(arg)) {
      const name = arg.slice(1).split("=")[0];
      const known = (VALUE_FLAGS as readonly string[]).includes(name) ||
        (SWITCHES as readonly string[]).includes(name);
      throw usageError(
        `unknown option ${escapeControls(arg.split("=")[0])}` +
          (known
            ? `; did you mean --${name}? (long options take two dashes)`
            : name.length >= 3
            ? suggestion(name)
            : " (see --help)"),
      );
    }
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const name of VALUE_FLAGS) options[name] = { type: "string" };
  for (const name of SWITCHES) options[name] = { type: "boolean" };
  options.help.short = "h";
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: line, strict: true, allowPositionals: false, options }));
  } catch (err) {
    throw usageError(describeParseError(err));
  }
  const text = (name: string) => values[name] as string | undefined;
  const opts: Options = { ...blank, cfg: { ...DEFAULTS }, given: new Set() };
  for (const name of Object.keys(values)) if (values[name] !== undefined) opts.given.add(name);
  const cfg = opts.cfg;
  const seed = text("seed");
  if (seed !== undefined) {
    if (!/^[0-9]+$/.test(seed)) {
      throw usageError(`--seed must be a whole number >= 0, not ${describe(seed)}`);
    }
    if (seed.length > MAX_SEED_DIGITS) {
      throw usageError(
        `--seed has ${seed.length} digits, too large: the limit is ${MAX_SEED_DIGITS}`,
      );
    }
    cfg.seed = BigInt(seed); // any size up to that, as Python's seeds
  }
  const whole = (name: string, min: number) => {
    const t = text(name);
    return t === undefined ? undefined : integer(name, t, min);
  };
  cfg.numSteps = whole("steps", 0) ?? cfg.numSteps;
  cfg.numSamples = whole("samples", 0) ?? cfg.numSamples;
  cfg.nEmbd = whole("n-embd", 1) ?? cfg.nEmbd;
  cfg.nHead = whole("n-head", 1) ?? cfg.nHead;
  cfg.nLayer = whole("n-layer", 1) ?? cfg.nLayer;
  cfg.blockSize = whole("block-size", 1) ?? cfg.blockSize;
  if (cfg.nEmbd % cfg.nHead !== 0) {
    throw usageError(`--n-embd ${cfg.nEmbd} must be divisible by --n-head ${cfg.nHead}`);
  }
  const lr = text("lr");
  if (lr !== undefined) cfg.learningRate = real("lr", lr, false);
  const temperature = text("temperature");
  if (temperature !== undefined) {
    cfg.temperature = real("temperature", temperature, true);
    // Sampling divides by the temperature; past the smallest float whose reciprocal is finite
    // every probability would be NaN (and microgpt.py would die of OverflowError).
    if (cfg.temperature > 0 && !Number.isFinite(cfg.temperature ** -1)) {
      throw usageError(
        `--temperature ${temperature} is too small to divide by; 0 samples greedily`,
      );
    }
  }
  opts.saveEvery = whole("save-every", 1);
  opts.holdout = whole("holdout", 1) ?? 0;
  opts.input = text("input");
  opts.save = text("save");
  opts.load = text("load");
  opts.resume = text("resume");
  opts.log = text("log");
  opts.prefix = text("prefix") ?? "";
  opts.explain = values.explain === true;
  opts.attention = values.attention === true;
  opts.embeddings = values.embeddings === true;
  if (opts.saveEvery !== undefined && opts.save === undefined) {
    throw usageError(`--save-every needs --save PATH: where to write the checkpoints`);
  }
  if (opts.load !== undefined && opts.resume !== undefined) {
    throw usageError(
      `--load and --resume do not go together: --resume continues a run, ` +
        `--load starts a new one from saved weights`,
    );
  }
  for (const flag of ["input", "save", "load", "resume", "log"]) {
    if (text(flag) === "") throw usageError(`--${flag} needs a path, not an empty string`);
  }
  const fromStdin = ["input", "load", "resume"].filter((f) => STDIN_PATHS.has(text(f) ?? ""));
  if (fromStdin.length > 1) {
    throw usageError(`--${fromStdin[0]} and --${fromStdin[1]} cannot both read standard input`);
  }
  return opts;
}

/** One line for what parseArgs rejected (its own messages can span lines). */
function describeParseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  const option = message.match(/'(-[^' ]*)/)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return `unknown option ${escapeControls(option)} (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = message.match(/'([^']*)'/)?.[1] ?? "";
    return `unexpected argument ${describe(arg)}: every setting is a flag (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (message.includes("ambiguous")) {
      return `${option} needs a value; write ${option}=VALUE for one that starts with "-"`;
    }
    if (message.includes("does not take an argument")) return `${option} takes no value`;
    return `${option} needs a value`;
  }
  return escapeControls(message.split("\n")[0]);
}

/** A whole-number flag value >= min. */
function integer(name: string, text: string, min: number): number {
  if (!/^[0-9]+$/.test(text)) {
    throw usageError(`--${name} must be a whole number >= ${min}, not ${describe(text)}`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw usageError(`--${name} ${text} is too large`);
  if (n < min) throw usageError(`--${name} must be >= ${min}, not ${text}`);
  return n;
}

/** A finite number flag value, > 0 or (with `zeroOk`) >= 0. */
function real(name: string, text: string, zeroOk: boolean): number {
  const n = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n)) {
    throw usageError(`--${name} must be a finite number, not ${describe(text)}`);
  }
  if (zeroOk ? n < 0 : n <= 0) {
    throw usageError(`--${name} must be ${zeroOk ? ">=" : ">"} 0, not ${text}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Signals. Training runs without a pause, so a signal handler on this thread would only run
// after it ends. A small worker thread listens instead and raises a flag in shared memory, which
// the training loop reads after every step: the first Ctrl-C (or SIGTERM, SIGHUP) finishes the
// step, saves and exits; a second one ends the process at once, as if nobody were listening,
// after removing the temporary file of a save in progress, if any.

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/** The worker's code: it only listens. Shared memory: [signal number, temp path length, armed],
 * then the temporary file's path as UTF-8. Until the run is armed (training starts) there is
 * nothing to finish or save, so a signal ends the process at once, as if nobody listened: even a
 * run blocked reading standard input stops at the first Ctrl-C. */
const WATCHER_SOURCE = `
self.onmessage = (event) => {
  const head = new Int32Array(event.data, 0, 3);
  const path = new Uint8Array(event.data, 12);
  for (const [name, number] of Object.entries(${JSON.stringify(SIGNALS)})) {
    const handler = () => {
      if (Atomics.load(head, 2) === 1 && Atomics.compareExchange(head, 0, 0, number) === 0) return;
      const length = Atomics.load(head, 1);
      if (length > 0) {
        try { Deno.removeSync(new TextDecoder().decode(path.slice(0, length))); } catch {}
      }
      Deno.removeSignalListener(name, handler);
      Deno.kill(Deno.pid, name);
    };
    Deno.addSignalListener(name, handler);
  }
  self.postMessage("listening");
};
`;

/** The signal watcher of one run. */
export class SignalWatch {
  #worker: Worker;
  #head: Int32Array;
  #path: Uint8Array;

  private constructor(worker: Worker, shared: SharedArrayBuffer) {
    this.#worker = worker;
    this.#head = new Int32Array(shared, 0, 3);
    this.#path = new Uint8Array(shared, 12);
  }

  /** Starts listening (a worker from a data: URL needs no permission). */
  static async start(): Promise<SignalWatch> {
    const url = `data:application/javascript,${encodeURIComponent(WATCHER_SOURCE)}`;
    const worker = new Worker(url, { type: "module" });
    const shared = new SharedArrayBuffer(12 + 16384);
    const listening = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage(shared);
    await listening;
    return new SignalWatch(worker, shared);
  }

  /** The number of the first signal received, or 0. */
  get signal(): number {
    return Atomics.load(this.#head, 0);
  }

  /** The exit code for the first signal received: 128 + its number, as a shell reports. */
  get exitCode(): number {
    return 128 + this.signal;
  }

  /** The signal's name, for messages. */
  get name(): string {
    return Object.entries(SIGNALS).find(([, n]) => n === this.signal)?.[0] ?? "a signal";
  }

  /** Tells the watcher the temporary file to remove on a second signal (null: none). */
  saving(path: string | null): void {
    const bytes = new TextEncoder().encode(path ?? "");
    if (bytes.length > this.#path.length) return; // too long to share; rare, and only a leftover
    Atomics.store(this.#head, 1, 0);
    this.#path.set(bytes);
    Atomics.store(this.#head, 1, bytes.length);
  }

  /** From now on a first signal asks the run to stop cleanly (training has begun). */
  arm(): void {
    Atomics.store(this.#head, 2, 1);
  }

  /** Stops listening: signals act as if nobody listened. */
  stop(): void {
    this.#worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Instruments for the learner: they show what the article describes in words. None of them
// touches the random stream, so the samples stay what microgpt.py would draw.

/** Refuses a prefix the model cannot read, or one that leaves no position to sample. */
function checkPrefix(prefix: string, tok: Tokenizer, blockSize: number): void {
  for (const ch of prefix) {
    if (tok.id(ch) === undefined) {
      throw usageError(`--prefix character ${describe(ch)} is not in the vocabulary`);
    }
  }
  const length = [...prefix].length;
  if (length >= blockSize) {
    throw usageError(
      `--prefix has ${length} characters, which fills the block size ${blockSize}: ` +
        `nothing would be left to sample`,
    );
  }
}

/** The line above an explained sample. */
function explainHeader(temperature: number): string {
  return `--- explain sample 1: the 5 likeliest next characters, probability at temperature ` +
    `${temperature} / at 1, * = drawn ---\n`;
}

/** One explained draw: the five likeliest candidates (and the drawn one, if not among them). */
export function explainLine(draw: Draw, tok: Tokenizer): string {
  const order = draw.probs.map((_, i) => i);
  order.sort((a, b) => draw.probs[b] - draw.probs[a] || draw.probs1[b] - draw.probs1[a] || a - b);
  const shown = order.slice(0, 5);
  if (!shown.includes(draw.drawn)) shown.push(draw.drawn);
  const cells = shown.map((id) => {
    const name = id === tok.bos ? "<end>" : tok.chars[id];
    const mark = id === draw.drawn ? "*" : " ";
    return `${mark}${name} ${draw.probs[id].toFixed(3)}/${draw.probs1[id].toFixed(3)}`;
  });
  return `  after ${JSON.stringify(draw.soFar).padEnd(14)} ${cells.join("  ")}\n`;
}

// Attention maps. A head's weights form a triangle (a position sees itself and the past only),
// so a row per position with one shaded cell per position attended shows it whole.

const SHADES = " ░▒▓█";

/** One head's attention as lines of text: a row per position, labelled with the character read
 * there (<s> for BOS), a cell per position attended (two characters wide, so it looks square),
 * then the column labels and the head's clearest pattern in words. */
export function attentionMap(
  layer: number,
  head: number,
  labels: string[],
  rows: number[][],
): string[] {
  const lines = [`layer ${layer}, head ${head}`];
  for (let t = 0; t < rows.length; t++) {
    let line = labels[t].padStart(3) + " ";
    for (let s = 0; s < rows.length; s++) {
      // Any weight above zero shows at least the lightest shade: a head that spreads itself
      // thin over a long name still draws its triangle.
      const w = s <= t ? rows[t][s] : 0;
      const shade = w > 0 ? Math.min(4, Math.max(1, Math.round(w * 4))) : 0;
      line += SHADES[shade].repeat(2);
    }
    lines.push(line);
  }
  lines.push("    " + labels.map((l) => (l === "<s>" ? "s" : l).padEnd(2)).join("").trimEnd());
  lines.push(describeAttention(rows) ?? "no single pattern");
  return lines;
}

/** The clearest pattern of a head, in words, or undefined: the mean weight, over positions 1…
 * (position 0 can only look at itself), on the previous position, on itself and on the start;
 * the largest wins from 0.5 up. Weights close to uniform are "spread evenly over the past". */
export function describeAttention(rows: number[][]): string | undefined {
  if (rows.length < 2) return undefined;
  const means = [0, 0, 0];
  let excess = 0; // how far the largest weight stands above a uniform 1/(t+1)
  for (let t = 1; t < rows.length; t++) {
    means[0] += rows[t][t - 1] / (rows.length - 1);
    means[1] += rows[t][t] / (rows.length - 1);
    means[2] += rows[t][0] / (rows.length - 1);
    excess += (Math.max(...rows[t]) - 1 / (t + 1)) / (rows.length - 1);
  }
  const best = argmax(means);
  if (means[best] >= 0.5) {
    return ["mostly the previous character", "mostly itself", "mostly the start"][best];
  }
  return excess < 0.15 ? "spread evenly over the past" : undefined;
}

/** Maps side by side, as many as fit in `width` columns, rows of maps apart by an empty line. */
function sideBySide(maps: string[][], width = 80, gap = 4): string {
  const widthOf = (m: string[]) => Math.max(...m.map((l) => [...l].length));
  const blocks: string[] = [];
  for (let first = 0; first < maps.length;) {
    let end = first + 1;
    let used = widthOf(maps[first]);
    while (end < maps.length && used + gap + widthOf(maps[end]) <= width) {
      used += gap + widthOf(maps[end++]);
    }
    const height = Math.max(...maps.slice(first, end).map((m) => m.length));
    const lines: string[] = [];
    for (let r = 0; r < height; r++) {
      const parts = maps.slice(first, end).map((m) => (m[r] ?? "").padEnd(widthOf(m)));
      lines.push(parts.join(" ".repeat(gap)).trimEnd());
    }
    blocks.push(lines.join("\n"));
    first = end;
  }
  return blocks.join("\n\n") + "\n";
}

// The embedding map. Each token's row of wte is a point in nEmbd dimensions; its two directions
// of greatest spread (principal components) make the flattest faithful picture of the cloud.

/** The first `k` principal components of the rows (unit length, orthogonal, the largest entry of
 * each positive so pictures are reproducible), by power iteration on the covariance of the
 * centred rows, removing the components already found; and each row's coordinates on them. */
export function principalComponents(
  rows: number[][],
  k: number,
): { components: number[][]; coords: number[][] } {
  const d = rows[0].length;
  const mean = new Array<number>(d).fill(0);
  for (const row of rows) for (let i = 0; i < d; i++) mean[i] += row[i] / rows.length;
  const centred = rows.map((row) => row.map((x, i) => x - mean[i]));
  const cov = mean.map((_, i) =>
    mean.map((_, j) => dot(centred.map((r) => r[i]), centred.map((r) => r[j])))
  );
  const components: number[][] = [];
  for (let c = 0; c < Math.min(k, d); c++) {
    // Start from a fixed vector; each round multiplies by the covariance, which stretches the
    // vector most along the largest remaining spread, and removes what is already found. With
    // no spread left (all rows alike), any direction perpendicular to the others will do.
    let v = start(d, components);
    for (let round = 0; round < 1000; round++) {
      const w = unit(orthogonal(cov.map((row) => dot(row, v)), components));
      if (w === undefined) break;
      const change = Math.hypot(...w.map((x, i) => x - v[i]));
      v = w;
      if (change < 1e-12) break;
    }
    v = unit(orthogonal(v, components)) ?? start(d, components);
    if (v[argmax(v.map(Math.abs))] < 0) v = v.map((x) => -x);
    components.push(v);
  }
  return { components, coords: centred.map((r) => components.map((u) => dot(r, u))) };
}

/** A fixed unit vector perpendicular to `basis`: a tilted diagonal, else a coordinate axis. */
function start(d: number, basis: number[][]): number[] {
  const candidates = [Array.from({ length: d }, (_, i) => 1 + i / d)];
  for (let i = 0; i < d; i++) {
    candidates.push(Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
  }
  for (const v of candidates) {
    const u = unit(orthogonal(v, basis));
    if (u !== undefined) return u;
  }
  throw new Error("no direction is left"); // only past d components, which are never asked for
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** v without its parts along the unit vectors `basis` (twice: once leaves rounding behind). */
function orthogonal(v: number[], basis: number[][]): number[] {
  let w = v;
  for (let pass = 0; pass < 2; pass++) {
    for (const b of basis) {
      const along = dot(w, b);
      w = w.map((x, i) => x - along * b[i]);
    }
  }
  return w;
}

/** v scaled to length 1, or undefined if it is (nearly) zero. */
function unit(v: number[]): number[] | undefined {
  const length = Math.hypot(...v);
  return length > 1e-9 ? v.map((x) => x / length) : undefined;
}

/** Cosine similarity: 1 for vectors pointing the same way, 0 for perpendicular ones. */
export function cosine(a: number[], b: number[]): number {
  const lengths = Math.hypot(...a) * Math.hypot(...b);
  return lengths === 0 ? 0 : dot(a, b) / lengths;
}

/** Labels placed on a framed grid of at most `width` × `height` cells at their points (x to the
 * right, y up); a label whose cell is taken moves to the nearest free one, so all stay visible. */
export function scatterGrid(
  labels: string[],
  points: number[][],
  width = 72,
  height = 24,
): string {
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(" "));
  const span = (i: number) => {
    const xs = points.map((p) => p[i]);
    const lo = Math.min(...xs);
    return { lo, size: Math.max(...xs) - lo || 1 };
  };
  const [x, y] = [span(0), span(1)];
  labels.forEach((label, p) => {
    const col = Math.round(((points[p][0] - x.lo) / x.size) * (width - 1));
    const row = Math.round(((y.lo + y.size - points[p][1]) / y.size) * (height - 1));
    // Search rings of growing radius for the free cell nearest to (row, col).
    for (let ring = 0; ring < Math.max(width, height); ring++) {
      let best: [number, number] | undefined;
      for (let r = row - ring; r <= row + ring; r++) {
        for (let c = col - ring; c <= col + ring; c++) {
          if (r < 0 || r >= height || c < 0 || c >= width || grid[r][c] !== " ") continue;
          if (Math.max(Math.abs(r - row), Math.abs(c - col)) !== ring) continue;
          const far = (r - row) ** 2 + (c - col) ** 2;
          if (best === undefined || far < (best[0] - row) ** 2 + (best[1] - col) ** 2) {
            best = [r, c];
          }
        }
      }
      if (best !== undefined) {
        grid[best[0]][best[1]] = label;
        return;
      }
    }
  });
  const border = "+" + "-".repeat(width) + "+";
  return [border, ...grid.map((cells) => "|" + cells.join("") + "|"), border].join("\n") + "\n";
}

/** The embedding picture: wte's rows on their two principal components (BOS drawn as "^"), then
 * for each vowel in the vocabulary its three nearest characters by cosine similarity. */
export function embeddingReport(tok: Tokenizer, weights: Float64Array, nEmbd: number): string {
  const rows: number[][] = [];
  for (let t = 0; t < tok.vocabSize; t++) {
    rows.push(Array.from(weights.subarray(t * nEmbd, (t + 1) * nEmbd))); // wte comes first
  }
  const { coords } = principalComponents(rows, 2);
  const labels = [...tok.chars, "^"].map((ch) => (ch === " " ? "_" : ch));
  const points = coords.map((c) => [c[0], c[1] ?? 0]);
  let text = `--- token embeddings (wte) on their first two principal components; ^ is BOS ---\n`;
  text += scatterGrid(labels, points, Math.min(72, Math.max(24, 2 * tok.vocabSize)), 24);
  for (const vowel of "aeiou") {
    const id = tok.id(vowel);
    if (id === undefined) continue;
    const near = rows.map((r, j) => [j, cosine(rows[id], r)]).filter(([j]) => j !== id);
    near.sort((p, q) => q[1] - p[1] || p[0] - q[0]);
    const names = near.slice(0, 3).map(([j, c]) => `${labels[j]} ${c.toFixed(2)}`);
    text += `nearest to ${vowel}: ${names.join(", ")}\n`;
  }
  return text;
}

// The loss, in words.

const SPARKS = "▁▂▃▄▅▆▇█";

/** Three lines for stderr: the mean loss over the first and last 50 steps, what guessing would
 * score, and a sparkline of the mean loss over 20 equal windows of the run. */
export function lossSummary(losses: number[], vocabSize: number): string {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const span = Math.min(50, losses.length);
  const first = mean(losses.slice(0, span));
  const last = mean(losses.slice(-span));
  const windows = Math.min(20, losses.length);
  const means: number[] = [];
  for (let w = 0; w < windows; w++) {
    const from = Math.floor((w * losses.length) / windows);
    const to = Math.floor(((w + 1) * losses.length) / windows);
    means.push(mean(losses.slice(from, to)));
  }
  const lo = Math.min(...means);
  const hi = Math.max(...means);
  let line = "";
  for (const m of means) {
    line += SPARKS[hi > lo ? Math.round(((m - lo) / (hi - lo)) * (SPARKS.length - 1)) : 0];
  }
  return `loss: mean ${first.toFixed(4)} over the first ${span} steps, ` +
    `${last.toFixed(4)} over the last ${span}\n` +
    `baseline: a uniform guess over ${vocabSize} tokens scores ln ${vocabSize} = ` +
    `${Math.log(vocabSize).toFixed(2)}\n` +
    `loss over ${windows} windows of the run: ${line} (${hi.toFixed(2)} high, ${
      lo.toFixed(2)
    } low)`;
}

/** Seconds as a short duration: 42.1 s, 3 min 05 s, 2 h 07 min. */
function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** The step line for a terminal: microgpt.py's, then the time so far, per step and left, and an
 * erase to the end of the line (the line is rewritten in place and may have been longer). */
export function terminalStepLine(
  step: number,
  numSteps: number,
  loss: number,
  elapsedMs: number,
  stepsTimed: number,
): string {
  const perStep = elapsedMs / stepsTimed;
  const left = perStep * (numSteps - step - 1);
  const ms = perStep < 10 ? perStep.toFixed(2) : perStep.toFixed(0);
  return stepLine(step, numSteps, loss).slice(0, -1) +
    ` | ${duration(elapsedMs)}, ${ms} ms/step, ${duration(left)} left\x1b[K\r`;
}

/** microgpt.py's step line; "\r" rewrites it in place in a terminal, so the loss visibly falls. */
export function stepLine(step: number, numSteps: number, loss: number): string {
  return `step ${padInt(step + 1, 4)} / ${padInt(numSteps, 4)} | loss ${formatFixed4(loss)}\r`;
}

// ---------------------------------------------------------------------------------------------
// The run: microgpt.py's script, with the tools around it.

const encoder = new TextEncoder();

/** stdout and stderr of one run. A failed write to stdout (a closed pipe, a full disk) must not
 * cost the model: stdout is given up, the run goes on, and its last line names the failure. */
export class Output {
  /** Whether stdout is a terminal: then the step line also tells the time. */
  readonly terminal: boolean;
  /** Why stdout was given up, if it was. */
  failure?: string;

  /** Output to this process's stdout and stderr. */
  constructor() {
    this.terminal = Deno.stdout.isTerminal();
  }

  /** Writes all of `text` to stdout (writeSync may write only part of it). */
  out(text: string): void {
    if (this.failure !== undefined) return;
    const bytes = encoder.encode(text);
    try {
      let done = 0;
      while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
    } catch (err) {
      this.failure = err instanceof Deno.errors.BrokenPipe
        ? "its reader closed the pipe"
        : escapeControls((err as Error).message.replace(/ \(os error \d+\).*$/s, ""));
    }
  }

  /** Writes one line to stderr. Nothing is left to tell if stderr itself fails. */
  err(line: string): void {
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr is gone: the exit code still tells
    }
  }
}

/** Reads a --load or --resume file. */
function readModel(path: string, flag: string, cfg: Config): SavedModel {
  const action = flag === "--resume" ? "resume" : "load";
  try {
    return modelFromJSON(readText(path, flag, MAX_MODEL_BYTES), cfg);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `cannot ${action} ${shown(path)}: ${escapeControls((err as Error).message)}`,
      1,
    );
  }
}

/** The largest heap a step may fill: most of V8's limit (the rest is for everything else). */
function heapBudget(): number {
  return 0.7 * getHeapStatistics().heap_size_limit;
}

/** Refuses a shape too large for this engine and this machine, by arithmetic, before anything
 * is allocated: too many parameters, or a training step or a sample that would not fit. */
function checkSize(engine: Engine, cfg: Config, vocabSize: number, docs: string[]): void {
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
        (engine === graphEngine
          ? `, or run microgpt_fast.ts (the same numbers in flat memory)`
          : ""),
    );
  };
  check("the model", 0);
  if (cfg.numSteps > 0) check("a training step", Math.min(cfg.blockSize, longest + 1));
  if (cfg.numSamples > 0) check("a sample", cfg.blockSize); // no end token: the whole block
}

/** Checks a --resume file against the command line and the text; returns its settings with the
 * sampling flags given anew. */
async function resumeFor(saved: SavedModel, opts: Options, docs: string[]): Promise<Config> {
  const path = shown(opts.resume!);
  const cp = saved.checkpoint;
  if (cp === undefined) {
    throw new CliError(
      `${path} does not record where its run stopped (a version 1 save): ` +
        `--load ${path} starts a new run from its weights`,
      1,
    );
  }
  const flags: [string, keyof Config][] = [
    ["n-embd", "nEmbd"],
    ["n-head", "nHead"],
    ["n-layer", "nLayer"],
    ["block-size", "blockSize"],
    ["steps", "numSteps"],
    ["lr", "learningRate"],
    ["seed", "seed"],
  ];
  const contradiction = (flag: string, given: unknown, has: unknown) =>
    new CliError(
      `--${flag} ${given} contradicts ${path}, which was trained with --${flag} ` +
        `${has}; leave --${flag} out to resume`,
      1,
    );
  for (const [flag, key] of flags) {
    if (opts.given.has(flag) && opts.cfg[key] !== saved.config[key]) {
      throw contradiction(flag, opts.cfg[key], saved.config[key]);
    }
  }
  if (opts.given.has("holdout") && opts.holdout !== cp.holdout) {
    throw contradiction("holdout", opts.holdout, cp.holdout);
  }
  const sha = await fingerprint(docs);
  if (sha !== cp.textSha256 || docs.length !== cp.numDocs) {
    const text = opts.input === undefined ? "the bundled input.txt" : shown(opts.input);
    throw new CliError(
      `${path} was trained on another text (${cp.numDocs} documents, ` +
        `SHA-256 ${cp.textSha256.slice(0, 12)}…) than ${text} (${docs.length} documents, ` +
        `${sha.slice(0, 12)}…); give the run's --input`,
      1,
    );
  }
  const cfg = { ...saved.config };
  if (opts.given.has("temperature")) cfg.temperature = opts.cfg.temperature;
  if (opts.given.has("samples")) cfg.numSamples = opts.cfg.numSamples;
  return cfg;
}

/** Checks a --load file against the command line and, if it is to be trained, the text. */
function loadFor(saved: SavedModel, opts: Options, docs: string[]): Config {
  for (const flag of ["n-embd", "n-head", "n-layer", "block-size"] as const) {
    const key = ({
      "n-embd": "nEmbd",
      "n-head": "nHead",
      "n-layer": "nLayer",
      "block-size": "blockSize",
    } as const)[flag];
    if (opts.given.has(flag) && opts.cfg[key] !== saved.config[key]) {
      throw new CliError(
        `--${flag} ${opts.cfg[key]} does not match ${shown(opts.load!)}, which has ` +
          `${saved.config[key]}; leave the shape flags out with --load`,
        1,
      );
    }
  }
  if (opts.cfg.numSteps > 0) {
    for (const doc of docs) {
      for (const ch of doc) {
        if (saved.tok.id(ch) !== undefined) continue;
        throw new CliError(
          `cannot train ${shown(opts.load!)} on this text: its vocabulary lacks ${describe(ch)}`,
          1,
        );
      }
    }
  }
  // The shape (and vocabulary) from the file, everything else from the command line.
  const { nEmbd, nHead, nLayer, blockSize } = saved.config;
  return { ...opts.cfg, nEmbd, nHead, nLayer, blockSize };
}

/** The largest weight, for a message about weights too large to compute with. */
function largestWeight(weights: Float64Array): number {
  let most = 0;
  for (const w of weights) most = Math.max(most, Math.abs(w));
  return most;
}

/** A shell word: as it is when plain, in single quotes when a shell would read it differently,
 * in $'…' with escapes when it holds a character that cannot be shown as it is (a newline). */
function shellWord(word: string): string {
  if (/^[A-Za-z0-9_./=:,+-]+$/.test(word)) return word;
  if (escapeControls(word) === word) return `'${word.replaceAll("'", `'\\''`)}'`;
  return `$'${escapeControls(word.replaceAll("\\", "\\\\").replaceAll("'", "\\'"))}'`;
}

/** The script as the command line should name it: its file name when it is in the current
 * directory, else its full path. */
function scriptPath(engine: Engine): string {
  try {
    const main = new URL(Deno.mainModule);
    const path = decodeURIComponent(main.pathname);
    if (main.protocol !== "file:" || !path.endsWith(`/${engine.name}`)) return engine.name;
    return dirname(path) === Deno.cwd() ? engine.name : path;
  } catch {
    return engine.name;
  }
}

/** The command that continues this run from its checkpoint at `save`. */
function resumeCommand(engine: Engine, opts: Options, save: string): string {
  const words = ["deno", "run", "--allow-read", "--allow-write", scriptPath(engine)];
  // A value that starts with "-" is joined to its flag, or it would read as a flag itself.
  const flag = (name: string, value: string) => {
    if (value.startsWith("-") && value !== "-") words.push(`--${name}=${value}`);
    else words.push(`--${name}`, value);
  };
  flag("resume", save);
  flag("save", save);
  if (opts.saveEvery !== undefined) flag("save-every", String(opts.saveEvery));
  if (opts.input !== undefined) flag("input", opts.input);
  if (opts.log !== undefined) flag("log", opts.log);
  if (opts.given.has("temperature")) flag("temperature", String(opts.cfg.temperature));
  if (opts.given.has("samples")) flag("samples", String(opts.cfg.numSamples));
  if (opts.given.has("prefix")) flag("prefix", opts.prefix);
  for (const name of ["explain", "attention", "embeddings"]) {
    if (opts.given.has(name)) words.push(`--${name}`);
  }
  return words.map(shellWord).join(" ");
}

/** A loss log: a header, then one tab-separated row per step, written as training goes so that
 * a long run can be plotted before it ends. On a resume, rows past the checkpoint's step (from a
 * run that went on after its last save) are dropped, so the log reads as one run. A failed write
 * (a full disk) does not stop training: the log is given up and the run's last line says so. */
class LossLog {
  #file: Deno.FsFile;
  /** Why the log was given up, if it was. */
  failure?: string;
  static readonly HEADER = "step\tloss\tlearning_rate\theld_out_loss";

  constructor(readonly path: string, from: number) {
    let keep = "";
    if (from > 0) {
      try {
        const lines = Deno.readTextFileSync(path).split("\n");
        if (lines[0] === LossLog.HEADER) {
          keep = lines.slice(1).filter((l) => l !== "" && Number(l.split("\t")[0]) <= from)
            .map((l) => l + "\n").join("");
        }
      } catch {
        // no earlier log: start one
      }
    }
    try {
      this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
      this.#write(LossLog.HEADER + "\n" + keep);
    } catch (err) {
      throw fileError("write the log", path, err);
    }
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let done = 0;
    while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
  }

  /** One step's row; numbers at full precision, so the log holds exactly what was computed. */
  row(step: number, loss: number, lr: number, heldOut?: number): void {
    if (this.failure !== undefined) return;
    try {
      this.#write(`${step + 1}\t${loss}\t${lr}\t${heldOut ?? ""}\n`);
    } catch (err) {
      this.failure = fileError("write the log", this.path, err).message;
    }
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/** Checks, before training, that the log can be written where asked and replaces nothing that
 * matters. */
function checkLogPath(path: string, keep: Guarded[]): void {
  checkPathArgument(path, "--log");
  for (const name of ["read", "write"] as const) {
    if (Deno.permissions.querySync({ name, path }).state !== "granted") {
      throw new CliError(
        `writing ${shown(path)} (--log) needs read and write permission: ` +
          `add --allow-read --allow-write`,
        1,
      );
    }
  }
  try {
    const info = Deno.statSync(path);
    if (info.isDirectory) {
      throw new CliError(`cannot write the log ${shown(path)}: it is a directory`, 1);
    }
    if (!info.isFile) {
      throw new CliError(`cannot write the log ${shown(path)}: not a regular file`, 1);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (!(err instanceof Deno.errors.NotFound)) throw fileError("write the log", path, err);
  }
  for (const other of keep) {
    if (replaces(path, other)) {
      throw new CliError(
        `--log ${shown(path)} would replace ${other.what}; choose another path`,
        1,
      );
    }
  }
}

/** Trains and samples as the options say with `engine`, printing what microgpt.py prints on
 * stdout and everything else on stderr. Returns the exit code. */
export async function run(
  opts: Options,
  engine: Engine = graphEngine,
  io: Output = new Output(),
  watch?: SignalWatch,
): Promise<number> {
  // Everything that can fail is checked before the first line is printed.
  const allDocs = readDocs(opts.input);
  const resumed = opts.resume === undefined
    ? undefined
    : readModel(opts.resume, "--resume", opts.cfg);
  const loaded = opts.load === undefined ? undefined : readModel(opts.load, "--load", opts.cfg);
  let cfg = opts.cfg;
  if (resumed !== undefined) cfg = await resumeFor(resumed, opts, allDocs);
  if (loaded !== undefined) cfg = loadFor(loaded, opts, allDocs);
  const cp = resumed?.checkpoint;
  const holdout = cp?.holdout ?? opts.holdout;
  const prefix = cp !== undefined && !opts.given.has("prefix") ? cp.prefix : opts.prefix;
  const tok = resumed?.tok ?? loaded?.tok ?? new Tokenizer(allDocs);
  if (holdout >= allDocs.length) {
    throw usageError(
      `--holdout ${holdout} leaves no document to train on (the text has ${allDocs.length})`,
    );
  }
  // What a save or a log must never replace: the training text, and each other.
  const text = trainingText(opts.input);
  const logFile: Guarded[] = opts.log === undefined
    ? []
    : [{ what: "the --log file", path: opts.log }];
  const saveTo = opts.save === undefined
    ? undefined
    : checkSavePath(opts.save, "--save", [text, ...logFile]);
  if (opts.log !== undefined) {
    const files: Guarded[] = [text];
    if (saveTo !== undefined) files.push({ what: "the --save file", path: saveTo });
    if (opts.resume !== undefined) files.push({ what: "the --resume file", path: opts.resume });
    if (opts.load !== undefined) files.push({ what: "the --load file", path: opts.load });
    checkLogPath(opts.log, files);
  }
  checkSize(engine, cfg, tok.vocabSize, allDocs);
  checkPrefix(prefix, tok, cfg.blockSize);
  const textSha256 = saveTo !== undefined ? await fingerprint(allDocs) : "";

  // microgpt.py's run: shuffle, tokenizer, parameters. The initial weights are drawn even when
  // a file brings its own, so the generator stands where it would after a fresh init: samples
  // then depend on the weights alone, and a resumed run draws what the first run would have.
  const rng = new Random(cfg.seed);
  const docs = allDocs.slice();
  rng.shuffle(docs);
  const drawn = initWeights(cfg, tok.vocabSize, rng);
  if (cp !== undefined) {
    const state = rng.getState();
    const same = state.index === cp.random.index && state.gaussNext === cp.random.gaussNext &&
      state.mt.every((x, i) => x === cp.random.mt[i]);
    if (!same) {
      throw new CliError(
        `${shown(opts.resume!)} does not fit its own seed and text: its random ` +
          `state differs from the one they give (was it edited?)`,
        1,
      );
    }
    rng.setState(cp.random);
  }
  const weights = resumed?.weights ?? loaded?.weights ?? drawn;
  const fromFile = resumed !== undefined || loaded !== undefined;
  io.out(`num docs: ${docs.length}\n`);
  io.out(`vocab size: ${tok.vocabSize}\n`);
  io.out(`num params: ${weights.length}\n`);

  const trainer = engine.create(cfg, tok.vocabSize, weights);
  if (cp !== undefined) {
    trainer.m.set(cp.m);
    trainer.v.set(cp.v);
  }
  const from = cp?.step ?? 0;
  const trainDocs = docs.slice(0, docs.length - holdout);
  const heldOut = docs.slice(docs.length - holdout);
  const checkpoint = (step: number): Checkpoint => ({
    step,
    m: trainer.m,
    v: trainer.v,
    random: rng.getState(),
    textSha256,
    numDocs: allDocs.length,
    holdout,
    prefix,
  });
  const save = (step: number) =>
    saveText(
      saveTo!,
      opts.save!,
      modelToJSON(cfg, tok, trainer.weights(), checkpoint(step)),
      watch,
    );

  // Training, with the instruments listening.
  const log = opts.log === undefined ? undefined : new LossLog(opts.log, from);
  const evalAt = new Set<number>();
  if (holdout > 0) { for (let k = 1; k <= 10; k++) evalAt.add(Math.ceil((k * cfg.numSteps) / 10)); }
  const losses: number[] = [];
  let stretch = 0; // where the training stretch of the next held-out line starts
  let done = from;
  let stopped = false;
  watch?.arm(); // from here, a first signal finishes the step and saves
  const started = performance.now();
  let shownAt = -Infinity;
  try {
    trainer.train(trainDocs, tok, (step, loss) => {
      done = step + 1;
      losses.push(loss);
      if (!Number.isFinite(loss)) {
        const cause = fromFile && step === from
          ? `the weights from ${shown((opts.resume ?? opts.load)!)} are too large to compute ` +
            `with (the largest is ${largestWeight(weights).toExponential(2)})`
          : resumed !== undefined
          ? `the run's learning rate (${cfg.learningRate}, from ${shown(opts.resume!)}) is ` +
            `too high to continue; start again with a lower --lr`
          : `try a lower --lr (it is ${cfg.learningRate})`;
        throw new CliError(`the loss became ${loss} at step ${step + 1}; ${cause}`, 1);
      }
      if (!io.terminal) io.out(stepLine(step, cfg.numSteps, loss));
      else {
        // A terminal shows the line, not the stream: rewriting it a few dozen times a second is
        // enough, and spares a fast engine the cost of drawing every step.
        const now = performance.now();
        if (now - shownAt >= 40 || step + 1 === cfg.numSteps || evalAt.has(step + 1)) {
          io.out(terminalStepLine(step, cfg.numSteps, loss, now - started, step + 1 - from));
          shownAt = now;
        }
      }
      let heldOutLoss: number | undefined;
      if (evalAt.has(step + 1)) {
        let sum = 0;
        for (const doc of heldOut) sum += trainer.loss(tok.encode(doc, cfg.blockSize));
        heldOutLoss = sum / heldOut.length;
        const recent = losses.slice(stretch);
        const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
        if (io.terminal) io.out("\n");
        io.err(
          `step ${padInt(step + 1, 4)} / ${padInt(cfg.numSteps, 4)} | held-out loss ` +
            `${heldOutLoss.toFixed(4)} on ${heldOut.length} documents | training loss ` +
            `${mean.toFixed(4)} over steps ${from + stretch + 1}-${step + 1}`,
        );
        stretch = losses.length;
      }
      log?.row(step, loss, cfg.learningRate * (1 - step / cfg.numSteps), heldOutLoss);
      if (opts.saveEvery !== undefined && done % opts.saveEvery === 0 && done < cfg.numSteps) {
        save(done);
      }
      if (watch !== undefined && watch.signal !== 0) {
        stopped = true;
        return false;
      }
    }, from);
  } finally {
    log?.close();
  }

  let saveError: CliError | undefined;
  if (saveTo !== undefined) {
    try {
      save(done);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      saveError = err;
    }
  }
  if (watch !== undefined && watch.signal !== 0) stopped = true; // it came during the save
  if (stopped) {
    if (io.terminal) io.out("\n");
    const at = `stopped by ${watch!.name} after step ${done} of ${cfg.numSteps}`;
    if (saveError !== undefined) io.err(`error: ${saveError.message}; ${at}, nothing saved`);
    else if (opts.save !== undefined) {
      io.err(
        `${at}; saved ${shown(opts.save)}; resume with: ${resumeCommand(engine, opts, opts.save)}`,
      );
    } else {
      io.err(
        `${at}; nothing was saved: to keep progress next time, add --save PATH ` +
          `(and --save-every N), then continue with --resume PATH`,
      );
    }
    return watch!.exitCode;
  }

  // Inference: may the model babble back to us.
  io.out("\n--- inference (new, hallucinated names) ---\n");
  const attention: number[][][][] = []; // [layer][head][position] → weights over positions
  let sampledAll = true;
  trainer.generate(tok, rng, prefix, (i, name) => {
    io.out(`sample ${padInt(i + 1, 2)}: ${name}\n`);
    if (i === 0 && opts.attention) {
      const labels = ["<s>", ...prefix, ...name].slice(0, attention[0][0].length);
      const maps = [];
      for (let li = 0; li < cfg.nLayer; li++) {
        for (let h = 0; h < cfg.nHead; h++) {
          maps.push(attentionMap(li, h, labels, attention[li][h]));
        }
      }
      io.out(
        `--- attention of sample 1: rows look at columns, darker = more weight ---\n` +
          sideBySide(maps),
      );
    }
    if (watch !== undefined && watch.signal !== 0) {
      sampledAll = i + 1 === cfg.numSamples;
      return false;
    }
  }, (i) => {
    if (opts.explain && i === 0) io.out(explainHeader(cfg.temperature));
    return {
      onDraw: (draw: Draw) => {
        if (!draw.probs.every(Number.isFinite)) {
          throw new CliError(
            draw.probs1.every(Number.isFinite)
              ? `--temperature ${cfg.temperature} is so small that dividing the logits by it ` +
                `overflows; 0 samples greedily`
              : `the model's logits are not finite numbers: its weights are too large to compute ` +
                `with (the largest is ${largestWeight(trainer.weights()).toExponential(2)})`,
            1,
          );
        }
        if (opts.explain && i === 0) io.out(explainLine(draw, tok));
      },
      onAttention: opts.attention && i === 0
        ? (pos, li, h, w) => {
          ((attention[li] ??= [])[h] ??= [])[pos] = w;
        }
        : undefined,
    };
  });
  if (!sampledAll) {
    io.err(`stopped by ${watch!.name} while sampling`);
    return watch!.exitCode;
  }
  if (opts.embeddings) io.out(embeddingReport(tok, trainer.weights(), cfg.nEmbd));
  // On stderr, so that stdout stays exactly microgpt.py's.
  if (losses.length > 0) io.err(lossSummary(losses, tok.vocabSize));
  // The last lines name whatever went wrong on the way; the model was saved if it could be.
  const problems: string[] = [];
  if (io.failure !== undefined) problems.push(`could not write to stdout (${io.failure})`);
  if (log?.failure !== undefined) problems.push(log.failure);
  if (problems.length > 0 && saveError === undefined) {
    const saved = saveTo !== undefined ? `; ${shown(opts.save!)} was saved` : "";
    io.err(`error: ${problems.join("; ")}; training went on to the end${saved}`);
  } else if (problems.length > 0) io.err(`error: ${problems.join("; ")}`);
  if (saveError !== undefined) io.err(`error: ${saveError.message}`);
  if (problems.length > 0 || saveError !== undefined) return 1;
  return 0;
}

/** The command-line entry point for `engine`: returns the exit code. */
export async function main(args: string[], engine: Engine = graphEngine): Promise<number> {
  const io = new Output();
  let watch: SignalWatch | undefined;
  try {
    const opts = parseCommandLine(args);
    if (opts.help) {
      io.out(usage(engine.name));
      if (io.failure === undefined) return 0;
      io.err(`error: could not write the help to stdout (${io.failure})`);
      return 1;
    }
    watch = await SignalWatch.start();
    return await run(opts, engine, io, watch);
  } catch (err) {
    const exitCode = err instanceof CliError ? err.exitCode : 1;
    io.err(`error: ${escapeControls(String((err as Error)?.message ?? err))}`);
    return exitCode;
  } finally {
    watch?.stop();
  }
}

// =============================================================================================
// APPENDIX — PYTHON COMPATIBILITY
// =============================================================================================
// To print microgpt.py's numbers, a few things must behave exactly as CPython's do.

// ---------------------------------------------------------------------------------------------
// str.strip(): JavaScript's trim() disagrees with it on a few characters (U+FEFF, U+0085,
// U+001C–U+001F), and a stripped name is a different document.

/** Characters Python's `str.strip()` removes: everything for which `str.isspace()` is true. */
const PY_WHITESPACE = new Set(
  "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" +
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
);

/** Strips leading and trailing whitespace exactly as Python's `str.strip()` does. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_WHITESPACE.has(s[start])) start++;
  while (end > start && PY_WHITESPACE.has(s[end - 1])) end--;
  return s.slice(start, end);
}

// ---------------------------------------------------------------------------------------------
// Printing numbers as Python's f-strings do.

/** Python's `f"{x:.4f}"`: the exact binary value rounded to 4 decimals, ties to even.
 * (`toFixed` rounds exact ties away from zero; they occur only at odd multiples of 1/32.) */
export function formatFixed4(x: number): string {
  const scaled = x * 32; // exact: a power-of-two scale
  if (Number.isInteger(scaled) && scaled % 2 !== 0) {
    const kept = x.toFixed(5).slice(0, -1); // toFixed(5) is exact here and ends in "5"
    if (Number(kept[kept.length - 1]) % 2 === 0) return kept;
  }
  return x.toFixed(4);
}

/** Python's `f"{n:{width}d}"`: right-aligned in `width` columns. */
export function padInt(n: number, width: number): string {
  return String(n).padStart(width, " ");
}

// ---------------------------------------------------------------------------------------------
// Randomness. JavaScript's Math.random cannot be seeded, and to print microgpt.py's numbers we
// need Python's exact stream. This is the part of CPython's `random` module that microgpt.py
// uses: the Mersenne Twister MT19937 and the same recipes on top of it.
const MT_N = 624;
const MT_M = 397;

/** Everything a {@linkcode Random} remembers. */
export interface RandomState {
  /** The Mersenne Twister's 624 words. */
  mt: number[];
  /** The next word to temper, 0…624 (624: time to twist). */
  index: number;
  /** The second normal deviate of the last Box–Muller pair, if gauss() has not used it yet. */
  gaussNext: number | null;
}

/** A seeded random number generator that reproduces CPython's `random.Random`. */
export class Random {
  #mt = new Uint32Array(MT_N);
  #index = MT_N;
  #gaussNext: number | null = null;

  /** Seeds as Python's `random.seed(seed)` does for a non-negative integer. */
  constructor(seed: number | bigint) {
    let n = BigInt(seed);
    if (n < 0n) n = -n; // Python seeds with the absolute value
    // The seed is split into 32-bit words, least significant first; 0 is one word. (Read off
    // its hexadecimal digits, eight at a time: shifting a huge number would take quadratic time.)
    const hex = n.toString(16);
    const key: number[] = [];
    for (let end = hex.length; end > 0; end -= 8) {
      key.push(parseInt(hex.slice(Math.max(0, end - 8), end), 16));
    }
    this.#initByArray(key);
  }

  #initGenrand(s: number): void {
    const mt = this.#mt;
    mt[0] = s;
    for (let i = 1; i < MT_N; i++) {
      const prev = mt[i - 1];
      mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i; // stored mod 2^32
    }
    this.#index = MT_N;
  }

  #initByArray(key: number[]): void {
    this.#initGenrand(19650218);
    const mt = this.#mt;
    let i = 1;
    let j = 0;
    for (let k = Math.max(MT_N, key.length); k > 0; k--) {
      const prev = mt[i - 1];
      mt[i] = (mt[i] ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + key[j] + j;
      i++;
      j++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = MT_N - 1; k > 0; k--) {
      const prev = mt[i - 1];
      mt[i] = (mt[i] ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i;
      i++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** The generator's whole state: the Mersenne Twister's words and position, and the second
   * value gauss() keeps for its next call. */
  getState(): RandomState {
    return { mt: Array.from(this.#mt), index: this.#index, gaussNext: this.#gaussNext };
  }

  /** Puts the generator back into a state from {@linkcode Random.getState}. */
  setState(state: RandomState): void {
    this.#mt.set(state.mt);
    this.#index = state.index;
    this.#gaussNext = state.gaussNext;
  }

  /** The next raw 32-bit output of MT19937. */
  uint32(): number {
    const mt = this.#mt;
    if (this.#index >= MT_N) {
      for (let k = 0; k < MT_N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % MT_N] & 0x7fffffff);
        mt[k] = mt[(k + MT_M) % MT_N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#index = 0;
    }
    let y = mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A float in [0, 1) with 53 random bits, as Python's `random.random()`. */
  random(): number {
    const a = this.uint32() >>> 5;
    const b = this.uint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A normal deviate, as Python's `random.gauss(mu, sigma)`: Box–Muller makes two at a time and
   * keeps the second for the next call. */
  gauss(mu: number, sigma: number): number {
    let z = this.#gaussNext;
    this.#gaussNext = null;
    if (z === null) {
      const x2pi = this.random() * (2 * Math.PI);
      const g2rad = Math.sqrt(-2 * Math.log(1 - this.random()));
      z = Math.cos(x2pi) * g2rad;
      this.#gaussNext = Math.sin(x2pi) * g2rad;
    }
    return mu + z * sigma;
  }

  /** A uniform integer in [0, n) for 1 ≤ n ≤ 2^32, as Python's `_randbelow`: take as many top
   * bits of one output as n needs, and retry while the result is too large. */
  randbelow(n: number): number {
    const k = 32 - Math.clz32(n); // n.bit_length()
    let r = k === 0 ? 0 : this.uint32() >>> (32 - k);
    while (r >= n) r = this.uint32() >>> (32 - k);
    return r;
  }

  /** Shuffles in place, as Python's `random.shuffle` (Fisher–Yates from the end). */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i >= 1; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /** One index drawn with probability proportional to its weight, as Python's
   * `random.choices(range(len(weights)), weights)[0]`. */
  choices(weights: number[]): number {
    const cum = new Float64Array(weights.length);
    let acc = weights[0];
    cum[0] = acc;
    for (let i = 1; i < weights.length; i++) {
      acc = acc + weights[i];
      cum[i] = acc;
    }
    const x = this.random() * cum[cum.length - 1];
    // bisect_right over cum, never past the last index
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x < cum[mid]) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
