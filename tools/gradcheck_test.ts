// Tests for tools/gradcheck.ts and --gradcheck: both engines pass, a wrong gradient fails.

import assert from "node:assert/strict";
import { fastEngine } from "../microgpt_fast.ts";
import type { Engine } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { direction, GRADCHECK_TOLERANCE, STEP_SIZES } from "./gradcheck.ts";
import { CLI, FAST, runScript, SCRIPT, tmp } from "./testing.ts";
import { runIn } from "./testdata/traced.ts";
import { variantEngine } from "./testdata/variants.ts";

/** The ratios a --gradcheck report prints. */
function ratios(stdout: string): number[] {
  return [...stdout.matchAll(/ ratio (-?\d\S*)$/gm)].map((m) => Number(m[1]));
}

Deno.test({
  name: "--gradcheck: both engines agree with the finite differences, print alike, exit 0",
  ignore: !CLI,
  fn: async () => {
    const graph = await runScript(SCRIPT, ["--gradcheck"]);
    const fast = await runScript(FAST, ["--gradcheck"]);
    assert.equal(graph.code, 0, graph.stderr);
    assert.equal(fast.code, 0, fast.stderr);
    assert.equal(graph.stderr, "");
    // The same gradient and losses, bit for bit: the same report.
    assert.equal(fast.stdout, graph.stdout);
    const lines = graph.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 3), ["num docs: 8422", "vocab size: 28", "num params: 4224"]);
    assert.match(
      lines[3],
      /^gradient check at the initial weights, on document 1 of 8422 after the shuffle \("[a-z-]+", step 1's\),$/,
    );
    assert.equal(
      lines[4],
      "along a random unit direction d (a central difference is (L(w + h·d) − L(w − h·d)) / 2h):",
    );
    assert.match(lines[5], /^ {2}loss L {28}3\.\d+$/);
    assert.match(lines[6], /^ {2}d·∇L by backward\(\) {16}-?\d\.\d+(e-\d+)?$/);
    assert.match(lines[7], /^ {2}central difference at h = 1e-4 {4}\S+ +ratio \S+$/);
    assert.match(lines[8], /^ {2}central difference at h = 1e-5 {4}\S+ +ratio \S+$/);
    const r = ratios(graph.stdout);
    assert.equal(r.length, 2);
    for (const x of r) assert(Math.abs(x - 1) <= GRADCHECK_TOLERANCE, `${x}`);
    assert.equal(
      lines[9],
      "ok: backward()'s gradient agrees with the finite differences (|ratio − 1| ≤ 1e-5 at " +
        "both step sizes)",
    );
  },
});

Deno.test({
  name: "--gradcheck checks a checkpoint's or a saved model's weights, on its next step's document",
  ignore: !CLI,
  fn: async () => {
    const saved = `${tmp}/gradcheck.json`;
    const trained = await runIn(["--steps", "40", "--samples", "0", "--save", saved]);
    assert.equal(trained.code, 0, trained.stderr);
    for (const engine of [undefined, fastEngine]) {
      const resumed = await runIn(["--resume", saved, "--gradcheck"], engine);
      assert.equal(resumed.code, 0, resumed.stdout);
      assert.match(
        resumed.stdout,
        /gradient check at the weights of .*gradcheck\.json \(after step 40\), on document 41 of 8422 .*step 41's\)/,
      );
      const loaded = await runIn(["--load", saved, "--gradcheck"], engine);
      assert.equal(loaded.code, 0, loaded.stdout);
      assert.match(loaded.stdout, /at the weights of .*gradcheck\.json, on document 1 of 8422/);
    }
  },
});

/** The fast engine with its gradient scaled by `factor`: a wrong gradient that still trains. */
function scaled(factor: number): Engine {
  return {
    ...fastEngine,
    create(config, vocabSize, weights) {
      const trainer = fastEngine.create(config, vocabSize, weights);
      return {
        ...trainer,
        gradient(tokens) {
          const { loss, grad } = trainer.gradient(tokens);
          return { loss, grad: grad.map((g) => g * factor) };
        },
      };
    },
  };
}

