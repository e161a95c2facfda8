// Tests for tools/trace_read.ts: what a trace reads as, and the one message for what is not one.

import assert from "node:assert/strict";
import { parseTrace, readTrace, TraceError } from "./trace_read.ts";
import { CLI } from "./testing.ts";

const header = '{"kind":"header","format":"microgpt trace","version":1,"engine":"e",' +
  '"settings":{"n_layer":1,"seed":123456789012345678901234567890,"temperature":null},' +
  '"vocab":["a","b"],"bos":2,"vocab_size":3,"num_docs":2,"docs_sha256":"d",' +
  '"shuffled_sha256":"s","num_params":1}';

const step = '{"kind":"step","step":0,"doc":1,"tokens":[2,0,2],"lr":0.01,"loss":"NaN",' +
  '"grad_sumsq":{"wte":1e-8},"weight_sumsq":{"wte":"Infinity"}}';

Deno.test("a trace reads as its records: numbers, non-finite strings, the seed's digits", () => {
  const t = parseTrace([header, step, ""].join("\n"), "t.jsonl");
  assert.equal(t.header.engine, "e");
  assert.equal(t.header.settings.seed, "123456789012345678901234567890");
  assert.equal(t.header.settings.temperature, null);
  assert.deepEqual(t.header.vocab, ["a", "b"]);
  const s = t.steps.get(0)!;
  assert(Number.isNaN(s.loss));
  assert.equal(s.grad.get("wte"), 1e-8);
  assert.equal(s.weights.get("wte"), Infinity);
  assert.deepEqual(s.tokens, [2, 0, 2]);
});

Deno.test("what is not a trace of version 1 is refused with one message naming the line", () => {
  const cases: [string, RegExp][] = [
    ["", /t\.jsonl is empty, not a trace/],
    ["not json", /line 1 is not JSON/],
    ["[1]", /line 1 is not a JSON object/],
    ['{"kind":"step"}', /its first line is not a "microgpt trace" header/],
    [header.replace('"version":1', '"version":"1"'), /version "1"; this differ reads version 1/],
    [`${header}\n${header}`, /line 2: a second header/],
    [`${header}\n${step}\n${step}`, /line 3: step 0 appears twice/],
    [`${header}\n${step.replace('"lr":0.01,', "")}`, /line 2: "lr" is missing or not a number/],
    [`${header}\n${step.replace("[2,0,2]", "[2,0.5]")}`, /"tokens" is not a list of integers/],
    [`${header}\n{"kind":"forward","step":0}`, /line 2: "embedding" is not a list of numbers/],
    [header.replace('"vocab":["a","b"]', '"vocab":[1]'), /"vocab" is not characters/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseTrace(text, "t.jsonl"), (err: Error) => {
      assert(err instanceof TraceError, `${text}: ${err}`);
      assert.match(err.message, message);
      assert(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("readTrace names a missing file, a directory and text that is not UTF-8", {
  ignore: !CLI,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/latin1`, new Uint8Array([0x7b, 0xe9, 0x7d]));
    for (
      const [path, message] of [
        [`${dir}/none`, /none: no such file/],
        [dir, /is a directory, not a trace/],
        [`${dir}/latin1`, /is not UTF-8 text/],
      ] as const
    ) {
      await assert.rejects(
        readTrace(path),
        (err: Error) => err instanceof TraceError && message.test(err.message),
      );
    }
    await Deno.writeTextFile(`${dir}/ok`, `${header}\n`);
    assert.equal((await readTrace(`${dir}/ok`)).steps.size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
