/**
 * Test support: microgpt.py's script, built from microgpt.ts's Part I, writing a trace with
 * tools/trace.ts — until the engines write traces themselves. It can also plant the classic bugs
 * of a port (a wrong ReLU gradient, no attention scale, …), so that the differ's tests meet the
 * divergences real ports make.
 *
 * The forward pass is a copy of Part I's `gpt` and `forwardLoss` that shows every stage to the
 * trace's observer: Part I's `gpt` only shows attention. trace_test.ts holds the copy to Part I
 * (the same loss and gradients, bit for bit, at every step).
 *
 * @example Measure against microgpt.py: a trace of the default run on input.txt
 * ```sh
 * deno run -A tools/testdata/trace_harness.ts input.txt ts.jsonl --steps 20
 * ```
 *
 * @module
 */

import {
  Adam,
  type Config,
  DEFAULTS,
  emptyCache,
  initModel,
  type KVCache,
  linear,
  type Model,
  parseDocs,
  Random,
  rmsnorm,
  softmax,
  Tokenizer,
  Value,
} from "../../microgpt.ts";
import { type ForwardObserver, type MatrixShape, TraceWriter } from "../trace.ts";

/** The classic bugs of a port, to plant one at a time. */
export interface Bugs {
  /** ReLU's backward passes the gradient through everywhere (local gradient 1, not x > 0). */
  reluGrad?: boolean;
  /** Attention logits are not divided by sqrt(head_dim). */
  noAttentionScale?: boolean;
  /** Adam's bias correction uses 1 − β^step instead of 1 − β^(step + 1). */
  adamBiasAtStep?: boolean;
  /** The learning-rate decay uses integer division: lr·(1 − ⌊step / num_steps⌋). */
  lrIntegerDivision?: boolean;
  /** RMSNorm adds this eps instead of 1e-5. */
  rmsnormEps?: number;
  /** The initial weights are drawn column by column instead of row by row. */
  initColumnMajor?: boolean;
  /** Sampling keeps the KV cache from one sample to the next. */
  kvCacheKept?: boolean;
  /** Not a bug: every matrix-vector product sums right to left. The same algorithm, rounded in
   * another order, as a port may well compute it. */
  reversedSums?: boolean;
}

/** One traced run. */
export interface HarnessRun {
  /** The training text (one document a line). */
  text: string;
  /** The settings (microgpt.py's by default). */
  config?: Config;
  /** Train only the first `steps` steps; the learning rate still decays over numSteps. */
  steps?: number;
  /** The steps (from 1) whose forward pass is traced; the first always is. */
  detail?: number[];
  /** A bug to plant. */
  bugs?: Bugs;
  /** The engine name the header gives. */
  engine?: string;
}

/** What the run printed (microgpt.py's stdout), and its losses. */
export interface HarnessResult {
  /** Exactly what microgpt.py prints for this run. */
  stdout: string;
  /** Every step's loss. */
  losses: number[];
}

type Observe = (stage: Parameters<ForwardObserver["stage"]>[1], v: Value[], li?: number) => void;

/** RMSNorm as Part I computes it, or with another eps. */
function norm(x: Value[], bugs: Bugs): Value[] {
  if (bugs.rmsnormEps === undefined) return rmsnorm(x);
  const squares = x.map((xi) => xi.mul(xi));
  let s = squares[0];
  for (let i = 1; i < squares.length; i++) s = s.add(squares[i]);
  const scale = s.div(x.length).add(bugs.rmsnormEps).pow(-0.5);
  return x.map((xi) => xi.mul(scale));
}

/** Part I's linear, or the same products summed right to left. */
function project(x: Value[], w: Value[][], bugs: Bugs): Value[] {
  if (!bugs.reversedSums) return linear(x, w);
  return w.map((row) => {
    let s = row[x.length - 1].mul(x[x.length - 1]);
    for (let i = x.length - 2; i >= 0; i--) s = s.add(row[i].mul(x[i]));
    return s;
  });
}

/** One layer's attention heads, as Part I's gpt computes them; observes each head's weights. */
function heads(
  model: Model,
  q: Value[],
  ks: Value[][],
  vs: Value[][],
  bugs: Bugs,
  observeHead: (h: number, w: Value[]) => void,
): Value[] {
  const { nEmbd, nHead } = model.config;
  const headDim = nEmbd / nHead;
  const xAttn: Value[] = [];
  for (let h = 0; h < nHead; h++) {
    const hs = h * headDim;
    const attnLogits: Value[] = [];
    for (let t = 0; t < ks.length; t++) {
      let s = q[hs].mul(ks[t][hs]);
      for (let j = 1; j < headDim; j++) s = s.add(q[hs + j].mul(ks[t][hs + j]));
      attnLogits.push(bugs.noAttentionScale ? s : s.div(headDim ** 0.5));
    }
    const attnWeights = softmax(attnLogits);
    observeHead(h, attnWeights);
    for (let j = 0; j < headDim; j++) {
      let s = attnWeights[0].mul(vs[0][hs + j]);
      for (let t = 1; t < vs.length; t++) s = s.add(attnWeights[t].mul(vs[t][hs + j]));
      xAttn.push(s);
    }
  }
  return xAttn;
}

