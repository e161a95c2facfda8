// Tests for messages.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { escapeControls, isControl } from "./messages.ts";
import { CLI, cli, file, refused, tmp } from "./testing.ts";

Deno.test("control characters are recognised and escaped, tab kept as a character", () => {
  assert.deepEqual(["\x1b", "\x07", "\n", "\x7f", "\x9b"].map(isControl), [
    true,
    true,
    true,
    true,
    true,
  ]);
  assert.deepEqual(["\t", "a", "é", "\u2028"].map(isControl), [false, false, false, false]);
  assert.equal(escapeControls("a\nb\x1b[2J\u0085\tz"), "a\\nb\\x1b[2J\\u0085\\tz");
});

Deno.test({
  name: "cli: untrusted models and texts put no raw control character on the screen",
  ignore: !CLI,
  fn: async () => {
    const good = `${tmp}/good-for-edits.json`;
    assert.equal((await cli(["--steps", "1", "--samples", "0", "--save", good])).code, 0);
    const saved = JSON.parse(Deno.readTextFileSync(good));
    for (const ch of ["\x1b", "\x07", "\n"]) {
      const edited = { ...saved, vocab: [ch, ...saved.vocab.slice(1)] };
      const r = await cli(["--load", file("ctl.json", JSON.stringify(edited)), "--steps", "0"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: cannot load .*"vocab" holds the control character/);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1);
      assert(![...r.stderr.trimEnd()].some(isControl), r.stderr);
    }
    // A parse error quotes the file: escaped.
    const r = await cli(["--load", file("esc.json", '{"a": \x1b]0;pwned\x07}')]);
    assert.match(r.stderr, /^error: cannot load .*not valid JSON.*\\x1b/);
    assert(![...r.stderr.trimEnd()].some(isControl), r.stderr);
    // A training text with control characters inside a line.
    await refused(
      ["--input", file("ctl.txt", "anna\nb\x1b[2Jb\n")],
      1,
      /document 2 holds the control character \\x1b/,
    );
    // The other odd saved files, each named for what it is.
    const variants: [string, RegExp][] = [
      ["\ufeff" + JSON.stringify(saved), /byte order mark/],
      [JSON.stringify({ ...saved, version: "1" }), /"version" must be a number, not "1"/],
      [JSON.stringify(saved).replace(/\[\[[-0-9.e]+/, "[[1e400"), /wte\[0\]\[0\] is Infinity/],
      [JSON.stringify({ ...saved, state_dict: [] }), /"state_dict" must be an object.*not a list/],
    ];
    for (const [text, why] of variants) await refused(["--load", file("odd.json", text)], 1, why);
  },
});

Deno.test({
  name: "cli: messages point the right way, and every one stays on one line",
  ignore: !CLI,
  fn: async () => {
    await refused(["--temperature", "-0.5"], 2, /--temperature must be >= 0, not -0.5/);
    await refused(["-steps", "100"], 2, /unknown option -steps; did you mean --steps\?/);
    await refused(["--n_embd", "8"], 2, /unknown option --n_embd; did you mean --n-embd\?/);
    await refused(["--learning_rate", "0.1"], 2, /did you mean --lr\?/);
    await refused(["--temprature", "1"], 2, /did you mean --temperature\?/);
    const help = await cli(["--bogus", "--help", "--steps", "x"], []);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: /);
    await refused(["--load", `${Deno.cwd()}/input.txt`], 1, /^error: cannot load .*not valid JSON/);
    await refused(["--input", `${tmp}/a\nb.txt`], 1, /a\\nb\.txt: no such file/);
  },
});

Deno.test({
  name: "cli: odd values get messages that say what they are",
  ignore: !CLI,
  fn: async () => {
    await refused(["--constructor", "1"], 2, /^error: unknown option --constructor$/);
    await refused(["--input", "-data.txt"], 2, /--input needs a value; write --input=-data.txt/);
    await refused(
      ["--seed", "9".repeat(5000)],
      2,
      /--seed has 5000 digits, too large: the limit is 4300/,
    );
    await refused(["--save", "-"], 2, /--save writes a file: name one/);
    await refused(["--input", "-", "--resume", "-"], 2, /cannot both read standard input/);
    await refused(
      ["--prefix", "\u202ex"],
      2,
      /--prefix character "\\u202e" is not in the vocabulary/,
    );
    await refused(["--allow-read"], 2, /a flag of Deno's: it goes before the script/);
    assert.equal((await cli(["--help=1"], [])).code, 0);
    // A checkpoint's own sampling settings are checked as the file's, not as flags.
    const ckpt = `${tmp}/odd-prefix.json`;
    assert.equal((await cli(["--steps", "2", "--samples", "0", "--save", ckpt])).code, 0);
    const saved = JSON.parse(Deno.readTextFileSync(ckpt));
    saved.sampling.prefix = "z@";
    await refused(
      ["--resume", file("odd-prefix2.json", JSON.stringify(saved))],
      1,
      /sampling\."prefix" holds "@", which its vocabulary lacks/,
    );
  },
});
