// Tests for signals.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { CLI, FAST, interrupted, SCRIPT } from "./testing.ts";

Deno.test({
  name: "cli: signals end the run with 130, 143 or 129, saying whether anything was saved",
  ignore: !CLI,
  fn: async () => {
    const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
    for (const [signal, code] of Object.entries(codes)) {
      const run = await interrupted(
        SCRIPT,
        ["--steps", "1000"],
        signal as Deno.Signal,
        (out) => out.includes("step  10"),
      );
      assert.equal(run.status.code, code, signal);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(
        lines[0],
        new RegExp(
          `^stopped by ${signal} after step \\d+ of 1000; nothing was saved: .*--save PATH.*--resume PATH`,
        ),
      );
    }
    // While sampling: it stops between two samples, with the same code.
    const sampling = await interrupted(
      FAST,
      ["--steps", "1", "--samples", "100000"],
      "SIGINT",
      (out) => out.includes("sample  9"),
    );
    assert.equal(sampling.status.code, 130);
    assert.match(sampling.stderr, /^stopped by SIGINT while sampling$/m);
    // A second Ctrl-C does not wait for the step to end: the process dies of it at once.
    const slow = ["--n-layer", "6", "--n-embd", "48", "--steps", "50"];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", SCRIPT, ...slow],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const status = await child.status;
    assert.equal(status.signal, "SIGINT");
  },
});

Deno.test({
  name: "cli: before training, a signal ends the run at once, even one blocked reading stdin",
  ignore: !CLI,
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", SCRIPT, "--input", "-", "--steps", "5"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new Response(child.stdout).text();
    const stderr = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("anna\nbob\n")); // and more to come, never
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const status = await child.status;
    await writer.close().catch(() => {});
    assert.equal(status.signal, "SIGINT"); // nothing to save yet: the default action
    assert.equal(await stdout, "");
    assert.equal(await stderr, "");
  },
});

Deno.test({
  name: "cli: with no flags, microgpt.ts is microgpt.py's script: a signal ends it at once",
  ignore: !CLI,
  fn: async () => {
    const run = await interrupted(SCRIPT, [], "SIGINT", (out) => out.includes("step  10"));
    assert.equal(run.status.signal, "SIGINT");
    assert.equal(run.stderr, "");
  },
});
