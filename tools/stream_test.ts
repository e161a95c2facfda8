// Tests for stream.ts. The ones that spawn the scripts or read a file need run/read/write: they run
// under `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { parseDocs, Random } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import type { Engine } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { isControl } from "./messages.ts";
import { run } from "./run.ts";
import { oneLine, sampleEntry, streamOf, streamPieces, trainingDocs } from "./stream.ts";
import {
  Captured,
  CLI,
  cli,
  FAST,
  file,
  inference,
  interrupted,
  madeText,
  refused,
  runScript,
  SCRIPT,
  stepLines,
  tmp,
} from "./testing.ts";

Deno.test("the stream is its lines, each followed by a line break, cut into blocks in order", () => {
  const lines = ["to be", "or not", "to 𝄞e"]; // 𝄞 is one character (two UTF-16 units)
  assert.equal(streamOf(lines), "to be\nor not\nto 𝄞e\n");
  assert.deepEqual(streamPieces(lines, 3), ["to ", "be\n", "or ", "not", "\nto", " 𝄞e"]);
  assert.deepEqual(streamPieces(lines, 5), ["to be", "\nor n", "ot\nto"]);
  for (const size of [1, 2, 3, 7, 19]) {
    const pieces = streamPieces(lines, size);
    const chars = [...streamOf(lines)];
    assert(pieces.every((p) => [...p].length === size));
    // In order, nothing skipped; only the tail shorter than a block is left out.
    assert.equal(pieces.join(""), chars.slice(0, pieces.length * size).join(""));
    assert(chars.length - pieces.length * size < size);
  }
  assert.deepEqual(trainingDocs(lines, false, 4), lines);
  assert.throws(() => trainingDocs(lines, true, 20), /shorter than one piece of --block-size 20/);
});

Deno.test("a sample with line breaks stays one entry: each break shown, the text indented under it", () => {
  assert.equal(sampleEntry(0, "emma"), "sample  1: emma"); // microgpt.py's line
  assert.equal(sampleEntry(11, ""), "sample 12: ");
  assert.equal(
    sampleEntry(2, "ROMEO:\nO, she doth\nteach"),
    "sample  3: ROMEO:↵\n           O, she doth↵\n           teach",
  );
  assert.equal(sampleEntry(0, "end.\n"), "sample  1: end.↵"); // a break at the end: no empty line
  assert.equal(sampleEntry(0, "a\n\nb"), "sample  1: a↵↵\n           b");
  assert.equal(sampleEntry(99, "x\ny"), "sample 100: x↵\n            y");
  assert.equal(oneLine("a\nb\n"), "a↵b↵");
});

/** An engine that records the documents it trains on, in order. */
function recording(trainedOn: string[]): Engine {
  return {
    ...fastEngine,
    create(config, vocabSize, weights) {
      const trainer = fastEngine.create(config, vocabSize, weights);
      return {
        ...trainer,
        train: (docs, tok, onStep, from) =>
          trainer.train(docs, tok, (step, loss) => {
            trainedOn.push(docs[step % docs.length]);
            return onStep(step, loss);
          }, from),
      };
    },
  };
}

Deno.test({
  name: "--stream trains on the stream's pieces in a shuffled order, each once a pass",
  ignore: !CLI,
  fn: async () => {
    const text = madeText(120);
    const path = file("stream-pieces.txt", text);
    const lines = parseDocs(text);
    const pieces = streamPieces(lines, 12);
    const trainedOn: string[] = [];
    const io = new Captured();
    const args = ["--input", path, "--stream", "--block-size", "12", "--samples", "3"];
    const steps = pieces.length + 5;
    const opts = parseCommandLine([...args, "--steps", String(steps)]);
    assert.equal(await run(opts, recording(trainedOn), io), 0, io.stderr);
    const order = pieces.slice();
    new Random(42).shuffle(order); // the run's first draw
    assert.deepEqual(trainedOn, [...order, ...order.slice(0, 5)]);
    const chars = new Set([...text.replaceAll(/\s*\n\s*/g, "\n")]);
    const head = io.stdout.split("\n").slice(0, 2);
    assert.deepEqual(head, [`num docs: ${pieces.length}`, `vocab size: ${chars.size + 1}`]);
    // Every sample is one entry; what it holds besides its shown breaks is on its own lines.
    const body = inference(io.stdout).split("\n").slice(1, -1);
    assert.equal(body.filter((l) => l.startsWith("sample")).length, 3);
    assert(body.every((l) => /^(sample {2}\d: | {11})/.test(l)), body.join("\n"));
  },
});

