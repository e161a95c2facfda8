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
import bundledInput from "./input.txt" with { type: "text" };

// =============================================================================================
// PART I — THE ALGORITHM
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// Dataset: a list of documents, here one name per line. The model learns what a name looks like
// from thousands of them, and each one is a separate little sequence: it never sees two at once.

/** Splits a text into documents as microgpt.py reads its input file: one per line (Python's
 * text mode ends a line at "\n", "\r\n" or a lone "\r"), stripped, empty lines dropped. */
export function parseDocs(text: string): string[] {
  const docs: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    const doc = pyStrip(line);
    if (doc !== "") docs.push(doc);
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: a network computes with numbers, not letters, so every distinct character gets an
// integer id, in code-point order (as Python's `sorted` orders characters). One more id, BOS,
// marks the edge of a document. It is used at both ends: the model reads BOS to start a name and
// predicts BOS to end one, so a single token serves as "beginning" and "end of sequence".

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
// microgpt.py keeps the children and local gradients in tuples. No op needs more than two, so
// here they are four fixed fields: a node is then one small object, which V8 makes and frees fast
// (a training step makes ~53,000 nodes and drops them all).

/** A scalar in the computation graph: its value, its gradient, its children. */
export class Value {
  /** The scalar computed in the forward pass. */
  data: number;
  /** d(loss)/d(this node), filled in by backward(). */
  grad = 0;
  /** The first child (null for a leaf: a parameter or a constant input). */
  readonly a: Value | null;
  /** The second child, or null. A number operand is not a child: nobody needs its gradient. */
  readonly b: Value | null;
  /** d(this)/d(a), the local gradient towards the first child. */
  readonly da: number;
  /** d(this)/d(b), the local gradient towards the second child. */
  readonly db: number;
  /** The mark of the last backward() walk that reached this node. */
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

  // The rest are built from the ops above exactly as microgpt.py builds them, because the shape
  // of the graph decides the order in which gradients are summed, and so their last bits.

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
    // each grad is summed, and so its last bits. Recursion would overflow the call stack on a
    // deep graph (microgpt.py dies of RecursionError at 4 layers of width 64), so an explicit
    // stack stands in for it: the node on top enters its first child not yet visited, and when
    // none is left it is done. Each walk marks with its own fresh object, so walks over
    // different graphs never disturb each other. Leaves (no children) need no place in the order.
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
// in one object so that the command line (and the tests) can change them. The parameters are the
// knowledge of the model, random at first: each matrix is a list of rows of Values, named after
// GPT-2 as microgpt.py names them: wte (token embeddings), wpe (position embeddings), per layer
// the attention projections attn_wq/wk/wv/wo and the MLP's mlp_fc1/fc2, and lm_head, which turns
// the final vector back into one score (logit) per token.

/** Every setting of a run. */
export interface Config {
  /** Width of the network: the size of the vector that stands for a token at a position. */
  nEmbd: number;
  /** Attention heads; each looks at nEmbd / nHead of the width. */
  nHead: number;
  /** Depth: transformer blocks stacked one after the other. */
  nLayer: number;
  /** Context length: the most tokens the model ever sees at once. */
  blockSize: number;
  /** Training steps, one document each. */
  numSteps: number;
  /** Adam's peak learning rate; it decays linearly to 0 over the steps. */
  learningRate: number;
  /** Adam's decay rate of the first moment (the running mean of the gradient). */
  beta1: number;
  /** Adam's decay rate of the second moment (the running mean of the squared gradient). */
  beta2: number;
  /** Keeps Adam's denominator above zero. */
  epsAdam: number;
  /** Standard deviation of the Gaussian that draws every initial weight. */
  initStd: number;
  /** Sampling temperature: below 1 sharpens the distribution, above 1 flattens it. */
  temperature: number;
  /** How many documents to invent after training. */
  numSamples: number;
  /** Seed of the random number generator, as Python's `random.seed(seed)`. */
  seed: bigint;
}

/** microgpt.py's settings. */
export const DEFAULTS: Readonly<Config> = Object.freeze({
  nEmbd: 16,
  nHead: 4,
  nLayer: 1,
  blockSize: 16,
  numSteps: 1000,
  learningRate: 0.01,
  beta1: 0.85,
  beta2: 0.99,
  epsAdam: 1e-8,
  initStd: 0.08,
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

/** Names and shapes (rows × columns) of the weight matrices, in microgpt.py's order. */
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

/** Makes a model whose weights are `next()`, called in microgpt.py's order: matrix by matrix,
 * row by row. */
export function buildModel(cfg: Config, vocabSize: number, next: () => number): Model {
  const stateDict: Record<string, Value[][]> = {};
  const params: Value[] = [];
  for (const [name, nout, nin] of matrixShapes(cfg, vocabSize)) {
    const mat: Value[][] = [];
    for (let r = 0; r < nout; r++) {
      const row: Value[] = [];
      for (let c = 0; c < nin; c++) row.push(new Value(next()));
      mat.push(row);
      params.push(...row);
    }
    stateDict[name] = mat;
  }
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

/** Matrix × vector: output i is the dot product of row i of `w` with `x`. */
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

/** Rescales x to root-mean-square 1. Unlike LayerNorm it does not subtract the mean, and like
 * microgpt.py it has no learned gain: the next linear layer can scale its inputs anyway. */
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
 * needed — and it is why sampling does not recompute earlier positions. */
export function gpt(
  model: Model,
  tokenId: number,
  posId: number,
  keys: KVCache,
  values: KVCache,
  observe?: AttentionObserver,
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
      const hs = h * headDim;
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
    x = x.map((a, i) => a.add(xResidual[i])); // residual: the block adds to x, never replaces it
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

/** Adam, the optimizer, and its two buffers: one pair of running averages per parameter. */
export class Adam {
  /** First moment: a running mean of each parameter's gradient (momentum). */
  readonly m: Float64Array;
  /** Second moment: a running mean of each squared gradient (its typical size). */
  readonly v: Float64Array;
  /** The learning rate, its decay over numSteps, the betas and eps come from here. */
  readonly config: Config;

  /** Zeroed moments for `n` parameters. */
  constructor(n: number, config: Config) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
    this.config = config;
  }

  /** Moves every parameter against its gradient at training step `step` (0-based), then zeroes
   * the gradient for the next step. */
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
      p.grad = 0;
    }
  }
}

/** The training loop: steps `from` … numSteps−1, one document each. Returns the steps done. */
export function train(
  model: Model,
  adam: Adam,
  docs: string[],
  tok: Tokenizer,
  onStep: StepHook,
  from = 0,
): number {
  const { numSteps, blockSize } = model.config;
  for (let step = from; step < numSteps; step++) {
    // Take one document (in the shuffled order, starting over after the last), tokenize it and
    // surround it with BOS on both sides.
    const tokens = tok.encode(docs[step % docs.length], blockSize);
    // Forward the tokens through the model, building the graph all the way to the loss.
    const loss = forwardLoss(model, tokens);
    // Backward the loss: the gradient of every parameter.
    loss.backward();
    // Adam moves the parameters, with a learning rate that decays linearly to 0.
    adam.update(model.params, step);
    if (onStep(step, loss.data) === false) return step + 1;
  }
  return numSteps;
}

// ---------------------------------------------------------------------------------------------
// Inference: start from BOS, and at each position draw the next token from the model's
// distribution until it draws BOS (the end) or the context is full. The temperature divides the
// logits first: below 1 it sharpens the distribution towards the likeliest tokens (safer, more
// repetitive names), above 1 it flattens it (more inventive, more misspelled). Temperature 0 is
// the limit of that sharpening: always the likeliest token, and no random draw at all.

/** Invents one document with the model. It starts with `prefix`, whose tokens are fed after BOS
 * without sampling (they only fill the KV cache). */
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
    const { onAttention } = watch;
    const observe: AttentionObserver | undefined = onAttention &&
      ((li, h, w) => onAttention(posId, li, h, w));
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

/** The sampling loop: invents `numSamples` documents, one after the other from the same random
 * stream; `watchFor(i)` may put eyes on sample i. */
export function generate(
  model: Model,
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

// =============================================================================================
// The algorithm ends here. What follows are the tools around it (Part II: the command line,
// saving and loading, the instruments, the run) and an appendix of Python compatibility (the
// random number generator, str.strip, %.4f) that makes every printed number microgpt.py's.
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

/** Sees the attention weights of one head at one position (their sum is 1); for pictures. */
export type AttentionObserver = (layer: number, head: number, weights: number[]) => void;

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
  /** About how many bytes one training step holds at its peak, for documents of `tokens`
   * positions: what decides whether a shape fits in memory. */
  stepBytes(config: Config, vocabSize: number, tokens: number): number;
}

/** Bytes per graph node: a Value and its boxed numbers, measured with Deno.memoryUsage(). */
const BYTES_PER_NODE = 100;

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
  stepBytes: (config, vocabSize, tokens) =>
    nodesPerStep(config, vocabSize, tokens) * BYTES_PER_NODE,
};

/** Number of weights of a shape. */
export function numParams(cfg: Config, vocabSize: number): number {
  let n = 0;
  for (const [, nout, nin] of matrixShapes(cfg, vocabSize)) n += nout * nin;
  return n;
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
// bits, so saved weights round-trip exactly.

const MODEL_FORMAT = "microgpt.ts model";
const MODEL_VERSION = 1;

/** A saved model: its shape, vocabulary and weights. */
export interface SavedModel {
  /** The shape from the file; the other settings from the caller's config. */
  config: Config;
  /** The vocabulary from the file. */
  tok: Tokenizer;
  /** Every weight, flat in state_dict order. */
  weights: Float64Array;
}

/** A model as JSON text. `weights` are flat, in state_dict order. */
export function modelToJSON(cfg: Config, tok: Tokenizer, weights: Float64Array): string {
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
  const saved = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    n_embd: cfg.nEmbd,
    n_head: cfg.nHead,
    n_layer: cfg.nLayer,
    block_size: cfg.blockSize,
    vocab: tok.chars,
    state_dict: stateDict,
  };
  return JSON.stringify(saved) + "\n";
}

/** Reads a saved model. Everything is checked before use; a file that does not fit throws an
 * Error naming what is wrong. The shape comes from the file, the other settings from `cfg`. */
export function modelFromJSON(text: string, cfg: Config): SavedModel {
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message}); is the file truncated?`);
  }
  if (!isRecord(saved) || saved.format !== MODEL_FORMAT) {
    throw new Error(`not a saved microgpt.ts model (no "format": "${MODEL_FORMAT}")`);
  }
  if (saved.version !== MODEL_VERSION) {
    throw new Error(`format version ${saved.version} is not supported (only ${MODEL_VERSION})`);
  }
  const shape = (key: string): number => {
    const n = saved[key];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
      throw new Error(`"${key}" must be an integer >= 1, not ${JSON.stringify(n)}`);
    }
    return n;
  };
  const config: Config = {
    ...cfg,
    nEmbd: shape("n_embd"),
    nHead: shape("n_head"),
    nLayer: shape("n_layer"),
    blockSize: shape("block_size"),
  };
  if (config.nEmbd % config.nHead !== 0) {
    throw new Error(`n_embd ${config.nEmbd} is not divisible by n_head ${config.nHead}`);
  }
  const vocab = saved.vocab;
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new Error(`"vocab" must be a non-empty list of characters`);
  }
  for (const ch of vocab) {
    if (typeof ch !== "string" || [...ch].length !== 1) {
      throw new Error(`"vocab" entry ${JSON.stringify(ch)} is not a single character`);
    }
  }
  if (new Set(vocab).size !== vocab.length) throw new Error(`"vocab" repeats a character`);
  const tok = new Tokenizer([], vocab as string[]);

  const sd = saved.state_dict;
  if (!isRecord(sd)) throw new Error(`"state_dict" is missing`);
  const shapes = matrixShapes(config, tok.vocabSize);
  const expected = new Set(shapes.map(([name]) => name));
  for (const name of Object.keys(sd)) {
    if (!expected.has(name)) throw new Error(`state_dict has an unexpected matrix "${name}"`);
  }
  const weights = new Float64Array(numParams(config, tok.vocabSize));
  let next = 0;
  for (const [name, nout, nin] of shapes) {
    const mat = sd[name];
    if (!Array.isArray(mat)) throw new Error(`state_dict lacks the matrix "${name}"`);
    if (mat.length !== nout) {
      throw new Error(`${name} has ${mat.length} rows, expected ${nout}`);
    }
    mat.forEach((row: unknown, r) => {
      if (!Array.isArray(row) || row.length !== nin) {
        throw new Error(`${name} row ${r} does not have ${nin} numbers`);
      }
      row.forEach((w: unknown, c) => {
        if (typeof w !== "number" || !Number.isFinite(w)) {
          throw new Error(`${name}[${r}][${c}] is ${JSON.stringify(w)}, not a finite number`);
        }
        weights[next++] = w;
      });
    });
  }
  return { config, tok, weights };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

// ---------------------------------------------------------------------------------------------
// The command line. Each of microgpt.py's constants is a flag. Every mistake gets one line on
// stderr and an exit code — 2 for a wrong command line, 1 for anything else — never a stack trace.

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

/** The text of `--help`, for the script `name`. */
export function usage(name: string): string {
  return `Usage: deno run [--allow-read] [--allow-write] ${name} [options]

Trains a tiny GPT on a list of documents (one per line) and invents new ones. For the same data,
seed and settings it prints exactly what Karpathy's microgpt.py prints.

Options (default in brackets):
  --input PATH        training text, one document per line; needs --allow-read
                      [the bundled input.txt: 8,422 names]
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
  --explain           before each character of the first sample, show the 5 likeliest
                      candidates at the temperature and at temperature 1, marking the one drawn
  --save PATH         after training, write the model as JSON; needs --allow-read --allow-write
  --load PATH         start from a saved model instead of random weights; needs --allow-read.
                      Shape and vocabulary come from the file. Training continues from its
                      weights with fresh Adam moments; --steps 0 only samples, and with the
                      seed and text of the run that saved it, prints that run's samples again.
  -h, --help          show this help and exit

${COST_NOTE}`;
}

const COST_NOTE =
  `Cost: microgpt.ts builds a graph of about T*L*(24*E^2 + 2*T*E) + 2*T*V*E scalar nodes per
training step (T = tokens in the document, at most the block size; L layers, E = n_embd, V = vocab
size) at about ${BYTES_PER_NODE} bytes each; microgpt_fast.ts computes the same numbers on typed
arrays with flat memory. Shapes whose step would not fit in memory are refused.
`;

/** What the command line asks for. */
export interface Options {
  /** The run's settings: the defaults, overridden by the flags. */
  cfg: Config;
  /** Training text to read, or undefined for the bundled input.txt. */
  input?: string;
  /** Where to save the trained model. */
  save?: string;
  /** A saved model to start from. */
  load?: string;
  /** The shape flags given explicitly (they must agree with a loaded model). */
  shapeFlags: string[];
  /** Text every sample starts with. */
  prefix: string;
  /** Show the first sample's candidates at every draw. */
  explain: boolean;
  /** Print the usage and exit. */
  help: boolean;
}

const SHAPE_FLAGS = {
  "n-embd": "nEmbd",
  "n-head": "nHead",
  "n-layer": "nLayer",
  "block-size": "blockSize",
} as const;

/** Parses the arguments (after the script name); throws a CliError with exit code 2. */
export function parseCommandLine(args: string[]): Options {
  const flag = { type: "string" } as const;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        input: flag,
        seed: flag,
        steps: flag,
        "n-embd": flag,
        "n-head": flag,
        "n-layer": flag,
        "block-size": flag,
        lr: flag,
        temperature: flag,
        samples: flag,
        save: flag,
        load: flag,
        prefix: flag,
        explain: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw usageError(describeParseError(err));
  }
  const cfg: Config = { ...DEFAULTS };
  if (values.seed !== undefined) {
    if (!/^[0-9]+$/.test(values.seed)) {
      throw usageError(`--seed must be a whole number >= 0, not ${JSON.stringify(values.seed)}`);
    }
    cfg.seed = BigInt(values.seed); // any size, as Python's seeds
  }
  if (values.steps !== undefined) cfg.numSteps = integer("steps", values.steps, 0);
  if (values.samples !== undefined) cfg.numSamples = integer("samples", values.samples, 0);
  const shapeFlags: string[] = [];
  for (const [name, key] of Object.entries(SHAPE_FLAGS)) {
    const text = values[name as keyof typeof SHAPE_FLAGS];
    if (text === undefined) continue;
    cfg[key] = integer(name, text, 1);
    shapeFlags.push(name);
  }
  if (cfg.nEmbd % cfg.nHead !== 0) {
    throw usageError(`--n-embd ${cfg.nEmbd} must be divisible by --n-head ${cfg.nHead}`);
  }
  if (values.lr !== undefined) cfg.learningRate = real("lr", values.lr, false);
  if (values.temperature !== undefined) {
    cfg.temperature = real("temperature", values.temperature, true);
  }
  return {
    cfg,
    input: values.input,
    save: values.save,
    load: values.load,
    shapeFlags,
    prefix: values.prefix ?? "",
    explain: values.explain ?? false,
    help: values.help ?? false,
  };
}

/** One line for what parseArgs rejected (its own messages can span lines). */
function describeParseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  const option = message.match(/'(-[^' ]*)/)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${option} (see --help)`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return `unexpected argument ${
      message.match(/'([^']*)'/)?.[1]
    }: every setting is a flag (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (message.includes("ambiguous")) {
      return `${option} needs a value; write ${option}=VALUE for one that starts with "-"`;
    }
    if (message.includes("does not take an argument")) return `${option} takes no value`;
    return `${option} needs a value`;
  }
  return message.split("\n")[0];
}

/** A whole-number flag value >= min. */
function integer(name: string, text: string, min: number): number {
  if (!/^[0-9]+$/.test(text)) {
    throw usageError(`--${name} must be a whole number >= ${min}, not ${JSON.stringify(text)}`);
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
    throw usageError(`--${name} must be a finite number, not ${JSON.stringify(text)}`);
  }
  if (zeroOk ? n < 0 : n <= 0) {
    throw usageError(`--${name} must be ${zeroOk ? ">=" : ">"} 0, not ${text}`);
  }
  return n;
}

/** A file's text, decoded as strict UTF-8 (as Python's open() reads it). */
function readText(path: string, flag: string): string {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new CliError(`reading ${path} (${flag}) needs read permission: add --allow-read`, 1);
  }
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (err) {
    throw fileError("read", path, err);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CliError(`${path} is not UTF-8 text`, 1);
  }
}

/** One line for a failed file operation. */
function fileError(action: string, path: string, err: unknown): CliError {
  if (err instanceof Deno.errors.NotFound) {
    return new CliError(`cannot ${action} ${path}: no such file or directory`, 1);
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new CliError(`cannot ${action} ${path}: it is a directory`, 1);
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new CliError(`cannot ${action} ${path}: permission denied`, 1);
  }
  return new CliError(`cannot ${action} ${path}: ${(err as Error).message}`, 1);
}

/** The temporary file that `--save` writes before renaming it into place. */
function tmpPath(path: string): string {
  return `${path}.${Deno.pid}.tmp`;
}

/** Checks, before any training, that `path` can be saved: permission, an existing directory,
 * not a directory itself. */
function checkSavePath(path: string): void {
  // Renaming the temporary file into place needs read as well as write permission.
  for (const name of ["read", "write"] as const) {
    for (const p of [path, tmpPath(path)]) {
      if (Deno.permissions.querySync({ name, path: p }).state !== "granted") {
        throw new CliError(
          `saving ${path} (--save) needs read and write permission: add --allow-read --allow-write`,
          1,
        );
      }
    }
  }
  try {
    Deno.openSync(path, { write: true }).close(); // an existing file is left as it is
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fileError("save to", path, err);
  }
  try {
    Deno.writeTextFileSync(tmpPath(path), "");
    Deno.removeSync(tmpPath(path));
  } catch (err) {
    throw fileError("save to", path, err);
  }
}

/** Writes `text` to a temporary file beside `path`, then renames it into place, so that an
 * interrupted run never leaves half a file behind. */
function saveText(path: string, text: string): void {
  try {
    Deno.writeTextFileSync(tmpPath(path), text);
    Deno.renameSync(tmpPath(path), path);
  } catch (err) {
    try {
      Deno.removeSync(tmpPath(path));
    } catch {
      // nothing was written
    }
    throw fileError("save to", path, err);
  }
}

const MAX_PARAMS = 10_000_000;
const MAX_STEP_BYTES = 3e9;

/** Refuses a shape too large for this engine on one machine, instead of running out of memory
 * mid-way. */
function checkSize(engine: Engine, cfg: Config, vocabSize: number, docs: string[]): void {
  const params = numParams(cfg, vocabSize);
  if (params > MAX_PARAMS) {
    throw usageError(
      `this shape has ${params} parameters; ${engine.name} handles up to ${MAX_PARAMS}: ` +
        `choose a smaller --n-embd, --n-layer or --block-size`,
    );
  }
  let longest = 0;
  for (const doc of docs) longest = Math.max(longest, doc.length);
  const bytes = engine.stepBytes(cfg, vocabSize, Math.min(cfg.blockSize, longest + 1));
  if (cfg.numSteps > 0 && bytes > MAX_STEP_BYTES) {
    throw usageError(
      `a training step of ${engine.name} would need about ${Math.round(bytes / 1e9)} GB; ` +
        `the limit is ${MAX_STEP_BYTES / 1e9} GB: choose a smaller --n-embd, --n-layer or ` +
        `--block-size` + (engine === graphEngine ? `, or run microgpt_fast.ts` : ""),
    );
  }
}

/** Reads a --load file and checks that it fits the command line and, if it is to be trained,
 * the training text. */
function loadFor(path: string, opts: Options, docs: string[]): SavedModel {
  let loaded;
  try {
    loaded = modelFromJSON(readText(path, "--load"), opts.cfg);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot load ${path}: ${(err as Error).message}`, 1);
  }
  for (const name of opts.shapeFlags) {
    const key = SHAPE_FLAGS[name as keyof typeof SHAPE_FLAGS];
    const has = loaded.config[key];
    if (has !== opts.cfg[key]) {
      throw new CliError(
        `--${name} ${opts.cfg[key]} does not match ${path}, which has ${has}; ` +
          `leave the shape flags out with --load`,
        1,
      );
    }
  }
  if (opts.cfg.numSteps > 0) {
    for (const doc of docs) {
      for (const ch of doc) {
        if (loaded.tok.id(ch) !== undefined) continue;
        throw new CliError(
          `cannot train ${path} on this text: its vocabulary lacks ${JSON.stringify(ch)}`,
          1,
        );
      }
    }
  }
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Instruments for the learner: they show what the article describes in words. None of them
// touches the random stream, so the samples stay what microgpt.py would draw.

