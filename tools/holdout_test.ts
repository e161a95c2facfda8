// Tests for holdout.ts. The ones that spawn the scripts or read a file need run/read/write: they
// run under `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, parseDocs, Tokenizer } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import type { Engine, Trainer } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { HeldOutText, scoreWindows, splitText, trainedTargets, windowsOf } from "./holdout.ts";
import { run } from "./run.ts";
import { streamOf } from "./stream.ts";
import {
  Captured,
  CLI,
  ENGINES,
  FAST,
  file,
  interrupted,
  madeText,
  refused,
  runScript,
  SCRIPT,
} from "./testing.ts";

/** The held-out lines, found as the definition says, the slow way: the lines that start at or
 * after (100 − percent)% of the text's characters and line ends. */
function heldOutByHand(lines: string[], percent: number): string[] {
  const total = [...streamOf(lines)].length;
  const held: string[] = [];
  let start = 0;
  for (const line of lines) {
    if (start >= total * (1 - percent / 100)) held.push(line);
    start += [...line].length + 1;
  }
  return held;
}

Deno.test("--holdout P% holds out the last lines from P% before the end, at most P%", () => {
  // 10 + 1, 20 + 1, 30 + 1, 36 + 1 units, 100 in all: the lines start at 0, 11, 32 and 63.
  const lines = ["a".repeat(10), "b".repeat(20), "c".repeat(30), "d".repeat(36)];
  assert.deepEqual(splitText(lines, 37).held, [lines[3]]); // from 63 = 100 − 37: "at or after"
  assert.deepEqual(splitText(lines, 67.5).held, [lines[3]]); // 32 < 32.5: not the third line
  assert.deepEqual(splitText(lines, 68).held, lines.slice(2)); // 32, from 32
  const split = splitText(lines, 50);
  assert.deepEqual([split.train, split.heldUnits, split.totalUnits], [lines.slice(0, 3), 37, 100]);
  assert.throws(() => splitText(lines, 36), /--holdout 36% holds out no whole line/);
  const made = parseDocs(madeText(500));
  for (const percent of [0.5, 3, 10, 25, 50]) {
    const { train, held, heldUnits, totalUnits } = splitText(made, percent);
    assert.deepEqual(held, heldOutByHand(made, percent));
    assert.deepEqual([...train, ...held], made);
    assert(heldUnits <= (percent / 100) * totalUnits, `${percent}%: ${heldUnits}`);
    assert.equal(heldUnits, [...streamOf(held)].length);
  }
});

Deno.test("the windows hold every held-out target once, in order, whatever the mode and block", () => {
  const lines = parseDocs(madeText(200)).slice(150);
  const tok = new Tokenizer([...lines, "\n"]);
  const expected = [...streamOf(lines)].map((ch) => tok.id(ch)!);
  for (const stream of [false, true]) {
    const end = stream ? tok.id("\n")! : tok.bos; // what ends a line
    for (const block of [1, 2, 5, 16, 64, 300]) {
      const windows = windowsOf(lines, tok, block, stream);
      const targets: number[] = [];
      for (const w of windows) {
        assert.equal(w[0], tok.bos); // read as training reads a document
        assert(w.length >= 2 && w.length <= block + 1);
        targets.push(...w.slice(1));
      }
      const want = expected.map((id) => (id === tok.id("\n") ? end : id));
      assert.deepEqual(targets, want, `stream ${stream}, block ${block}`);
      if (!stream) {
        // In line mode a window never crosses a line: each line's windows end with its end.
        let k = 0;
        for (const line of lines) {
          let n = 0;
          while (n < [...line].length + 1) n += windows[k++].length - 1;
          assert.equal(n, [...line].length + 1);
          assert.equal(windows[k - 1].at(-1), tok.bos);
        }
        assert.equal(k, windows.length);
      } else {
        // With --stream only the last window may be short: windows run across lines.
        assert(windows.slice(0, -1).every((w) => w.length === block + 1));
      }
    }
  }
});

