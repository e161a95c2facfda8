// Tests for limits.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { modelToJSON } from "./checkpoint.ts";
import { JsonShape, MAX_MODEL_COMMAS, MAX_MODEL_CONTAINERS, MAX_MODEL_DEPTH } from "./limits.ts";
import { CLI, ENGINES, file, refused, refusedBy, smallTrained, tmp } from "./testing.ts";

/** Feeds `text` to a fresh JsonShape in pieces of `size` bytes. */
function scan(text: string | Uint8Array, size = 1 << 20): void {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const shape = new JsonShape();
  for (let i = 0; i < bytes.length; i += size) shape.scan(bytes.subarray(i, i + size));
}

Deno.test({
  name: "cli: a shape too large for a scalar graph is refused instead of running out of memory",
  ignore: !CLI,
  fn: async () => {
    await refused(["--n-embd", "4096", "--n-head", "1"], 2, /201621504 parameters, too large/);
    const long = file("long.txt", "a".repeat(200) + "\n");
    const big = ["--input", long, "--block-size", "200", "--n-layer", "8", "--n-embd", "128"];
    await refused(
      big,
      2,
      /a training step of microgpt.ts would need about [\d.]+ GB.*or run microgpt_fast\.ts/,
    );
  },
});

Deno.test({
  name: "cli: sizes are checked by arithmetic before anything is allocated",
  ignore: !CLI,
  fn: async () => {
    await refused(["--n-layer", "10000000"], 2, /parameters, too large: the limit is 5000000/);
    // A tiny file that claims ten million layers.
    const claim = JSON.stringify({
      format: "microgpt.ts model",
      version: 1,
      n_embd: 16,
      n_head: 4,
      n_layer: 10000000,
      block_size: 16,
      vocab: ["a"],
      state_dict: {},
    });
    await refused(["--load", file("huge-claim.json", claim)], 1, /too large: the limit is/);
    // Files past the limits are refused by their size, unread (these are sparse: instant).
    const big = `${tmp}/big.txt`;
    Deno.writeTextFileSync(big, "");
    Deno.truncateSync(big, 100_000_001);
    await refused(["--input", big], 1, /is too large: 100 MB; the limit is 100 MB/);
    const bigModel = `${tmp}/big.json`;
    Deno.writeTextFileSync(bigModel, "");
    Deno.truncateSync(bigModel, 300_000_001);
    await refused(["--load", bigModel], 1, /is too large: 300 MB; the limit is 300 MB/);
    // Twenty million empty lines: no documents, and no crash on the way.
    await refused(["--input", file("newlines.txt", "\n".repeat(20_000_000))], 1, /no documents/);
    // Sampling with no end token fills the whole block: it is sized too.
    await refused(
      ["--steps", "0", "--block-size", "200000"],
      2,
      /a sample of microgpt.ts would need/,
    );
  },
});

Deno.test("a model's JSON is judged by its structure as it is read, before it is parsed", () => {
  // A real model passes, read in any pieces, even one byte at a time.
  const { model, tok } = smallTrained(1);
  const json = modelToJSON(model.config, tok, Float64Array.from(model.params, (p) => p.data));
  for (const size of [1, 7, 4096]) scan(json, size);
  // What is inside a string is not structure: brackets, commas, escaped quotes.
  scan(`{"a": "[[[[[,,,,\\"]]]]]\\\\", "b": [[1, 2]]}`, 3);
  // Too deep, too many lists, too many values: refused on the way, by count.
  const deep = "{" + '"a":'.repeat(0) + "[".repeat(MAX_MODEL_DEPTH) + "]".repeat(MAX_MODEL_DEPTH) +
    "}";
  assert.throws(() => scan(deep), /nests lists and objects more than 4 deep/);
  scan("{" + '"a":' + "[".repeat(MAX_MODEL_DEPTH - 1) + "]".repeat(MAX_MODEL_DEPTH - 1) + "}");
  const lists = new TextEncoder().encode('{"a":[' + "[],".repeat(MAX_MODEL_CONTAINERS) + "[]]}");
  assert.throws(() => scan(lists), /more than 7500100 lists and objects/);
  const values = new TextEncoder().encode('{"a":[' + "1,".repeat(MAX_MODEL_COMMAS + 1) + "1]}");
  assert.throws(() => scan(values), /more than 15100000 values/);
  // Not an object, not JSON at all: refused at the first byte that says so.
  assert.throws(
    () => scan("[[], []]"),
    /not a saved microgpt.ts model \(it does not begin with "\{"\)/,
  );
  assert.throws(() => scan("\0\0\0"), /not valid JSON \(\\x00 at byte 1, outside any string\)/);
  assert.throws(() => scan('{"a": 1, b}'), /not valid JSON \("b" at byte 10/);
  assert.throws(() => scan("\ufeff{}"), /byte order mark/);
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name: `cli: a 299 MB file of empty lists is refused by its structure, unparsed (${name})`,
    ignore: !CLI,
    fn: async () => {
      // 24 MB of empty lists, then zeros to 299 MB (sparse): refused before the zeros are read.
      const path = `${tmp}/lists-${name}.json`;
      Deno.writeTextFileSync(path, '{"format":"microgpt.ts model","x":[' + "[],".repeat(8_000_000));
      Deno.truncateSync(path, 299_000_000);
      for (const flag of ["--resume", "--load"]) {
        await refusedBy(
          script,
          [flag, path],
          1,
          new RegExp(
            `^error: cannot ${flag.slice(2)} .*lists-.*: it holds more than 7500100 lists and ` +
              `objects, more than a model of at most 5000000 parameters has \\(judged before ` +
              `parsing it\\)$`,
          ),
          ["--allow-read"],
        );
      }
      const top = file(`top-${name}.json`, "[" + "[],".repeat(1000) + "[]]");
      await refusedBy(script, ["--load", top], 1, /it does not begin with "\{"/, ["--allow-read"]);
    },
  });
}
