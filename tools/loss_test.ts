// Tests for loss.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import bundledInput from "../input.txt" with { type: "text" };
import { parseDocs, Random } from "../microgpt.ts";
import { type Engine, graphEngine } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { lossSummary } from "./loss.ts";
import { run } from "./run.ts";
import {
  Captured,
  CLI,
  ENGINES,
  FAST,
  file,
  interrupted,
  refused,
  refusedBy,
  runScript,
  SCRIPT,
  stalled,
  tmp,
} from "./testing.ts";

Deno.test("the loss summary gives first/last means, the guessing baseline and a sparkline", () => {
  const losses = Array.from({ length: 1000 }, (_, i) => 3 - i / 1000);
  const text = lossSummary(losses, 28);
  assert.match(text, /mean 2\.9755 over the first 50 steps, 2\.0255 over the last 50/);
  assert.match(text, /a uniform guess over 28 tokens scores ln 28 = 3\.33/);
  assert.match(text, /: ██▇▇▇▆▆▅▅▅▄▄▄▃▃▂▂▂▁▁ \(2\.98 high, 2\.03 low\)$/);
  assert.deepEqual(text.split("\n").length, 3);
  assert.match(lossSummary([2, 1], 5), /over the first 2 steps/);
  // A resumed run has only its own losses, and names their steps.
  const resumed = lossSummary(losses.slice(0, 300), 28, 3440);
  assert.match(resumed, /^loss \(resumed after step 3440\): mean 2\.9755 over steps 3441-3490, /);
  assert.match(resumed, / over steps 3691-3740\n/);
  assert.match(resumed, /loss over 20 windows of steps 3441-3740: /);
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

for (const [name, script] of ENGINES) {
  Deno.test({
    name:
      `cli: a signal during the held-out scoring stops the run without waiting for it (${name})`,
    ignore: !CLI,
    fn: async () => {
      // A million held-out documents: seconds to score in microgpt_fast.ts, minutes in
      // microgpt.ts. The signal comes as the scoring after step 1 begins.
      const text = file(`million-${name}.txt`, bundledInput.repeat(120));
      const run = await interrupted(
        script,
        ["--input", text, "--holdout", "1000000", "--steps", "10", "--samples", "0"],
        "SIGINT",
        (out) => out.includes("step    1 /"),
      );
      assert.equal(run.status.code, 130, run.stderr);
      assert.match(
        run.stderr,
        /^stopped by SIGINT after step 1 of 10, whose held-out score was abandoned; nothing was saved/m,
      );
      assert.doesNotMatch(run.stderr, /held-out loss/); // the scoring was abandoned, not finished
    },
  });
}

Deno.test({
  name:
    "cli: a --log belongs to one run: others are refused while it writes, a killed one frees it",
  ignore: !CLI,
  fn: async () => {
    const log = `${tmp}/one-run.tsv`;
    const rw = ["--allow-read", "--allow-write"];
    // Run A holds the log mid-training: its stdout is not read, so it waits there.
    const a = new Deno.Command(Deno.execPath(), {
      args: ["run", ...rw, FAST, "--steps", "6000", "--log", log],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    await stalled(a.pid, log);
    const rows = Deno.readTextFileSync(log);
    // Three more runs on the same log, in either engine: refused before their first line.
    for (const [script, extra] of [[FAST, []], [SCRIPT, []], [FAST, ["--seed", "7"]]] as const) {
      await refusedBy(
        script,
        ["--steps", "5", "--log", log, ...extra],
        1,
        /^error: cannot write the log .*one-run\.tsv: another run is writing it .*choose another --log, or wait for that run to end$/,
      );
    }
    // Nothing of theirs reached the log: it is A's rows, in order, each whole.
    const now = Deno.readTextFileSync(log);
    assert(now.startsWith(rows));
    const lines = now.split("\n");
    assert.equal(lines[0], "step\tloss\tlearning_rate\theld_out_loss");
    lines.slice(1, -1).forEach((l, i) =>
      assert.match(l, new RegExp(`^${i + 1}\t[\\d.]+\t[\\d.e-]+\t$`))
    );
    // A run killed outright leaves no claim behind: the system lets go of its lock.
    a.kill("SIGKILL");
    await a.status;
    await a.stdout.cancel();
    const b = await runScript(FAST, ["--steps", "20", "--samples", "0", "--log", log], rw);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(Deno.readTextFileSync(log).trimEnd().split("\n").length, 21);
  },
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name:
      `cli: --log, --save, --trace and --report refuse alike, before the header: /proc, devices, FIFOs, dangling links (${name})`,
    ignore: !CLI,
    fn: async () => {
      const dir = `${tmp}/guard-${name}`;
      Deno.mkdirSync(dir);
      Deno.symlinkSync("/proc/self/fd/1", `${dir}/to-stdout`);
      Deno.symlinkSync(`${dir}/no/such/dir/x.tsv`, `${dir}/dangling`);
      await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
      const cases: [string, RegExp][] = [
        [
          `${dir}/to-stdout`,
          /: it links to \/proc\/self\/fd\/1: \/proc holds views of the running system, not files to write$/,
        ],
        ["/proc/self/fd/2", /: it is in \/proc: \/proc holds views of the running system/],
        [
          `${dir}/dangling`,
          /: it links to .*\/no\/such\/dir\/x\.tsv, whose directory does not exist$/,
        ],
        ["/dev/null", /: it is a device, not a regular file$/],
        [`${dir}/fifo`, /: it is a FIFO, not a regular file$/],
        [dir, /: it is a directory$/],
      ];
      const writers = [
        ["--log", "write the log"],
        ["--save", "save to"],
        ["--trace", "write the trace"],
        ["--report", "write the page"],
      ];
      for (const [flag, action] of writers) {
        for (const [path, why] of cases) {
          const reason = new RegExp(
            `^error: cannot ${action} ${path.replace(/[.]/g, "\\.")}${why.source}`,
          );
          await refusedBy(script, ["--steps", "3", flag, path], 1, reason);
        }
      }
      // stdout appending to a file, and --log through a link to it: the file is left alone.
      const out = `${dir}/out.txt`;
      Deno.writeTextFileSync(out, "kept\n");
      const shell = await new Deno.Command("sh", {
        args: [
          "-c",
          `exec "$0" run -A "$1" --steps 3 --log "$2" >> "$3"`,
          Deno.execPath(),
          script,
          `${dir}/to-stdout`,
          out,
        ],
        stderr: "piped",
      }).output();
      assert.equal(shell.code, 1);
      assert.equal(Deno.readTextFileSync(out), "kept\n");
      // A link into a directory that exists is followed: the target is made, the link kept.
      for (const flag of ["--log", "--save"]) {
        const link = `${dir}/link${flag}`;
        Deno.symlinkSync(`target${flag}`, link);
        const r = await runScript(script, ["--steps", "2", "--samples", "0", flag, link], [
          "--allow-read",
          "--allow-write",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert(Deno.lstatSync(link).isSymlink);
        assert(Deno.statSync(`${dir}/target${flag}`).isFile);
      }
    },
  });
}