Deno.test({
  name:
    "--gradcheck: a wrong gradient fails with exit 1 — a ReLU that passes every gradient, or 0.1% too much",
  ignore: !CLI,
  fn: async () => {
    const relu = await runIn(["--gradcheck"], variantEngine({ reluGrad: true }));
    assert.equal(relu.code, 1);
    const last = relu.stdout.trimEnd().split("\n").pop();
    assert.equal(
      last,
      "FAILED: backward()'s gradient disagrees with the finite differences (|ratio − 1| > " +
        "1e-5): the backward pass computes something other than the derivative of the loss",
    );
    assert.equal(ratios(relu.stdout).length, 2);
    for (const r of ratios(relu.stdout)) assert(Math.abs(r - 1) > 1e-2, `${r}`);
    const off = await runIn(["--gradcheck"], scaled(1.001));
    assert.equal(off.code, 1);
    for (const r of ratios(off.stdout)) assert(Math.abs(r - 1 / 1.001) < 1e-6, `${r}`);
    // The same check passes the same engine unscaled.
    assert.equal((await runIn(["--gradcheck"], scaled(1))).code, 0);
  },
});

Deno.test({
  name:
    "--gradcheck cannot decide where the loss overflows or the gradient is too small to measure: one error line, exit 1",
  ignore: !CLI,
  fn: async () => {
    for (const engine of [undefined, fastEngine]) {
      const cases: [string, RegExp][] = [
        [
          "5",
          /the loss is not a finite number at these weights \(L = Infinity; the largest weight is 1\.72e\+1\)/,
        ],
        ["1e30", /the loss is not a finite number at these weights \(L = (Infinity|NaN);/],
        [
          "1e-300",
          /the gradient along d is too small for finite differences to measure at these weights \(d·∇L = -3\.93e-300, while the rounding of the loss, 3\.332, blurs a central difference at h = 1e-5 by about 3\.7e-11\)/,
        ],
        ["1e-10", /the gradient along d is too small for finite differences to measure/],
      ];
      for (const [std, why] of cases) {
        const r = await runIn(["--gradcheck", "--init-std", std], engine);
        assert.equal(r.code, 1, `${std}: ${r.stdout}`);
        assert.deepEqual(r.stdout.trimEnd().split("\n").slice(3), [], `${std}: ${r.stdout}`);
        assert.match(r.stderr, /^error: the gradient check cannot decide: [^\n]*\n$/);
        assert.match(r.stderr, why);
      }
    }
    // A gradient wrong by being 0 (or far too large) is still found out: it is no small gradient.
    for (const factor of [0, 1e6]) {
      const wrong = await runIn(["--gradcheck"], scaled(factor));
      assert.equal(wrong.code, 1);
      assert.equal(wrong.stderr, "");
      assert.match(wrong.stdout, /\nFAILED: backward\(\)'s gradient disagrees/);
    }
    // Small weights that still leave a gradient to measure are checked as usual.
    assert.equal((await runIn(["--gradcheck", "--init-std", "1e-3"])).code, 0);
  },
});

Deno.test("--gradcheck refuses the flags of a run it does not make", () => {
  for (
    const flag of [["--save", "m.json"], ["--log", "l.tsv"], ["--trace", "t.jsonl"], ["--explain"]]
  ) {
    assert.throws(
      () => parseCommandLine(["--gradcheck", ...flag]),
      (err: Error & { exitCode?: number }) =>
        err.exitCode === 2 &&
        err.message ===
          `--gradcheck checks the gradient and exits, training and sampling nothing: ${
            flag[0]
          } does not go with it`,
    );
  }
  assert.equal(parseCommandLine(["--gradcheck", "--seed", "3", "--n-layer", "2"]).gradcheck, true);
});

Deno.test("the direction is a unit vector of its own generator's Gaussians, the same for a seed", () => {
  const d = direction(1000, 42n);
  let norm = 0;
  for (const x of d) norm += x * x;
  assert(Math.abs(norm - 1) < 1e-12);
  assert.deepEqual(direction(1000, 42n), d);
  assert.notDeepEqual(direction(1000, 43n), d);
  assert.deepEqual(STEP_SIZES, [1e-4, 1e-5]);
});
