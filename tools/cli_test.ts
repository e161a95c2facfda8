// Tests for cli.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { CLI, cli } from "./testing.ts";

Deno.test({
  name: "cli: same flags and seed give byte-identical output on every run",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "40", "--seed", "9", "--samples", "5", "--temperature", "0.8"];
    const a = await cli(args);
    const b = await cli(args);
    assert.deepEqual(a.code, 0);
    assert.deepEqual(b.stdout, a.stdout);
    assert.deepEqual(b.stderr, a.stderr);
  },
});