/** Part I's gpt, showing every stage to `observe` (and each head's weights to `observeHead`). */
export function gptStages(
  model: Model,
  tokenId: number,
  posId: number,
  keys: KVCache,
  values: KVCache,
  bugs: Bugs = {},
  observe: Observe = () => {},
  observeHead: (li: number, h: number, w: Value[]) => void = () => {},
): Value[] {
  const sd = model.stateDict;
  const tokEmb = sd.wte[tokenId];
  const posEmb = sd.wpe[posId];
  let x = tokEmb.map((t, i) => t.add(posEmb[i]));
  observe("embedding", x);
  x = norm(x, bugs);
  observe("norm", x);
  for (let li = 0; li < model.config.nLayer; li++) {
    let xResidual = x;
    x = norm(x, bugs);
    observe("norm_attn", x, li);
    const q = project(x, sd[`layer${li}.attn_wq`], bugs);
    const k = project(x, sd[`layer${li}.attn_wk`], bugs);
    const v = project(x, sd[`layer${li}.attn_wv`], bugs);
    observe("q", q, li);
    observe("k", k, li);
    observe("v", v, li);
    keys[li].push(k);
    values[li].push(v);
    const xAttn = heads(model, q, keys[li], values[li], bugs, (h, w) => observeHead(li, h, w));
    observe("heads_out", xAttn, li);
    x = project(xAttn, sd[`layer${li}.attn_wo`], bugs);
    x = x.map((a, i) => a.add(xResidual[i]));
    observe("attn_out", x, li);
    xResidual = x;
    x = norm(x, bugs);
    observe("norm_mlp", x, li);
    x = project(x, sd[`layer${li}.mlp_fc1`], bugs);
    x = x.map((xi) => bugs.reluGrad ? new Value(xi.data > 0 ? xi.data : 0, xi, 1) : xi.relu());
    observe("mlp_hidden", x, li);
    x = project(x, sd[`layer${li}.mlp_fc2`], bugs);
    x = x.map((a, i) => a.add(xResidual[i]));
    observe("mlp_out", x, li);
  }
  const logits = project(x, sd.lm_head, bugs);
  observe("logits", logits);
  return logits;
}

/** Part I's forwardLoss through gptStages, telling `observer` (if any) every stage. */
export function forwardLossStages(
  model: Model,
  tokens: number[],
  bugs: Bugs = {},
  observer?: ForwardObserver,
): Value {
  const { nLayer, blockSize } = model.config;
  const n = Math.min(blockSize, tokens.length - 1);
  const keys = emptyCache(nLayer);
  const values = emptyCache(nLayer);
  const losses: Value[] = [];
  for (let pos = 0; pos < n; pos++) {
    const logits = gptStages(
      model,
      tokens[pos],
      pos,
      keys,
      values,
      bugs,
      (stage, v, li) => observer?.stage(pos, stage, v.map((x) => x.data), li),
      (li, h, w) => observer?.stage(pos, "attn", w.map((x) => x.data), li, h),
    );
    const probs = softmax(logits);
    observer?.target(pos, tokens[pos], tokens[pos + 1], probs[tokens[pos + 1]].data);
    losses.push(probs[tokens[pos + 1]].log().neg());
  }
  let s = losses[0];
  for (let i = 1; i < losses.length; i++) s = s.add(losses[i]);
  return s.mul(1 / n);
}

/** The names and shapes of a model's matrices, in state_dict order. */
export function shapesOf(model: Model): MatrixShape[] {
  return Object.entries(model.stateDict).map(([name, rows]) => [name, rows.length, rows[0].length]);
}

/** Adam's update as Part I makes it, with the optimizer bugs planted. Returns lr_t. */
function update(model: Model, adam: Adam, step: number, bugs: Bugs): number {
  const { learningRate, beta1, beta2, epsAdam, numSteps } = model.config;
  const decay = bugs.lrIntegerDivision ? Math.floor(step / numSteps) : step / numSteps;
  const lr = learningRate * (1 - decay);
  if (!bugs.adamBiasAtStep && !bugs.lrIntegerDivision) {
    adam.update(model.params, step);
    return lr;
  }
  const t = bugs.adamBiasAtStep ? step : step + 1;
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  const { m, v } = adam;
  model.params.forEach((p, i) => {
    m[i] = beta1 * m[i] + (1 - beta1) * p.grad;
    v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2;
    p.data -= lr * (m[i] / c1) / ((v[i] / c2) ** 0.5 + epsAdam);
    p.grad = 0;
  });
  return lr;
}

