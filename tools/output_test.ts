// Tests for output.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { CLI, cli, FAST, runScript, SCRIPT, tmp } from "./testing.ts";

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
