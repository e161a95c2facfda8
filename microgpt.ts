/**
 * microgpt.ts — the most atomic way to train and sample a GPT, in one dependency-free Deno file.
 *
 * A port of Andrej Karpathy's microgpt.py: a character-level GPT (token and position
 * embeddings, RMSNorm, multi-head causal attention, a ReLU MLP, residual connections) whose every
 * scalar is a node of an autograd graph, trained with Adam on a list of names and then sampled.
 * For the same data, seed and settings it prints exactly what microgpt.py prints.
 *
 * How to read it: **Part I is the complete algorithm**, in microgpt.py's order, up to a line that
 * says where it ends; **`main()`** is microgpt.py's script, which `deno run microgpt.ts` runs; an
 * **appendix** holds the bits of Python the numbers depend on (`random`, `str.strip`, `%.4f`,
 * `print`). Its only import is input.txt. Flags bring in tools/ (the command line, checkpoints,
 * instruments); microgpt_fast.ts is the same model on typed arrays: the rest is just efficiency.
 *
 * @example Use the pieces from another script
 * ```ts
 * import { DEFAULTS, initModel, parseDocs, Random, sample, Tokenizer } from "./microgpt.ts";
 * const rng = new Random(42);
 * const tok = new Tokenizer(parseDocs("emma\nolivia\nava\n"));
 * const model = initModel(DEFAULTS, tok.vocabSize, rng);
 * console.log(sample(model, tok, rng, 1.0)); // an untrained model babbles
 * ```
 *
 * @module
 */

import bundledInput from "./input.txt" with { type: "text" };

// =============================================================================================
// PART I — THE ALGORITHM
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// Dataset: a list of documents, here one name per line. The model learns what a name looks like
// from thousands of them, and each one is a separate little sequence: it never sees two at once.
// The run shuffles them once (with the seeded generator of the appendix) and then takes them in
// that order, one per training step. microgpt.py downloads makemore's names.txt (32,033 names) when
// it finds no input.txt; this file brings its own (8,422 names, a-z and "-"): the same run on it.

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
// Python's reflected forms are written with the Value first: (1 / n) * sum(losses) is .mul(1 / n).

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
  /** Adam's peak learning rate; it decays linearly towards 0 (lr/numSteps at the last step). */
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
  seed: 42n,
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

/** A model whose weights are `next()`, called in microgpt.py's order: matrix by matrix, row
 * by row. */
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
  return Array.from({ length: nLayer }, () => []); // [[] for _ in range(n_layer)]
}

/** The forward pass for one token at position `posId`: returns the logits of the next token.
 *
 * Tokens are fed one at a time. Each call appends this position's key and value to the caches,
 * and attention looks only at what the caches hold: the current position and those before it.
 * That is what makes attention causal — the future has not been computed yet, so no mask is
 * needed — and it is why sampling does not recompute earlier positions. `observe`, if given,
 * sees each head's attention weights (for the pictures the tools draw). */
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
  // Not redundant with the block's own norm: the residual adds below add to this x itself.
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
      // A sum of headDim products spreads like sqrt(headDim); dividing keeps softmax unsaturated.
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
    const lrT = learningRate * (1 - step / numSteps); // linear decay towards 0
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
 * (main() prints microgpt.py's step line through it) and may stop the loop by returning false.
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

/** Optional eyes on one sample (for the tools' instruments); watching changes no draw. */
export interface SampleWatch {
  /** Sees every draw. */
  onDraw?: (draw: Draw) => void;
  /** Sees the attention weights at every position, layer and head. */
  onAttention?: (pos: number, layer: number, head: number, weights: number[]) => void;
}

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
 * stream; `onSample` hears each (main() prints microgpt.py's sample line through it) and may stop
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
// The algorithm ends here. What follows runs it: main() is microgpt.py's script, the appendix
// makes its numbers CPython's, and the entry at the end starts it.
// =============================================================================================

/** microgpt.py's script, which `deno run microgpt.ts` runs: no permission needed, and exactly
 * microgpt.py's output. (With any flag, tools/cli.ts runs the same steps, with the tools.) */
export function main(): void {
  const cfg = DEFAULTS;
  const rng = new Random(cfg.seed); // let there be order among chaos
  const docs = parseDocs(bundledInput);
  rng.shuffle(docs);
  print(`num docs: ${docs.length}`);
  const tok = new Tokenizer(docs);
  print(`vocab size: ${tok.vocabSize}`);
  const model = initModel(cfg, tok.vocabSize, rng);
  print(`num params: ${model.params.length}`);
  const adam = new Adam(model.params.length, cfg);
  train(model, adam, docs, tok, (step, loss) => print(stepLine(step, cfg.numSteps, loss), "\r"));
  // Inference: may the model babble back to us
  print("\n--- inference (new, hallucinated names) ---");
  generate(model, tok, rng, "", (i, doc) => print(`sample ${padInt(i + 1, 2)}: ${doc}`));
}

/** microgpt.py's step line (0-based `step`); printed with end="\r", each overwrites the last. */
export function stepLine(step: number, numSteps: number, loss: number): string {
  return `step ${padInt(step + 1, 4)} / ${padInt(numSteps, 4)} | loss ${formatFixed4(loss)}`;
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
// Printing as Python prints: numbers as its f-strings format them, lines as print() ends them.

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

/** Python's `print(text, end=end)`, to stdout; a write may take only part of the bytes, so it
 * writes until all are out. */
export function print(text: string, end = "\n"): void {
  const bytes = new TextEncoder().encode(text + end);
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
}

// ---------------------------------------------------------------------------------------------
// Randomness. JavaScript's Math.random cannot be seeded, and to print microgpt.py's numbers we
// need Python's exact stream. This is the part of CPython's `random` module that microgpt.py
// uses: the Mersenne Twister MT19937 and the same recipes on top of it. The integers are exact;
// gauss() uses Math.cos/sin/log, a bit off glibc's for a few arguments (6 of the 4,224 weights).
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

// =============================================================================================
// The entry. No flags: main(), so what a reader reads is what runs. Any flag: tools/cli.ts, through
// a dynamic import of a literal path (it needs no permission, and is never loaded without flags).
// No top-level await: tools/cli.ts imports this module back and would wait for it forever.

if (import.meta.main) {
  if (Deno.args.length === 0) runMain();
  else import("./tools/cli.ts").then((cli) => cli.main(Deno.args), noTools).then(Deno.exit);
}

/** main(), with a failure to write (a closed pipe, a full disk) told in one line, not a trace. */
function runMain(): void {
  try {
    main();
  } catch (err) {
    console.error(`error: could not write to stdout (${(err as Error).message})`);
    Deno.exit(1);
  }
}

/** Copied alone, microgpt.ts runs, but has no flags to offer: one line, exit code 2. Any other
 * failure to load the tools is a bug, and is rethrown. */
function noTools(err: unknown): number {
  const { code, message } = err as { code?: string; message?: string };
  if (code !== "ERR_MODULE_NOT_FOUND" || !String(message).includes("/tools/cli.ts")) throw err;
  console.error(
    "error: flags need the tools/ folder that comes with microgpt.ts; " +
      "without it, run microgpt.ts with no flags",
  );
  return 2;
}