Deno.test("held-out scoring stops between windows when asked, and totals the windows' losses", () => {
  const calls: number[][] = [];
  const trainer = { loss: (tokens: number[]) => (calls.push(tokens), tokens.length) };
  const windows = [[9, 1, 2], [9, 3], [9, 4, 5, 6]];
  // The mean loss of a window times its targets: 3·2 + 2·1 + 4·3.
  assert.equal(scoreWindows(trainer, windows, () => false), 20);
  let polls = 0;
  calls.length = 0;
  assert.equal(scoreWindows(trainer, windows, () => ++polls > 2), undefined);
  assert.deepEqual(calls, windows.slice(0, 2)); // stopped before the third window
});

Deno.test("the targets a run trains on: each document's characters and end, cut at the block", () => {
  const docs = ["abc", "de", "abcdefghij"];
  assert.equal(trainedTargets(docs, 16, 3), 4 + 3 + 11);
  assert.equal(trainedTargets(docs, 4, 3), 4 + 3 + 4);
  assert.equal(trainedTargets(docs, 4, 7), 2 * 11 + 4); // two passes, then the first again
  assert.equal(trainedTargets(docs, 4, 0), 0);
});

/** A trainer that scores every target at 1 nat and counts what it was asked to score. */
function counting(): { trainer: Trainer; scored: number[] } {
  const scored: number[] = [];
  const trainer = { loss: (t: number[]) => (scored.push(t.length - 1), 1) } as unknown as Trainer;
  return { trainer, scored };
}

Deno.test("by default the held-out scoring stays within its budget, and says what it scores", () => {
  const lines = parseDocs(madeText(3000));
  const split = splitText(lines, 10);
  const tok = new Tokenizer([...lines, "\n"]);
  for (const numSteps of [3000, 30000]) {
    const cfg = { ...DEFAULTS, numSteps };
    const trained = trainedTargets(split.train, cfg.blockSize, numSteps);
    for (const all of [false, true]) {
      const text = new HeldOutText(split, tok, cfg, false, trained, all);
      const { trainer, scored } = counting();
      const said: string[] = [];
      for (let step = 0; step < numSteps; step++) {
        if (!text.due(step)) continue;
        const result = text.score(trainer, tok, cfg, step, [2], 0, () => false)!;
        assert.equal(result.score.nats, 1); // 1 nat a target: the sum is over exactly count
        assert.equal(result.score.bits, 1 / Math.LN2);
        said.push(result.line);
      }
      assert.equal(said.length, 10);
      const total = scored.reduce((a, b) => a + b, 0);
      const end = text.endAll ? text.count : text.partCount;
      assert.equal(total, 9 * text.partCount + end);
      // A scored target costs at most 0.8 of a trained one: 10% of the run is 0.125 a target.
      if (!all) assert(total <= 0.125 * trained, `${numSteps} steps: ${total} of ${trained}`);
      if (all) assert(text.endAll);
      const plan = text.describe(split);
      assert.match(said[9], text.endAll ? /, on all \d+ \|/ : /, on the first \d+ \|/);
      if (!text.endAll) assert.match(plan, /--holdout-all scores them at the end/);
      if (text.endAll && text.partCount < text.count) {
        assert.match(plan, /at the first 9 points, all of them at the end/);
      }
    }
  }
  // A long run scores all of it at the end by default; a short one does not.
  const short = new HeldOutText(split, tok, { ...DEFAULTS, numSteps: 300 }, false, 4800, false);
  const long = new HeldOutText(split, tok, { ...DEFAULTS }, false, 2e6, false);
  assert.deepEqual([short.endAll, long.endAll], [false, true]);
  // However short the run, the part is at least the first line.
  const tiny = new HeldOutText(split, tok, { ...DEFAULTS, numSteps: 3 }, false, 30, false);
  assert.deepEqual([tiny.partLines, tiny.partCount], [1, [...split.held[0]].length + 1]);
});

/** What a run trained on and scored: every training document, and every window scored with the
 * step after which it was scored. */
