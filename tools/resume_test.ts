// Tests for resume.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  CLI,
  cli,
  ENGINES,
  FAST,
  file,
  fullDefault,
  inference,
  interrupted,
  refused,
  refusedBy,
  runScript,
  SCRIPT,
  stepLines,
  tmp,
} from "./testing.ts";

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
    // The signal is sent once step 400's line is out; it may be seen before step 400 ends.
    assert(step >= 400 && step < 1000, `stopped at ${step}`);
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
  name: "cli: Adam's constants and the initial deviation are saved, and checked on --resume",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/adam.json`;
    const args = ["--steps", "2600", "--samples", "3", "--beta1", "0.9", "--beta2", "0.95"];
    const more = ["--eps-adam", "1e-6", "--init-std", "0.05"];
    const full = await runScript(FAST, [...args, ...more]);
    assert.equal(full.code, 0, full.stderr);
    // Signalled while it waits on a full pipe, so that it stops in the middle.
    const run = await interrupted(
      FAST,
      [...args, ...more, "--save", ckpt],
      "SIGTERM",
      (out) => out.includes("step "),
      800,
    );
    assert.equal(run.status.code, 143, run.stderr);
    const saved = JSON.parse(Deno.readTextFileSync(ckpt)).training;
    assert.deepEqual(
      [saved.beta1, saved.beta2, saved.eps_adam, saved.init_std],
      [0.9, 0.95, 1e-6, 0.05],
    );
    assert(saved.step > 0 && saved.step < 2600, `stopped at ${saved.step}`);
    // Resumed without the flags, the run goes on with the file's values, as if never stopped.
    const resumed = await runScript(FAST, ["--resume", ckpt], ["--allow-read"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const step = saved.step;
    assert.deepEqual(
      [...stepLines(run.stdout).slice(0, step), ...stepLines(resumed.stdout)],
      stepLines(full.stdout),
    );
    assert.equal(inference(resumed.stdout), inference(full.stdout));
    for (
      const [flag, value, has] of [
        ["--beta1", "0.85", "0.9"],
        ["--beta2", "0.99", "0.95"],
        ["--eps-adam", "1e-8", "0.000001"],
        ["--init-std", "0.08", "0.05"],
      ]
    ) {
      const pattern = new RegExp(
        `^error: ${flag} ${value} contradicts .*adam\\.json, which was trained with ${flag} ${has}`,
      );
      await refused(["--resume", ckpt, flag, value], 1, pattern);
    }
    assert.equal((await cli(["--resume", ckpt, "--beta1", "0.9", "--samples", "0"])).code, 0);
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

/** A checkpoint's JSON with a checksum made anew for its content: what a forger would write. */
function resealed(saved: Record<string, unknown>): string {
  const { checksum: _, ...rest } = saved;
  const body = JSON.stringify(rest);
  const sha = createHash("sha256").update(body).digest("hex");
  return `${body.slice(0, -1)},"checksum":"sha256:${sha}"}\n`;
}

/** Adam's moments as a checkpoint holds them (base64 of little-endian float64s), and back. */
const floats = (b64: string) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float64Array(bytes.buffer);
};
const base64 = (xs: Float64Array) => btoa(String.fromCharCode(...new Uint8Array(xs.buffer)));

for (const [name, script] of ENGINES) {
  Deno.test({
    name:
      `cli: a checkpoint proves itself: edits are refused before the header, naming the field (${name})`,
    ignore: !CLI,
    fn: async () => {
      const rw = ["--allow-read", "--allow-write"];
      const ckpt = `${tmp}/proof-${name}.json`;
      const made = await runScript(script, ["--steps", "20", "--samples", "2", "--save", ckpt], rw);
      assert.equal(made.code, 0, made.stderr);
      const saved = JSON.parse(Deno.readTextFileSync(ckpt));
      assert.match(saved.checksum, /^sha256:[0-9a-f]{64}$/);
      // An edited copy whose checksum is kept as it was, made anew, or taken out.
      type Seal = "kept" | "new" | "none";
      const edited = (label: string, edit: (m: typeof saved) => void, seal: Seal) => {
        const m = structuredClone(saved);
        edit(m);
        if (seal === "none") delete m.checksum;
        const text = seal === "new" ? resealed(m) : JSON.stringify(m);
        return file(`${label}-${seal}-${name}.json`, text);
      };
      const swap = (m: typeof saved) => [m.vocab[3], m.vocab[4]] = [m.vocab[4], m.vocab[3]];
      const flip = (m: typeof saved) => {
        const c = m.adam.m[100];
        m.adam.m = m.adam.m.slice(0, 100) + (c === "A" ? "B" : "A") + m.adam.m.slice(101);
      };
      const unsure =
        /^error: cannot resume .*: "checksum" does not match the content: the file was changed or damaged after it was saved$/;
      // Edits that leave every field plausible: only the checksum tells.
      await refusedBy(script, ["--resume", edited("swapped", swap, "kept")], 1, unsure);
      await refusedBy(script, ["--resume", edited("flipped", flip, "kept")], 1, unsure);
      // Forged with a new checksum, or from before checkpoints had one: each field is checked.
      for (const seal of ["new", "none"] as const) {
        const negative = edited("negative-v", (m) => {
          const v = floats(m.adam.v);
          v[17] = -1e-3;
          m.adam.v = base64(v);
        }, seal);
        await refusedBy(
          script,
          ["--resume", negative],
          1,
          /^error: cannot resume .*: adam\."v" holds -0\.001 at 17: a second moment is a mean of squares, never negative$/,
        );
        // The vocabulary must be the text's: "z" replaced (the text's fingerprint intact), or
        // two characters swapped.
        const noZ = edited("no-z", (m) => m.vocab[m.vocab.indexOf("z")] = "Z", seal);
        await refusedBy(
          script,
          ["--resume", noZ],
          1,
          /^error: cannot resume .*no-z.*: "vocab" lacks "z", a character of the text$/,
        );
        await refusedBy(
          script,
          ["--resume", edited("swapped-sealed", swap, seal)],
          1,
          /^error: cannot resume .*: "vocab" lists the text's characters out of their order: "d" where "c" belongs \(entry 3\)$/,
        );
      }
      // A checkpoint saved before checksums resumes, with a warning first; the same numbers.
      const old = edited("no-checksum", () => {}, "none");
      const resumedOld = await runScript(script, ["--resume", old], ["--allow-read"]);
      const resumed = await runScript(script, ["--resume", ckpt], ["--allow-read"]);
      assert.equal(resumedOld.code, 0, resumedOld.stderr);
      assert.match(
        resumedOld.stderr.split("\n")[0],
        /^warning: .*no-checksum.* was saved before checkpoints had a checksum: a change to it cannot be detected; the next save adds one$/,
      );
      assert.equal(resumed.stderr.split("\n")[0].startsWith("warning"), false);
      assert.equal(resumedOld.stdout, resumed.stdout);
      // --load starts anew from weights, which are their user's to edit: no checksum asked.
      const loaded = await runScript(script, [
        "--load",
        edited("load-flipped", flip, "kept"),
        "--steps",
        "0",
      ], ["--allow-read"]);
      assert.equal(loaded.code, 0, loaded.stderr);
    },
  });
}

Deno.test({
  name: "cli: a --holdout P% --holdout-all run's printed resume command works as printed",
  ignore: !CLI,
  fn: async () => {
    const ckpt = `${tmp}/holdout-all.json`;
    const args = ["--steps", "3000", "--samples", "1", "--holdout", "10%", "--holdout-all"];
    const run = await interrupted(
      FAST,
      [...args, "--save", ckpt],
      "SIGINT",
      (out) => out.includes("step "),
      800,
    );
    assert.equal(run.status.code, 130, run.stderr);
    const printed = run.stderr.match(/resume with: deno run --allow-read --allow-write \S+ (.*)$/m);
    assert(printed !== null, run.stderr);
    assert.match(printed[1], /--holdout-all/);
    const resumed = await runScript(FAST, printed[1].split(" "), ["--allow-read", "--allow-write"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /^held out: the last \d+ lines/m);
    // A checkpoint without a P% holdout cannot score all of one.
    const plain = `${tmp}/plain-holdout.json`;
    assert.equal(
      (await runScript(FAST, ["--steps", "3", "--samples", "0", "--save", plain], [
        "--allow-read",
        "--allow-write",
      ])).code,
      0,
    );
    await refusedBy(
      FAST,
      ["--resume", plain, "--holdout-all"],
      2,
      /^error: --holdout-all goes with --holdout P% .*holds out nothing$/,
    );
  },
});
