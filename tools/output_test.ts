// Tests for output.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import {
  CLI,
  cli,
  endsWithin,
  FAST,
  runScript,
  SCRIPT,
  stalled,
  stepLines,
  tmp,
} from "./testing.ts";

Deno.test({
  name: "cli: a closed stdout costs nothing: training goes on, the model is saved, exit 1",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/closed-stdout.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", SCRIPT, "--steps", "300", "--save", path],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    await child.stdout.cancel(); // the reader goes away, as `| head` does
    const status = await child.status;
    assert.equal(status.code, 1);
    const lines = (await stderr).trimEnd().split("\n");
    assert.match(
      lines[lines.length - 1],
      /^error: could not write to stdout \(.*\); training went on to the end; .*closed-stdout.json was saved$/,
    );
    // The same checkpoint as a run whose stdout was read to the end.
    const reference = `${tmp}/read-stdout.json`;
    assert.equal((await cli(["--steps", "300", "--save", reference])).code, 0);
    assert.equal(Deno.readTextFileSync(path), Deno.readTextFileSync(reference));
  },
});

Deno.test({
  name: "cli: in a terminal the step line tells the time; piped, it stays microgpt.py's",
  ignore: !CLI || !(() => {
    try {
      return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync().success;
    } catch {
      return false;
    }
  })(),
  fn: async () => {
    const out = await new Deno.Command("script", {
      args: ["-qec", `${Deno.execPath()} run ${FAST} --steps 300 --samples 1`, "/dev/null"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.match(
      text,
      /step {2}300 \/ {2}300 \| loss \d\.\d{4} \| [\d.]+ s, [\d.]+ ms\/step, [\d.]+ s left/,
    );
    const piped = await runScript(FAST, ["--steps", "300", "--samples", "1"]);
    assert.doesNotMatch(piped.stdout, /ms\/step/);
  },
});

// A pipe nobody reads (`| less` left on its first page, a stalled supervisor): the run waits for
// its reader, yet a signal is acted on at once, and no line printed before it is lost.
for (
  const [name, script, shape] of [
    ["microgpt_fast.ts", FAST, ["--steps", "6000"]],
    ["microgpt.ts", SCRIPT, ["--steps", "3000", "--n-embd", "4", "--n-head", "1"]],
  ] as const
) {
  Deno.test({
    name: `cli: a signal stops a run whose stdout nobody reads, and its lines resume (${name})`,
    ignore: !CLI,
    fn: async () => {
      const args = [...shape, "--samples", "3"];
      const ckpt = `${tmp}/stalled-${name}.json`;
      const log = `${tmp}/stalled-${name}.tsv`;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          script,
          ...args,
          "--save",
          ckpt,
          "--log",
          log,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      await stalled(child.pid, log); // stdout is not read: the pipe fills, the run waits
      child.kill("SIGTERM");
      const status = await endsWithin(child, 30); // before, it waited for its reader forever
      const stdout = await new Response(child.stdout).text(); // the reader comes back
      assert.equal(status.code, 143);
      const told = (await stderr).match(
        /^stopped by SIGTERM after step (\d+) of \d+; saved \S+ with the last (?:(\d+) step lines|step line), which stdout's reader had not taken \(the resume prints (?:them|it) first\); resume with: .*$/m,
      );
      assert(told !== null, await stderr);
      const [step, behind] = [Number(told[1]), Number(told[2] ?? 1)];
      assert.equal(stepLines(stdout).length, step - behind);
      const saved = JSON.parse(Deno.readTextFileSync(ckpt)).training;
      assert.equal(saved.step, step);
      assert.equal(saved.unprinted_losses.length, behind);
      // The stopped run's stdout, then the resumed run's after its header: the whole run's.
      const resumed = await runScript(script, ["--resume", ckpt], ["--allow-read"]);
      assert.equal(resumed.code, 0, resumed.stderr);
      const full = await runScript(script, args);
      const header = full.stdout.split("\n").slice(0, 3).join("\n") + "\n";
      assert(resumed.stdout.startsWith(header));
      assert.equal(stdout + resumed.stdout.slice(header.length), full.stdout);
    },
  });
}