interface Record {
  trainedOn: string[];
  windows: { step: number; tokens: number[] }[];
}

/** microgpt_fast.ts, recording what it trains on and scores. */
function recording(record: Record): Engine {
  return {
    ...fastEngine,
    create(config, vocabSize, weights) {
      const trainer = fastEngine.create(config, vocabSize, weights);
      let at = -1;
      return {
        ...trainer,
        train: (docs, tok, onStep, from) =>
          trainer.train(docs, tok, (step, loss) => {
            record.trainedOn.push(docs[step % docs.length]);
            at = step + 1;
            return onStep(step, loss);
          }, from),
        loss: (tokens) => {
          record.windows.push({ step: at, tokens });
          return trainer.loss(tokens);
        },
      };
    },
  };
}

/** A text whose held-out lines (the last 10%, found by hand) are in capitals, and no other: a
 * capital in a training document is a held-out character trained on. */
function capitalsHeldOut(): { text: string; train: string[]; held: string[] } {
  const lines = parseDocs(madeText(400, 7)).map((l) => l.toLowerCase());
  const held = heldOutByHand(lines, 10).map((l) => l.toUpperCase());
  const train = lines.slice(0, lines.length - held.length);
  return { text: [...train, ...held].join("\n") + "\n", train, held };
}

Deno.test({
  name: "no held-out character is trained on, skipped or scored twice, with or without --stream",
  ignore: !CLI,
  fn: async () => {
    const { text, train, held } = capitalsHeldOut();
    const path = file("capitals.txt", text);
    for (const stream of [false, true]) {
      const record: Record = { trainedOn: [], windows: [] };
      const args = ["--input", path, "--holdout", "10%", "--block-size", "16", "--samples", "0"];
      const more = [...(stream ? ["--stream"] : []), "--steps", "700", "--holdout-all"];
      const io = new Captured();
      assert.equal(await run(parseCommandLine([...args, ...more]), recording(record), io), 0);
      // Trained on: never a capital, and only what the training lines hold.
      const stream_ = streamOf(train);
      for (const doc of record.trainedOn) {
        assert(!/[A-Z]/.test(doc), `trained on ${JSON.stringify(doc)}`);
        assert(stream ? stream_.includes(doc) : train.includes(doc), doc);
      }
      assert.equal(new Set(record.trainedOn).size > 50, true);
      // Scored: at each point, exactly the held-out targets of its part, in order, once each.
      const tok = new Tokenizer([...train, ...held, ...(stream ? ["\n"] : [])]);
      const show = (ids: number[]) =>
        ids.map((id) => (id === tok.bos ? "\n" : tok.chars[id])).join("");
      const points = [...new Set(record.windows.map((w) => w.step))];
      assert.deepEqual(points, [70, 140, 210, 280, 350, 420, 490, 560, 630, 700]);
      for (const point of points) {
        const targets = record.windows.filter((w) => w.step === point).flatMap((w) =>
          w.tokens.slice(1)
        );
        const scored = show(targets);
        const whole = streamOf(held);
        assert(whole.startsWith(scored) && scored.endsWith("\n"), `step ${point}: ${scored}`);
        if (point === 700) assert.equal(scored, whole); // all of it at the end, exactly once
      }
      const last = io.stderr.split("\n").filter((l) => l.includes(" held-out ")).at(-1);
      assert.match(last!, new RegExp(`, on all ${[...streamOf(held)].length} \\|`));
    }
  },
});

