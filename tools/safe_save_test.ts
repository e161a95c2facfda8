// Tests for safe_save.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import bundledInput from "../input.txt" with { type: "text" };
import { CLI, cli, ENGINES, FAST, refused, refusedBy, runScript, SCRIPT, tmp } from "./testing.ts";

/** An earlier checkpoint, as far as a save looks before replacing a file: its first bytes. */
const OLD_CHECKPOINT = `{"format":"microgpt.ts model","version":2}\n`;

Deno.test({
  name: "cli: --save refuses a missing directory, a directory or no permission before training",
  ignore: !CLI,
  fn: async () => {
    const start = Date.now();
    await refused(["--save", `${tmp}/no/such/dir/m.json`], 1, /cannot save to .*no such file/);
    assert(Date.now() - start < 10_000); // refused at once, not after 1000 steps
    await refused(["--save", tmp], 1, /cannot save to .*it is a directory/);
    const perms = /needs read and write permission: add --allow-read --allow-write/;
    await refused(["--save", `${tmp}/m2.json`], 1, perms, ["--allow-read"]);
    await refused(["--save", `${tmp}/m2.json`], 1, perms, ["--allow-write"]);
    const r = await cli(["--save", `${tmp}/no/m.json`]);
    assert.deepEqual(r.stdout, ""); // nothing printed: it failed before the first line
  },
});

Deno.test({
  name: "cli: saves go through a fresh temporary file: long names, races and failures leave none",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/saves`;
    Deno.mkdirSync(dir);
    // A legal 255-byte name saves (the temporary file's name does not grow with it).
    const long = `${dir}/${"m".repeat(250)}.json`;
    const r = await runScript(FAST, ["--steps", "5", "--samples", "0", "--save", long], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(long)).training.step, 5);
    // Two runs saving to one path, a checkpoint every step: neither fails.
    const shared = `${dir}/shared.json`;
    const args = ["--steps", "300", "--samples", "0", "--save", shared, "--save-every", "1"];
    const both = await Promise.all([
      runScript(FAST, args, ["--allow-read", "--allow-write"]),
      runScript(FAST, [...args, "--seed", "7"], ["--allow-read", "--allow-write"]),
    ]);
    for (const run of both) assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(Deno.readTextFileSync(shared)).training.step, 300);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp")),
      [],
    );
  },
});

Deno.test({
  name: "cli: a save never replaces the training text, a FIFO or a link, and keeps the mode",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/targets`;
    Deno.mkdirSync(dir);
    const data = `${dir}/data.txt`;
    Deno.writeTextFileSync(data, "anna\nbob\ncleo\n");
    await refused(["--input", data, "--save", data], 1, /would replace the training text/);
    await refused(["--input", data, "--save", `${dir}/../targets/./data.txt`], 1, /training text/);
    Deno.linkSync(data, `${dir}/hard.txt`);
    await refused(["--input", data, "--save", `${dir}/hard.txt`], 1, /training text/);
    assert.equal(Deno.readTextFileSync(data), "anna\nbob\ncleo\n");
    // A FIFO would hang the save forever; it is refused before training.
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    await refused(["--save", fifo], 1, /it is a FIFO, not a regular file/);
    await refused(["--save", "/dev/null"], 1, /it is a device, not a regular file/);
    // Through a symlink: the link stays, its target gets the model, with its mode kept.
    const target = `${dir}/real.json`;
    Deno.writeTextFileSync(target, OLD_CHECKPOINT);
    Deno.chmodSync(target, 0o600);
    Deno.symlinkSync("real.json", `${dir}/link.json`);
    const r = await cli(["--steps", "3", "--samples", "0", "--save", `${dir}/link.json`]);
    assert.equal(r.code, 0, r.stderr);
    assert(Deno.lstatSync(`${dir}/link.json`).isSymlink);
    assert.equal(Deno.readLinkSync(`${dir}/link.json`), "real.json");
    assert.equal(JSON.parse(Deno.readTextFileSync(target)).training.step, 3);
    assert.equal(Deno.statSync(target).mode! & 0o777, 0o600);
    // Permission advice names what is missing, never everything.
    const denied = await cli(["--save", `${dir}/x.json`], ["--allow-read"]);
    assert.doesNotMatch(denied.stderr, /allow-all/);
  },
});

