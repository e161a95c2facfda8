/**
 * microgpt.ts — the most atomic way to train and sample a GPT, in one dependency-free Deno file.
 *
 * A line-for-line port of Andrej Karpathy's microgpt.py: a character-level GPT (token and
 * position embeddings, RMSNorm, multi-head causal attention, a ReLU MLP, residual connections)
 * whose every scalar is a node of an autograd graph, trained with Adam on a list of names and
 * then sampled. For the same data, seed and settings it prints exactly what microgpt.py prints,
 * so every number can be checked against the Python original.
 *
 * Read it top to bottom: dataset, tokenizer, autograd, parameters, model, training, inference.
 * The random number generator, a copy of Python's, sits in an appendix at the end.
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

// ---------------------------------------------------------------------------------------------
// Dataset: a list of documents, here one name per line. The model learns what a name looks like
// from thousands of them, and each one is a separate little sequence: it never sees two at once.

/** Characters Python's `str.strip()` removes: everything for which `str.isspace()` is true. */
const PY_WHITESPACE = new Set(
  "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" +
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
);

/** Strips leading and trailing whitespace exactly as Python's `str.strip()` does.
 * (JavaScript's `trim()` disagrees on a few characters: U+FEFF, U+0085, U+001C–U+001F.) */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_WHITESPACE.has(s[start])) start++;
  while (end > start && PY_WHITESPACE.has(s[end - 1])) end--;
  return s.slice(start, end);
}

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

  /** A document's tokens with BOS on both sides: BOS is the cue to start and the signal to stop. */
  encode(doc: string): number[] {
    const tokens = [this.bos];
    for (const ch of doc) {
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
// microgpt.py makes every node a Python object. One training step makes about 56,000 of them and
// throws them all away, so here the nodes live on a "tape": six typed-array columns indexed by the
// node's number (data, grad, two children, two local gradients; no op needs more than two). A
// Value is a thin handle to its row. Making a node writes a row; forgetting a step's graph rewinds
// the tape to just after the parameters, which are its first rows (so the tape holds one model at
// a time). Same nodes, same arithmetic, same order as microgpt.py: the columns only spare the
// garbage collector the work of freeing 56,000 objects per step.

const NO_CHILD = -1;
let tapeSize = 0;
let tapeCap = 1 << 16;
let nodeData = new Float64Array(tapeCap);
let nodeGrad = new Float64Array(tapeCap);
let childA = new Int32Array(tapeCap);
let childB = new Int32Array(tapeCap);
let localA = new Float64Array(tapeCap);
let localB = new Float64Array(tapeCap);
// Scratch space of backward(): the topological order, the depth-first stack, visit marks.
let topo = new Int32Array(tapeCap);
let stackNode = new Int32Array(tapeCap);
let stackNext = new Int32Array(tapeCap);
let visited = new Int32Array(tapeCap);
let visitEpoch = 0;

function growTape(): void {
  tapeCap *= 2;
  const grow64 = (a: Float64Array) => {
    const b = new Float64Array(tapeCap);
    b.set(a);
    return b;
  };
  const grow32 = (a: Int32Array) => {
    const b = new Int32Array(tapeCap);
    b.set(a);
    return b;
  };
  nodeData = grow64(nodeData);
  nodeGrad = grow64(nodeGrad);
  localA = grow64(localA);
  localB = grow64(localB);
  childA = grow32(childA);
  childB = grow32(childB);
  visited = grow32(visited);
  topo = new Int32Array(tapeCap);
  stackNode = new Int32Array(tapeCap);
  stackNext = new Int32Array(tapeCap);
}

/** Writes a node on the tape: its value, and for each child the local gradient d(node)/d(child). */
function node(data: number, a: number, da: number, b: number, db: number): Value {
  if (tapeSize === tapeCap) growTape();
  const id = tapeSize++;
  nodeData[id] = data;
  nodeGrad[id] = 0;
  childA[id] = a;
  localA[id] = da;
  childB[id] = b;
  localB[id] = db;
  return new Value(id);
}

/** Number of nodes on the tape: mark it after making the parameters, rewind to it with
 * {@linkcode rewindTape}. */
export function tapeLength(): number {
  return tapeSize;
}

/** Forgets every node made after the first `length` ones; their handles must not be used again. */
export function rewindTape(length: number): void {
  tapeSize = length;
}

/** A scalar in the computation graph: its value, its gradient, its children. */
export class Value {
  /** The node's row on the tape. */
  readonly id: number;

  /** A handle to node `id`; make new nodes with {@linkcode Value.leaf} or the ops. */
  constructor(id: number) {
    this.id = id;
  }

  /** A node with no children: a parameter or a constant input. */
  static leaf(data: number): Value {
    return node(data, NO_CHILD, 0, NO_CHILD, 0);
  }

  /** The scalar computed in the forward pass. */
  get data(): number {
    return nodeData[this.id];
  }
  set data(x: number) {
    nodeData[this.id] = x;
  }

  /** d(loss)/d(this node), filled in by backward(). */
  get grad(): number {
    return nodeGrad[this.id];
  }
  set grad(g: number) {
    nodeGrad[this.id] = g;
  }

  /** The nodes this one was computed from (a constant operand is not a node). */
  get children(): Value[] {
    const out = [];
    if (childA[this.id] !== NO_CHILD) out.push(new Value(childA[this.id]));
    if (childB[this.id] !== NO_CHILD) out.push(new Value(childB[this.id]));
    return out;
  }

  /** d(this)/d(child) for each child, in the order of `children`. */
  get localGrads(): number[] {
    const out = [];
    if (childA[this.id] !== NO_CHILD) out.push(localA[this.id]);
    if (childB[this.id] !== NO_CHILD) out.push(localB[this.id]);
    return out;
  }

  // Each op states its forward value and its local gradients; backward() does the chaining.
  // microgpt.py wraps a plain-number operand in a childless Value whose gradient nobody reads;
  // here it is simply not a child, which changes no number.

  /** this + other; d/dthis = 1, d/dother = 1. */
  add(other: Value | number): Value {
    const x = nodeData[this.id];
    if (typeof other === "number") {
      return node(x + other, this.id, 1, NO_CHILD, 0);
    }
    return node(x + nodeData[other.id], this.id, 1, other.id, 1);
  }

  /** this × other; d/dthis = other, d/dother = this. */
  mul(other: Value | number): Value {
    const x = nodeData[this.id];
    if (typeof other === "number") {
      return node(x * other, this.id, other, NO_CHILD, 0);
    }
    const y = nodeData[other.id];
    return node(x * y, this.id, y, other.id, x);
  }

  /** this^k for a constant k; d/dthis = k·this^(k−1). */
  pow(k: number): Value {
    const x = nodeData[this.id];
    return node(x ** k, this.id, k * x ** (k - 1), NO_CHILD, 0);
  }

  /** ln(this); d/dthis = 1/this. */
  log(): Value {
    const x = nodeData[this.id];
    return node(Math.log(x), this.id, 1 / x, NO_CHILD, 0);
  }

  /** e^this; d/dthis = e^this. */
  exp(): Value {
    const e = Math.exp(nodeData[this.id]);
    return node(e, this.id, e, NO_CHILD, 0);
  }

  /** max(0, this); d/dthis = 1 where this > 0, else 0. */
  relu(): Value {
    const x = nodeData[this.id];
    return node(x > 0 ? x : 0, this.id, x > 0 ? 1 : 0, NO_CHILD, 0);
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
    const n = topologicalOrder(this.id);
    nodeGrad[this.id] = 1;
    // Walk from the loss down: by the time a node is reached, every node that uses it (all later
    // in the order) has already added its share, so its grad is complete and can be passed on.
    for (let i = n - 1; i >= 0; i--) {
      const v = topo[i];
      const g = nodeGrad[v];
      nodeGrad[childA[v]] += localA[v] * g;
      const b = childB[v];
      if (b !== NO_CHILD) nodeGrad[b] += localB[v] * g;
    }
  }
}

/** Orders the nodes below `root` children-first, into `topo`, and returns how many there are.
 *
 * The order is exactly that of microgpt.py's recursive build_topo (a depth-first walk that visits
 * the children in order and lists a node after them), so every grad is summed in the same order.
 * An explicit stack stands in for the recursion, so a deep graph cannot overflow the call stack.
 * Leaves are left out: they have no children to pass a gradient to. */
function topologicalOrder(root: number): number {
  if (childA[root] === NO_CHILD) return 0;
  const epoch = ++visitEpoch;
  let n = 0;
  let top = 0;
  stackNode[0] = root;
  stackNext[0] = 0;
  visited[root] = epoch;
  while (top >= 0) {
    // Resume the node on top where its walk stopped: 0 = before child a, 1 = before child b.
    const v = stackNode[top];
    const next = stackNext[top];
    if (next === 0) {
      const a = childA[v];
      if (visited[a] !== epoch && childA[a] !== NO_CHILD) {
        visited[a] = epoch;
        stackNext[top] = 1;
        top++;
        stackNode[top] = a;
        stackNext[top] = 0;
        continue;
      }
    }
    if (next <= 1) {
      const b = childB[v];
      if (b !== NO_CHILD && visited[b] !== epoch && childA[b] !== NO_CHILD) {
        visited[b] = epoch;
        stackNext[top] = 2;
        top++;
        stackNode[top] = b;
        stackNext[top] = 0;
        continue;
      }
    }
    topo[n++] = v; // both children done
    top--;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Hyperparameters: the model's shape and the training settings. microgpt.py keeps them as
// constants; here they travel in one object so that the command line (and the tests) can change
// them. The defaults are microgpt.py's.

/** Every setting of a run. */
export interface Config {
  /** Embedding width: the size of the vector that stands for one token at one position. */
  nEmbd: number;
  /** Attention heads; each looks at nEmbd / nHead of the width. */
  nHead: number;
  /** Transformer blocks stacked one after the other. */
  nLayer: number;
  /** Context length: the most tokens the model ever sees at once. */
  blockSize: number;
  /** Training steps, one document each. */
  numSteps: number;
  /** Adam's peak learning rate; it decays linearly to 0 over the run. */
  learningRate: number;
  /** Adam's decay rate of the first moment (the running mean of the gradient). */
  beta1: number;
  /** Adam's decay rate of the second moment (the running mean of the squared gradient). */
  beta2: number;
  /** Added to Adam's denominator so it never divides by zero. */
  epsAdam: number;
  /** Standard deviation of the Gaussian that initializes every weight. */
  initStd: number;
  /** Sampling temperature: below 1 sharpens the distribution, above 1 flattens it. */
  temperature: number;
  /** How many names to invent after training. */
  numSamples: number;
  /** Seed of the random number generator, as in Python's `random.seed(seed)`. */
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
  seed: 42n,
});

// ---------------------------------------------------------------------------------------------
// Parameters: the knowledge of the model, random at first. Each matrix is a list of rows of
// Values. Names follow GPT-2 as microgpt.py does: wte (token embeddings), wpe (position
// embeddings), per layer the attention projections attn_wq/wk/wv/wo and the MLP's mlp_fc1/fc2,
// and lm_head, which turns the final vector back into one score (logit) per token.

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
  /** Tape length just after the parameters: each forward pass starts from here. */
  tapeMark: number;
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

/** Makes a model whose weights come from `weight(name, row, col)`, in microgpt.py's order.
 * The tape holds one model at a time: building a model forgets the previous one. */
export function buildModel(
  cfg: Config,
  vocabSize: number,
  weight: (name: string, row: number, col: number) => number,
): Model {
  // The parameters must be the first rows of the tape: each step rewinds to just after them.
  rewindTape(0);
  const stateDict: Record<string, Value[][]> = {};
  const params: Value[] = [];
  for (const [name, nout, nin] of matrixShapes(cfg, vocabSize)) {
    const mat: Value[][] = [];
    for (let r = 0; r < nout; r++) {
      const row: Value[] = [];
      for (let c = 0; c < nin; c++) row.push(Value.leaf(weight(name, r, c)));
      mat.push(row);
      params.push(...row);
    }
    stateDict[name] = mat;
  }
  return { config: cfg, vocabSize, stateDict, params, tapeMark: tapeLength() };
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
        for (let j = 1; j < headDim; j++) {
          s = s.add(q[hs + j].mul(ks[t][hs + j]));
        }
        attnLogits.push(s.div(headDim ** 0.5));
      }
      const attnWeights = softmax(attnLogits);
      for (let j = 0; j < headDim; j++) {
        let s = attnWeights[0].mul(vs[0][hs + j]);
        for (let t = 1; t < vs.length; t++) {
          s = s.add(attnWeights[t].mul(vs[t][hs + j]));
        }
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

/** Adam's running averages, one pair per parameter. */
export class Adam {
  /** First moment: a running mean of each parameter's gradient (momentum). */
  readonly m: Float64Array;
  /** Second moment: a running mean of each squared gradient (its typical size). */
  readonly v: Float64Array;

  /** Zeroed moments for `n` parameters. */
  constructor(n: number) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }

  /** Updates every parameter from its gradient at training step `step` (0-based) of `numSteps`,
   * then zeroes the gradient for the next step. */
  update(params: Value[], cfg: Config, step: number): void {
    const { beta1, beta2, epsAdam } = cfg;
    const lrT = cfg.learningRate * (1 - step / cfg.numSteps); // linear decay to 0
    // The moments start at 0, which biases them low early on; dividing by 1 − β^t undoes that.
    const c1 = 1 - beta1 ** (step + 1);
    const c2 = 1 - beta2 ** (step + 1);
    const { m, v } = this;
    for (let i = 0; i < params.length; i++) {
      const p = params[i].id;
      const g = nodeGrad[p];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g ** 2;
      const mHat = m[i] / c1;
      const vHat = v[i] / c2;
      nodeData[p] -= lrT * mHat / (vHat ** 0.5 + epsAdam);
      nodeGrad[p] = 0;
    }
  }
}

/** The mean loss over one document's positions, as a node of a fresh graph. Position i is
 * trained to predict token i+1 from tokens 0..i; documents longer than blockSize are cut. */
export function forwardLoss(model: Model, tokens: number[]): Value {
  const { nLayer, blockSize } = model.config;
  rewindTape(model.tapeMark); // the previous step's graph is no longer needed
  const n = Math.min(blockSize, tokens.length - 1);
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const losses: Value[] = [];
  for (let posId = 0; posId < n; posId++) {
    const logits = gpt(model, tokens[posId], posId, keys, values);
    const probs = softmax(logits);
    losses.push(probs[tokens[posId + 1]].log().neg());
  }
  return sum(losses).mul(1 / n);
}

/** One training step on one document: forward, backward, Adam. Returns the loss. */
export function trainStep(model: Model, adam: Adam, tokens: number[], step: number): number {
  const loss = forwardLoss(model, tokens);
  loss.backward();
  adam.update(model.params, model.config, step);
  return loss.data;
}

// ---------------------------------------------------------------------------------------------
// Inference: start from BOS, and at each position draw the next token from the model's
// distribution until it draws BOS (the end) or the context is full. The temperature divides the
// logits first: below 1 it sharpens the distribution towards the likeliest tokens (safer, more
// repetitive names), above 1 it flattens it (more inventive, more misspelled). Temperature 0 is
// the limit of that sharpening: always the likeliest token, and no random draw at all.

/** What the model saw and did at one sampling position; see {@linkcode sample}'s `onDraw`. */
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

/** Invents one document with the model. It starts with `prefix`, whose tokens are fed after BOS
 * without sampling (they only fill the KV cache); `onDraw`, if given, sees every draw. */
export function sample(
  model: Model,
  tok: Tokenizer,
  rng: Random,
  temperature: number,
  prefix = "",
  onDraw?: (draw: Draw) => void,
): string {
  const { nLayer, blockSize } = model.config;
  rewindTape(model.tapeMark);
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const forced = tok.encode(prefix).slice(1, -1); // the prefix's tokens, without the BOS ends
  let tokenId = tok.bos;
  let out = "";
  for (let posId = 0; posId < blockSize; posId++) {
    const logits = gpt(model, tokenId, posId, keys, values);
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
    if (onDraw !== undefined) {
      onDraw({ soFar: out, probs, probs1: softmax(logits).map((p) => p.data), drawn: tokenId });
    }
    if (tokenId === tok.bos) break;
    out += tok.chars[tokenId];
  }
  return out;
}

/** The index of the largest number, the first one on ties. */
export function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

// ---------------------------------------------------------------------------------------------
// Saving and loading. A saved model is JSON: a format tag and version, the shape, the vocabulary
// (token ids only mean something together with the characters they stand for) and every matrix
// by its microgpt.py name. JSON writes a float64 in the shortest form that reads back to the same
// bits, so saved weights round-trip exactly.

const MODEL_FORMAT = "microgpt.ts model";
const MODEL_VERSION = 1;

/** A saved model as JSON text. */
export function modelToJSON(model: Model, tok: Tokenizer): string {
  const { nEmbd, nHead, nLayer, blockSize } = model.config;
  const stateDict: Record<string, number[][]> = {};
  for (const [name, mat] of Object.entries(model.stateDict)) {
    stateDict[name] = mat.map((row) => row.map((p) => p.data));
  }
  const saved = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    n_embd: nEmbd,
    n_head: nHead,
    n_layer: nLayer,
    block_size: blockSize,
    vocab: tok.chars,
    state_dict: stateDict,
  };
  return JSON.stringify(saved) + "\n";
}

/** Reads a saved model. Everything is checked before use; a file that does not fit throws an
 * Error naming what is wrong. The shape comes from the file, the other settings from `cfg`. */
export function modelFromJSON(text: string, cfg: Config): { model: Model; tok: Tokenizer } {
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
  const loadedCfg: Config = {
    ...cfg,
    nEmbd: shape("n_embd"),
    nHead: shape("n_head"),
    nLayer: shape("n_layer"),
    blockSize: shape("block_size"),
  };
  if (loadedCfg.nEmbd % loadedCfg.nHead !== 0) {
    throw new Error(`n_embd ${loadedCfg.nEmbd} is not divisible by n_head ${loadedCfg.nHead}`);
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
  const shapes = matrixShapes(loadedCfg, tok.vocabSize);
  const expected = new Set(shapes.map(([name]) => name));
  for (const name of Object.keys(sd)) {
    if (!expected.has(name)) throw new Error(`state_dict has an unexpected matrix "${name}"`);
  }
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
      });
    });
  }
  const weights = sd as Record<string, number[][]>;
  const model = buildModel(loadedCfg, tok.vocabSize, (name, r, c) => weights[name][r][c]);
  return { model, tok };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