Deno.test({
  name: "two block sizes score the same held-out characters, as many as the text holds out",
  ignore: !CLI,
  fn: async () => {
    const text = madeText(300, 3);
    const path = file("blocks.txt", text);
    const expected = [...streamOf(heldOutByHand(parseDocs(text), 10))].length;
    for (const stream of [[], ["--stream"]]) {
      const counts: number[] = [];
      for (const block of ["8", "40"]) {
        const record: Record = { trainedOn: [], windows: [] };
        const args = ["--input", path, "--holdout", "10%", "--holdout-all", "--steps", "30"];
        const opts = parseCommandLine([
          ...args,
          "--block-size",
          block,
          "--samples",
          "0",
          ...stream,
        ]);
        const io = new Captured();
        assert.equal(await run(opts, recording(record), io), 0, io.stderr);
        const atEnd = record.windows.filter((w) => w.step === 30);
        const targets = atEnd.reduce((n, w) => n + w.tokens.length - 1, 0);
        const said = Number([...io.stderr.matchAll(/, on all (\d+) \|/g)].at(-1)?.[1]);
        assert.equal(said, targets);
        counts.push(targets);
      }
      assert.deepEqual(counts, [expected, expected], stream.join(""));
    }
  },
});

Deno.test({
  name: "cli: --stream and --holdout 10% print the same bytes in both engines",
  ignore: !CLI,
  fn: async () => {
    const path = file("held-both.txt", madeText(300, 5));
    for (const stream of [[], ["--stream"]]) {
      const args = [
        ...["--input", path, "--holdout", "10%", "--block-size", "12", "--steps", "120"],
        ...["--samples", "5", ...stream],
      ];
      const [a, b] = await Promise.all([
        runScript(SCRIPT, args, ["--allow-read"]),
        runScript(FAST, args, ["--allow-read"]),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.stdout, a.stdout);
      assert.equal(b.stderr, a.stderr);
      const lines = a.stderr.split("\n");
      assert.match(lines[0], /^held out: the last \d+ lines, \d+ characters and line ends \(\d/);
      const scores = lines.filter((l) =>
        / held-out [\d.]+ nats = [\d.]+ bits per character/.test(l)
      );
      assert.equal(scores.length, 10);
    }
  },
});

Deno.test({
  name:
    "cli: --holdout P% refuses a share out of range, a text it cannot split, a lone --holdout-all",
  ignore: !CLI,
  fn: async () => {
    const share = /a share of the text must be above 0% and below 100%/;
    await refused(["--holdout", "0%"], 2, share);
    await refused(["--holdout", "100%"], 2, share);
    await refused(["--holdout", "ten%"], 2, /"ten%": a share of the text is a decimal number of/);
    await refused(["--holdout", "1e-9%"], 2, /a share of the text is a decimal number of percent/);
    await refused(["--holdout", "ten"], 2, /--holdout must be a whole number >= 1 or a share/);
    await refused(["--holdout-all"], 2, /--holdout-all goes with --holdout P%/);
    await refused(["--holdout", "5", "--holdout-all"], 2, /--holdout-all goes with --holdout P%/);
    const one = file("one-long-line.txt", "a\n" + "b".repeat(50) + "\n");
    await refused(["--input", one, "--holdout", "10%"], 2, /holds out no whole line/);
  },
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name: `cli: a signal during --holdout P%'s scoring stops the run without waiting (${name})`,
    ignore: !CLI,
    fn: async () => {
      // Half of a million names held out, all scored at the end (--holdout-all): seconds in
      // microgpt_fast.ts, minutes in microgpt.ts. The signal comes as that scoring begins.
      const text = file(`half-million-${name}.txt`, madeText(4000, 9).repeat(250));
      const run = await interrupted(
        script,
        ["--input", text, "--holdout", "50%", "--holdout-all", "--steps", "10", "--samples", "0"],
        "SIGINT",
        (out) => out.includes("step   10 /"),
      );
      assert.equal(run.status.code, 130, run.stderr);
      assert.match(
        run.stderr,
        /^stopped by SIGINT after step 10 of 10, whose held-out score was abandoned; nothing was saved/m,
      );
      // Steps 1 to 9 scored their part (the first line); the end's scoring was abandoned.
      const scores = run.stderr.split("\n").filter((l) => / held-out [\d.]+ nats/.test(l));
      assert.equal(scores.length, 9, run.stderr);
      assert(scores.every((l) => /, on the first \d+ \|/.test(l)), scores.join("\n"));
    },
  });
}
