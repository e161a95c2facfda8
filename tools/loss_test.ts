// Tests for loss.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import bundledInput from "../input.txt" with { type: "text" };
import { parseDocs, Random } from "../microgpt.ts";
import { type Engine, graphEngine } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { lossSummary } from "./loss.ts";
import { run } from "./run.ts";
import { Captured, CLI, FAST, refused, runScript, tmp } from "./testing.ts";

Deno.test("the loss summary gives first/last means, the guessing baseline and a sparkline", () => {
  const losses = Array.from({ length: 1000 }, (_, i) => 3 - i / 1000);
  const text = lossSummary(losses, 28);
  assert.match(text, /mean 2\.9755 over the first 50 steps, 2\.0255 over the last 50/);
  assert.match(text, /a uniform guess over 28 tokens scores ln 28 = 3\.33/);
  assert.match(text, /: ██▇▇▇▆▆▅▅▅▄▄▄▃▃▂▂▂▁▁ \(2\.98 high, 2\.03 low\)$/);
  assert.deepEqual(text.split("\n").length, 3);
  assert.match(lossSummary([2, 1], 5), /over the first 2 steps/);
});

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