Deno.test({
  name:
    "cli: --stream refuses a text shorter than a piece, and --holdout N more pieces than it has",
  ignore: !CLI,
  fn: async () => {
    const short = file("short.txt", "to be\nor not\n");
    await refused(
      ["--input", short, "--stream", "--block-size", "16"],
      2,
      /--stream: the text to train on is shorter than one piece of --block-size 16/,
    );
    await refused(
      ["--input", short, "--stream", "--block-size", "4", "--holdout", "3"],
      2,
      /--holdout 3 leaves no document to train on \(the stream has 3 pieces\)/,
    );
  },
});

Deno.test({
  name: "cli: a --stream run prints its line breaks readably, the same bytes in both engines",
  ignore: !CLI,
  fn: async () => {
    const path = file("stream-both.txt", madeText(400));
    const args = [
      ...["--input", path, "--stream", "--block-size", "12", "--steps", "150", "--samples", "8"],
      ...["--explain", "--attention", "--embeddings"],
    ];
    const [a, b] = await Promise.all([
      runScript(SCRIPT, args, ["--allow-read"]),
      runScript(FAST, args, ["--allow-read"]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.stdout, a.stdout);
    assert.equal(b.stderr, a.stderr);
    // No line break reaches the screen but those that end a line of output.
    for (const line of a.stdout.split(/[\r\n]/)) assert(![...line].some(isControl), line);
    assert.match(a.stdout, /↵/); // the model has learned to end lines, and shows it
  },
});

Deno.test({
  name: "cli: a --stream run resumes byte for byte; its model loads, and is checked against a text",
  ignore: !CLI,
  fn: async () => {
    const path = file("stream-resume.txt", madeText(300));
    const ckpt = `${tmp}/stream.json`;
    const args = ["--input", path, "--stream", "--block-size", "8", "--steps", "2600"];
    const all = [...args, "--samples", "5", "--holdout", "10%"];
    const full = await runScript(FAST, all, ["--allow-read"]);
    assert.equal(full.code, 0, full.stderr);
    const run = await interrupted(FAST, [...all, "--save", ckpt], "SIGINT", (out) => {
      return out.includes("step ");
    }, 800);
    assert.equal(run.status.code, 130, run.stderr);
    const saved = JSON.parse(Deno.readTextFileSync(ckpt));
    const step = saved.training.step;
    assert(step > 0 && step < 2600, `stopped at ${step}`);
    assert.equal(saved.training.stream, true);
    assert.equal(saved.training.holdout_percent, 10);
    assert(saved.vocab.includes("\n"));
    // --stream and --holdout 10% come from the file; the graph engine finishes the run.
    const resumed = await cli(["--resume", ckpt, "--input", path]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(
      [...stepLines(run.stdout).slice(0, step), ...stepLines(resumed.stdout)],
      stepLines(full.stdout),
    );
    assert.equal(inference(resumed.stdout), inference(full.stdout));
    // The held-out scores; the training loss beside them is the mean since the run (re)started.
    const heldOut = (err: string) =>
      err.split("\n").filter((l) => / held-out /.test(l)).map((l) => l.split(" | training")[0]);
    const after = heldOut(full.stderr).filter((l) => Number(l.match(/^step +(\d+)/)![1]) > step);
    assert.deepEqual(heldOut(resumed.stderr), after);
    assert.equal(after.length > 0, true);
    // A contradicting flag is refused; so is --stream against a run on lines.
    await refused(
      ["--resume", ckpt, "--input", path, "--holdout", "5%"],
      1,
      /--holdout 5% contradicts .*stream\.json, which was trained with --holdout 10%/,
    );
    const lines = `${tmp}/lines.json`;
    assert.equal((await cli(["--steps", "5", "--samples", "0", "--save", lines])).code, 0);
    await refused(["--resume", lines, "--stream"], 1, /--stream contradicts .*trained on lines/);
    // Its model loads with the line break in its vocabulary, and samples with it.
    const loaded = await cli(["--load", ckpt, "--steps", "0", "--samples", "8"]);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stdout, /vocab size: /);
    // A model without a line break cannot be trained on a stream.
    await refused(
      ["--load", lines, "--stream", "--steps", "5"],
      1,
      /its vocabulary lacks "\\n"/,
    );
  },
});
