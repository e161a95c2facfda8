// Tests for checkpoint.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, Random } from "../microgpt.ts";
import { type Checkpoint, modelFromJSON, modelToJSON } from "./checkpoint.ts";
import { graphEngine } from "./engine.ts";
import { CLI, cli, file, refused, type Result, smallTrained, tmp } from "./testing.ts";

const cfg = { ...DEFAULTS };

Deno.test("saved weights round-trip bit for bit", () => {
  const { model, tok } = smallTrained(20);
  const before = Float64Array.from(model.params, (p) => p.data);
  const json = modelToJSON(model.config, tok, before);
  const loaded = modelFromJSON(json, cfg);
  assert.deepEqual(loaded.tok.chars, tok.chars);
  assert.deepEqual(
    new BigUint64Array(loaded.weights.buffer),
    new BigUint64Array(before.buffer),
  );
  // Rebuilt as a model, the weights sit where they were.
  const again = graphEngine.create(loaded.config, loaded.tok.vocabSize, loaded.weights);
  assert.deepEqual(again.weights(), before);
});

Deno.test("a saved model that does not fit is refused, naming what is wrong", () => {
  const { model, tok } = smallTrained(1);
  const json = modelToJSON(model.config, tok, Float64Array.from(model.params, (p) => p.data));
  const edit = (f: (m: Record<string, unknown>) => void) => {
    const m = JSON.parse(json);
    f(m);
    return JSON.stringify(m);
  };
  const refuse = (text: string, why: RegExp) => assert.throws(() => modelFromJSON(text, cfg), why);
  refuse(json.slice(0, json.length / 2), /not valid JSON/);
  refuse("[1, 2]", /not a saved microgpt.ts model/);
  refuse(edit((m) => m.version = 3), /version 3 is not supported/);
  refuse(edit((m) => m.version = "1"), /"version" must be a number, not "1"/);
  refuse("\ufeff" + json, /starts with a byte order mark/);
  refuse(edit((m) => m.n_head = 3), /not divisible/);
  refuse(edit((m) => m.n_layer = 0), /"n_layer" must be a whole number >= 1, not 0/);
  refuse(
    edit((m) => m.state_dict = []),
    /"state_dict" must be an object of matrices by name, not a list/,
  );
  refuse(
    json.replace(/\[\[[-0-9.e]+/, "[[1e400"),
    /wte\[0\]\[0\] is Infinity, not a finite number/,
  );
  // Characters that would move the cursor, ring, retitle the window or fake a line of output.
  for (const ch of ["\x1b", "\x07", "\n", "\x9b"]) {
    refuse(edit((m) => (m.vocab as string[])[0] = ch), /"vocab" holds the control character/);
  }
  refuse(edit((m) => m.vocab = ["a", "a"]), /repeats/);
  refuse(edit((m) => m.vocab = ["ab"]), /not a single character/);
  refuse(edit((m) => (m.vocab as string[]).pop()), /wte has 28 rows, expected 27/);
  refuse(edit((m) => (m.state_dict as Record<string, number[][]>).wpe[2].pop()), /wpe row 2/);
  refuse(
    edit((m) => (m.state_dict as Record<string, unknown[][]>).lm_head[1][3] = null),
    /lm_head\[1\]\[3\] is null/,
  );
  refuse(
    edit((m) => delete (m.state_dict as Record<string, unknown>)["layer0.mlp_fc2"]),
    /lacks the matrix "layer0.mlp_fc2"/,
  );
  refuse(
    edit((m) => (m.state_dict as Record<string, unknown>).extra = []),
    /unexpected matrix "extra"/,
  );
});

Deno.test("a checkpoint round-trips bit for bit: weights, moments, step, settings, random state", () => {
  const { model, tok, rng } = smallTrained(25);
  const settings = { ...model.config, learningRate: 0.0123, seed: 2n ** 70n, numSamples: 7 };
  const m = Float64Array.from({ length: model.params.length }, (_, i) => Math.sin(i) * 1e-3);
  const v = Float64Array.from({ length: model.params.length }, (_, i) => (i % 7) * 1e-9 + 5e-324);
  rng.gauss(0, 1); // leaves a cached second value in the state
  const cp: Checkpoint = {
    step: 17,
    m,
    v,
    random: rng.getState(),
    textSha256: "ab".repeat(32),
    numDocs: 8422,
    holdout: 5,
    prefix: "ka",
  };
  const weights = Float64Array.from(model.params, (p) => p.data);
  const back = modelFromJSON(modelToJSON(settings, tok, weights, cp), cfg);
  const bits = (xs: Float64Array) => new BigUint64Array(xs.slice().buffer);
  assert.deepEqual(bits(back.weights), bits(weights));
  assert.deepEqual(bits(back.checkpoint!.m), bits(m));
  assert.deepEqual(bits(back.checkpoint!.v), bits(v));
  assert.deepEqual(back.checkpoint!.random, cp.random);
  assert.deepEqual({ ...back.checkpoint!, m: 0, v: 0 }, { ...cp, m: 0, v: 0 });
  assert.deepEqual(back.config, settings);
  // The restored generator continues the same stream.
  const again = new Random(0);
  again.setState(back.checkpoint!.random);
  assert.deepEqual([again.gauss(0, 1), again.random()], [rng.gauss(0, 1), rng.random()]);
});

Deno.test({
  name: "cli: --save then --load --steps 0 samples the same names without training",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/m.json`;
    const trained = await cli(["--steps", "60", "--seed", "4", "--samples", "6", "--save", path]);
    assert.deepEqual(trained.code, 0, trained.stderr);
    assert.deepEqual([...Deno.readDirSync(tmp)].filter((e) => e.name.includes(".tmp")), []);
    const saved = JSON.parse(Deno.readTextFileSync(path));
    assert.deepEqual(saved.version, 2);
    assert.deepEqual([saved.n_embd, saved.n_head, saved.n_layer, saved.block_size], [16, 4, 1, 16]);
    // With the same seed and text, sampling a loaded model repeats the run that saved it.
    const names = (r: Result) => r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    const again = await cli(["--load", path, "--steps", "0", "--seed", "4", "--samples", "6"]);
    assert.deepEqual(names(again), names(trained));
    assert.match(again.stdout, /vocab size: 28\nnum params: 4224\n\n--- inference/);
    // Sampling alone needs neither training nor a text with the same characters.
    const other = file("other.txt", "x@z\n");
    const elsewhere = await cli(["--load", path, "--steps", "0", "--input", other]);
    assert.deepEqual(elsewhere.code, 0, elsewhere.stderr);
    assert.deepEqual(names(elsewhere).length, 20);
    // Training on from a loaded model works, and a shape flag must agree with the file.
    const more = await cli(["--load", path, "--steps", "5"]);
    assert.deepEqual(more.code, 0, more.stderr);
    await refused(["--load", path, "--n-layer", "2"], 1, /--n-layer 2 does not match/);
    await refused(["--load", path, "--input", other], 1, /vocabulary lacks "@"/);
  },
});

Deno.test({
  name: "cli: a corrupt, truncated or missing --load file is refused with exit 1",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/good.json`;
    assert.deepEqual((await cli(["--steps", "1", "--samples", "0", "--save", path])).code, 0);
    const text = Deno.readTextFileSync(path);
    await refused(
      ["--load", file("cut.json", text.slice(0, 500))],
      1,
      /cannot load .*not valid JSON/,
    );
    await refused(
      ["--load", file("v9.json", text.replace('"version":2', '"version":9'))],
      1,
      /version 9/,
    );
    await refused(
      ["--load", file("nan.json", text.replace(/\[\[[-0-9.e]+/, "[[null"))],
      1,
      /wte\[0\]\[0\] is null/,
    );
    await refused(["--load", `${tmp}/nope.json`], 1, /no such file/);
  },
});
