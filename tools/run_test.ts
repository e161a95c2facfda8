// Tests for run.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { CLI, cli, file, refused, SCRIPT, tmp } from "./testing.ts";

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
