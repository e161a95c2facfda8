// Tests for tools/trace_lines.ts: a file read line by line, a chunk at a time.

import assert from "node:assert/strict";
import { bytesSource, LineReader, LineTooLong } from "./trace_lines.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every line a reader gives, as [text, start, end, ended]. */
function readAll(reader: LineReader): [string, number, number, boolean][] {
  const lines: [string, number, number, boolean][] = [];
  for (let line = reader.next(); line !== undefined; line = reader.next()) {
    assert.equal(line.number, lines.length + 1);
    lines.push([decoder.decode(line.bytes), line.start, line.end, line.ended]);
  }
  return lines;
}

Deno.test("a source is read line by line, in chunks of any size, with each line's byte offsets", () => {
  // Lines of every length around the chunk sizes, an empty one, a character of two bytes, and a
  // last line without its newline.
  const text = "a\n\nbcd\néfgh\n" + "x".repeat(23) + "\nlast, cut sh";
  const expected: [string, number, number, boolean][] = [];
  let at = 0;
  const parts = text.split("\n");
  parts.forEach((part, i) => {
    const ended = i < parts.length - 1;
    const size = encoder.encode(part).length + (ended ? 1 : 0);
    expected.push([part, at, at + size, ended]);
    at += size;
  });
  for (const chunk of [1, 2, 3, 5, 7, 16, 1 << 20]) {
    const reader = new LineReader(bytesSource(encoder.encode(text)), { chunk });
    assert.deepEqual(readAll(reader), expected, `chunk ${chunk}`);
    assert.equal(reader.offset, encoder.encode(text).length);
    assert.equal(reader.next(), undefined);
  }
  // A source that ends with a newline has no empty last line; an empty source has no line.
  assert.deepEqual(readAll(new LineReader(bytesSource(encoder.encode("a\nb\n")), { chunk: 2 })), [
    ["a", 0, 2, true],
    ["b", 2, 4, true],
  ]);
  assert.deepEqual(readAll(new LineReader(bytesSource(new Uint8Array(0)))), []);
});

Deno.test("a line longer than the reader takes is refused, naming the line", () => {
  const text = "short\n" + "y".repeat(40) + "\nnext\n";
  for (const chunk of [4, 64]) {
    const reader = new LineReader(bytesSource(encoder.encode(text)), { chunk, maxLine: 20 });
    assert.equal(decoder.decode(reader.next()!.bytes), "short");
    assert.throws(() => reader.next(), (err: Error) => {
      assert(err instanceof LineTooLong);
      assert.equal(err.number, 2);
      assert.equal(err.message, "line 2 is longer than 20 bytes");
      return true;
    });
  }
  // A line of exactly the limit is read.
  const exact = new LineReader(bytesSource(encoder.encode("z".repeat(20))), { maxLine: 20 });
  assert.equal(exact.next()!.bytes.length, 20);
});
