// Tests for tools/trace_file.ts: --trace's file, checked like --save's and --log's, and the trace
// of a run stopped and resumed.

import assert from "node:assert/strict";
import { fastEngine } from "../microgpt_fast.ts";
import { graphEngine } from "./engine.ts";
import {
  CLI,
  FAST,
  file,
  interrupted,
  refused,
  refusedBy,
  runScript,
  SCRIPT,
  stalled,
  stepLines,
  tmp,
} from "./testing.ts";
import { DEFAULTS } from "../microgpt.ts";
import { headerLine, type MatrixShape, type TraceHeader } from "./trace.ts";
import { continuedTrace } from "./trace_file.ts";
import { bytesSource } from "./trace_lines.ts";
import { runIn, signalAfter, traced } from "./testdata/traced.ts";

const short = ["--steps", "12", "--samples", "3"];

Deno.test({
  name: "--trace never replaces a file that is not a trace, the text, a checkpoint or the log",
  ignore: !CLI,
  fn: async () => {
    const notes = file("notes.txt", "my notes\n");
    const text = file("trace-text.txt", "emma\nava\nmia\n");
    const dir = `${tmp}/a-folder`;
    Deno.mkdirSync(dir, { recursive: true });
    const cases: [string[], number, RegExp][] = [
      [["--trace", notes], 1, /--trace .*notes\.txt exists and is not a trace: not replacing it/],
      [
        ["--input", text, "--trace", text],
        1,
        /--trace .*trace-text\.txt would replace the training text/,
      ],
      [["--trace", dir], 1, /cannot write the trace .*a-folder: it is a directory/],
      [
        ["--trace", `${tmp}/no/such/t.jsonl`],
        1,
        /cannot write the trace .*: no such file or directory/,
      ],
      [["--trace", "-"], 2, /--trace writes a file: name one/],
      [["--trace", ""], 2, /--trace needs a path/],
      [
        ["--save", `${tmp}/x.jsonl`, "--trace", `${tmp}/x.jsonl`],
        1,
        /--save .*x\.jsonl would replace the --trace file/,
      ],
      [
        ["--log", `${tmp}/y.jsonl`, "--trace", `${tmp}/y.jsonl`],
        1,
        /--log .*y\.jsonl would replace the --trace file/,
      ],
      [["--trace-detail", "2"], 2, /--trace-detail needs --trace PATH/],
      [
        ["--trace", `${tmp}/z.jsonl`, "--trace-detail", "0"],
        2,
        /--trace-detail takes steps counted from 1, separated by commas/,
      ],
      [["--trace", `${tmp}/z.jsonl`, "--trace-detail", "2,x"], 2, /not "2,x"/],
      [
        ["--trace", `${tmp}/z.jsonl`, "--steps", "5", "--trace-detail", "6"],
        2,
        /--trace-detail 6 is past the run's last step, 5/,
      ],
    ];
    for (const [args, code, why] of cases) {
      const r = await runIn([...short, ...args]).catch((err) => ({
        code: err.exitCode,
        stdout: "",
        stderr: `error: ${err.message}\n`,
      }));
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "", `${args.join(" ")}: printed before refusing`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1);
    }
    assert.equal(Deno.readTextFileSync(notes), "my notes\n");
    assert.equal(Deno.readTextFileSync(text), "emma\nava\nmia\n");
    assert.throws(() => Deno.statSync(`${tmp}/z.jsonl`));
    // And in a real process: one line, the exit code; without write permission too.
    await refused(["--trace", notes], 1, /exists and is not a trace/);
    await refused(
      ["--trace", `${tmp}/w.jsonl`],
      1,
      /writing .*w\.jsonl \(--trace\) needs read and write permission: add --allow-read --allow-write/,
      ["--allow-read"],
    );
  },
});

