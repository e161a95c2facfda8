// Tests for files.ts. The ones that spawn the scripts need run/read/write: they run under
// `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import {
  canMakeUnreadable,
  CLI,
  cli,
  ENGINES,
  file,
  refused,
  refusedBy,
  runScript,
  SCRIPT,
  tmp,
} from "./testing.ts";

Deno.test({
  name:
    "cli: a file with CRLF, a lone CR, a BOM and non-ASCII names prints what microgpt.py prints",
  ignore: !CLI,
  fn: async () => {
    const input = file(
      "mixed.txt",
      "\ufeffzoë\r\n  ünïcode \r\nmañana\r\n\r\n\t\n😀smile\rab\u0085\ncafé\n𝒜bc\n  \nélan\u2003\n" +
        "zoë\n\x1cfs\x1f\n",
    );
    const args = ["--input", input, "--seed", "3", "--n-embd", "8", "--n-head", "2"];
    const r = await cli([
      ...args,
      "--block-size",
      "6",
      "--steps",
      "12",
      "--samples",
      "4",
      "--temperature",
      "0.9",
    ]);
    // CPython 3.11 running microgpt.py with these constants on this file:
    const losses = [
      "3.0664",
      "3.0750",
      "2.9346",
      "3.1693",
      "3.3699",
      "2.9020",
      "2.9004",
      "3.2271",
      "3.1852",
      "3.2991",
      "2.6775",
      "2.7505",
    ];
    const names = ["neflb", "üeiddn", "eümfëo", "éndilb"];
    const expected = "num docs: 10\nvocab size: 22\nnum params: 1168\n" +
      losses.map((l, i) => `step ${String(i + 1).padStart(4)} /   12 | loss ${l}\r`).join("") +
      "\n--- inference (new, hallucinated names) ---\n" +
      names.map((n, i) => `sample  ${i + 1}: ${n}\n`).join("");
    assert.equal(r.stdout, expected);
  },
});

Deno.test({
  name: "cli: an input file that cannot be used is refused with exit 1",
  ignore: !CLI,
  fn: async () => {
    await refused(["--input", `${tmp}/missing.txt`], 1, /no such file/);
    await refused(["--input", tmp], 1, /is a directory/);
    await refused(
      ["--input", file("latin1.txt", new Uint8Array([0x61, 0xe9, 0x0a]))],
      1,
      /not UTF-8/,
    );
    await refused(["--input", file("empty.txt", "")], 1, /has no documents/);
    await refused(["--input", file("blank.txt", " \n\t\r\n\n")], 1, /has no documents/);
    await refused(
      ["--input", file("ok.txt", "abc\n")],
      1,
      /needs read permission: add --allow-read/,
      [],
    );
  },
});

Deno.test({
  name: "cli: an unreadable input file is refused with exit 1",
  ignore: !canMakeUnreadable,
  fn: async () => {
    await refused(["--input", `${tmp}/locked.txt`], 1, /permission denied/);
  },
});

Deno.test({
  name: "cli: --input - and /dev/stdin read standard input, with no permission at all",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "20", "--samples", "3", "--input"];
    const names = "anna\nbob\ncleo\ndora\n";
    const fromFile = await cli([...args, file("four.txt", names)]);
    const dash = await runScript(SCRIPT, [...args, "-"], [], names);
    const dev = await runScript(SCRIPT, [...args, "/dev/stdin"], [], names);
    assert.equal(dash.code, 0, dash.stderr);
    assert.equal(dash.stdout, fromFile.stdout);
    assert.equal(dev.stdout, fromFile.stdout);
    await refused(["--input", "/dev/fd/3"], 1, /pipe the data in with --input -/, ["--allow-read"]);
  },
});

for (const [name, script] of ENGINES) {
  Deno.test({
    name: `cli: a device or a directory where a file belongs gets advice that works (${name})`,
    ignore: !CLI,
    fn: async () => {
      const ro = ["--allow-read"];
      for (const flag of ["--resume", "--load"]) {
        await refusedBy(
          script,
          [flag, "/dev/fd/3"],
          1,
          new RegExp(
            `^error: cannot read /dev/fd/3: Deno opens this device only for scripts granted ` +
              `everything; pipe the data in with ${flag} - instead$`,
          ),
          ro,
        );
        await refusedBy(
          script,
          [flag, "/dev/zero"],
          1,
          new RegExp(
            `^error: cannot read /dev/zero: it is a device, not a saved file; give the file, ` +
              `or pipe it in with ${flag} -$`,
          ),
          ro,
        );
      }
      // The advice works: a checkpoint piped in resumes.
      const ckpt = `${tmp}/piped-${name}.json`;
      const made = await runScript(script, ["--steps", "5", "--samples", "1", "--save", ckpt], [
        "--allow-read",
        "--allow-write",
      ]);
      assert.equal(made.code, 0, made.stderr);
      const piped = await runScript(script, ["--resume", "-"], [], Deno.readTextFileSync(ckpt));
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout, (await runScript(script, ["--resume", ckpt], ro)).stdout);
      // A directory on standard input: one line that says so, for each flag that reads it.
      for (const flag of ["--input", "--resume", "--load"]) {
        const out = await new Deno.Command("sh", {
          args: ["-c", `exec "$0" run "$1" "$2" - < "$3"`, Deno.execPath(), script, flag, tmp],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 1);
        assert.equal(new TextDecoder().decode(out.stdout), "");
        assert.equal(
          new TextDecoder().decode(out.stderr),
          `error: cannot read standard input (${flag}): it is a directory; redirect a file into it\n`,
        );
      }
    },
  });
}
