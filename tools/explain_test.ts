// Tests for explain.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, Random, sample } from "../microgpt.ts";
import { explainLine } from "./explain.ts";
import { assertClose, CLI, cli, type Result, smallTrained } from "./testing.ts";

const cfg = { ...DEFAULTS };

Deno.test("explaining a sample does not change what is drawn", () => {
  const { model, tok } = smallTrained(50);
  for (const t of [0.2, 0.5, 1.5]) {
    const plain = sample(model, tok, new Random(11), t);
    const lines: string[] = [];
    const explained = sample(model, tok, new Random(11), t, "", {
      onDraw: (d) => {
        assertClose(d.probs.reduce((a, b) => a + b, 0), 1, 1e-12);
        lines.push(explainLine(d, tok));
      },
    });
    assert.deepEqual(explained, plain);
    assert.deepEqual(lines.length, [...plain].length + (plain.length < cfg.blockSize ? 1 : 0));
    assert(lines.every((l) => l.includes("*")));
  }
});

Deno.test({
  name: "cli: --explain shows candidates for the first sample and draws the same names",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "30", "--samples", "4", "--temperature", "1.5"];
    const plain = await cli(args, []);
    const explained = await cli([...args, "--explain"], []);
    assert.deepEqual(explained.code, 0);
    const names = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(names(explained), names(plain));
    assert.match(explained.stdout, /--- explain sample 1/);
    assert.match(explained.stdout, / {2}after "" +.*\*/);
    assert.deepEqual(
      explained.stdout.split("\n").filter((l) =>
        !l.startsWith("  after") && !l.includes("explain")
      ),
      plain.stdout.split("\n"),
    );
  },
});
