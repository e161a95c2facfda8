// Tests for limits.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import { CLI, file, refused, tmp } from "./testing.ts";

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