// ---------------------------------------------------------------------------------------------
// Printing, byte for byte as microgpt.py prints.

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

const encoder = new TextEncoder();

/** Writes all of `text` to stdout (writeSync may write only part of it). */
function write(text: string): void {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
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

/** The text of `--help`. */
export const USAGE = `Usage: deno run [--allow-read] [--allow-write] microgpt.ts [options]

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

Cost: a training step builds a graph of about T*L*(24*E^2 + 2*T*E) + 2*T*V*E scalar nodes
(T = tokens in the document, at most the block size; L layers, E = n_embd, V = vocab size) at
about 60 bytes each, and its time grows alike. The defaults build ~53,000 nodes per step;
--n-layer 4 --n-embd 64 --block-size 64 builds ~28 million (about 1.5 GB). Shapes beyond 10
million parameters or 200 million nodes per step are refused.
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
const MAX_NODES = 200_000_000;

/** About how many graph nodes a training step builds for a document of `tokens` positions:
 * per position and layer 24·E² for the six matrices and 4·t·E for attention over the t positions
 * so far (2·T·E on average), plus 2·V·E per position for lm_head. */
export function nodesPerStep(cfg: Config, vocabSize: number, tokens: number): number {
  const { nEmbd: e, nLayer: l } = cfg;
  return tokens * l * (24 * e * e + 2 * tokens * e) + 2 * tokens * vocabSize * e;
}

/** Refuses a shape too large for a scalar graph on one machine, instead of running out of
 * memory mid-way (each node costs about 60 bytes). */
function checkSize(cfg: Config, vocabSize: number, docs: string[]): void {
  let params = 0;
  for (const [, nout, nin] of matrixShapes(cfg, vocabSize)) params += nout * nin;
  if (params > MAX_PARAMS) {
    throw usageError(
      `this shape has ${params} parameters; a scalar graph handles up to ${MAX_PARAMS}: ` +
        `choose a smaller --n-embd, --n-layer or --block-size`,
    );
  }
  let longest = 0;
  for (const doc of docs) longest = Math.max(longest, [...doc].length);
  const nodes = nodesPerStep(cfg, vocabSize, Math.min(cfg.blockSize, longest + 1));
  if (cfg.numSteps > 0 && nodes > MAX_NODES) {
    throw usageError(
      `a training step would build about ${Math.round(nodes / 1e6)} million graph nodes ` +
        `(~${Math.round((nodes * 60) / 1e9)} GB); the limit is ${MAX_NODES / 1e6} million: ` +
        `choose a smaller --n-embd, --n-layer or --block-size`,
    );
  }
}

/** Reads a --load file and checks that it fits the command line and, if it is to be trained,
 * the training text. */
function loadFor(path: string, opts: Options, docs: string[]): { model: Model; tok: Tokenizer } {
  let loaded;
  try {
    loaded = modelFromJSON(readText(path, "--load"), opts.cfg);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot load ${path}: ${(err as Error).message}`, 1);
  }
  for (const name of opts.shapeFlags) {
    const key = SHAPE_FLAGS[name as keyof typeof SHAPE_FLAGS];
    const has = loaded.model.config[key];
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
// The run, in microgpt.py's order.

/** Trains and samples as the options say, printing what microgpt.py prints. */
export function run(opts: Options): void {
  // Everything that can fail is checked before the first line is printed.
  const text = opts.input === undefined ? bundledInput : readText(opts.input, "--input");
  const docs = parseDocs(text);
  if (docs.length === 0) {
    throw new CliError(`${opts.input} has no documents: every line is empty or whitespace`, 1);
  }
  const loaded = opts.load === undefined ? undefined : loadFor(opts.load, opts, docs);
  if (opts.save !== undefined) checkSavePath(opts.save);
  const tok = loaded?.tok ?? new Tokenizer(docs);
  const cfg = loaded?.model.config ?? opts.cfg; // a loaded model brings its own shape
  checkSize(cfg, tok.vocabSize, docs);
  checkPrefix(opts.prefix, tok, cfg.blockSize);

  const rng = new Random(opts.cfg.seed);
  rng.shuffle(docs);
  write(`num docs: ${docs.length}\n`);
  write(`vocab size: ${tok.vocabSize}\n`);
  let model: Model;
  if (loaded === undefined) {
    model = initModel(cfg, tok.vocabSize, rng);
  } else {
    model = loaded.model;
    // Draw the initial weights anyway and drop them, so the generator stands where it would
    // after a fresh init: the samples then depend on the weights alone, not on how they came.
    for (let i = 0; i < model.params.length; i++) rng.gauss(0, cfg.initStd);
  }
  write(`num params: ${model.params.length}\n`);

  const adam = new Adam(model.params.length);
  const losses: number[] = [];
  for (let step = 0; step < cfg.numSteps; step++) {
    const tokens = tok.encode(docs[step % docs.length]);
    const loss = trainStep(model, adam, tokens, step);
    losses.push(loss);
    if (!Number.isFinite(loss)) {
      throw new CliError(
        `the loss became ${loss} at step ${step + 1}; try a lower --lr (it is ${cfg.learningRate})`,
        1,
      );
    }
    // "\r" rewrites the line in a terminal, so the loss visibly falls in place.
    write(
      `step ${padInt(step + 1, 4)} / ${padInt(cfg.numSteps, 4)} | loss ${formatFixed4(loss)}\r`,
    );
  }
  if (opts.save !== undefined) saveText(opts.save, modelToJSON(model, tok));

  write("\n--- inference (new, hallucinated names) ---\n");
  for (let i = 0; i < cfg.numSamples; i++) {
    let onDraw;
    if (opts.explain && i === 0) {
      write(explainHeader(cfg.temperature));
      onDraw = (draw: Draw) => write(explainLine(draw, tok));
    }
    const name = sample(model, tok, rng, cfg.temperature, opts.prefix, onDraw);
    write(`sample ${padInt(i + 1, 2)}: ${name}\n`);
  }
  // On stderr, so that stdout stays exactly microgpt.py's.
  if (losses.length > 0) console.error(lossSummary(losses));
}

/** The command-line entry point: returns the exit code. */
export function main(args: string[]): number {
  try {
    const opts = parseCommandLine(args);
    if (opts.help) {
      write(USAGE);
      return 0;
    }
    run(opts);
    return 0;
  } catch (err) {
    const exitCode = err instanceof CliError ? err.exitCode : 1;
    console.error(`error: ${(err as Error)?.message ?? String(err)}`.split("\n")[0]);
    return exitCode;
  }
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
// Appendix: randomness. JavaScript's Math.random cannot be seeded, and to print microgpt.py's
// numbers we need Python's exact stream. This is the part of CPython's `random` module that
// microgpt.py uses: the Mersenne Twister MT19937 and the same recipes on top of it.

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
