// Tests for shakespeare.ts, the experiment. They read the text they make from a file, so they run
// under `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { parseDocs, Random } from "../microgpt.ts";
import { parseCommandLine } from "./flags.ts";
import { splitText, trainedTargets } from "./holdout.ts";
import { ARMS, samplesOf, stepsFor, table } from "./shakespeare.ts";
import { trainingDocs } from "./stream.ts";
import { CLI, file, madeText, runScript } from "./testing.ts";

const SCRIPT = new URL("./shakespeare.ts", import.meta.url).pathname;

Deno.test("each arm trains until it has seen the budget's characters, counted in its own order", () => {
  const lines = parseDocs(madeText(600, 11));
  for (const arm of ARMS) {
    const steps = stepsFor(lines, arm.flags, 5000);
    const block = parseCommandLine(arm.flags).cfg.blockSize;
    const docs = trainingDocs(splitText(lines, 10).train, arm.flags.includes("--stream"), block);
    const order = docs.slice();
    new Random(42).shuffle(order);
    // The first step count at which the targets trained on reach the budget.
    assert(trainedTargets(order, block, steps) >= 5000, arm.name);
    assert(trainedTargets(order, block, steps - 1) < 5000, arm.name);
    if (arm.flags.includes("--stream")) assert.equal(steps, Math.ceil(5000 / 64));
  }
  // A longer block sees more of each line, so it needs fewer steps for the same characters.
  assert(stepsFor(lines, ["--block-size", "64"], 5000) < stepsFor(lines, [], 5000));
});

Deno.test("the samples of a run's output, a stream sample's lines joined again", () => {
  const out = "num docs: 3\n\n--- inference (new, hallucinated names) ---\n" +
    "sample  1: emma\nsample  2: ROMEO:↵\n           O, she↵\nsample  3: a↵↵\n           b\n";
  assert.deepEqual(samplesOf(out), ["emma", "ROMEO:\nO, she\n", "a\n\nb"]);
});

Deno.test("the table has a row per arm, the sample on one line, its bars escaped", () => {
  const text = table([{
    arm: ARMS[2],
    params: 6208,
    steps: 100,
    chars: 6400,
    bits: 2.71234,
    scored: 999,
    ms: 65_000,
    heldOutMs: 3_250,
    samples: ["a|b\nc"],
  }]);
  const rows = text.trimEnd().split("\n");
  assert.equal(rows.length, 3);
  assert.equal(
    rows[2],
    "| 2 block 64, stream | 6208 | 100 | 6400 | 2.7123 | 1 min 05 s (5.0%) | `a\\|b↵c` |",
  );
});

Deno.test({
  name: "cli: the experiment runs its five arms at one budget and prints the table",
  ignore: !CLI,
  fn: async () => {
    const path = file("play.txt", madeText(400, 2));
    const r = await runScript(SCRIPT, ["--input", path, "--chars", "3000"], ["--allow-read"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.split("\n").filter((l) => /^\| \d /.test(l));
    assert.deepEqual(rows.map((l) => l[2]), ["0", "1", "2", "3", "4"]);
    for (const row of rows) {
      const [, , steps, chars, bits] = row.split(" | ");
      assert(Number(chars) >= 3000 && Number(chars) < 3000 + 64, row);
      assert(Number(steps) > 0 && Number(bits) > 0, row);
    }
    assert.match(r.stdout, /all \d+ held-out characters scored in every arm; total /);
    // A progress line at each of the ten held-out points of each arm.
    assert.equal(
      r.stderr.split("\n").filter((l) => /^arm \d [^(]*\(\d of 5\): step /.test(l)).length,
      50,
    );
    for (
      const [args, why] of [
        [["--chars", "3000"], /^error: --input PATH is needed/],
        [["--input", path, "--chars", "x"], /^error: --chars must be a whole number >= 1, not x/],
      ] as const
    ) {
      const bad = await runScript(SCRIPT, [...args], ["--allow-read"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, why);
    }
    const help = await runScript(SCRIPT, ["--help"]);
    assert.match(help.stdout, /--chars N +training characters per arm \[1200000\]/);
  },
});
