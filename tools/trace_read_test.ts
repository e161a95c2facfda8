// Tests for tools/trace_read.ts: what a trace reads as, and the one message for what is not one.

import assert from "node:assert/strict";
import { parseTrace, readTrace, TraceError, TraceReader } from "./trace_read.ts";
import { bytesSource } from "./trace_lines.ts";
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
      assert.throws(
        () => readTrace(path),
        (err: Error) => err instanceof TraceError && message.test(err.message),
      );
    }
    await Deno.writeTextFile(`${dir}/ok`, `${header}\n`);
    assert.equal(readTrace(`${dir}/ok`).steps.size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a last line cut short is left out and named; a bad line before it is refused", () => {
  const sample = '{"kind":"sample","sample":0,"tokens":[0,2],"probs":[0.5,0.25],"text":"a"}';
  const steps = (n: number) =>
    Array.from({ length: n }, (_, s) => step.replace('"step":0', `"step":${s}`));
  // Killed mid-line: in a step, in a sample.
  const cuts: [string, number, number, number][] = [
    [[header, ...steps(2), step.slice(0, 40)].join("\n"), 4, 2, 0],
    [[header, ...steps(3), sample, sample.slice(0, 50)].join("\n"), 6, 3, 1],
  ];
  for (const [text, line, stepCount, sampleCount] of cuts) {
    const t = parseTrace(text, "t.jsonl");
    assert.equal(t.cut, line);
    assert.equal(t.steps.size, stepCount);
    assert.equal(t.samples.length, sampleCount);
  }
  // And between the two bytes of a character: the line is not even UTF-8 yet.
  const bytes = new TextEncoder().encode([header, step, sample.replace('"a"', '"é"')].join("\n"));
  const inChar = bytes.subarray(0, bytes.length - 3); // é is the last character but two bytes
  const reader = new TraceReader(bytesSource(inChar), "t.jsonl");
  assert.notEqual(reader.nextStep(), undefined);
  assert.deepEqual(reader.samples(), []);
  assert.equal(reader.cut, 3);
  // A whole trace has no cut line; the same bad line with its newline is refused.
  assert.equal(parseTrace([header, step, ""].join("\n"), "t.jsonl").cut, undefined);
  assert.throws(
    () => parseTrace([header, step.slice(0, 40), step, ""].join("\n"), "t.jsonl"),
    /^Error: t\.jsonl: line 2 is not JSON: not a trace \(JSON Lines\)$/,
  );
  assert.throws(
    () => parseTrace([header, step.slice(0, 40), ""].join("\n"), "t.jsonl"),
    /line 2 is not JSON/,
  );
});

Deno.test("records are read in the order the computation makes them; out of it, one message", () => {
  const at = (s: number, kind = "step") =>
    kind === "step"
      ? step.replace('"step":0', `"step":${s}`)
      : `{"kind":"forward","step":${s},"pos":0,"token":2,"target":0,"embedding":[1],"norm":[1],` +
        `"layers":[],"logits":[1,2,3],"prob":0.5}`;
  const sample = '{"kind":"sample","sample":0,"tokens":[2],"probs":[1],"text":""}';
  const init = '{"kind":"init","matrix":"wte","rows":1,"cols":1,"sumsq":1,"values":[1]}';
  // A step's forward records before its step record, or after it: both are the step's.
  for (const order of [[at(0, "f"), at(0)], [at(0), at(0, "f")]]) {
    const t = parseTrace([header, init, ...order, at(1), sample].join("\n"), "t.jsonl");
    assert.deepEqual([...t.forward.keys()], [0]);
    assert.deepEqual([...t.steps.keys()], [0, 1]);
    assert.equal(t.init.length, 1);
  }
  // Forward records of a step that never ended (a run killed mid-step) are not that step's.
  const killed = parseTrace([header, at(0), at(1, "f"), at(2)].join("\n"), "t.jsonl");
  assert.deepEqual([...killed.forward.keys()], []);
  const cases: [string[], RegExp][] = [
    [[at(1), at(0)], /line 3: step 0 comes after step 1: the steps are out of order/],
    [[at(1), at(0, "f")], /line 3: the forward pass of step 0 comes after step 1's record/],
    [[at(0), init], /line 3: an init record after the steps began: the records are out of order/],
    [[at(0), sample, at(1)], /line 4: a step record after the samples: the records are out/],
  ];
  for (const [records, message] of cases) {
    assert.throws(() => parseTrace([header, ...records].join("\n"), "t.jsonl"), message);
  }
});

Deno.test("the header's data setup: none without the fields, a holdout and a stream with them", () => {
  const none = parseTrace(header, "t.jsonl").header;
  assert.equal(none.holdout, "none");
  assert.equal(none.stream, false);
  const withSetup = (fields: string) =>
    header.replace('"num_params":1', `"num_params":1,${fields}`);
  const counted = parseTrace(withSetup('"holdout":10,"stream":true'), "t.jsonl").header;
  assert.equal(counted.holdout, "10");
  assert.equal(counted.stream, true);
  assert.equal(parseTrace(withSetup('"holdout":"12.5%"'), "t.jsonl").header.holdout, "12.5%");
  for (const bad of ['"holdout":"ten"', '"holdout":-1', '"stream":"yes"']) {
    assert.throws(() => parseTrace(withSetup(bad), "t.jsonl"), /line 1: "(holdout|stream)" is not/);
  }
});
