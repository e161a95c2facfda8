// Tests for microgpt.ts, in the order of its sections. The numbers marked "CPython" were printed
// by CPython 3.11 (its `random` module, or microgpt.py itself); nothing here reads ../shared.
//
// `deno test` runs the algorithm's tests with no permissions. The command-line tests spawn the
// real entry point and need run/read/write: they run under `deno test -P` and are ignored
// (listed as such) otherwise.

import assert from "node:assert/strict";
import bundledInput from "./input.txt" with { type: "text" };
import {
  Adam,
  buildModel,
  DEFAULTS,
  emptyCache,
  formatFixed4,
  forwardLoss,
  generate,
  gpt,
  initModel,
  type Model,
  parseDocs,
  pyStrip,
  Random,
  sample,
  softmax,
  Tokenizer,
  train,
  Value,
} from "./microgpt.ts";
import { attentionMap, describeAttention } from "./tools/attention.ts";
import { type Checkpoint, modelFromJSON, modelToJSON } from "./tools/checkpoint.ts";
import { embeddingReport, principalComponents, scatterGrid } from "./tools/embeddings.ts";
import { type Engine, graphEngine, initWeights, matrixShapes, numParams } from "./tools/engine.ts";
import { explainLine } from "./tools/explain.ts";
import { parseCommandLine } from "./tools/flags.ts";
import { lossSummary } from "./tools/loss.ts";
import { escapeControls, isControl } from "./tools/messages.ts";
import { Output } from "./tools/output.ts";
import { run } from "./tools/run.ts";

/** |a − b| ≤ tol·max(|a|, |b|, tiny): node:assert has no approximate equality. */
function assertClose(actual: number, expected: number, tol: number, what = ""): void {
  const scale = Math.max(Math.abs(actual), Math.abs(expected), 1e-300);
  assert(
    Math.abs(actual - expected) <= tol * scale,
    `${what} ${actual} is not within ${tol} (relative) of ${expected}`,
  );
}

const cfg = { ...DEFAULTS };

/** One training step, as the training loop takes it: forward, backward, Adam. */
function trainStep(model: Model, adam: Adam, tokens: number[], step: number): number {
  const loss = forwardLoss(model, tokens);
  loss.backward();
  adam.update(model.params, step);
  return loss.data;
}