/** Refuses a prefix the model cannot read, or one that leaves no position to sample. */
function checkPrefix(prefix: string, tok: Tokenizer, blockSize: number): void {
  for (const ch of prefix) {
    if (tok.id(ch) === undefined) {
      throw usageError(`--prefix character ${JSON.stringify(ch)} is not in the vocabulary`);
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

const SPARKS = "▁▂▃▄▅▆▇█";

/** Two lines for stderr: the mean loss over the first and last 50 steps, and a sparkline of the
 * mean loss over 20 equal windows of the run. */
export function lossSummary(losses: number[]): string {
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
    `loss over ${windows} windows of the run: ${line} (${hi.toFixed(2)} high, ${
      lo.toFixed(2)
    } low)`;
}

// ---------------------------------------------------------------------------------------------
// The run: microgpt.py's script, with the tools around it.

const encoder = new TextEncoder();

/** Writes all of `text` to stdout (writeSync may write only part of it). */
function write(text: string): void {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
}

/** microgpt.py's step line; "\r" rewrites it in place in a terminal, so the loss visibly falls. */
export function stepLine(step: number, numSteps: number, loss: number): string {
  return `step ${padInt(step + 1, 4)} / ${padInt(numSteps, 4)} | loss ${formatFixed4(loss)}\r`;
}

/** Trains and samples as the options say with `engine`, printing what microgpt.py prints. */
export function run(opts: Options, engine: Engine = graphEngine): void {
  // Everything that can fail is checked before the first line is printed.
  const text = opts.input === undefined ? bundledInput : readText(opts.input, "--input");
  const docs = parseDocs(text);
  if (docs.length === 0) {
    throw new CliError(`${opts.input} has no documents: every line is empty or whitespace`, 1);
  }
  const loaded = opts.load === undefined ? undefined : loadFor(opts.load, opts, docs);
  if (opts.save !== undefined) checkSavePath(opts.save);
  const tok = loaded?.tok ?? new Tokenizer(docs);
  const cfg = loaded?.config ?? opts.cfg; // a loaded model brings its own shape
  checkSize(engine, cfg, tok.vocabSize, docs);
  checkPrefix(opts.prefix, tok, cfg.blockSize);

  const rng = new Random(cfg.seed);
  rng.shuffle(docs);
  write(`num docs: ${docs.length}\n`);
  write(`vocab size: ${tok.vocabSize}\n`);
  // A loaded model's weights replace the draws, but the draws are made anyway, so the generator
  // stands where it would after a fresh init: the samples depend on the weights alone.
  let weights = initWeights(cfg, tok.vocabSize, rng);
  if (loaded !== undefined) weights = loaded.weights;
  write(`num params: ${weights.length}\n`);

  const model = engine.create(cfg, tok.vocabSize, weights);
  const losses: number[] = [];
  model.train(docs, tok, (step, loss) => {
    losses.push(loss);
    if (!Number.isFinite(loss)) {
      throw new CliError(
        `the loss became ${loss} at step ${step + 1}; try a lower --lr (it is ${cfg.learningRate})`,
        1,
      );
    }
    write(stepLine(step, cfg.numSteps, loss));
  }, 0);
  if (opts.save !== undefined) saveText(opts.save, modelToJSON(cfg, tok, model.weights()));

  write("\n--- inference (new, hallucinated names) ---\n");
  model.generate(tok, rng, opts.prefix, (i, name) => {
    write(`sample ${padInt(i + 1, 2)}: ${name}\n`);
  }, (i) => {
    if (!opts.explain || i !== 0) return {};
    write(explainHeader(cfg.temperature));
    return { onDraw: (draw: Draw) => write(explainLine(draw, tok)) };
  });
  // On stderr, so that stdout stays exactly microgpt.py's.
  if (losses.length > 0) console.error(lossSummary(losses));
}

/** The command-line entry point for `engine`: returns the exit code. */
export function main(args: string[], engine: Engine = graphEngine): number {
  try {
    const opts = parseCommandLine(args);
    if (opts.help) {
      write(usage(engine.name));
      return 0;
    }
    run(opts, engine);
    return 0;
  } catch (err) {
    const exitCode = err instanceof CliError ? err.exitCode : 1;
    console.error(`error: ${(err as Error)?.message ?? String(err)}`.split("\n")[0]);
    return exitCode;
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

/** A seeded random number generator that reproduces CPython's `random.Random`. */
export class Random {
  #mt = new Uint32Array(MT_N);
  #index = MT_N;
  #gaussNext: number | null = null;

  /** Seeds as Python's `random.seed(seed)` does for a non-negative integer. */
  constructor(seed: number | bigint) {
    let n = BigInt(seed);
    if (n < 0n) n = -n; // Python seeds with the absolute value
    // The seed is split into 32-bit words, least significant first; 0 is one word.
    const key: number[] = [];
    do {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    } while (n > 0n);
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

if (import.meta.main) Deno.exit(main(Deno.args));