Deno.test({
  name: "--trace replaces an earlier trace, and writes the same file from the command line",
  ignore: !CLI,
  fn: async () => {
    const path = file("again.jsonl", "");
    const first = await runScript(SCRIPT, [...short, "--trace", path], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(first.code, 0, first.stderr);
    const written = Deno.readTextFileSync(path);
    const again = await runScript(FAST, [...short, "--trace", path, "--seed", "7"], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(again.code, 0, again.stderr);
    const replaced = Deno.readTextFileSync(path);
    assert.notEqual(replaced, written);
    assert.match(
      replaced,
      /^\{"kind":"header","format":"microgpt trace","version":1,"engine":"microgpt_fast\.ts"/,
    );
    assert.equal(written, (await traced(short)).trace);
  },
});

Deno.test({
  name:
    "a run stopped and resumed (twice, from an older checkpoint) leaves the trace of a run that never stopped",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "12", "--samples", "4", "--trace-detail", "3,7,11"];
    const whole = await traced(args, fastEngine);
    const path = `${tmp}/stopped.jsonl`;
    const ckpt = `${tmp}/stopped.json`;
    const older = `${tmp}/stopped-at-5.json`;
    const stopAt = (n: number) => (io: { stdout: string }) =>
      signalAfter(() => stepLines(io.stdout).length >= n);
    // Stopped after step 5: a checkpoint, kept aside.
    const a = await runIn([...args, "--save", ckpt, "--trace", path], fastEngine, stopAt(5));
    assert.equal(a.code, 130, a.stderr);
    assert.match(a.stderr, /resume with: .* --trace .*stopped\.jsonl --trace-detail 3,7,11/);
    Deno.copyFileSync(ckpt, older);
    // Resumed in the graph engine, stopped after step 8: the trace holds steps 1-8.
    const b = await runIn(
      ["--resume", ckpt, "--save", ckpt, "--trace", path, ...args.slice(4)],
      graphEngine,
      stopAt(3),
    );
    assert.equal(b.code, 130, b.stderr);
    assert.equal(Deno.readTextFileSync(path).match(/"kind":"step"/g)?.length, 8);
    // Resumed from step 5 again: steps 6-8 are dropped and made anew, and the trace is whole.
    const c = await runIn(["--resume", older, "--trace", path, ...args.slice(4)], fastEngine);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(Deno.readTextFileSync(path), whole.trace);
  },
});

Deno.test({
  name: "a resumed run refuses a trace it cannot continue, and leaves it as it was",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/cont.json`;
    const made = await runIn([...short, "--save", ckpt]);
    assert.equal(made.code, 0);
    const other = await traced(["--steps", "12", "--samples", "3", "--seed", "9"]);
    const cut = await traced(short);
    Deno.writeTextFileSync(
      cut.path,
      cut.trace.split("\n").filter((l) => !l.includes('"step":11')).join("\n"),
    );
    const cases: [string, RegExp][] = [
      [
        `${tmp}/none.jsonl`,
        /none\.jsonl does not exist: a resumed run continues the trace of the run it resumes/,
      ],
      [
        other.path,
        /is the trace of another run \(its header differs from this run's in settings\.seed: 9, not 42\)/,
      ],
      [cut.path, /holds 11 of the 12 steps before the checkpoint/],
    ];
    for (const [path, why] of cases) {
      let before: string | undefined;
      try {
        before = Deno.readTextFileSync(path);
      } catch {
        // none
      }
      const r = await runIn(["--resume", ckpt, "--trace", path]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, why);
      assert.match(r.stderr, /name that file, or leave --trace out/);
      if (before !== undefined) assert.equal(Deno.readTextFileSync(path), before);
    }
  },
});

Deno.test("continuedTrace finds, line by line, where the records before the checkpoint end", () => {
  const ours: TraceHeader = {
    engine: "b",
    settings: { ...DEFAULTS },
    chars: ["a"],
    docs: ["a"],
    shuffledDocs: ["a"],
  };
  const theirs = headerLine({ ...ours, engine: "a" });
  const shapes: MatrixShape[] = [["wte", 2, 1]];
  const lines = [
    theirs,
    '{"kind":"init","matrix":"wte","rows":2,"cols":1}',
    '{"kind":"forward","step":0,"pos":0}',
    '{"kind":"step","step":0}',
    '{"kind":"step","step":1}',
    '{"kind":"forward","step":2,"pos":0}',
    '{"kind":"step","step":2}',
    '{"kind":"sample","sample":0}',
  ];
  const encoder = new TextEncoder();
  const bytes = (ls: string[], end = "\n") => encoder.encode(ls.join("\n") + end);
  const text = bytes(lines);
  const cont = (data: Uint8Array, from: number, header = ours, matrices = shapes) =>
    continuedTrace("t", bytesSource(data), header, from, matrices);
  const two = cont(text, 2);
  assert.equal(two.header, theirs); // the first run's engine
  assert.equal(two.newHeader, false);
  assert.equal(two.headerEnd, encoder.encode(theirs).length + 1);
  assert.equal(two.keptEnd, bytes(lines.slice(0, 5)).length);
  assert.equal(two.unended, false);
  assert.deepEqual([...two.detailed], [1]);
  const three = cont(text, 3);
  assert.equal(three.keptEnd, bytes(lines.slice(0, 7)).length);
  assert.deepEqual([...three.detailed], [1, 3]);
  // A line cut short by a kill ends the trace there; a last record without its newline is kept.
  const killed = bytes([...lines.slice(0, 5), '{"kind":"forw'], "");
  assert.equal(cont(killed, 2).keptEnd, bytes(lines.slice(0, 5)).length);
  assert.throws(() => cont(killed, 3), /holds 2 of the 3 steps/);
  const unended = cont(bytes(lines.slice(0, 5), ""), 2);
  assert.equal(unended.keptEnd, bytes(lines.slice(0, 5), "").length);
  assert.equal(unended.unended, true);
  // The initial matrices must be this run's, in order and shape.
  assert.throws(() => cont(text, 2, ours, [...shapes, ["wpe", 1, 1]]), /and 1 of the 2 initial/);
  assert.throws(() => cont(text, 2, ours, [["wte", 3, 1]]), /and 0 of the 1 initial/);
  // Another run is refused, naming the field; sampling settings given anew are the new header's.
  assert.throws(
    () => cont(text, 2, { ...ours, settings: { ...DEFAULTS, seed: 7n } }),
    /is the trace of another run \(its header differs from this run's in settings\.seed: 42, not 7\)/,
  );
  const anew = { ...ours, settings: { ...DEFAULTS, temperature: 0.75, numSamples: 3 } };
  const sampled = cont(text, 2, anew);
  assert.equal(sampled.header, headerLine({ ...anew, engine: "a" }));
  assert.equal(sampled.newHeader, true);
  assert.equal(sampled.keptEnd, two.keptEnd);
  assert.throws(() => cont(new Uint8Array(0), 2), /t is empty/);
});

Deno.test({
  name:
    "Ctrl-C: the trace holds the steps done, and the printed command continues it to the whole trace",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "2600", "--samples", "5", "--trace-detail", "2000"];
    const whole = await traced(args, fastEngine);
    const path = `${tmp}/ctrl-c.jsonl`;
    const ckpt = `${tmp}/ctrl-c.json`;
    const run = await interrupted(
      FAST,
      [...args, "--save", ckpt, "--trace", path],
      "SIGINT",
      (out) => out.includes("step "),
      800,
    );
    assert.equal(run.status.code, 130, run.stderr);
    const at = Number(run.stderr.match(/after step (\d+) of 2600/)?.[1]);
    assert(at > 0 && at < 2600, run.stderr);
    const partial = Deno.readTextFileSync(path);
    assert.equal(partial.match(/"kind":"step"/g)?.length, at);
    assert(!partial.includes('"kind":"sample"'));
    assert(whole.trace.startsWith(partial));
    const command = run.stderr.match(
      /resume with: deno run --allow-read --allow-write \S+ (.*)$/m,
    )![1]
      .split(" ");
    const traceAt = command.indexOf("--trace");
    assert.deepEqual(command.slice(traceAt, traceAt + 4), [
      "--trace",
      path,
      "--trace-detail",
      "2000",
    ]);
    const resumed = await runScript(FAST, command, ["--allow-read", "--allow-write"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(Deno.readTextFileSync(path), whole.trace);
  },
});

Deno.test({
  name:
    "cli: a --trace belongs to one run, as a --log does: a second is refused, a killed one frees it",
  ignore: !CLI,
  fn: async () => {
    const trace = `${tmp}/one-run.jsonl`;
    const rw = ["--allow-read", "--allow-write"];
    // Run A holds the trace mid-training: its stdout is not read, so it waits there.
    const a = new Deno.Command(Deno.execPath(), {
      args: ["run", ...rw, FAST, "--steps", "6000", "--trace", trace],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    await stalled(a.pid, trace);
    const written = Deno.readTextFileSync(trace);
    for (const script of [FAST, SCRIPT]) {
      await refusedBy(
        script,
        ["--steps", "5", "--trace", trace],
        1,
        /^error: cannot write the trace .*one-run\.jsonl: another run is writing it .*choose another --trace, or wait for that run to end$/,
      );
    }
    assert(Deno.readTextFileSync(trace).startsWith(written)); // nothing of theirs got in
    a.kill("SIGKILL");
    await a.status;
    await a.stdout.cancel();
    const b = await runScript(FAST, ["--steps", "3", "--samples", "0", "--trace", trace], rw);
    assert.equal(b.code, 0, b.stderr);
    const kinds = Deno.readTextFileSync(trace).trimEnd().split("\n").map((l) => JSON.parse(l).kind);
    assert.equal(kinds.filter((k) => k === "step").length, 3); // a new trace, whole
  },
});

/** A signal after `n` step lines. */
const stopAt = (n: number) => (io: { stdout: string }) =>
  signalAfter(() => stepLines(io.stdout).length >= n);

Deno.test({
  name:
    "sampling flags given anew on a resume are its trace's: the trace of a run given them from the start",
  ignore: !CLI,
  fn: async () => {
    const detail = ["--trace-detail", "3,7"];
    for (const [first, second] of [[fastEngine, graphEngine], [graphEngine, fastEngine]]) {
      const path = `${tmp}/anew-${first.name}.jsonl`;
      const ckpt = `${tmp}/anew-${first.name}.json`;
      // Stopped after step 5, resumed with more samples at another temperature: a longer header.
      const args = ["--steps", "12", "--samples", "4", ...detail];
      const a = await runIn([...args, "--save", ckpt, "--trace", path], first, stopAt(5));
      assert.equal(a.code, 130, a.stderr);
      const sampling = ["--samples", "12", "--temperature", "0.75"];
      const b = await runIn(
        ["--resume", ckpt, "--save", ckpt, "--trace", path, ...detail, ...sampling],
        second,
      );
      assert.equal(b.code, 0, b.stderr);
      const longer = await traced(["--steps", "12", ...sampling, ...detail], first);
      assert.equal(Deno.readTextFileSync(path), longer.trace);
      // Resumed again, from the end of training, with fewer samples at the default: shorter.
      const fewer = ["--samples", "3", "--temperature", "0.5"];
      const c = await runIn(["--resume", ckpt, "--trace", path, ...detail, ...fewer], second);
      assert.equal(c.code, 0, c.stderr);
      const shorter = await traced(["--steps", "12", "--samples", "3", ...detail], first);
      assert.equal(Deno.readTextFileSync(path), shorter.trace);
      assert.equal(JSON.parse(shorter.trace.split("\n")[0]).settings.num_samples, 3);
    }
  },
});

Deno.test({
  name: "a resumed run reads its trace a line at a time: one larger than a string can hold goes on",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "12", "--samples", "3"];
    const whole = await traced(args);
    for (const engine of [graphEngine, fastEngine]) {
      const path = `${tmp}/huge-${engine.name}.jsonl`;
      const ckpt = `${tmp}/huge-${engine.name}.json`;
      const first = await runIn([...args, "--save", ckpt, "--trace", path], engine);
      assert.equal(first.code, 0, first.stderr);
      // 1 GiB more after the samples (a hole in the file, which costs no disk): more than the
      // longest string V8 makes, which a run reading the trace whole fails on.
      Deno.truncateSync(path, Deno.statSync(path).size + 2 ** 30);
      const resumed = await runIn(["--resume", ckpt, "--trace", path], engine);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(
        Deno.readTextFileSync(path),
        whole.trace.replace(/"engine":"[^"]*"/, `"engine":"${engine.name}"`),
      );
    }
  },
});

Deno.test({
  name:
    "--trace-detail on a resume: a step the run does not make is refused, unless its trace holds it",
  ignore: !CLI,
  fn: async () => {
    for (const engine of [graphEngine, fastEngine]) {
      const path = `${tmp}/detail-${engine.name}.jsonl`;
      const ckpt = `${tmp}/detail-${engine.name}.json`;
      const args = ["--steps", "12", "--samples", "2", "--trace-detail", "3"];
      const a = await runIn([...args, "--save", ckpt, "--trace", path], engine, stopAt(5));
      assert.equal(a.code, 130, a.stderr);
      const at = Number(a.stderr.match(/after step (\d+) of 12/)![1]);
      const before = Deno.readTextFileSync(path);
      const resume = (detail: string, more: string[] = []) =>
        runIn(["--resume", ckpt, "--trace", path, "--trace-detail", detail, ...more], engine);
      const refused = await resume(`${at + 4},2`);
      assert.equal(refused.code, 2);
      assert.equal(refused.stdout, "");
      assert.equal(
        refused.stderr,
        `error: --trace-detail 2: the resumed run starts at step ${at + 1}, and ${path} holds no ` +
          `forward pass of step 2; name steps from ${at + 1} on\n`,
      );
      assert.equal(Deno.readTextFileSync(path), before);
      // Step 3 was traced in detail before the stop (as the printed resume command repeats it).
      const ok = await resume(`3,${at + 2}`, ["--save", ckpt]);
      assert.equal(ok.code, 0, ok.stderr);
      const steps = Deno.readTextFileSync(path).split("\n").filter((l) =>
        l.includes('"kind":"forward"')
      )
        .map((l) => JSON.parse(l).step + 1);
      assert.deepEqual([...new Set(steps)], [1, 3, at + 2]);
      // From the end of training, no step is made at all.
      const done = await resume("5");
      assert.equal(done.code, 2);
      assert.match(
        done.stderr,
        /^error: --trace-detail 5: the resumed run makes no step \(its checkpoint is of step 12, the last\), and .* holds no forward pass of step 5\n$/,
      );
    }
  },
});
