// Tests for flags.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { parseCommandLine, usage } from "./flags.ts";
import { CLI, cli, file, refused } from "./testing.ts";

Deno.test({
  name: "cli: every flag changes its setting",
  ignore: !CLI,
  fn: async () => {
    const input = file("two.txt", "abc\nbcd\n");
    const r = await cli([
      "--input",
      input,
      "--seed",
      "3",
      "--steps",
      "7",
      "--n-embd",
      "8",
      "--n-head",
      "2",
      "--n-layer",
      "2",
      "--block-size",
      "6",
      "--lr",
      "0.02",
      "--temperature",
      "0",
      "--samples",
      "3",
    ]);
    assert.deepEqual(r.code, 0, r.stderr);
    const lines = r.stdout.split(/[\r\n]/);
    assert.deepEqual(lines[0], "num docs: 2");
    assert.deepEqual(lines[1], "vocab size: 5");
    assert.deepEqual(lines[2], `num params: ${2 * 5 * 8 + 6 * 8 + 2 * 12 * 64}`);
    assert(r.stdout.includes("step    7 /    7 | loss"));
    const samples = lines.filter((l) => l.startsWith("sample"));
    assert.deepEqual(samples.length, 3);
    assert.deepEqual(new Set(samples.map((l) => l.slice(11))).size, 1); // greedy: always the same
    assert.match(r.stderr, /over the first 7 steps/);
    const help = await cli(["--help"], []);
    assert.deepEqual(help.code, 0);
    for (
      const flag of [
        "--input",
        "--seed",
        "--steps",
        "--n-embd",
        "--n-head",
        "--n-layer",
        "--block-size",
        "--lr",
        "--temperature",
        "--samples",
        "--save",
        "--load",
        "--prefix",
        "--explain",
        "Adam moments",
      ]
    ) {
      assert(help.stdout.includes(flag), `--help lacks ${flag}`);
    }
    assert.deepEqual((await cli(["-h"], [])).stdout, help.stdout);
  },
});

Deno.test({
  name: "cli: a wrong command line is refused with exit 2",
  ignore: !CLI,
  fn: async () => {
    await refused(["--bogus"], 2, /unknown option --bogus/);
    await refused(["--seed"], 2, /--seed needs a value/);
    await refused(["stray"], 2, /unexpected argument "stray"/);
    await refused(["--steps", "abc"], 2, /--steps must be a whole number/);
    await refused(["--n-layer", "1.5"], 2, /--n-layer must be a whole number/);
    await refused(["--seed", "-1"], 2, /--seed must be a whole number >= 0, not "-1"/);
    await refused(["--samples=-3"], 2, /--samples must be a whole number >= 0/);
    await refused(["--n-head", "0"], 2, /--n-head must be >= 1/);
    await refused(["--block-size", "0"], 2, /--block-size must be >= 1/);
    await refused(["--steps", "99999999999999999999"], 2, /too large/);
    await refused(["--lr", "NaN"], 2, /--lr must be a finite number/);
    await refused(["--lr", "0"], 2, /--lr must be > 0/);
    await refused(["--lr=-0.1"], 2, /--lr must be > 0/);
    await refused(["--temperature", "Infinity"], 2, /--temperature must be a finite number/);
    await refused(["--temperature", "1e999"], 2, /--temperature must be a finite number/);
    await refused(["--temperature=-1"], 2, /--temperature must be >= 0/);
    await refused(["--n-embd", "10"], 2, /--n-embd 10 must be divisible by --n-head 4/);
    await refused(["--explain=yes"], 2, /--explain takes no value/);
  },
});

Deno.test({
  name: "cli: a bad prefix is refused, naming the character or the length",
  ignore: !CLI,
  fn: async () => {
    await refused(["--prefix", "k@"], 2, /--prefix character "@" is not in the vocabulary/);
    await refused(["--prefix", "abcdefghijklmnop"], 2, /fills the block size 16/);
    const r = await cli(["--steps", "20", "--prefix", "ka", "--samples", "5"], []);
    assert.deepEqual(r.code, 0);
    const names = r.stdout.split("\n").filter((l) => l.startsWith("sample"));
    assert.deepEqual(names.length, 5);
    assert(names.every((l) => l.slice(11).startsWith("ka")), names.join("\n"));
  },
});

Deno.test("the porting flags: --trace PATH, --trace-detail K,…, --gradcheck, and --help names them", () => {
  const opts = parseCommandLine(["--trace", "t.jsonl", "--trace-detail", "2, 500,1000"]);
  assert.equal(opts.trace, "t.jsonl");
  assert.deepEqual(opts.traceDetail, [2, 500, 1000]);
  assert.equal(opts.gradcheck, false);
  assert.equal(parseCommandLine(["--gradcheck"]).gradcheck, true);
  assert.deepEqual(parseCommandLine([]).traceDetail, []);
  const help = usage("microgpt.ts");
  for (const flag of ["--trace PATH", "--trace-detail K,…", "--gradcheck", "PORTING.md"]) {
    assert(help.includes(flag), `--help lacks ${flag}`);
  }
});

Deno.test({
  name: "cli: Adam's betas and eps and the initial deviation are flags, checked like the others",
  ignore: !CLI,
  fn: async () => {
    await refused(["--beta1", "1"], 2, /--beta1 must be below 1, not 1$/);
    await refused(["--beta2", "1.5"], 2, /--beta2 must be below 1, not 1\.5$/);
    await refused(["--beta1=-0.1"], 2, /--beta1 must be >= 0, not -0\.1/);
    await refused(["--eps-adam", "0"], 2, /--eps-adam must be > 0, not 0/);
    await refused(["--init-std", "-1"], 2, /--init-std must be >= 0, not -1/);
    await refused(["--init-std", "wide"], 2, /--init-std must be a finite number, not "wide"/);
    await refused(
      ["--eps_adam", "1e-9"],
      2,
      /unknown option --eps_adam; did you mean --eps-adam\?/,
    );
    await refused(["--std", "0.1"], 2, /unknown option --std; did you mean --init-std\?/);
    // microgpt.py's values, given, change nothing; any other value changes the run.
    const base = await cli(["--steps", "20", "--samples", "3"], []);
    const given = await cli([
      ...["--steps", "20", "--samples", "3", "--beta1", "0.85", "--beta2", "0.99"],
      ...["--eps-adam", "1e-8", "--init-std", "0.08"],
    ], []);
    assert.equal(given.stdout, base.stdout);
    for (const [flag, value] of [["--beta1", "0.9"], ["--beta2", "0.95"], ["--init-std", "0.02"]]) {
      const r = await cli(["--steps", "20", "--samples", "3", flag, value], []);
      assert.equal(r.code, 0, r.stderr);
      assert.notEqual(r.stdout, base.stdout, `${flag} ${value} changed nothing`);
    }
    // eps matters once it is not negligible beside sqrt(v): a large one slows every update.
    const eps = await cli(["--steps", "20", "--samples", "3", "--eps-adam", "1"], []);
    assert.notEqual(eps.stdout, base.stdout);
  },
});