/** A SHA-256 of the numbers' bits, to pin every last bit of a model in a short string. */
async function bitsHash(xs: ArrayLike<number>): Promise<string> {
  const bytes = new Uint8Array(Float64Array.from(xs).buffer);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Dataset -------------------------------------------------------------------------------

Deno.test("pyStrip removes exactly the characters Python's str.strip() removes", () => {
  assert.deepEqual(pyStrip("\u3000 x y\t\r\n"), "x y");
  assert.deepEqual(pyStrip("\x85\x1cname\x1f\u2028"), "name"); // trim() would keep these
  assert.deepEqual(pyStrip("\ufeffname"), "\ufeffname"); // trim() would remove the BOM
  assert.deepEqual(pyStrip(" \t "), "");
});

Deno.test("parseDocs ends lines at \\n, \\r\\n and a lone \\r, strips them, drops empty ones", () => {
  assert.deepEqual(parseDocs("a\r\nb\rc\n\n  \n d \u2028\nx\u2028y"), [
    "a",
    "b",
    "c",
    "d",
    "x\u2028y",
  ]);
  assert.deepEqual(parseDocs(" \n\t\r\n"), []);
  assert.deepEqual(parseDocs(bundledInput).length, 8422);
});

// --- Tokenizer -----------------------------------------------------------------------------

Deno.test("tokenizer orders characters by code point and keeps astral characters whole", () => {
  const tok = new Tokenizer(["😀b", "\uff21a", "b😀"]);
  // UTF-16 order would put 😀 (surrogates D83D DE00) before Ａ (FF21).
  assert.deepEqual(tok.chars, ["a", "b", "\uff21", "😀"]);
  assert.deepEqual(tok.bos, 4);
  assert.deepEqual(tok.vocabSize, 5);
  assert.deepEqual(tok.encode("😀a"), [4, 3, 0, 4]);
  // With a limit, only what a block can use is read: a cut document has no end token.
  assert.deepEqual(tok.encode("ab😀a", 2), [4, 0, 1]);
  assert.deepEqual(tok.encode("ab", 2), [4, 0, 1, 4]);
  assert.throws(() => tok.encode("z"), /not in the vocabulary/);
});

Deno.test("the bundled names give microgpt.py's vocabulary: a-z, '-' and BOS", () => {
  const tok = new Tokenizer(parseDocs(bundledInput));
  assert.deepEqual(tok.vocabSize, 28);
  assert.deepEqual(tok.chars.join(""), "-abcdefghijklmnopqrstuvwxyz");
});

// --- Autograd ------------------------------------------------------------------------------

/** Checks an op's value and both gradients against central finite differences. */
function checkOp(
  name: string,
  op: (a: Value, b: Value) => Value,
  f: (a: number, b: number) => number,
  a: number,
  b: number,
): void {
  const va = new Value(a);
  const vb = new Value(b);
  const out = op(va, vb);
  assertClose(out.data, f(a, b), 1e-15, `${name} value`);
  out.backward();
  const h = 1e-6;
  const dfa = (f(a + h, b) - f(a - h, b)) / (2 * h);
  const dfb = (f(a, b + h) - f(a, b - h)) / (2 * h);
  if (dfa === 0) assert.deepEqual(va.grad, 0, `${name} d/da`);
  else assertClose(va.grad, dfa, 1e-6, `${name} d/da`);
  if (dfb === 0) assert.deepEqual(vb.grad, 0, `${name} d/db`);
  else assertClose(vb.grad, dfb, 1e-6, `${name} d/db`);
}

Deno.test("every Value op has the right value and gradient (finite differences)", () => {
  const a = 1.7;
  const b = -0.6;
  checkOp("add", (x, y) => x.add(y), (x, y) => x + y, a, b);
  checkOp("add const", (x) => x.add(2.5), (x) => x + 2.5, a, b);
  checkOp("mul", (x, y) => x.mul(y), (x, y) => x * y, a, b);
  checkOp("mul const", (x) => x.mul(-3), (x) => x * -3, a, b);
  checkOp("pow", (x) => x.pow(-0.5), (x) => x ** -0.5, a, b);
  checkOp("pow 3", (x) => x.pow(3), (x) => x ** 3, a, b);
  checkOp("log", (x) => x.log(), Math.log, a, b);
  checkOp("exp", (_, y) => y.exp(), (_, y) => Math.exp(y), a, b);
  checkOp("relu +", (x) => x.relu(), (x) => Math.max(0, x), a, b);
  checkOp("relu −", (_, y) => y.relu(), (_, y) => Math.max(0, y), a, b);
  checkOp("neg", (x) => x.neg(), (x) => -x, a, b);
  checkOp("sub", (x, y) => x.sub(y), (x, y) => x - y, a, b);
  checkOp("div", (x, y) => x.div(y), (x, y) => x / y, a, b);
  checkOp("div const", (x) => x.div(4), (x) => x / 4, a, b);
});

Deno.test("ops are built as microgpt.py builds them: a/b is a·b^−1, a−b is a+(−b)", () => {
  const a = new Value(3);
  const b = new Value(2);
  const q = a.div(b);
  assert.equal(q.a, a);
  const inv = q.b!;
  assert.equal(inv.a, b);
  assert.equal(inv.b, null);
  assert.deepEqual(inv.da, -1 * 2 ** -2); // pow(-1): k·b^(k−1)
  const d = a.sub(b);
  assert.equal(d.b!.a, b);
  assert.deepEqual(d.b!.da, -1); // −b is b·(−1)
  // A number operand is not a child: x / 4 is x · 0.25, one node.
  const c = a.div(4);
  assert.deepEqual([c.a, c.b, c.da, c.data], [a, null, 0.25, 0.75]);
});

Deno.test("a node used twice gets both gradients added", () => {
  const x = new Value(3);
  const y = x.mul(x); // x² → 2x
  assert.equal(y.a, x);
  assert.equal(y.b, x);
  y.backward();
  assert.deepEqual(x.grad, 6);
  const z = new Value(-2);
  const w = z.add(z).mul(z); // 2z² → 4z
  w.backward();
  assert.deepEqual(z.grad, -8);
});

Deno.test("backward sums gradients in microgpt.py's depth-first order, not creation order", () => {
  const x = new Value(1);
  const c = x.mul(0.3); // made first, but reached last by the walk from the loss
  const a = x.mul(0.1);
  const b = x.mul(0.2);
  a.add(b).add(c).backward();
  // CPython, microgpt.py's Value: x.grad == 0.6 (0.3 + 0.2 first, then 0.1). Summing in reverse
  // creation order would give 0.2 + 0.1 + 0.3 == 0.6000000000000001.
  assert.equal(x.grad, 0.6);
});

Deno.test("backward walks a 100,000-deep chain without overflowing the stack", () => {
  const x = new Value(0.5);
  let y = x;
  for (let i = 0; i < 100_000; i++) y = y.add(x);
  y.backward();
  assert.deepEqual(y.data, 0.5 * 100_001);
  assert.deepEqual(x.grad, 100_001);
});

// --- Parameters and model ------------------------------------------------------------------

Deno.test("parameter count is microgpt.py's: 4,224 at the defaults with 28 tokens", () => {
  const model = initModel(cfg, 28, new Random(42));
  assert.deepEqual(model.params.length, 4224);
  const big = { ...cfg, nEmbd: 8, nHead: 2, nLayer: 3, blockSize: 5 };
  // wte + lm_head + wpe + per layer 4 square attention matrices and two 4×-wide MLP matrices
  assert.deepEqual(
    initModel(big, 10, new Random(1)).params.length,
    2 * 10 * 8 + 5 * 8 + 3 * 12 * 64,
  );
});

Deno.test("matrixShapes lists the matrices buildModel makes, in its order and shapes", () => {
  const shape = { ...cfg, nLayer: 2, nEmbd: 8, blockSize: 5 };
  const model = initModel(shape, 11, new Random(1));
  const made = Object.entries(model.stateDict).map(([name, m]) => [name, m.length, m[0].length]);
  assert.deepEqual(made, matrixShapes(shape, 11));
  assert.equal(numParams(shape, 11), model.params.length);
});

Deno.test("initial weights are Python's gauss(0, 0.08) draws, row by row", () => {
  const model = initModel(cfg, 28, new Random(42));
  // CPython: random.seed(42); [random.gauss(0, 1) for _ in range(3)]
  const first = [-0.14409032957792836, -0.1729036003315193, -0.11131586156766246];
  for (let i = 0; i < 3; i++) assertClose(model.params[i].data, first[i] * 0.08, 1e-15);
});

Deno.test("the KV cache grows one entry per position, so attention cannot see the future", () => {
  const model = initModel(cfg, 5, new Random(3));
  const run = (tokens: number[]) => {
    const keys = emptyCache(1);
    const values = emptyCache(1);
    const out: number[][] = [];
    tokens.forEach((t, pos) => {
      out.push(gpt(model, t, pos, keys, values).map((l) => l.data));
      assert.deepEqual(keys[0].length, pos + 1);
      assert.deepEqual(values[0].length, pos + 1);
    });
    return out;
  };
  const a = run([4, 0, 1, 2]);
  const b = run([4, 0, 3, 3]);
  assert.deepEqual(a[0], b[0]); // same past, same logits: the later tokens cannot leak back
  assert.deepEqual(a[1], b[1]);
  assert(a[2].some((x, i) => x !== b[2][i]));
});

Deno.test("softmax sums to 1 and is unchanged by adding a constant to every logit", () => {
  const p = softmax([1, 2, 3].map((x) => new Value(x))).map((v) => v.data);
  const q = softmax([101, 102, 103].map((x) => new Value(x))).map((v) => v.data);
  assertClose(p[0] + p[1] + p[2], 1, 1e-15);
  for (let i = 0; i < 3; i++) assertClose(p[i], q[i], 1e-14);
});

// --- Training ------------------------------------------------------------------------------

Deno.test("one Adam step matches a hand computation and zeroes the gradient", () => {
  const p = new Value(0.5);
  const q = new Value(-1.25);
  const c = { ...cfg, numSteps: 10 };
  const adam = new Adam(2, c);
  p.grad = 0.2;
  q.grad = -3;
  adam.update([p, q], 0);
  // step 0: lr_t = 0.01, m = 0.15·g, v = 0.01·g², m̂ = m/0.15 = g, v̂ = v/0.01 = g²
  assertClose(p.data, 0.5 - 0.01 * 0.2 / (0.2 + 1e-8), 1e-15);
  assertClose(q.data, -1.25 - 0.01 * -3 / (3 + 1e-8), 1e-15);
  assert.deepEqual([p.grad, q.grad], [0, 0]);
  // step 1 carries the moments: m = 0.85·0.15·g + 0.15·g2, v alike; lr_t = 0.01·(1 − 1/10)
  p.grad = 0.1;
  const before = p.data;
  adam.update([p, q], 1);
  const m = 0.85 * (0.15 * 0.2) + 0.15 * 0.1;
  const v = 0.99 * (0.01 * 0.04) + 0.01 * 0.01;
  const mHat = m / (1 - 0.85 ** 2);
  const vHat = v / (1 - 0.99 ** 2);
  assertClose(p.data, before - 0.009 * mHat / (Math.sqrt(vHat) + 1e-8), 1e-14);
});

Deno.test("formatFixed4 rounds like Python's %.4f, exact ties to even", () => {
  assert.deepEqual(formatFixed4(0.03125), "0.0312"); // toFixed(4) says 0.0313
  assert.deepEqual(formatFixed4(0.09375), "0.0938");
  assert.deepEqual(formatFixed4(2.34375), "2.3438");
  assert.deepEqual(formatFixed4(2.40625), "2.4062");
  assert.deepEqual(formatFixed4(1.00005), "1.0001"); // not a tie in binary
  assert.deepEqual(formatFixed4(5e-5), "0.0001");
  assert.deepEqual(formatFixed4(3.461323030236502), "3.4613");
});

// The default run of microgpt.py (CPython 3.11): its first 50 losses in full and its 20 names.
const GOLDEN_LOSSES = [
  3.461323030236502,
  3.3384725324717177,
  3.422024176760334,
  3.3069089020132054,
  3.2043528380327695,
  3.043367061438568,
  3.0419740859393567,
  2.9586481104198934,
  3.0709636245633716,
  3.1944505439909605,
  2.936950087359102,
  2.5670073966682603,
  2.625637132395049,
  3.2425885257355618,
  2.792651243859417,
  2.7088822707731595,
  3.269728941812018,
  2.8074607406366003,
  3.141365106136021,
  3.255089315034322,
  3.2953014613687786,
  3.076499078822117,
  2.3259540541517443,
  2.759848454490492,
  2.2411912183792397,
  3.1559687926539164,
  3.1483553535743365,
  2.686049736160883,
  3.4369466961311375,
  2.393296421424474,
  2.5029916504672736,
  2.5827866511624022,
  2.5082856690070314,
  2.8814809065202707,
  2.7248617976520135,
  2.877371202147572,
  2.1943279238996682,
  2.4235848472404697,
  3.4543076924402394,
  2.4915477529496934,
  3.5696101425875693,
  2.234579774897319,
  2.6873138684674185,
  3.611251314955842,
  2.715266623375726,
  3.0738331601757016,
  2.5170353374282133,
  2.4520696933359725,
  2.476185918070047,
  2.83723029956045,
];
const GOLDEN_NAMES = [
  "lore",
  "haria",
  "ligel",
  "chan",
  "brinia",
  "alera",
  "jeria",
  "cein",
  "carrry",
  "jornie",
  "lane",
  "lorin",
  "harly",
  "artan",
  "cerin",
  "melle",
  "ceri",
  "gora",
  "chale",
  "conna",
];

/** microgpt.py's run with these settings: shuffle, init, the training loop. */
function trained(settings: typeof cfg) {
  const rng = new Random(settings.seed);
  const docs = parseDocs(bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel(settings, tok.vocabSize, rng);
  const adam = new Adam(model.params.length, settings);
  const losses: number[] = [];
  train(model, adam, docs, tok, (_, loss) => {
    losses.push(loss);
  });
  return { model, adam, tok, rng, losses };
}

Deno.test("the default run reproduces microgpt.py: losses within 1e-12, all 20 names", () => {
  const { model, tok, rng, losses } = trained(cfg);
  assert.deepEqual(losses.length, cfg.numSteps);
  GOLDEN_LOSSES.forEach((l, step) => assertClose(losses[step], l, 1e-12, `step ${step}`));
  const names: string[] = [];
  generate(model, tok, rng, "", (i, name) => {
    names[i] = name;
  });
  assert.deepEqual(names, GOLDEN_NAMES);
});

// Hashes of every weight and Adam moment after training, taken with the engine this one replaced
// (typed-array columns instead of objects), whose gradients were summed in microgpt.py's order.
// Printed output cannot show a walk that sums in another order; these last bits can.
Deno.test("training leaves the same last bit in every weight as the engine it replaced", async () => {
  const runs = [
    {
      settings: cfg,
      weights: "732ffa49619846bf7e5e66bea9f509ff291a2ac98cd7f53f491008905a665d24",
      m: "49204bd9202952bf81a208cf7c4c9e651d825cb0ecdba60b588e65308ceb8ecf",
    },
    {
      settings: { ...cfg, nLayer: 2, numSteps: 200 },
      weights: "35c4709b86ba709539bbff7c26cdd77f6ef5b2ec38293a753ff125705e4f63d6",
      m: "244d52db35a28f8407fe3a5a58f550b0bb06b51a0d4f3fb1ca8b98ad2db6654d",
    },
  ];
  for (const run of runs) {
    const { model, adam } = trained(run.settings);
    assert.deepEqual(await bitsHash(model.params.map((p) => p.data)), run.weights);
    assert.deepEqual(await bitsHash(adam.m), run.m);
  }
});

Deno.test("two models live side by side without disturbing each other", () => {
  const tok = new Tokenizer(parseDocs(bundledInput));
  const tokens = tok.encode("emma");
  const a = initModel(cfg, tok.vocabSize, new Random(1));
  const lossA = forwardLoss(a, tokens).data;
  const weightsA = a.params.map((p) => p.data);
  // A second model, its forward and backward passes, and more passes of the first.
  const b = initModel({ ...cfg, nLayer: 2 }, tok.vocabSize, new Random(2));
  forwardLoss(b, tok.encode("olivia")).backward();
  const first = forwardLoss(a, tokens);
  forwardLoss(a, tok.encode("ava"));
  assert.deepEqual(first.data, lossA); // a Value keeps its number
  assert.deepEqual(a.params.map((p) => p.data), weightsA); // b's making took nothing from a
  assert(a.params.every((p) => p.grad === 0)); // b's backward reached none of a's weights
  assert.deepEqual(sample(a, tok, new Random(5), 0.5), sample(a, tok, new Random(5), 0.5));
});

Deno.test("a graph deeper than a recursive walk could follow trains a step", () => {
  const deep = { ...cfg, nLayer: 150, nEmbd: 4, nHead: 1, blockSize: 4 };
  const model = initModel(deep, 5, new Random(1));
  const loss = trainStep(model, new Adam(model.params.length, model.config), [4, 0, 1, 2, 4], 0);
  assert(Number.isFinite(loss) && loss > 0);
});

// --- Inference -----------------------------------------------------------------------------

/** A small model trained briefly on the bundled names. */
function smallTrained(steps: number) {
  const rng = new Random(42);
  const docs = parseDocs(bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel({ ...cfg, numSteps: steps }, tok.vocabSize, rng);
  const adam = new Adam(model.params.length, model.config);
  train(model, adam, docs, tok, () => {});
  return { model, tok, rng };
}

Deno.test("temperature 0 always takes the likeliest token and draws no random number", () => {
  const { model, tok } = smallTrained(30);
  const rng = new Random(9);
  const a = sample(model, tok, rng, 0);
  const b = sample(model, tok, rng, 0);
  assert.deepEqual(a, b);
  assert.deepEqual(rng.random(), new Random(9).random()); // the stream was not touched
});

Deno.test("a prefix starts every sample and is fed without drawing", () => {
  const { model, tok } = smallTrained(30);
  for (let i = 0; i < 5; i++) assert(sample(model, tok, new Random(i), 0.5, "ka").startsWith("ka"));
  // Feeding the prefix draws nothing: one random number per drawn token, no more.
  const rng = new Random(1);
  let draws = 0;
  const name = sample(model, tok, rng, 1, "ka", {
    onDraw: (d) => {
      assert.deepEqual(draws === 0 ? d.soFar : d.soFar.slice(0, 2), "ka");
      draws++;
    },
  });
  assert.deepEqual(draws, name.length - 2 + (name.length < cfg.blockSize ? 1 : 0));
  const fresh = new Random(1);
  for (let i = 0; i < draws; i++) fresh.random();
  assert.deepEqual(rng.random(), fresh.random());
});

Deno.test("explaining a sample does not change what is drawn", () => {
  const { model, tok } = smallTrained(50);
  for (const t of [0.2, 0.5, 1.5]) {
    const plain = sample(model, tok, new Random(11), t);
    const lines: string[] = [];
    const explained = sample(model, tok, new Random(11), t, "", {
      onDraw: (d) => {
        assertClose(d.probs.reduce((a, b) => a + b, 0), 1, 1e-12);
        lines.push(explainLine(d, tok));
      },
    });
    assert.deepEqual(explained, plain);
    assert.deepEqual(lines.length, [...plain].length + (plain.length < cfg.blockSize ? 1 : 0));
    assert(lines.every((l) => l.includes("*")));
  }
});

Deno.test("lower temperature sharpens the distribution, higher flattens it", () => {
  const { model, tok } = smallTrained(50);
  const top = (t: number) => {
    let p = 0;
    sample(model, tok, new Random(5), t, "", {
      onDraw: (d) => {
        if (p === 0) p = Math.max(...d.probs);
      },
    });
    return p;
  };
  assert(top(0.2) > top(1) && top(1) > top(1.5));
});

Deno.test("the loss summary gives first/last means, the guessing baseline and a sparkline", () => {
  const losses = Array.from({ length: 1000 }, (_, i) => 3 - i / 1000);
  const text = lossSummary(losses, 28);
  assert.match(text, /mean 2\.9755 over the first 50 steps, 2\.0255 over the last 50/);
  assert.match(text, /a uniform guess over 28 tokens scores ln 28 = 3\.33/);
  assert.match(text, /: ██▇▇▇▆▆▅▅▅▄▄▄▃▃▂▂▂▁▁ \(2\.98 high, 2\.03 low\)$/);
  assert.deepEqual(text.split("\n").length, 3);
  assert.match(lossSummary([2, 1], 5), /over the first 2 steps/);
});

// --- Saving and loading --------------------------------------------------------------------

Deno.test("saved weights round-trip bit for bit", () => {
  const { model, tok } = smallTrained(20);
  const before = Float64Array.from(model.params, (p) => p.data);
  const json = modelToJSON(model.config, tok, before);
  const loaded = modelFromJSON(json, cfg);
  assert.deepEqual(loaded.tok.chars, tok.chars);
  assert.deepEqual(
    new BigUint64Array(loaded.weights.buffer),
    new BigUint64Array(before.buffer),
  );
  // Rebuilt as a model, the weights sit where they were.
  const again = graphEngine.create(loaded.config, loaded.tok.vocabSize, loaded.weights);
  assert.deepEqual(again.weights(), before);
});

Deno.test("initWeights draws what initModel draws, in the same order", () => {
  const model = initModel(cfg, 28, new Random(7));
  const w = initWeights(cfg, 28, new Random(7));
  assert.deepEqual(w, Float64Array.from(model.params, (p) => p.data));
  let i = 0;
  const built = buildModel(cfg, 28, () => w[i++]);
  assert.deepEqual(built.stateDict.wpe[3][5].data, model.stateDict.wpe[3][5].data);
});

Deno.test("a saved model that does not fit is refused, naming what is wrong", () => {
  const { model, tok } = smallTrained(1);
  const json = modelToJSON(model.config, tok, Float64Array.from(model.params, (p) => p.data));
  const edit = (f: (m: Record<string, unknown>) => void) => {
    const m = JSON.parse(json);
    f(m);
    return JSON.stringify(m);
  };
  const refuse = (text: string, why: RegExp) => assert.throws(() => modelFromJSON(text, cfg), why);
  refuse(json.slice(0, json.length / 2), /not valid JSON/);
  refuse("[1, 2]", /not a saved microgpt.ts model/);
  refuse(edit((m) => m.version = 3), /version 3 is not supported/);
  refuse(edit((m) => m.version = "1"), /"version" must be a number, not "1"/);
  refuse("\ufeff" + json, /starts with a byte order mark/);
  refuse(edit((m) => m.n_head = 3), /not divisible/);
  refuse(edit((m) => m.n_layer = 0), /"n_layer" must be a whole number >= 1, not 0/);
  refuse(
    edit((m) => m.state_dict = []),
    /"state_dict" must be an object of matrices by name, not a list/,
  );
  refuse(
    json.replace(/\[\[[-0-9.e]+/, "[[1e400"),
    /wte\[0\]\[0\] is Infinity, not a finite number/,
  );
  // Characters that would move the cursor, ring, retitle the window or fake a line of output.
  for (const ch of ["\x1b", "\x07", "\n", "\x9b"]) {
    refuse(edit((m) => (m.vocab as string[])[0] = ch), /"vocab" holds the control character/);
  }
  refuse(edit((m) => m.vocab = ["a", "a"]), /repeats/);
  refuse(edit((m) => m.vocab = ["ab"]), /not a single character/);
  refuse(edit((m) => (m.vocab as string[]).pop()), /wte has 28 rows, expected 27/);
  refuse(edit((m) => (m.state_dict as Record<string, number[][]>).wpe[2].pop()), /wpe row 2/);
  refuse(
    edit((m) => (m.state_dict as Record<string, unknown[][]>).lm_head[1][3] = null),
    /lm_head\[1\]\[3\] is null/,
  );
  refuse(
    edit((m) => delete (m.state_dict as Record<string, unknown>)["layer0.mlp_fc2"]),
    /lacks the matrix "layer0.mlp_fc2"/,
  );
  refuse(
    edit((m) => (m.state_dict as Record<string, unknown>).extra = []),
    /unexpected matrix "extra"/,
  );
});

Deno.test("a checkpoint round-trips bit for bit: weights, moments, step, settings, random state", () => {
  const { model, tok, rng } = smallTrained(25);
  const settings = { ...model.config, learningRate: 0.0123, seed: 2n ** 70n, numSamples: 7 };
  const m = Float64Array.from({ length: model.params.length }, (_, i) => Math.sin(i) * 1e-3);
  const v = Float64Array.from({ length: model.params.length }, (_, i) => (i % 7) * 1e-9 + 5e-324);
  rng.gauss(0, 1); // leaves a cached second value in the state
  const cp: Checkpoint = {
    step: 17,
    m,
    v,
    random: rng.getState(),
    textSha256: "ab".repeat(32),
    numDocs: 8422,
    holdout: 5,
    prefix: "ka",
  };
  const weights = Float64Array.from(model.params, (p) => p.data);
  const back = modelFromJSON(modelToJSON(settings, tok, weights, cp), cfg);
  const bits = (xs: Float64Array) => new BigUint64Array(xs.slice().buffer);
  assert.deepEqual(bits(back.weights), bits(weights));
  assert.deepEqual(bits(back.checkpoint!.m), bits(m));
  assert.deepEqual(bits(back.checkpoint!.v), bits(v));
  assert.deepEqual(back.checkpoint!.random, cp.random);
  assert.deepEqual({ ...back.checkpoint!, m: 0, v: 0 }, { ...cp, m: 0, v: 0 });
  assert.deepEqual(back.config, settings);
  // The restored generator continues the same stream.
  const again = new Random(0);
  again.setState(back.checkpoint!.random);
  assert.deepEqual([again.gauss(0, 1), again.random()], [rng.gauss(0, 1), rng.random()]);
});

Deno.test("control characters are recognised and escaped, tab kept as a character", () => {
  assert.deepEqual(["\x1b", "\x07", "\n", "\x7f", "\x9b"].map(isControl), [
    true,
    true,
    true,
    true,
    true,
  ]);
  assert.deepEqual(["\t", "a", "é", "\u2028"].map(isControl), [false, false, false, false]);
  assert.equal(escapeControls("a\nb\x1b[2J\u0085\tz"), "a\\nb\\x1b[2J\\u0085\\tz");
});

Deno.test("parseDocs walks a text line by line: millions of empty lines make no giant list", () => {
  assert.deepEqual(parseDocs("\n".repeat(5_000_000) + "x\r\n"), ["x"]);
});

// --- Looking inside --------------------------------------------------------------------------

Deno.test("attention weights of every position sum to 1, and the map draws one row per position", () => {
  const { model, tok } = smallTrained(100);
  const maps: number[][][][] = [];
  const name = sample(model, tok, new Random(4), 0.5, "", {
    onAttention: (pos, li, h, w) => {
      ((maps[li] ??= [])[h] ??= [])[pos] = w;
    },
  });
  const rows = maps[0][0];
  assert.equal(rows.length, Math.min(name.length + 1, cfg.blockSize));
  for (const head of maps[0]) {
    head.forEach((w, pos) => {
      assert.equal(w.length, pos + 1); // a position sees itself and the past, nothing later
      assertClose(w.reduce((a, b) => a + b, 0), 1, 1e-12);
    });
  }
  const lines = attentionMap(0, 0, ["<s>", ...name].slice(0, rows.length), rows);
  assert.equal(lines.length, rows.length + 3);
  assert(lines.every((l) => [...l].length <= 36)); // two maps side by side fit 80 columns
});

Deno.test("the attention pattern is named when it is clear", () => {
  const oneHot = (n: number, pick: (t: number) => number) =>
    Array.from(
      { length: n },
      (_, t) => Array.from({ length: t + 1 }, (_, s) => (s === pick(t) ? 1 : 0)),
    );
  assert.equal(
    describeAttention(oneHot(6, (t) => Math.max(0, t - 1))),
    "mostly the previous character",
  );
  assert.equal(describeAttention(oneHot(6, (t) => t)), "mostly itself");
  assert.equal(describeAttention(oneHot(6, () => 0)), "mostly the start");
  const even = Array.from({ length: 6 }, (_, t) => new Array(t + 1).fill(1 / (t + 1)));
  assert.equal(describeAttention(even), "spread evenly over the past");
  // Two back: no candidate reaches half, and far from even.
  assert.equal(describeAttention(oneHot(6, (t) => Math.max(0, t - 2))), undefined);
});

Deno.test("principal components are orthonormal and find the direction of greatest spread", () => {
  const r = new Random(8);
  const rows = Array.from({ length: 40 }, () => {
    const t = r.gauss(0, 5); // stretched along (1, 2, 0, 0, …)
    return Array.from(
      { length: 10 },
      (_, i) => (i === 0 ? t : i === 1 ? 2 * t : 0) + r.gauss(0, 0.01),
    );
  });
  const { components, coords } = principalComponents(rows, 2);
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  assertClose(dot(components[0], components[0]), 1, 1e-12);
  assertClose(dot(components[1], components[1]), 1, 1e-12);
  assert(Math.abs(dot(components[0], components[1])) < 1e-12);
  assertClose(components[0][0], 1 / Math.sqrt(5), 1e-3);
  assertClose(components[0][1], 2 / Math.sqrt(5), 1e-3);
  assert.equal(coords.length, 40);
  // All rows alike: no spread, but still two perpendicular unit vectors and no NaN.
  const flat = principalComponents(Array.from({ length: 5 }, () => [1, 2, 3]), 2);
  assert(flat.components.flat().every(Number.isFinite));
  assert(Math.abs(dot(flat.components[0], flat.components[1])) < 1e-12);
});

Deno.test("the embedding picture fits 72 × 24 and shows every token once", () => {
  const { model, tok } = smallTrained(200);
  const text = embeddingReport(tok, Float64Array.from(model.params, (p) => p.data), cfg.nEmbd);
  const grid = text.split("\n").filter((l) => l.startsWith("|"));
  assert(grid.length <= 24 && grid.every((l) => [...l].length <= 74));
  const cells = grid.map((l) => l.slice(1, -1)).join("");
  for (const label of [...tok.chars, "^"]) assert.equal(cells.split(label).length - 1, 1, label);
  assert.match(text, /^nearest to a: . -?\d\.\d\d, . -?\d\.\d\d, . -?\d\.\d\d$/m);
  // Many points on one cell: each still gets a cell of its own.
  const crowd = scatterGrid(["a", "b", "c", "d"], [[0, 0], [0, 0], [0, 0], [1, 1]], 10, 4);
  for (const ch of "abcd") assert.equal(crowd.split(ch).length - 1, 1);
});

/** Output that keeps what a run prints, for in-process runs. */
class Captured extends Output {
  stdout = "";
  stderr = "";
  override out(text: string): void {
    this.stdout += text;
  }
  override err(line: string): void {
    this.stderr += line + "\n";
  }
}

Deno.test("held-out documents are never trained on", async () => {
  const trainedOn = new Set<string>();
  const recording: Engine = {
    ...graphEngine,
    create(config, vocabSize, weights) {
      const trainer = graphEngine.create(config, vocabSize, weights);
      return {
        ...trainer,
        train: (docs, tok, onStep, from) =>
          trainer.train(docs, tok, (step, loss) => {
            trainedOn.add(docs[step % docs.length]);
            return onStep(step, loss);
          }, from),
      };
    },
  };
  const opts = parseCommandLine(["--steps", "300", "--holdout", "400", "--samples", "0"]);
  const io = new Captured();
  assert.equal(await run(opts, recording, io), 0);
  // The held-out documents are the last 400 after microgpt.py's shuffle.
  const docs = parseDocs(bundledInput);
  new Random(42).shuffle(docs);
  const heldOut = new Set(docs.slice(-400));
  assert.equal(trainedOn.size, 300); // the training documents of steps 1…300, all different
  for (const doc of trainedOn) assert(!heldOut.has(doc), doc);
  const lines = io.stderr.split("\n").filter((l) => l.includes("held-out loss"));
  assert.equal(lines.length, 10);
  assert.match(
    lines[9],
    /^step {2}300 \/ {2}300 \| held-out loss \d\.\d{4} on 400 documents \| training loss \d\.\d{4} over steps 271-300$/,
  );
});

// --- Randomness (the appendix) -------------------------------------------------------------

Deno.test("random() reproduces CPython's stream for small, zero and multi-word seeds", () => {
  const r = new Random(42);
  assert.deepEqual([r.random(), r.random(), r.random()], [
    0.6394267984578837,
    0.025010755222666936,
    0.27502931836911926,
  ]);
  assert.deepEqual(new Random(0).random(), 0.8444218515250481);
  assert.deepEqual(new Random(2n ** 40n + 5n).random(), 0.5043802970418443);
});

Deno.test("gauss() reproduces CPython, including the cached second value", () => {
  const r = new Random(42);
  const z = [r.gauss(0, 1), r.gauss(0, 1), r.gauss(0, 1)];
  const expected = [-0.14409032957792836, -0.1729036003315193, -0.11131586156766246];
  for (let i = 0; i < 3; i++) assertClose(z[i], expected[i], 1e-15);
});

Deno.test("shuffle() and randbelow() reproduce CPython", () => {
  const xs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  new Random(7).shuffle(xs);
  assert.deepEqual(xs, [8, 3, 1, 4, 7, 0, 9, 6, 2, 5]);
  const r = new Random(1);
  assert.deepEqual([2, 3, 5, 100, 1000, 2 ** 31].map((n) => r.randbelow(n)), [
    0,
    2,
    0,
    32,
    120,
    2127877499,
  ]);
});

Deno.test("choices() reproduces CPython and never picks a zero weight", () => {
  const r = new Random(3);
  const picks = Array.from({ length: 12 }, () => r.choices([0.1, 0.2, 0.3, 0.4]));
  assert.deepEqual(picks, [1, 2, 2, 3, 3, 0, 0, 3, 1, 1, 3, 2]);
  const s = new Random(3);
  const zero = Array.from({ length: 12 }, () => s.choices([1, 0, 2]));
  assert.deepEqual(zero, [0, 2, 2, 2, 2, 0, 0, 2, 0, 0, 2, 2]);
});

// --- The command line (needs -P) -----------------------------------------------------------

const granted = (name: "run" | "read" | "write") =>
  Deno.permissions.querySync({ name }).state === "granted";
const CLI = granted("run") && granted("read") && granted("write");
const SCRIPT = new URL("./microgpt.ts", import.meta.url).pathname;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run [permissions] microgpt.ts args`. */
async function cli(args: string[], perms = ["--allow-read", "--allow-write"]): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...perms, SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Asserts a clean failure: the exit code, one "error:" line matching `why`, no stack trace. */
async function refused(args: string[], code: number, why: RegExp, perms?: string[]) {
  const r = await cli(args, perms);
  assert.deepEqual(r.code, code, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.deepEqual(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], why);
}

// One folder for the files the tests make, removed when the test run ends, passed or failed.
const tmp = CLI ? Deno.makeTempDirSync({ prefix: "microgpt_test_" }) : "";
if (CLI) {
  globalThis.addEventListener("unload", () => {
    try {
      Deno.chmodSync(`${tmp}/locked.txt`, 0o644);
    } catch {
      // not made
    }
    Deno.removeSync(tmp, { recursive: true });
  });
}
const file = (name: string, content: string | Uint8Array) => {
  const path = `${tmp}/${name}`;
  if (typeof content === "string") Deno.writeTextFileSync(path, content);
  else Deno.writeFileSync(path, content);
  return path;
};

/** Whether an unreadable file is really unreadable here (not for root). */
const canMakeUnreadable = CLI && (() => {
  const path = file("locked.txt", "abc\n");
  Deno.chmodSync(path, 0o000);
  try {
    Deno.readFileSync(path);
    return false;
  } catch {
    return true;
  }
})();

Deno.test({
  name: "cli: the default run prints microgpt.py's header, 1000 steps and 20 names",
  ignore: !CLI,
  fn: async () => {
    const r = await cli([], []);
    assert.deepEqual(r.code, 0);
    const lines = r.stdout.split(/[\r\n]/);
    assert.deepEqual(lines.slice(0, 4), [
      "num docs: 8422",
      "vocab size: 28",
      "num params: 4224",
      "step    1 / 1000 | loss 3.4613",
    ]);
    assert(r.stdout.includes("step 1000 / 1000 | loss 2.1095\r\n--- inference"));
    const names = lines.filter((l) => l.startsWith("sample")).map((l) => l.slice(11));
    assert.deepEqual(names, GOLDEN_NAMES);
  },
});

Deno.test({
  name: "cli: same flags and seed give byte-identical output on every run",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "40", "--seed", "9", "--samples", "5", "--temperature", "0.8"];
    const a = await cli(args);
    const b = await cli(args);
    assert.deepEqual(a.code, 0);
    assert.deepEqual(b.stdout, a.stdout);
    assert.deepEqual(b.stderr, a.stderr);
  },
});

Deno.test({
  name:
    "cli: a file with CRLF, a lone CR, a BOM and non-ASCII names prints what microgpt.py prints",
  ignore: !CLI,
  fn: async () => {
    const input = file(
      "mixed.txt",
      "\ufeffzoë\r\n  ünïcode \r\nmañana\r\n\r\n\t\n😀smile\rab\u0085\ncafé\n𝒜bc\n  \nélan\u2003\n" +
        "zoë\n\x1cfs\x1f\n",
    );
    const args = ["--input", input, "--seed", "3", "--n-embd", "8", "--n-head", "2"];
    const r = await cli([
      ...args,
      "--block-size",
      "6",
      "--steps",
      "12",
      "--samples",
      "4",
      "--temperature",
      "0.9",
    ]);
    // CPython 3.11 running microgpt.py with these constants on this file:
    const losses = [
      "3.0664",
      "3.0750",
      "2.9346",
      "3.1693",
      "3.3699",
      "2.9020",
      "2.9004",
      "3.2271",
      "3.1852",
      "3.2991",
      "2.6775",
      "2.7505",
    ];
    const names = ["neflb", "üeiddn", "eümfëo", "éndilb"];
    const expected = "num docs: 10\nvocab size: 22\nnum params: 1168\n" +
      losses.map((l, i) => `step ${String(i + 1).padStart(4)} /   12 | loss ${l}\r`).join("") +
      "\n--- inference (new, hallucinated names) ---\n" +
      names.map((n, i) => `sample  ${i + 1}: ${n}\n`).join("");
    assert.equal(r.stdout, expected);
  },
});

Deno.test({
  name: "cli: every flag changes its setting",
  ignore: !CLI,
  fn: async () => {
    const input = file("two.txt", "abc\nbcd\n");
    const r = await cli([
      "--input",
      input,
      "--seed",
      "3",
      "--steps",
      "7",
      "--n-embd",
      "8",
      "--n-head",
      "2",
      "--n-layer",
      "2",
      "--block-size",
      "6",
      "--lr",
      "0.02",
      "--temperature",
      "0",
      "--samples",
      "3",
    ]);
    assert.deepEqual(r.code, 0, r.stderr);
    const lines = r.stdout.split(/[\r\n]/);
    assert.deepEqual(lines[0], "num docs: 2");
    assert.deepEqual(lines[1], "vocab size: 5");
    assert.deepEqual(lines[2], `num params: ${2 * 5 * 8 + 6 * 8 + 2 * 12 * 64}`);
    assert(r.stdout.includes("step    7 /    7 | loss"));
    const samples = lines.filter((l) => l.startsWith("sample"));
    assert.deepEqual(samples.length, 3);
    assert.deepEqual(new Set(samples.map((l) => l.slice(11))).size, 1); // greedy: always the same
    assert.match(r.stderr, /over the first 7 steps/);
    const help = await cli(["--help"], []);
    assert.deepEqual(help.code, 0);
    for (
      const flag of [
        "--input",
        "--seed",
        "--steps",
        "--n-embd",
        "--n-head",
        "--n-layer",
        "--block-size",
        "--lr",
        "--temperature",
        "--samples",
        "--save",
        "--load",
        "--prefix",
        "--explain",
        "Adam moments",
      ]
    ) {
      assert(help.stdout.includes(flag), `--help lacks ${flag}`);
    }
    assert.deepEqual((await cli(["-h"], [])).stdout, help.stdout);
  },
});

Deno.test({
  name: "cli: a wrong command line is refused with exit 2",
  ignore: !CLI,
  fn: async () => {
    await refused(["--bogus"], 2, /unknown option --bogus/);
    await refused(["--seed"], 2, /--seed needs a value/);
    await refused(["stray"], 2, /unexpected argument "stray"/);
    await refused(["--steps", "abc"], 2, /--steps must be a whole number/);
    await refused(["--n-layer", "1.5"], 2, /--n-layer must be a whole number/);
    await refused(["--seed", "-1"], 2, /--seed must be a whole number >= 0, not "-1"/);
    await refused(["--samples=-3"], 2, /--samples must be a whole number >= 0/);
    await refused(["--n-head", "0"], 2, /--n-head must be >= 1/);
    await refused(["--block-size", "0"], 2, /--block-size must be >= 1/);
    await refused(["--steps", "99999999999999999999"], 2, /too large/);
    await refused(["--lr", "NaN"], 2, /--lr must be a finite number/);
    await refused(["--lr", "0"], 2, /--lr must be > 0/);
    await refused(["--lr=-0.1"], 2, /--lr must be > 0/);
    await refused(["--temperature", "Infinity"], 2, /--temperature must be a finite number/);
    await refused(["--temperature", "1e999"], 2, /--temperature must be a finite number/);
    await refused(["--temperature=-1"], 2, /--temperature must be >= 0/);
    await refused(["--n-embd", "10"], 2, /--n-embd 10 must be divisible by --n-head 4/);
    await refused(["--explain=yes"], 2, /--explain takes no value/);
  },
});

Deno.test({
  name: "cli: a bad prefix is refused, naming the character or the length",
  ignore: !CLI,
  fn: async () => {
    await refused(["--prefix", "k@"], 2, /--prefix character "@" is not in the vocabulary/);
    await refused(["--prefix", "abcdefghijklmnop"], 2, /fills the block size 16/);
    const r = await cli(["--steps", "20", "--prefix", "ka", "--samples", "5"], []);
    assert.deepEqual(r.code, 0);
    const names = r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(names.length, 5);
    assert(names.every((l) => l.slice(11).startsWith("ka")), names.join("\n"));
  },
});

Deno.test({
  name: "cli: --explain shows candidates for the first sample and draws the same names",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "30", "--samples", "4", "--temperature", "1.5"];
    const plain = await cli(args, []);
    const explained = await cli([...args, "--explain"], []);
    assert.deepEqual(explained.code, 0);
    const names = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(names(explained), names(plain));
    assert.match(explained.stdout, /--- explain sample 1/);
    assert.match(explained.stdout, / {2}after "" +.*\*/);
    assert.deepEqual(
      explained.stdout.split("\n").filter((l) =>
        !l.startsWith("  after") && !l.includes("explain")
      ),
      plain.stdout.split("\n"),
    );
  },
});

Deno.test({
  name: "cli: an input file that cannot be used is refused with exit 1",
  ignore: !CLI,
  fn: async () => {
    await refused(["--input", `${tmp}/missing.txt`], 1, /no such file/);
    await refused(["--input", tmp], 1, /is a directory/);
    await refused(
      ["--input", file("latin1.txt", new Uint8Array([0x61, 0xe9, 0x0a]))],
      1,
      /not UTF-8/,
    );
    await refused(["--input", file("empty.txt", "")], 1, /has no documents/);
    await refused(["--input", file("blank.txt", " \n\t\r\n\n")], 1, /has no documents/);
    await refused(
      ["--input", file("ok.txt", "abc\n")],
      1,
      /needs read permission: add --allow-read/,
      [],
    );
  },
});

Deno.test({
  name: "cli: an unreadable input file is refused with exit 1",
  ignore: !canMakeUnreadable,
  fn: async () => {
    await refused(["--input", `${tmp}/locked.txt`], 1, /permission denied/);
  },
});

Deno.test({
  name: "cli: a loss that becomes NaN or infinite stops the run, naming the step",
  ignore: !CLI,
  fn: async () => {
    await refused(["--lr", "1e300"], 1, /the loss became NaN at step 3; try a lower --lr/);
    await refused(["--lr", "1000"], 1, /the loss became Infinity at step 2/);
  },
});

Deno.test({
  name: "cli: --save then --load --steps 0 samples the same names without training",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/m.json`;
    const trained = await cli(["--steps", "60", "--seed", "4", "--samples", "6", "--save", path]);
    assert.deepEqual(trained.code, 0, trained.stderr);
    assert.deepEqual([...Deno.readDirSync(tmp)].filter((e) => e.name.includes(".tmp")), []);
    const saved = JSON.parse(Deno.readTextFileSync(path));
    assert.deepEqual(saved.version, 2);
    assert.deepEqual([saved.n_embd, saved.n_head, saved.n_layer, saved.block_size], [16, 4, 1, 16]);
    // With the same seed and text, sampling a loaded model repeats the run that saved it.
    const names = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    const again = await cli(["--load", path, "--steps", "0", "--seed", "4", "--samples", "6"]);
    assert.deepEqual(names(again), names(trained));
    assert.match(again.stdout, /vocab size: 28\nnum params: 4224\n\n--- inference/);
    // Sampling alone needs neither training nor a text with the same characters.
    const other = file("other.txt", "x@z\n");
    const elsewhere = await cli(["--load", path, "--steps", "0", "--input", other]);
    assert.deepEqual(elsewhere.code, 0, elsewhere.stderr);
    assert.deepEqual(names(elsewhere).length, 20);
    // Training on from a loaded model works, and a shape flag must agree with the file.
    const more = await cli(["--load", path, "--steps", "5"]);
    assert.deepEqual(more.code, 0, more.stderr);
    await refused(["--load", path, "--n-layer", "2"], 1, /--n-layer 2 does not match/);
    await refused(["--load", path, "--input", other], 1, /vocabulary lacks "@"/);
  },
});

Deno.test({
  name: "cli: a corrupt, truncated or missing --load file is refused with exit 1",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/good.json`;
    assert.deepEqual((await cli(["--steps", "1", "--samples", "0", "--save", path])).code, 0);
    const text = Deno.readTextFileSync(path);
    await refused(
      ["--load", file("cut.json", text.slice(0, 500))],
      1,
      /cannot load .*not valid JSON/,
    );
    await refused(
      ["--load", file("v9.json", text.replace('"version":2', '"version":9'))],
      1,
      /version 9/,
    );
    await refused(
      ["--load", file("nan.json", text.replace(/\[\[[-0-9.e]+/, "[[null"))],
      1,
      /wte\[0\]\[0\] is null/,
    );
    await refused(["--load", `${tmp}/nope.json`], 1, /no such file/);
  },
});

Deno.test({
  name: "cli: --save refuses a missing directory, a directory or no permission before training",
  ignore: !CLI,
  fn: async () => {
    const start = Date.now();
    await refused(["--save", `${tmp}/no/such/dir/m.json`], 1, /cannot save to .*no such file/);
    assert(Date.now() - start < 10_000); // refused at once, not after 1000 steps
    await refused(["--save", tmp], 1, /cannot save to .*it is a directory/);
    const perms = /needs read and write permission: add --allow-read --allow-write/;
    await refused(["--save", `${tmp}/m2.json`], 1, perms, ["--allow-read"]);
    await refused(["--save", `${tmp}/m2.json`], 1, perms, ["--allow-write"]);
    const r = await cli(["--save", `${tmp}/no/m.json`]);
    assert.deepEqual(r.stdout, ""); // nothing printed: it failed before the first line
  },
});

Deno.test({
  name: "cli: a shape too large for a scalar graph is refused instead of running out of memory",
  ignore: !CLI,
  fn: async () => {
    await refused(["--n-embd", "4096", "--n-head", "1"], 2, /201621504 parameters, too large/);
    const long = file("long.txt", "a".repeat(200) + "\n");
    const big = ["--input", long, "--block-size", "200", "--n-layer", "8", "--n-embd", "128"];
    await refused(
      big,
      2,
      /a training step of microgpt.ts would need about [\d.]+ GB.*or run microgpt_fast\.ts/,
    );
  },
});

// --- Both engines on the command line --------------------------------------------------------

const FAST = new URL("./microgpt_fast.ts", import.meta.url).pathname;

/** Runs `deno run [perms] <script> args` and collects everything it printed. */
async function runScript(script: string, args: string[], perms: string[] = [], input?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...perms, script, ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "cli: microgpt_fast.ts prints byte for byte what microgpt.ts prints",
  ignore: !CLI,
  fn: async () => {
    const cases = [
      [],
      ["--seed", "5", "--n-layer", "2", "--block-size", "12", "--steps", "60", "--lr", "0.005"],
      ["--steps", "80", "--temperature", "0", "--samples", "3"],
      ["--steps", "50", "--prefix", "ka", "--explain", "--temperature", "1.3"],
      ["--n-embd", "8", "--n-head", "2", "--steps", "40", "--samples", "30"],
      ["--steps", "60", "--attention", "--embeddings", "--holdout", "300"],
      ["--steps", "30", "--n-embd", "12"], // an error: the same one line, the same exit code
    ];
    for (const args of cases) {
      const [a, b] = await Promise.all([runScript(SCRIPT, args), runScript(FAST, args)]);
      assert.equal(b.code, a.code, args.join(" "));
      assert.equal(b.stdout, a.stdout, args.join(" "));
      assert.equal(b.stderr, a.stderr, args.join(" "));
    }
  },
});

// --- Long runs: checkpoints, resume, signals -------------------------------------------------

/** The step lines of an output, in order. */
const stepLines = (out: string) => out.split(/[\r\n]/).filter((l) => l.startsWith("step "));
/** Everything from the inference header on. */
const inference = (out: string) => out.slice(out.indexOf("--- inference"));

/** A run that is stopped while it trains. `until` decides when to signal from what stdout has
 * shown; `pause` first stops reading stdout for that long, so that a fast run fills the pipe and
 * waits (a pipe holds 64 KiB, some 2,000 step lines), to be signalled in the middle. */
async function interrupted(
  script: string,
  args: string[],
  signal: Deno.Signal,
  until: (stdout: string) => boolean,
  pause = 0,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "--allow-write", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let stdout = "";
  let signalled = false;
  while (true) {
    if (!signalled && until(stdout)) {
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      child.kill(signal);
      signalled = true;
    }
    const { value, done } = await reader.read();
    if (done) break;
    stdout += dec.decode(value, { stream: true });
  }
  const status = await child.status;
  return { status, stdout, stderr: await stderr };
}

/** The default run's output, made once. */
let defaultRun: Promise<Result> | undefined;
const fullDefault = () => (defaultRun ??= cli([], []));

Deno.test({
  name: "cli: Ctrl-C saves, and --resume prints exactly the uninterrupted run's lines (graph)",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/ctrl-c.json`;
    const run = await interrupted(
      SCRIPT,
      ["--save", ckpt],
      "SIGINT",
      (out) => /step {2}4\d\d \//.test(out),
    );
    assert.equal(run.status.code, 130);
    assert.equal(run.status.signal, null); // it exited by itself, after saving
    const m = run.stderr.match(
      /^stopped by SIGINT after step (\d+) of 1000; saved (.*); resume with: (.*)$/m,
    );
    assert(m !== null, run.stderr);
    const step = Number(m[1]);
    assert(step > 400 && step < 1000, `stopped at ${step}`);
    assert.equal(
      m[3],
      `deno run --allow-read --allow-write microgpt.ts --resume ${ckpt} --save ${ckpt}`,
    );
    assert.equal(stepLines(run.stdout).length, step);
    const resumed = await cli(["--resume", ckpt, "--save", ckpt]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const full = await fullDefault();
    assert.deepEqual(resumed.stdout.split("\n").slice(0, 3), full.stdout.split("\n").slice(0, 3));
    assert.deepEqual(
      [...stepLines(run.stdout), ...stepLines(resumed.stdout)],
      stepLines(full.stdout),
    );
    assert.equal(inference(resumed.stdout), inference(full.stdout));
    // The finished checkpoint resumes to the samples alone.
    const again = await cli(["--resume", ckpt]);
    assert.deepEqual(stepLines(again.stdout), []);
    assert.equal(inference(again.stdout), inference(full.stdout));
  },
});

Deno.test({
  name: "cli: checkpoints move between engines mid-run and resume byte for byte",
  ignore: !CLI,
  fn: async () => {
    const full = await runScript(FAST, ["--steps", "2600", "--samples", "5"]);
    // microgpt_fast.ts, signalled while it waits on a full pipe; microgpt.ts finishes the run.
    const a = `${tmp}/fast-to-graph.json`;
    const run = await interrupted(
      FAST,
      ["--steps", "2600", "--samples", "5", "--save", a],
      "SIGTERM",
      (out) => out.includes("step "),
      800,
    );
    assert.equal(run.status.code, 143, run.stderr);
    const at = Number(run.stderr.match(/after step (\d+) of 2600/)?.[1]);
    assert(at > 0 && at < 2600, run.stderr);
    const graph = await cli(["--resume", a]);
    assert.deepEqual(
      [...stepLines(run.stdout), ...stepLines(graph.stdout)],
      stepLines(full.stdout),
    );
    assert.equal(inference(graph.stdout), inference(full.stdout));
    // microgpt.ts, stopped by SIGHUP; microgpt_fast.ts finishes it.
    const b = `${tmp}/graph-to-fast.json`;
    const fullGraph = await fullDefault();
    const run2 = await interrupted(
      SCRIPT,
      ["--save", b],
      "SIGHUP",
      (out) => /step {2}2\d\d \//.test(out),
    );
    assert.equal(run2.status.code, 129, run2.stderr);
    const fast = await runScript(FAST, ["--resume", b], ["--allow-read"]);
    assert.deepEqual(
      [...stepLines(run2.stdout), ...stepLines(fast.stdout)],
      stepLines(fullGraph.stdout),
    );
    assert.equal(inference(fast.stdout), inference(fullGraph.stdout));
  },
});

Deno.test({
  name: "cli: with --save-every, a SIGKILL loses only the steps since the last checkpoint",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/killed.json`;
    const args = ["--steps", "2600", "--samples", "5", "--save", ckpt, "--save-every", "250"];
    const run = await interrupted(FAST, args, "SIGKILL", (out) => out.includes("step "), 800);
    assert.equal(run.status.signal, "SIGKILL");
    const saved = JSON.parse(Deno.readTextFileSync(ckpt));
    const step = saved.training.step;
    assert(step % 250 === 0 && step > 0 && step < 2600, `checkpoint at ${step}`);
    assert([...Deno.readDirSync(tmp)].every((e) => !e.name.endsWith(".tmp")));
    for (const script of [SCRIPT, FAST]) {
      const resumed = await runScript(script, ["--resume", ckpt], ["--allow-read"]);
      const full = await runScript(FAST, ["--steps", "2600", "--samples", "5"]);
      const joined = [...stepLines(run.stdout).slice(0, step), ...stepLines(resumed.stdout)];
      assert.deepEqual(joined, stepLines(full.stdout));
      assert.equal(inference(resumed.stdout), inference(full.stdout));
    }
  },
});

Deno.test({
  name: "cli: signals end the run with 130, 143 or 129, saying whether anything was saved",
  ignore: !CLI,
  fn: async () => {
    const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
    for (const [signal, code] of Object.entries(codes)) {
      const run = await interrupted(
        SCRIPT,
        [],
        signal as Deno.Signal,
        (out) => out.includes("step  10"),
      );
      assert.equal(run.status.code, code, signal);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(
        lines[0],
        new RegExp(
          `^stopped by ${signal} after step \\d+ of 1000; nothing was saved: .*--save PATH.*--resume PATH`,
        ),
      );
    }
    // While sampling: it stops between two samples, with the same code.
    const sampling = await interrupted(
      FAST,
      ["--steps", "1", "--samples", "100000"],
      "SIGINT",
      (out) => out.includes("sample  9"),
    );
    assert.equal(sampling.status.code, 130);
    assert.match(sampling.stderr, /^stopped by SIGINT while sampling$/m);
    // A second Ctrl-C does not wait for the step to end: the process dies of it at once.
    const slow = ["--n-layer", "6", "--n-embd", "48", "--steps", "50"];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", SCRIPT, ...slow],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const status = await child.status;
    assert.equal(status.signal, "SIGINT");
  },
});

Deno.test({
  name: "cli: --resume refuses another text, a contradicting flag, or a file that is no checkpoint",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/short.json`;
    assert.equal((await cli(["--steps", "20", "--samples", "0", "--save", ckpt])).code, 0);
    const other = file("other-names.txt", "anna\nbob\n");
    await refused(
      ["--resume", ckpt, "--input", other],
      1,
      /trained on another text \(8422 documents.*\(2 documents/,
    );
    await refused(
      ["--resume", ckpt, "--n-layer", "2"],
      1,
      /--n-layer 2 contradicts .*trained with --n-layer 1/,
    );
    await refused(
      ["--resume", ckpt, "--lr", "0.02"],
      1,
      /--lr 0.02 contradicts .*trained with --lr 0.01/,
    );
    await refused(["--resume", ckpt, "--steps", "30"], 1, /--steps 30 contradicts .*--steps 20/);
    // The same values are no contradiction, and sampling flags may change.
    const ok = await cli([
      "--resume",
      ckpt,
      "--lr",
      "0.01",
      "--samples",
      "2",
      "--temperature",
      "0",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.split("\n").filter((l) => l.startsWith("sample")).length, 2);
    // A version 1 save has weights, not a run to continue.
    const v1 = JSON.parse(Deno.readTextFileSync(ckpt));
    v1.version = 1;
    for (const key of ["training", "sampling", "adam", "random", "data"]) delete v1[key];
    const old = file("v1.json", JSON.stringify(v1));
    await refused(["--resume", old], 1, /does not record where its run stopped.*--load/);
    assert.equal((await cli(["--load", old, "--steps", "0", "--samples", "1"])).code, 0);
    await refused(["--resume", ckpt, "--load", ckpt], 2, /do not go together/);
    await refused(["--save-every", "5"], 2, /--save-every needs --save/);
  },
});

Deno.test({
  name: "cli: a closed stdout costs nothing: training goes on, the model is saved, exit 1",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/closed-stdout.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", SCRIPT, "--steps", "300", "--save", path],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    await child.stdout.cancel(); // the reader goes away, as `| head` does
    const status = await child.status;
    assert.equal(status.code, 1);
    const lines = (await stderr).trimEnd().split("\n");
    assert.match(
      lines[lines.length - 1],
      /^error: could not write to stdout \(.*\); training went on to the end; .*closed-stdout.json was saved$/,
    );
    // The same checkpoint as a run whose stdout was read to the end.
    const reference = `${tmp}/read-stdout.json`;
    assert.equal((await cli(["--steps", "300", "--save", reference])).code, 0);
    assert.equal(Deno.readTextFileSync(path), Deno.readTextFileSync(reference));
  },
});

Deno.test({
  name: "cli: a save that fails after training still prints the samples, then the error, exit 1",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/vanishing`;
    Deno.mkdirSync(dir);
    const target = `${dir}/m.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", SCRIPT, "--steps", "400", "--save", target],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A directory appears where the checkpoint was to go: the final rename must fail.
    await new Promise((r) => setTimeout(r, 600));
    Deno.mkdirSync(target);
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr).trimEnd().split("\n");
    assert.equal(out.code, 1);
    assert.equal(stdout.split("\n").filter((l) => l.startsWith("sample")).length, 20);
    assert.match(stderr[stderr.length - 1], /^error: cannot save to .*m\.json: /);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m.json"]); // no temporary file
  },
});

Deno.test({
  name: "cli: in a terminal the step line tells the time; piped, it stays microgpt.py's",
  ignore: !CLI || !(() => {
    try {
      return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync().success;
    } catch {
      return false;
    }
  })(),
  fn: async () => {
    const out = await new Deno.Command("script", {
      args: ["-qec", `${Deno.execPath()} run ${FAST} --steps 300 --samples 1`, "/dev/null"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.match(
      text,
      /step {2}300 \/ {2}300 \| loss \d\.\d{4} \| [\d.]+ s, [\d.]+ ms\/step, [\d.]+ s left/,
    );
    const piped = await runScript(FAST, ["--steps", "300", "--samples", "1"]);
    assert.doesNotMatch(piped.stdout, /ms\/step/);
  },
});

// --- Hardening: hostile paths, files and models ----------------------------------------------

Deno.test({
  name: "cli: saves go through a fresh temporary file: long names, races and failures leave none",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/saves`;
    Deno.mkdirSync(dir);
    // A legal 255-byte name saves (the temporary file's name does not grow with it).
    const long = `${dir}/${"m".repeat(250)}.json`;
    const r = await runScript(FAST, ["--steps", "5", "--samples", "0", "--save", long], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(long)).training.step, 5);
    // Two runs saving to one path, a checkpoint every step: neither fails.
    const shared = `${dir}/shared.json`;
    const args = ["--steps", "300", "--samples", "0", "--save", shared, "--save-every", "1"];
    const both = await Promise.all([
      runScript(FAST, args, ["--allow-read", "--allow-write"]),
      runScript(FAST, [...args, "--seed", "7"], ["--allow-read", "--allow-write"]),
    ]);
    for (const run of both) assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(shared)).training.step, 300);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp")),
      [],
    );
  },
});

Deno.test({
  name: "cli: a save never replaces the training text, a FIFO or a link, and keeps the mode",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/targets`;
    Deno.mkdirSync(dir);
    const data = `${dir}/data.txt`;
    Deno.writeTextFileSync(data, "anna\nbob\ncleo\n");
    await refused(["--input", data, "--save", data], 1, /would replace the training text/);
    await refused(["--input", data, "--save", `${dir}/../targets/./data.txt`], 1, /training text/);
    Deno.linkSync(data, `${dir}/hard.txt`);
    await refused(["--input", data, "--save", `${dir}/hard.txt`], 1, /training text/);
    assert.equal(Deno.readTextFileSync(data), "anna\nbob\ncleo\n");
    // A FIFO would hang the save forever; it is refused before training.
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    await refused(["--save", fifo], 1, /it is a FIFO, not a regular file/);
    await refused(["--save", "/dev/null"], 1, /it is a device, not a regular file/);
    // Through a symlink: the link stays, its target gets the model, with its mode kept.
    const target = `${dir}/real.json`;
    Deno.writeTextFileSync(target, "old");
    Deno.chmodSync(target, 0o600);
    Deno.symlinkSync("real.json", `${dir}/link.json`);
    const r = await cli(["--steps", "3", "--samples", "0", "--save", `${dir}/link.json`]);
    assert.equal(r.code, 0, r.stderr);
    assert(Deno.lstatSync(`${dir}/link.json`).isSymlink);
    assert.equal(Deno.readLinkSync(`${dir}/link.json`), "real.json");
    assert.equal(JSON.parse(Deno.readTextFileSync(target)).training.step, 3);
    assert.equal(Deno.statSync(target).mode! & 0o777, 0o600);
    // Permission advice names what is missing, never everything.
    const denied = await cli(["--save", `${dir}/x.json`], ["--allow-read"]);
    assert.doesNotMatch(denied.stderr, /allow-all/);
  },
});

Deno.test({
  name: "cli: sizes are checked by arithmetic before anything is allocated",
  ignore: !CLI,
  fn: async () => {
    await refused(["--n-layer", "10000000"], 2, /parameters, too large: the limit is 5000000/);
    // A tiny file that claims ten million layers.
    const claim = JSON.stringify({
      format: "microgpt.ts model",
      version: 1,
      n_embd: 16,
      n_head: 4,
      n_layer: 10000000,
      block_size: 16,
      vocab: ["a"],
      state_dict: {},
    });
    await refused(["--load", file("huge-claim.json", claim)], 1, /too large: the limit is/);
    // Files past the limits are refused by their size, unread (these are sparse: instant).
    const big = `${tmp}/big.txt`;
    Deno.writeTextFileSync(big, "");
    Deno.truncateSync(big, 100_000_001);
    await refused(["--input", big], 1, /is too large: 100 MB; the limit is 100 MB/);
    const bigModel = `${tmp}/big.json`;
    Deno.writeTextFileSync(bigModel, "");
    Deno.truncateSync(bigModel, 300_000_001);
    await refused(["--load", bigModel], 1, /is too large: 300 MB; the limit is 300 MB/);
    // Twenty million empty lines: no documents, and no crash on the way.
    await refused(["--input", file("newlines.txt", "\n".repeat(20_000_000))], 1, /no documents/);
    // Sampling with no end token fills the whole block: it is sized too.
    await refused(
      ["--steps", "0", "--block-size", "200000"],
      2,
      /a sample of microgpt.ts would need/,
    );
  },
});

Deno.test({
  name: "cli: --input - and /dev/stdin read standard input, with no permission at all",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "20", "--samples", "3", "--input"];
    const names = "anna\nbob\ncleo\ndora\n";
    const fromFile = await cli([...args, file("four.txt", names)]);
    const dash = await runScript(SCRIPT, [...args, "-"], [], names);
    const dev = await runScript(SCRIPT, [...args, "/dev/stdin"], [], names);
    assert.equal(dash.code, 0, dash.stderr);
    assert.equal(dash.stdout, fromFile.stdout);
    assert.equal(dev.stdout, fromFile.stdout);
    await refused(["--input", "/dev/fd/3"], 1, /pipe the data in with --input -/, ["--allow-read"]);
  },
});

Deno.test({
  name: "cli: untrusted models and texts put no raw control character on the screen",
  ignore: !CLI,
  fn: async () => {
    const good = `${tmp}/good-for-edits.json`;
    assert.equal((await cli(["--steps", "1", "--samples", "0", "--save", good])).code, 0);
    const saved = JSON.parse(Deno.readTextFileSync(good));
    for (const ch of ["\x1b", "\x07", "\n"]) {
      const edited = { ...saved, vocab: [ch, ...saved.vocab.slice(1)] };
      const r = await cli(["--load", file("ctl.json", JSON.stringify(edited)), "--steps", "0"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: cannot load .*"vocab" holds the control character/);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1);
      assert(![...r.stderr.trimEnd()].some(isControl), r.stderr);
    }
    // A parse error quotes the file: escaped.
    const r = await cli(["--load", file("esc.json", '{"a": \x1b]0;pwned\x07}')]);
    assert.match(r.stderr, /^error: cannot load .*not valid JSON.*\\x1b/);
    assert(![...r.stderr.trimEnd()].some(isControl), r.stderr);
    // A training text with control characters inside a line.
    await refused(
      ["--input", file("ctl.txt", "anna\nb\x1b[2Jb\n")],
      1,
      /document 2 holds the control character \\x1b/,
    );
    // The other odd saved files, each named for what it is.
    const variants: [string, RegExp][] = [
      ["\ufeff" + JSON.stringify(saved), /byte order mark/],
      [JSON.stringify({ ...saved, version: "1" }), /"version" must be a number, not "1"/],
      [JSON.stringify(saved).replace(/\[\[[-0-9.e]+/, "[[1e400"), /wte\[0\]\[0\] is Infinity/],
      [JSON.stringify({ ...saved, state_dict: [] }), /"state_dict" must be an object.*not a list/],
    ];
    for (const [text, why] of variants) await refused(["--load", file("odd.json", text)], 1, why);
  },
});

Deno.test({
  name: "cli: numbers at the edges: a temperature too small to divide by, weights too large",
  ignore: !CLI,
  fn: async () => {
    await refused(
      ["--temperature", "1e-320"],
      2,
      /--temperature 1e-320 is too small to divide by; 0 samples greedily/,
    );
    const good = `${tmp}/for-huge-weights.json`;
    assert.equal((await cli(["--steps", "1", "--samples", "0", "--save", good])).code, 0);
    const saved = JSON.parse(Deno.readTextFileSync(good));
    // Two rows of lm_head so large that one logit is +Infinity whatever the sign of the input.
    saved.state_dict.lm_head[0] = saved.state_dict.lm_head[0].map(() => 1e308);
    saved.state_dict.lm_head[1] = saved.state_dict.lm_head[1].map(() => -1e308);
    const huge = file("huge.json", JSON.stringify(saved));
    await refused(
      ["--load", huge, "--steps", "5"],
      1,
      /the weights from .*huge\.json are too large to compute with \(the largest is 1\.00e\+308\)/,
    );
    await refused(
      ["--load", huge, "--steps", "0"],
      1,
      /logits are not finite numbers: its weights are too large/,
    );
  },
});

Deno.test({
  name: "cli: messages point the right way, and every one stays on one line",
  ignore: !CLI,
  fn: async () => {
    await refused(["--temperature", "-0.5"], 2, /--temperature must be >= 0, not -0.5/);
    await refused(["-steps", "100"], 2, /unknown option -steps; did you mean --steps\?/);
    await refused(["--n_embd", "8"], 2, /unknown option --n_embd; did you mean --n-embd\?/);
    await refused(["--learning_rate", "0.1"], 2, /did you mean --lr\?/);
    await refused(["--temprature", "1"], 2, /did you mean --temperature\?/);
    const help = await cli(["--bogus", "--help", "--steps", "x"], []);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: /);
    await refused(["--load", `${Deno.cwd()}/input.txt`], 1, /^error: cannot load .*not valid JSON/);
    await refused(["--input", `${tmp}/a\nb.txt`], 1, /a\\nb\.txt: no such file/);
  },
});

// --- Looking inside, on the command line -----------------------------------------------------

Deno.test({
  name: "cli: --attention, --embeddings and --log draw what they promise and change no draw",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "200", "--samples", "5"];
    const plain = await cli(args, []);
    const log = `${tmp}/loss.tsv`;
    const seen = await cli([...args, "--attention", "--embeddings", "--log", log]);
    assert.equal(seen.code, 0, seen.stderr);
    const samples = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(samples(seen), samples(plain));
    assert.deepEqual(stepLines(seen.stdout), stepLines(plain.stdout));
    // The maps come right after the first sample: one per head, rows as long as the sample.
    const after = seen.stdout.split("sample  1: ")[1];
    const first = after.split("\n")[0];
    assert.match(after, /^[^\n]*\n--- attention of sample 1/);
    for (let h = 0; h < 4; h++) assert.match(seen.stdout, new RegExp(`layer 0, head ${h}`));
    const rows = after.split("sample  2")[0].split("\n").filter((l) =>
      /^ *(<s>|[a-z-]) [░▒▓█]/.test(l)
    );
    assert.equal(rows.length, 2 * Math.min(first.length + 1, 16)); // two rows of two maps
    assert(after.split("sample  2")[0].split("\n").every((l) => [...l].length <= 80));
    assert.match(seen.stdout, /--- token embeddings \(wte\)/);
    assert.match(seen.stdout, /^nearest to e: /m);
    // The log: a header and one row per step, numbers at full precision.
    const rowsOfLog = Deno.readTextFileSync(log).trimEnd().split("\n");
    assert.equal(rowsOfLog[0], "step\tloss\tlearning_rate\theld_out_loss");
    assert.equal(rowsOfLog.length, 201);
    assert.deepEqual(rowsOfLog[1].split("\t").slice(0, 3), ["1", "3.461323030236502", "0.01"]);
  },
});