/** Reorders each matrix's initial draws column by column (the same numbers, drawn in the other
 * order). */
function columnMajor(model: Model): void {
  for (const rows of Object.values(model.stateDict)) {
    const drawn = rows.flat().map((p) => p.data);
    const r = rows.length;
    rows.forEach((row, i) => row.forEach((p, j) => (p.data = drawn[j * r + i])));
  }
}

/** Samples as microgpt.py samples, each draw traced. */
function sampleAll(
  model: Model,
  tok: Tokenizer,
  rng: Random,
  trace: TraceWriter,
  bugs: Bugs,
): string {
  const { nLayer, blockSize, numSamples, temperature } = model.config;
  let stdout = "\n--- inference (new, hallucinated names) ---\n";
  let keys = emptyCache(nLayer);
  let values = emptyCache(nLayer);
  for (let i = 0; i < numSamples; i++) {
    if (!bugs.kvCacheKept) {
      keys = emptyCache(nLayer);
      values = emptyCache(nLayer);
    }
    let tokenId = tok.bos;
    let text = "";
    const tokens: number[] = [];
    const probs: number[] = [];
    for (let pos = 0; pos < blockSize; pos++) {
      const logits = gptStages(model, tokenId, pos, keys, values, bugs);
      const p = softmax(logits.map((l) => l.div(temperature)));
      tokenId = rng.choices(p.map((x) => x.data));
      tokens.push(tokenId);
      probs.push(p[tokenId].data);
      if (tokenId === tok.bos) break;
      text += tok.chars[tokenId];
    }
    trace.sample({ sample: i, tokens, probs, text });
    stdout += `sample ${String(i + 1).padStart(2)}: ${text}\n`;
  }
  return stdout;
}

/** Runs microgpt.py's script on `run.text` with Part I, writing the trace through `writeLine`. */
export function traceRun(run: HarnessRun, writeLine: (line: string) => void): HarnessResult {
  const cfg = run.config ?? DEFAULTS;
  const bugs = run.bugs ?? {};
  const trace = new TraceWriter(writeLine, run.detail);
  const rng = new Random(cfg.seed);
  const fileOrder = parseDocs(run.text);
  const docs = fileOrder.slice();
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel(cfg, tok.vocabSize, rng);
  if (bugs.initColumnMajor) columnMajor(model);
  let stdout = `num docs: ${docs.length}\nvocab size: ${tok.vocabSize}\n` +
    `num params: ${model.params.length}\n`;
  trace.header({
    engine: run.engine ?? "microgpt.ts",
    settings: cfg,
    chars: tok.chars,
    docs: fileOrder,
    shuffledDocs: docs,
  });
  trace.init(shapesOf(model), model.params.map((p) => p.data));
  const adam = new Adam(model.params.length, cfg);
  const losses: number[] = [];
  const steps = Math.min(run.steps ?? cfg.numSteps, cfg.numSteps);
  for (let step = 0; step < steps; step++) {
    const doc = step % docs.length;
    const tokens = tok.encode(docs[doc], cfg.blockSize);
    const loss = forwardLossStages(model, tokens, bugs, trace.observerFor(step));
    loss.backward();
    const grads = model.params.map((p) => p.grad);
    const lr = update(model, adam, step, bugs);
    const weights = model.params.map((p) => p.data);
    trace.step({ step, doc, tokens, lr, loss: loss.data, grads, weights });
    losses.push(loss.data);
    stdout += `step ${String(step + 1).padStart(4)} / ${String(cfg.numSteps).padStart(4)} | ` +
      `loss ${loss.data.toFixed(4)}\r`;
  }
  stdout += sampleAll(model, tok, rng, trace, bugs);
  return { stdout, losses };
}

if (import.meta.main) {
  const [input, out, ...rest] = Deno.args;
  const flag = (name: string) => {
    const i = rest.indexOf(name);
    return i < 0 ? undefined : rest[i + 1];
  };
  const steps = flag("--steps");
  const detail = flag("--detail");
  const bugs: Bugs = rest.includes("--reversed-sums") ? { reversedSums: true } : {};
  const lines: string[] = [];
  const result = traceRun({
    text: Deno.readTextFileSync(input),
    steps: steps === undefined ? undefined : Number(steps),
    detail: detail === undefined ? [] : detail.split(",").map(Number),
    bugs,
  }, (line) => lines.push(line));
  Deno.writeTextFileSync(out, lines.join("\n") + "\n");
  await Deno.stdout.write(new TextEncoder().encode(result.stdout));
}
