// Tests for attention.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, Random, sample } from "../microgpt.ts";
import {
  ATTENTION_POSITIONS,
  attentionMap,
  attentionReport,
  describeAttention,
} from "./attention.ts";
import {
  assertClose,
  CLI,
  cli,
  ENGINES,
  type Result,
  runScript,
  smallTrained,
  stepLines,
  tmp,
} from "./testing.ts";

const cfg = { ...DEFAULTS };

Deno.test("attention weights of every position sum to 1, and the map draws one row per position", () => {
  const { model, tok } = smallTrained(100);
  const maps: number[][][][] = [];
  const name = sample(model, tok, new Random(4), 0.5, "", {
    onAttention: (pos, li, h, w) => {
      ((maps[li] ??= [])[h] ??= [])[pos] = w;
    },
  });
  const rows = maps[0][0];
  assert.equal(rows.length, Math.min(name.length + 1, cfg.blockSize));
  for (const head of maps[0]) {
    head.forEach((w, pos) => {
      assert.equal(w.length, pos + 1); // a position sees itself and the past, nothing later
      assertClose(w.reduce((a, b) => a + b, 0), 1, 1e-12);
    });
  }
  const lines = attentionMap(0, 0, ["<s>", ...name].slice(0, rows.length), rows);
  assert.equal(lines.length, rows.length + 3);
  assert(lines.every((l) => [...l].length <= 36)); // two maps side by side fit 80 columns
});

Deno.test("the attention pattern is named when it is clear", () => {
  const oneHot = (n: number, pick: (t: number) => number) =>
    Array.from(
      { length: n },
      (_, t) => Array.from({ length: t + 1 }, (_, s) => (s === pick(t) ? 1 : 0)),
    );
  assert.equal(
    describeAttention(oneHot(6, (t) => Math.max(0, t - 1))),
    "mostly the previous character",
  );
  assert.equal(describeAttention(oneHot(6, (t) => t)), "mostly itself");
  assert.equal(describeAttention(oneHot(6, () => 0)), "mostly the start");
  const even = Array.from({ length: 6 }, (_, t) => new Array(t + 1).fill(1 / (t + 1)));
  assert.equal(describeAttention(even), "spread evenly over the past");
  // Two back: no candidate reaches half, and far from even.
  assert.equal(describeAttention(oneHot(6, (t) => Math.max(0, t - 2))), undefined);
});

Deno.test({
  name: "cli: --attention, --embeddings and --log draw what they promise and change no draw",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "200", "--samples", "5"];
    const plain = await cli(args, []);
    const log = `${tmp}/loss.tsv`;
    const seen = await cli([...args, "--attention", "--embeddings", "--log", log]);
    assert.equal(seen.code, 0, seen.stderr);
    const samples = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(samples(seen), samples(plain));
    assert.deepEqual(stepLines(seen.stdout), stepLines(plain.stdout));
    // The maps come right after the first sample: one per head, rows as long as the sample.
    const after = seen.stdout.split("sample  1: ")[1];
    const first = after.split("\n")[0];
    assert.match(after, /^[^\n]*\n--- attention of sample 1/);
    for (let h = 0; h < 4; h++) assert.match(seen.stdout, new RegExp(`layer 0, head ${h}`));
    const rows = after.split("sample  2")[0].split("\n").filter((l) =>
      /^ *(<s>|[a-z-]) [░▒▓█]/.test(l)
    );
    assert.equal(rows.length, 2 * Math.min(first.length + 1, 16)); // two rows of two maps
    assert(after.split("sample  2")[0].split("\n").every((l) => [...l].length <= 80));
    assert.match(seen.stdout, /--- token embeddings \(wte\)/);
    assert.match(seen.stdout, /^nearest to e: /m);
    // The log: a header and one row per step, numbers at full precision.
    const rowsOfLog = Deno.readTextFileSync(log).trimEnd().split("\n");
    assert.equal(rowsOfLog[0], "step\tloss\tlearning_rate\theld_out_loss");
    assert.equal(rowsOfLog.length, 201);
    assert.deepEqual(rowsOfLog[1].split("\t").slice(0, 3), ["1", "3.461323030236502", "0.01"]);
  },
});

Deno.test({
  name: "cli: with --prefix, the attention map's rows are the characters read, the prefix once",
  ignore: !CLI,
  fn: async () => {
    const r = await cli(["--steps", "20", "--prefix", "ka", "--samples", "1", "--attention"], []);
    assert.equal(r.code, 0, r.stderr);
    const name = r.stdout.split("sample  1: ")[1].split("\n")[0];
    assert(name.startsWith("ka"), name);
    const map = r.stdout.split("layer 0, head 0")[1].split("\n").slice(1);
    const labels = map.filter((l) => /^ *(<s>|[a-z-]) [░▒▓█ ]/.test(l)).map((l) => l.trim()[0]);
    const read = ["<", ...name].slice(0, Math.min(name.length + 1, 16));
    assert.deepEqual(labels.slice(0, read.length), read);
  },
});

Deno.test("a long sample's attention is drawn for its first 64 positions; a stop abandons it", () => {
  // Weights of 3 heads over 3,000 positions (what a --block-size 3000 sample would give): the
  // maps keep to the first 64, whatever the caller kept.
  const n = 3000;
  const rows = Array.from({ length: n }, (_, t) => new Array(t + 1).fill(1 / (t + 1)));
  const labels = ["<s>", ..."a".repeat(n)];
  const report = attentionReport(labels, [[rows, rows, rows]]);
  const lines = report.split("\n");
  assert.equal(
    lines[0],
    `--- attention of sample 1 (its first ${ATTENTION_POSITIONS} of ${n} positions): rows look at columns, darker = more weight ---`,
  );
  assert.equal(lines.filter((l) => /^ *(<s>|a) [░▒▓█]/.test(l)).length, 3 * ATTENTION_POSITIONS);
  assert(lines.every((l) => [...l].length <= 4 + 2 * ATTENTION_POSITIONS));
  // A caller that kept only the first positions says how many the sample had.
  const kept = rows.slice(0, ATTENTION_POSITIONS);
  assert.equal(attentionReport(labels, [[kept]], { positions: n }).split("\n")[0], lines[0]);
  // Asked to stop, it draws nothing more.
  let asked = 0;
  assert.equal(attentionReport(labels, [[rows, rows, rows]], { stop: () => ++asked > 1 }), "");
  assert.equal(asked, 2);
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name: `cli: --attention on a sample of 150 positions draws its first 64, quickly (${name})`,
    ignore: !CLI,
    fn: async () => {
      const args = ["--steps", "0", "--block-size", "200", "--samples", "1", "--attention"];
      const r = await runScript(script, [...args, "--prefix", "a".repeat(150)]);
      assert.equal(r.code, 0, r.stderr);
      const name1 = r.stdout.split("sample  1: ")[1].split("\n")[0];
      const positions = Math.min(name1.length + 1, 200);
      assert.match(
        r.stdout,
        new RegExp(`--- attention of sample 1 \\(its first 64 of ${positions} positions\\)`),
      );
      const rows = r.stdout.split("\n").filter((l) => /^ *(<s>|[a-z-]) [░▒▓█]/.test(l));
      assert.equal(rows.length, 4 * 64); // four heads, each its first 64 rows
    },
  });
}