Deno.test({
  name: "cli: --holdout reports held-out loss 10 times and refuses to hold out everything",
  ignore: !CLI,
  fn: async () => {
    const log = `${tmp}/holdout.tsv`;
    const r = await runScript(FAST, [
      "--steps",
      "500",
      "--holdout",
      "2000",
      "--samples",
      "0",
      "--log",
      log,
    ], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.includes("held-out loss"));
    assert.equal(lines.length, 10);
    assert.match(
      lines[0],
      /^step {3}50 \/ {2}500 \| held-out loss \d\.\d{4} on 2000 documents \| training loss \d\.\d{4} over steps 1-50$/,
    );
    const measured = Deno.readTextFileSync(log).trimEnd().split("\n").slice(1).filter((l) =>
      !l.endsWith("\t")
    );
    assert.deepEqual(measured.map((l) => Number(l.split("\t")[0])), [
      50,
      100,
      150,
      200,
      250,
      300,
      350,
      400,
      450,
      500,
    ]);
    await refused(
      ["--holdout", "8422"],
      2,
      /--holdout 8422 leaves no document to train on \(the text has 8422\)/,
    );
  },
});

// --- Hardening, second pass: what an adversarial run of ~290 cases found -------------------

Deno.test({
  name: "cli: the training text is guarded behind standard input and as the bundled input.txt",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/guarded`;
    Deno.mkdirSync(dir);
    const data = `${dir}/names.txt`;
    Deno.writeTextFileSync(data, "anna\nbob\ncleo\n");
    const args = ["--steps", "2", "--samples", "0", "--input", "-"];
    const rw = ["--allow-read", "--allow-write"];
    for (const extra of [["--save", data], ["--log", data]]) {
      // The shell's `< names.txt`: standard input is the file itself.
      const out = await new Deno.Command("sh", {
        args: [
          "-c",
          `exec "$0" run --no-prompt ${rw.join(" ")} "$1" ${args.join(" ")} ${
            extra[0]
          } "$2" < "$2"`,
          Deno.execPath(),
          SCRIPT,
          data,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 1);
      assert.match(new TextDecoder().decode(out.stderr), /would replace the training text/);
      assert.equal(Deno.readTextFileSync(data), "anna\nbob\ncleo\n");
    }
    // A copy of the scripts: without --input, their own input.txt is the training text.
    const copy = `${dir}/copy`;
    Deno.mkdirSync(copy);
    for (const name of ["microgpt.ts", "microgpt_fast.ts", "input.txt"]) {
      Deno.copyFileSync(new URL(`./${name}`, import.meta.url), `${copy}/${name}`);
    }
    Deno.mkdirSync(`${copy}/tools`);
    for (const entry of Deno.readDirSync(new URL("./tools", import.meta.url))) {
      const from = new URL(`./tools/${entry.name}`, import.meta.url);
      if (entry.name.endsWith(".ts")) Deno.copyFileSync(from, `${copy}/tools/${entry.name}`);
    }
    for (const flag of ["--save", "--log"]) {
      const r = await runScript(`${copy}/microgpt_fast.ts`, [
        "--steps",
        "1",
        flag,
        `${copy}/input.txt`,
      ], rw);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /would replace the bundled training text/);
    }
    assert.equal(Deno.readTextFileSync(`${copy}/input.txt`), bundledInput);
    // --save and --log on one new path: one of them would be lost.
    await refused(
      ["--steps", "1", "--save", `${dir}/same.json`, "--log", `${dir}/same.json`],
      1,
      /would replace the --log file/,
    );
  },
});

Deno.test({
  name: "cli: before training, a signal ends the run at once, even one blocked reading stdin",
  ignore: !CLI,
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", SCRIPT, "--input", "-", "--steps", "5"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new Response(child.stdout).text();
    const stderr = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("anna\nbob\n")); // and more to come, never
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const status = await child.status;
    await writer.close().catch(() => {});
    assert.equal(status.signal, "SIGINT"); // nothing to save yet: the default action
    assert.equal(await stdout, "");
    assert.equal(await stderr, "");
  },
});

Deno.test({
  name: "cli: the printed resume command works for a path that starts with a dash",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/dash`;
    Deno.mkdirSync(dir);
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", SCRIPT, "--save=-ck.json", "--samples", "2"],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1500));
    run.kill("SIGINT");
    const out = await run.output();
    const stderr = new TextDecoder().decode(out.stderr);
    const command = stderr.match(/resume with: (.*)$/m)?.[1];
    assert(command !== undefined, stderr);
    assert.match(command, /--resume=-ck\.json --save=-ck\.json/);
    const again = await new Deno.Command("sh", {
      args: ["-c", command.replace(/^deno /, `"${Deno.execPath()}" `)],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(again.code, 0, new TextDecoder().decode(again.stderr));
  },
});

Deno.test({
  name: "cli: odd values get messages that say what they are",
  ignore: !CLI,
  fn: async () => {
    await refused(["--constructor", "1"], 2, /^error: unknown option --constructor$/);
    await refused(["--input", "-data.txt"], 2, /--input needs a value; write --input=-data.txt/);
    await refused(
      ["--seed", "9".repeat(5000)],
      2,
      /--seed has 5000 digits, too large: the limit is 4300/,
    );
    await refused(["--save", "-"], 2, /--save writes a file: name one/);
    await refused(["--input", "-", "--resume", "-"], 2, /cannot both read standard input/);
    await refused(
      ["--prefix", "\u202ex"],
      2,
      /--prefix character "\\u202e" is not in the vocabulary/,
    );
    await refused(["--allow-read"], 2, /a flag of Deno's: it goes before the script/);
    assert.equal((await cli(["--help=1"], [])).code, 0);
    // A checkpoint's own sampling settings are checked as the file's, not as flags.
    const ckpt = `${tmp}/odd-prefix.json`;
    assert.equal((await cli(["--steps", "2", "--samples", "0", "--save", ckpt])).code, 0);
    const saved = JSON.parse(Deno.readTextFileSync(ckpt));
    saved.sampling.prefix = "z@";
    await refused(
      ["--resume", file("odd-prefix2.json", JSON.stringify(saved))],
      1,
      /sampling\."prefix" holds "@", which its vocabulary lacks/,
    );
  },
});

Deno.test({
  name: "cli: a save keeps the set-user-id and set-group-id bits of the file it replaces",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/suid.json`;
    Deno.writeTextFileSync(path, "x");
    Deno.chmodSync(path, 0o6750);
    assert.equal((await cli(["--steps", "1", "--samples", "0", "--save", path])).code, 0);
    assert.equal(Deno.statSync(path).mode! & 0o7777, 0o6750);
  },
});
