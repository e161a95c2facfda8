// Tests for microgpt.ts: the algorithm, section by section in the file's order, then the script
// it runs with no flags. The numbers marked "CPython" were printed by CPython 3.11 (its `random`
// module, or microgpt.py itself); nothing here reads ../shared. Each tool's tests sit beside it in
// tools/.
//
// `deno test` runs the algorithm's tests with no permissions. The tests that spawn the script need
// run/read/write: they run under `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import bundledInput from "./input.txt" with { type: "text" };
import golden from "./testdata/golden.json" with { type: "json" };
import {
  Adam,
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
import {
  assertClose,
  bitsHash,
  CLI,
  fullDefault,
  runScript,
  SCRIPT,
  smallTrained,
  tmp,
} from "./tools/testing.ts";

/** microgpt.py's default run (CPython 3.11): its first 50 losses in full and its 20 names. */
const GOLDEN_LOSSES: number[] = golden.losses;
const GOLDEN_NAMES: string[] = golden.names;

const cfg = { ...DEFAULTS };

/** One training step, as the training loop takes it: forward, backward, Adam. */
function trainStep(model: Model, adam: Adam, tokens: number[], step: number): number {
  const loss = forwardLoss(model, tokens);
  loss.backward();
  adam.update(model.params, step);
  return loss.data;
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

Deno.test("parseDocs walks a text line by line: millions of empty lines make no giant list", () => {
  assert.deepEqual(parseDocs("\n".repeat(5_000_000) + "x\r\n"), ["x"]);
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

// --- The script: what `deno run microgpt.ts` runs (needs -P) -------------------------------

Deno.test({
  name: "cli: the default run prints microgpt.py's header, 1000 steps and 20 names",
  ignore: !CLI,
  fn: async () => {
    const r = await fullDefault();
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
    assert.equal(r.stderr, ""); // the extras on stderr come with flags
  },
});

Deno.test({
  name: "cli: copied alone with input.txt it runs main(); a flag there gets one line, exit 2",
  ignore: !CLI,
  fn: async () => {
    const alone = `${tmp}/alone`;
    Deno.mkdirSync(alone);
    for (const name of ["microgpt.ts", "input.txt"]) {
      Deno.copyFileSync(new URL(`./${name}`, import.meta.url), `${alone}/${name}`);
    }
    const full = await fullDefault();
    const r = await runScript(`${alone}/microgpt.ts`, []);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, full.stdout);
    assert.equal(r.stderr, "");
    const flagged = await runScript(`${alone}/microgpt.ts`, ["--steps", "5"]);
    assert.equal(flagged.code, 2);
    assert.equal(flagged.stdout, "");
    assert.equal(
      flagged.stderr,
      "error: flags need the tools/ folder that comes with microgpt.ts; " +
        "without it, run microgpt.ts with no flags\n",
    );
    // With no flags the tools are never loaded: a tools/cli.ts that fails to load changes nothing.
    Deno.mkdirSync(`${alone}/tools`);
    Deno.writeTextFileSync(`${alone}/tools/cli.ts`, `throw new Error("the tools were loaded");\n`);
    const again = await runScript(`${alone}/microgpt.ts`, []);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, full.stdout);
  },
});

Deno.test({
  name: "cli: microgpt.ts imports only input.txt; the tools hang from one dynamic edge, no cycle",
  ignore: !CLI,
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", SCRIPT],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const root = new URL(".", import.meta.url).href;
    const name = (url: string) => url.replace(root, "");
    const statics = new Map<string, string[]>();
    const dynamic: string[][] = [];
    for (const module of info.modules) {
      const from = name(module.specifier);
      statics.set(from, []);
      for (const dep of module.dependencies ?? []) {
        const to = name(dep.code?.specifier ?? dep.type?.specifier ?? "");
        if (dep.isDynamic === true) dynamic.push([from, to]);
        else statics.get(from)!.push(to);
      }
    }
    assert.deepEqual(dynamic, [["microgpt.ts", "tools/cli.ts"]]);
    assert.deepEqual(statics.get("microgpt.ts"), ["input.txt"]);
    assert(statics.has("tools/run.ts") && statics.has("tools/checkpoint.ts"), "the tools are seen");
    // A depth-first walk of the static edges: reaching a module still on the path is a cycle.
    const state = new Map<string, "open" | "done">();
    const walk = (m: string, path: string[]): void => {
      if (state.get(m) === "done") return;
      assert.notEqual(state.get(m), "open", `import cycle: ${[...path, m].join(" -> ")}`);
      state.set(m, "open");
      for (const next of statics.get(m) ?? []) walk(next, [...path, m]);
      state.set(m, "done");
    };
    for (const m of statics.keys()) walk(m, []);
  },
});