Deno.test({
  name: "cli: the training text is guarded behind standard input and as the bundled input.txt",
  ignore: !CLI,
  fn: async () => {
    const dir = `${tmp}/guarded`;
    Deno.mkdirSync(dir);
    const data = `${dir}/names.txt`;
    Deno.writeTextFileSync(data, "anna\nbob\ncleo\n");
    const args = ["--steps", "2", "--samples", "0", "--input", "-"];
    const rw = ["--allow-read", "--allow-write"];
    for (const extra of [["--save", data], ["--log", data]]) {
      // The shell's `< names.txt`: standard input is the file itself.
      const out = await new Deno.Command("sh", {
        args: [
          "-c",
          `exec "$0" run --no-prompt ${rw.join(" ")} "$1" ${args.join(" ")} ${
            extra[0]
          } "$2" < "$2"`,
          Deno.execPath(),
          SCRIPT,
          data,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 1);
      assert.match(new TextDecoder().decode(out.stderr), /would replace the training text/);
      assert.equal(Deno.readTextFileSync(data), "anna\nbob\ncleo\n");
    }
    // A copy of the scripts: without --input, their own input.txt is the training text.
    const copy = `${dir}/copy`;
    Deno.mkdirSync(copy);
    for (const name of ["microgpt.ts", "microgpt_fast.ts", "input.txt"]) {
      Deno.copyFileSync(new URL(`../${name}`, import.meta.url), `${copy}/${name}`);
    }
    Deno.mkdirSync(`${copy}/tools`);
    for (const entry of Deno.readDirSync(new URL(".", import.meta.url))) {
      const from = new URL(`./${entry.name}`, import.meta.url);
      if (entry.name.endsWith(".ts")) Deno.copyFileSync(from, `${copy}/tools/${entry.name}`);
    }
    for (const flag of ["--save", "--log"]) {
      const r = await runScript(`${copy}/microgpt_fast.ts`, [
        "--steps",
        "1",
        flag,
        `${copy}/input.txt`,
      ], rw);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /would replace the bundled training text/);
    }
    assert.equal(Deno.readTextFileSync(`${copy}/input.txt`), bundledInput);
    // --save and --log on one new path: one of them would be lost.
    await refused(
      ["--steps", "1", "--save", `${dir}/same.json`, "--log", `${dir}/same.json`],
      1,
      /would replace the --log file/,
    );
  },
});

Deno.test({
  name: "cli: a save keeps the set-user-id and set-group-id bits of the file it replaces",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/suid.json`;
    Deno.writeTextFileSync(path, OLD_CHECKPOINT);
    Deno.chmodSync(path, 0o6750);
    assert.equal((await cli(["--steps", "1", "--samples", "0", "--save", path])).code, 0);
    assert.equal(Deno.statSync(path).mode! & 0o7777, 0o6750);
  },
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name:
      `cli: --save, --log and --report replace a file of their own kind, nothing else (${name})`,
    ignore: !CLI,
    fn: async () => {
      const dir = `${tmp}/kinds-${name}`;
      Deno.mkdirSync(dir);
      const rw = ["--allow-read", "--allow-write"];
      const notes = `${dir}/notes.txt`;
      Deno.writeTextFileSync(notes, "my notes\n");
      const run = (extra: string[]) =>
        runScript(script, ["--steps", "2", "--samples", "1", ...extra], rw);
      // Each flag makes its file, then replaces it on the next run: a file of its own kind.
      const made = {
        "--save": `${dir}/m.json`,
        "--log": `${dir}/l.tsv`,
        "--report": `${dir}/p.html`,
      };
      for (const [flag, path] of Object.entries(made)) {
        for (let k = 0; k < 2; k++) assert.equal((await run([flag, path])).code, 0, `${flag} ${k}`);
        Deno.writeTextFileSync(`${dir}/empty`, "");
        assert.equal((await run([flag, `${dir}/empty`])).code, 0, `${flag} on an empty file`);
        Deno.removeSync(`${dir}/empty`);
      }
      // Anything else is left alone: a user's file, another flag's file, a source file.
      const others: [string, string, string][] = [
        ["--save", notes, "a saved microgpt.ts model"],
        ["--log", notes, "a loss log"],
        ["--report", notes, "a microgpt run's page"],
        ["--save", made["--log"], "a saved microgpt.ts model"],
        ["--log", made["--report"], "a loss log"],
        ["--report", made["--save"], "a microgpt run's page"],
        ["--report", SCRIPT, "a microgpt run's page"],
      ];
      for (const [flag, path, kind] of others) {
        const before = Deno.readFileSync(path);
        const why = new RegExp(`^error: ${flag} .* exists and is not ${kind}: not replacing it`);
        await refusedBy(script, ["--steps", "2", flag, path], 1, why);
        assert.deepEqual(Deno.readFileSync(path), before, `${flag} ${path}`);
      }
      // Nor is a checkpoint that a run resumes from standard input.
      const saved = Deno.readTextFileSync(made["--save"]);
      const piped = new Deno.Command(Deno.execPath(), {
        args: ["run", ...rw, script, "--resume", "-", "--log", made["--save"]],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const writer = piped.stdin.getWriter();
      await writer.write(new TextEncoder().encode(saved));
      await writer.close();
      const out = await piped.output();
      assert.equal(out.code, 1);
      assert.match(new TextDecoder().decode(out.stderr), /^error: --log .*m\.json /);
      assert.equal(Deno.readTextFileSync(made["--save"]), saved);
    },
  });
}
