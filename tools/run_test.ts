// Tests for run.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { fastEngine } from "../microgpt_fast.ts";
import { type Engine, graphEngine } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { run } from "./run.ts";
import type { SignalWatch } from "./signals.ts";
import {
  Captured,
  CLI,
  cli,
  FAST,
  file,
  interrupted,
  refused,
  runScript,
  SCRIPT,
  tmp,
} from "./testing.ts";

/** `engine`, doing `act` before the step of 0-based index `at`, for each `[at, act]`. */
function withActs(engine: Engine, acts: [number, () => void][]): Engine {
  return {
    ...engine,
    create(config, vocabSize, weights) {
      const trainer = engine.create(config, vocabSize, weights);
      return {
        ...trainer,
        train: (docs, tok, onStep, from) =>
          trainer.train(docs, tok, (step, loss) => {
            for (const [at, act] of acts) if (at === step) act();
            return onStep(step, loss);
          }, from),
      };
    },
  };
}

Deno.test({
  name: "cli: a loss that becomes NaN or infinite stops the run, naming the step",
  ignore: !CLI,
  fn: async () => {
    await refused(["--lr", "1e300"], 1, /the loss became NaN at step 3; try a lower --lr/);
    await refused(["--lr", "1000"], 1, /the loss became Infinity at step 2/);
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

for (const engine of [graphEngine, fastEngine]) {
  Deno.test({
    name:
      `a periodic save that fails is told once, names the last good one, and training goes on (${engine.name})`,
    ignore: !CLI,
    fn: async () => {
      // The checkpoint's directory goes away after step 60 (an unmounted share, say) and comes
      // back, whole, before step 170: the saves of steps 100 and 150 fail.
      const dir = `${tmp}/periodic-${engine.name}`;
      Deno.mkdirSync(dir);
      const path = `${dir}/m.json`;
      const away = [60, () => Deno.renameSync(dir, `${dir}.away`)] as [number, () => void];
      const back = [170, () => Deno.renameSync(`${dir}.away`, dir)] as [number, () => void];
      const opts = parseCommandLine(
        ["--steps", "300", "--samples", "2", "--save", path, "--save-every", "50"],
      );
      const io = new Captured();
      assert.equal(await run(opts, withActs(engine, [away, back]), io), 0);
      const told = io.stderr.split("\n").filter((l) => /^(warning|note|error):/.test(l));
      assert.deepEqual(told, [
        `warning: the checkpoint of step 100 was not saved (cannot save to ${path}: no such ` +
        `file or directory); training goes on; ${path} still holds the checkpoint of step 50`,
        `note: the checkpoint of step 200 was saved in ${path}, after 2 that failed`,
      ]);
      assert.equal(io.stdout.split("\n").filter((l) => l.startsWith("sample")).length, 2);
      assert.equal(JSON.parse(Deno.readTextFileSync(path)).training.step, 300);
    },
  });
}

for (const script of [FAST, SCRIPT]) {
  const name = script === FAST ? "microgpt_fast.ts" : "microgpt.ts";
  Deno.test({
    name:
      `cli: a full disk costs the checkpoints, not the run: the last good one is named (${name})`,
    ignore: !CLI,
    fn: async () => {
      // A checkpoint from a run stopped mid-way.
      const ckpt = `${tmp}/full-disk-${name}.json`;
      const first = await interrupted(
        FAST,
        ["--steps", "2600", "--samples", "2", "--save", ckpt],
        "SIGINT",
        (out) => out.includes("step "),
        800,
      );
      assert.equal(first.status.code, 130, first.stderr);
      const step = JSON.parse(Deno.readTextFileSync(ckpt)).training.step;
      const before = Deno.readTextFileSync(ckpt);
      // Resumed where no file may grow past 100 blocks (a checkpoint is ~190 KB): every save
      // fails with EFBIG ("File too large"), as on a full disk; the run goes on to its samples.
      const out = await new Deno.Command("sh", {
        args: [
          "-c",
          `trap '' XFSZ; ulimit -f 100; exec "$0" run --allow-read --allow-write "$1" ` +
          `--resume "$2" --save "$2" --save-every 100`,
          Deno.execPath(),
          script,
          ckpt,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr).trimEnd().split("\n");
      assert.equal(out.code, 1, stderr.join("\n"));
      assert.equal(stdout.split("\n").filter((l) => l.startsWith("sample")).length, 2);
      const warnings = stderr.filter((l) => l.startsWith("warning:"));
      assert.equal(warnings.length, 1, stderr.join("\n")); // told once, not at every save
      assert.match(
        warnings[0],
        new RegExp(
          `^warning: the checkpoint of step \\d+00 was not saved \\(cannot save to .*: File too ` +
            `large\\); training goes on; .* still holds the checkpoint of step ${step}$`,
        ),
      );
      const last = stderr[stderr.length - 1];
      assert.match(
        last,
        new RegExp(
          `^error: cannot save to .*: File too large; .* still holds the checkpoint of step ` +
            `${step}; resume with: deno run .* --resume `,
        ),
      );
      // The last good checkpoint is whole, no temporary file is left, and it resumes.
      assert.equal(Deno.readTextFileSync(ckpt), before);
      assert.deepEqual([...Deno.readDirSync(tmp)].filter((e) => e.name.endsWith(".tmp")), []);
      const again = await runScript(script, ["--resume", ckpt], ["--allow-read"]);
      assert.equal(again.code, 0, again.stderr);
    },
  });
}

for (const engine of [graphEngine, fastEngine]) {
  Deno.test(`a signal in the middle of a sample drops it and stops at once (${engine.name})`, async () => {
    // A watch whose signal comes while the first sample is drawn, at its third character.
    const watch = { signal: 0, exitCode: 130, name: "SIGINT", arm() {}, saving() {}, stop() {} };
    let draws = 0;
    const signalling: Engine = {
      ...engine,
      create(config, vocabSize, weights) {
        const trainer = engine.create(config, vocabSize, weights);
        return {
          ...trainer,
          generate: (tok, rng, prefix, onSample, watchFor) =>
            trainer.generate(tok, rng, prefix, onSample, (i) => {
              const seen = watchFor?.(i) ?? {};
              return {
                ...seen,
                onDraw: (draw) => {
                  if (++draws === 3) watch.signal = 2;
                  seen.onDraw?.(draw);
                },
              };
            }),
        };
      },
    };
    const opts = parseCommandLine(["--steps", "0", "--samples", "5", "--prefix", "a"]);
    const io = new Captured();
    const code = await run(opts, signalling, io, watch as unknown as SignalWatch);
    assert.equal(code, 130);
    assert.equal(draws, 3); // nothing drawn after the signal
    assert.doesNotMatch(io.stdout, /^sample/m); // the sample it was in is dropped
    assert.equal(io.stderr, "stopped by SIGINT while sampling\n");
  });
}

Deno.test({
  name: "cli: a first loss that is not a number blames the initial weights, not the learning rate",
  ignore: !CLI,
  fn: async () => {
    await refused(
      ["--init-std", "1e308", "--steps", "5"],
      1,
      /the loss became NaN at step 1; the initial weights, drawn with --init-std 1e\+308, are too large to compute with \(the largest is Infinity\); choose a smaller --init-std$/,
    );
    await refused(["--holdout", "1e-9%"], 2, /a share of the text is a decimal number of percent/);
  },
});
